//! What can be wrong with the mail settings — `[smtp]`, `[dkim]`, the sender and the bounce
//! address — found when a transport, a DKIM key or a mailer is made. Each error names the setting
//! (and the file) to fix, as `check` and the daemon's log show it.

use std::path::PathBuf;

/// A mail setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `smtp.url` (shown without its password).
    #[error("smtp.url `{url}`: {problem}")]
    SmtpUrl { url: String, problem: UrlError },
    #[error("smtp.ca_file {path}: {problem}")]
    CaFile { path: PathBuf, problem: CaFileError },
    #[error("cannot create {path}: {source}")]
    Outbox { path: PathBuf, source: std::io::Error },
    #[error("dkim.key_file {path}: {source}")]
    DkimKeyFile { path: PathBuf, source: std::io::Error },
    #[error("dkim.key_file {path}: not a usable {algorithm} key: {problem}")]
    DkimKey { path: PathBuf, algorithm: String, problem: String },
    #[error("dkim.algorithm: `{0}` is not `rsa` or `ed25519`")]
    DkimAlgorithm(String),
    #[error("digest.from is not set (nor author.email): kurier needs a sender address")]
    NoSender,
    /// `digest.from` or `author.email` is not an address.
    #[error("{setting} `{value}`: {problem}")]
    Sender { setting: &'static str, value: String, problem: lettre::address::AddressError },
    #[error("`{0}` is not an address")]
    BounceAddress(String),
    #[error("`{0}` cannot be a bounce address (it needs a local part without `+`)")]
    BounceLocalPart(String),
}

/// What is wrong with an SMTP URL.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error(transparent)]
    Syntax(#[from] url::ParseError),
    #[error("no host")]
    NoHost,
    #[error("unknown scheme `{scheme}` or tls `{tls}` (smtp://, smtp://…?tls=required|opportunistic, smtps://)")]
    Scheme { scheme: String, tls: String },
}

/// What is wrong with a file of certificate authorities.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error(transparent)]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Pem(#[from] rustls::pki_types::pem::Error),
    #[error("no PEM certificate in it")]
    Empty,
}
