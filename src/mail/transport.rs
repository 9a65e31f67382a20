//! Where messages go: an SMTP server (lettre's pooled async transport) or, with no `[smtp]`
//! configured, `.eml` files in `outbox/` (lettre's file transport).
//!
//! Every send runs under a deadline: lettre's own timeout covers socket operations one at a time
//! (and the connect), not a whole SMTP exchange with a server that trickles or stalls, so the
//! exchange is wrapped in `tokio::time::timeout`. Outcomes are classified by asking lettre's
//! error (`is_permanent`), not by parsing its text: a 5xx is permanent, while 4xx replies,
//! connection failures and timeouts are transient and worth retrying.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, redact_url};

/// The folder `.eml` files are written to without `[smtp]`.
pub const OUTBOX_DIR: &str = "outbox";

pub enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        deadline: Duration,
        url: String,
    },
    File {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// Retrying cannot help (an SMTP 5xx reply).
    pub permanent: bool,
    /// The server's reply, or what went wrong on the way.
    pub reply: String,
}

impl Transport {
    /// The transport of `[smtp]`, or the outbox of the site at `root`.
    pub fn new(root: &Path, smtp: Option<&SmtpConfig>) -> Result<Transport, String> {
        match smtp {
            Some(smtp) => {
                let redacted = redact_url(&smtp.url);
                // lettre reads credentials from the URL; the password comes from the environment.
                let mut url = url::Url::parse(&smtp.url)
                    .map_err(|e| format!("smtp.url `{redacted}`: {e}"))?;
                if let Some(password) = &smtp.password {
                    url.set_password(Some(password))
                        .map_err(|()| format!("smtp.url `{redacted}`: cannot carry a password"))?;
                }
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
                    .map_err(|e| format!("smtp.url `{redacted}`: {e}"))?
                    .timeout(Some(Duration::from_secs(smtp.timeout_seconds)))
                    .pool_config(PoolConfig::new().max_size(smtp.concurrency as u32));
                Ok(Transport::Smtp {
                    transport: builder.build(),
                    deadline: Duration::from_secs(smtp.timeout_seconds),
                    url: redacted,
                })
            }
            None => {
                let dir = root.join(OUTBOX_DIR);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(Transport::File {
                    transport: AsyncFileTransport::new(&dir),
                    dir,
                })
            }
        }
    }

    /// Where messages go, for reports (no password).
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { url, .. } => url.clone(),
            Transport::File { dir, .. } => format!("{} (no [smtp] configured)", dir.display()),
        }
    }

    /// Sends one message within the deadline.
    pub async fn send(&self, message: &Message) -> Result<String, SendError> {
        match self {
            Transport::Smtp {
                transport,
                deadline,
                ..
            } => match tokio::time::timeout(*deadline, transport.send(message.clone())).await {
                Ok(Ok(response)) => Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                Ok(Err(e)) => Err(SendError {
                    permanent: e.is_permanent(),
                    reply: error_text(&e),
                }),
                Err(_) => Err(SendError {
                    permanent: false,
                    reply: format!(
                        "no answer from the SMTP server within {} s",
                        deadline.as_secs()
                    ),
                }),
            },
            Transport::File { transport, .. } => transport
                .send(message.clone())
                .await
                .map(|id| format!("written to {id}.eml"))
                .map_err(|e| SendError {
                    permanent: false,
                    reply: e.to_string(),
                }),
        }
    }
}

/// The error's text including its sources (lettre puts the server's reply in a source).
fn error_text(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}
