//! kurier: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from a folder of Markdown posts, and e-mail
//! digests of the new posts, each subscriber exactly one message per issue.
//!
//! # Crate map
//!
//! Dependencies point one way, down this table. `config`, `site`, `feed` and `digest::compose`
//! are pure functions of the files on disk (no async, network, database or templates), which
//! keeps them fast to test.
//!
//! | module | owns |
//! | --- | --- |
//! | [`errors`] | how an error and its causes are told, each cause once (used by every layer and `main`) |
//! | [`config`] | `kurier.toml` → validated [`config::Config`]; the permalink pattern; environment overrides |
//! | [`site`] | PURE. `content/` → visible posts (each a shared `ReadPost` and its place in one site, so that a daemon's sites and its cache hold one copy): front matter, dates, slugs, Markdown, HTML, excerpts, related posts (after an edit, updated step by step from what the last link made: `Linked`); each tag's posts (`TagIndex`, kept through an edit's `Site::replace`); which posts' HTML a build can need (`slots`); a post as an issue keeps it (`FrozenPost`); the language's dates, plurals and fixed strings (`Locale`) |
//! | [`feed`] | PURE. posts → RSS, Atom and JSON Feed bytes (the posts' HTML escaped outside the XML crates, `held`); the atomic writer of the output folder and the feeds' ETags |
//! | [`build_cache`] | what the last build read and wrote (sizes, times, content hashes; the daemon's also ETags): an unchanged site is not built again, and the daemon serves its feeds at start before reading a post |
//! | [`publish`] | the `build` and `check` commands: load, render, write, report; `check` also renders a sample digest and checks the mail settings |
//! | [`init`] | the `init` command: a new working site |
//! | [`store`] | SQLite (the default) or PostgreSQL behind one `Store`: schema migrations (the same versions per dialect), subscribers, issues, deliveries, pruning; rate limits and the `/metrics` counters (kept by triggers); the nodes sharing a PostgreSQL store (heartbeats, leased claims on deliveries); SQLite's send and daemon locks |
//! | [`render`] | Tera: built-in and site templates (another tool's left out, `templates/kurier/`), their filters (dates and plurals from `site::Locale`); the page context |
//! | [`mail`] | lettre only: messages, bodies encoded once per issue, list headers, DKIM, SMTP connections, transports, tokens |
//! | [`bounce`] | bounces and complaints coming back: DSN, ARF and MTA formats (`parse`, pure), applied to the store; the maildir |
//! | [`digest`] | which posts (`compose`, pure), the rendered issue (`content`), the delivery engine (`send`, its group commit `commits`, on a thread and runtime of its own: `own_thread`) |
//! | [`schedule`] | cron expression + time zone → fire times, across DST; the missed-run rule |
//! | [`watch`] | notify events → "these files changed" |
//! | [`http`] | axum: feeds with conditional GETs (tower-http gzip, an ETag per coding), subscribe/confirm/unsubscribe, archive, health, metrics; the client behind trusted proxies |
//! | [`daemon`] | `kurier run`: wiring of build, watcher, scheduler and server; shutdown |
//! | [`shutdown`] | SIGINT/SIGTERM |
//!
//! `config` ← `site` ← `feed` ← `build_cache` ← `publish`; `site` ← `digest::compose`; `site` ← `store` (frozen posts);
//! `store`, `render`, `mail` ← `digest` ← `http` ← `daemon`; `schedule`, `watch` ← `daemon`;
//! `store`, `mail` ← `bounce` ← `daemon`.
//! `init` stands alone.
//!
//! PostgreSQL is reached with the `postgres` crate (rust-postgres' synchronous client) and TLS
//! through `tokio-postgres-rustls` (the rustls 0.23 with ring that the SMTP client uses; no
//! OpenSSL) with `rustls-native-certs`' system roots. Chosen over sqlx and a tokio-postgres pool:
//! the `Store` API is synchronous, used from CLI commands, a commit thread and blocking threads,
//! so a blocking client keeps one API for both backends without an async rewrite of every
//! caller; sqlx would also bring its own SQLite driver beside rusqlite and compile-time query
//! checks that need a database at build time. The client runs a small runtime of its own, so
//! `store::db` keeps it off threads where tokio's runtime is entered. The daemon's few connections
//! (`store::shared`) are a list and a condition variable rather than r2d2 or deadpool: each is a
//! `Store` of either backend, and one that cannot be opened must fail its request at once (a
//! daemon serves its feeds without a store), where those pools wait and retry to a timeout.

pub mod bounce;
pub mod build_cache;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod errors;
pub mod feed;
pub mod http;
pub mod init;
pub mod mail;
pub mod publish;
pub mod render;
pub mod schedule;
pub mod shutdown;
pub mod site;
pub mod store;
pub mod watch;
