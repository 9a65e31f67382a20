//! kurier: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from a folder of Markdown posts, and e-mail
//! digests of the new posts.
//!
//! # Crate map
//!
//! Dependencies point one way, top to bottom; the first three are pure functions of the files
//! on disk (no async, network, database or templates), which keeps them fast to test.
//!
//! | module | owns |
//! | --- | --- |
//! | [`config`] | `kurier.toml` → validated [`config::Config`]; the permalink pattern |
//! | [`site`] | PURE. `content/` → visible posts: front matter, dates, slugs, Markdown, excerpts, related posts |
//! | [`feed`] | PURE. posts → RSS, Atom and JSON Feed bytes; the atomic writer of the output folder |
//! | [`publish`] | the `build` and `check` commands: load, render, write, report |
//! | [`init`] | the `init` command: a new working site |
//!
//! `config` ← `site` ← `feed` ← `publish`; `init` stands alone.

pub mod config;
pub mod digest;
pub mod feed;
pub mod init;
pub mod mail;
pub mod publish;
pub mod render;
pub mod shutdown;
pub mod site;
pub mod store;
