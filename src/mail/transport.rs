//! Where messages go: an SMTP server or, with no `[smtp]` configured, `.eml` files in
//! `outbox/` (lettre's file transport).
//!
//! A [`Session`] is one worker's channel: for SMTP, one connection opened on first use
//! (`smtp.rs`), reused for every message while it stays healthy and reopened after a failure.
//! Every send runs under a deadline: lettre's own timeout covers the connect, not a whole SMTP
//! exchange with a server that trickles or stalls, so the exchange is wrapped in
//! `tokio::time::timeout`. Outcomes are classified by asking the error (`is_permanent`), not by
//! parsing its text: a 5xx is permanent; 4xx replies, connection failures and deadlines are
//! transient and worth retrying.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use super::smtp::{SmtpError, Target};
use super::{CaFileError, SettingsError};
use crate::config::{Config, Secret, redact_url};

/// The folder `.eml` files are written to without `[smtp]`.
pub const OUTBOX_DIR: &str = "outbox";

pub enum Transport {
    Smtp { target: Target, deadline: Duration, url: String },
    File { transport: AsyncFileTransport<Tokio1Executor>, dir: PathBuf },
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// Retrying cannot help (an SMTP 5xx reply).
    pub permanent: bool,
    /// The failure is about the recipient's address, not kurier's session or message (see
    /// `SmtpError::is_about_recipient`): a permanent one is a bounce.
    pub about_recipient: bool,
    /// The server's reply, or what went wrong on the way.
    pub reply: String,
}

impl Transport {
    /// The transport of `[smtp]`, or the outbox of the site at `root`.
    pub fn new(root: &Path, config: &Config) -> Result<Transport, SettingsError> {
        match &config.smtp {
            Some(smtp) => {
                let url = redact_url(&smtp.url);
                let mut target = Target::from_url(&smtp.url, smtp.password.as_ref().map(Secret::expose))
                    .map_err(|problem| SettingsError::SmtpUrl { url: url.clone(), problem })?;
                if let Some(name) =
                    smtp.helo.clone().or_else(|| target.has_default_hello().then(|| config.sender_domain()).flatten())
                {
                    target.set_hello(&name);
                }
                if let Some(ca_file) = &smtp.ca_file {
                    let path = root.join(ca_file);
                    std::fs::read(&path)
                        .map_err(CaFileError::from)
                        .and_then(|pem| target.trust_pem(&pem))
                        .map_err(|problem| SettingsError::CaFile { path, problem })?;
                }
                Ok(Transport::Smtp { target, deadline: Duration::from_secs(smtp.timeout_seconds), url })
            }
            None => {
                let dir = root.join(OUTBOX_DIR);
                std::fs::create_dir_all(&dir).map_err(|source| SettingsError::Outbox { path: dir.clone(), source })?;
                Ok(Transport::File { transport: AsyncFileTransport::new(&dir), dir })
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

    /// A channel for one worker.
    pub fn session(self: &Arc<Self>) -> Session {
        Session { transport: Arc::clone(self), connection: None }
    }
}

/// One worker's connection.
pub struct Session {
    transport: Arc<Transport>,
    connection: Option<AsyncSmtpConnection>,
}

impl Session {
    /// Sends one message within the deadline; returns the server's reply.
    pub async fn send(&mut self, message: &Message) -> Result<String, SendError> {
        let transport = Arc::clone(&self.transport);
        match &*transport {
            Transport::Smtp { target, deadline, .. } => {
                match tokio::time::timeout(*deadline, self.smtp_send(target, *deadline, message)).await {
                    Ok(Ok(reply)) => Ok(reply),
                    Ok(Err(e)) => {
                        self.connection = None;
                        Err(SendError {
                            permanent: e.is_permanent(),
                            about_recipient: e.is_about_recipient(),
                            reply: e.to_string(),
                        })
                    }
                    Err(_) => {
                        self.connection = None;
                        Err(SendError {
                            permanent: false,
                            about_recipient: false,
                            reply: format!("no answer from the SMTP server within {} s", deadline.as_secs()),
                        })
                    }
                }
            }
            Transport::File { transport, .. } => transport
                .send(message.clone())
                .await
                .map(|id| format!("written to {id}.eml"))
                .map_err(|e| SendError { permanent: false, about_recipient: false, reply: e.to_string() }),
        }
    }

    async fn smtp_send(&mut self, target: &Target, deadline: Duration, message: &Message) -> Result<String, SmtpError> {
        if self.connection.as_ref().is_none_or(|c| c.has_broken()) {
            self.connection = Some(target.connect(deadline).await?);
        }
        let connection = self.connection.as_mut().expect("connected above");
        let utf8 = lettre::transport::smtp::extension::Extension::SmtpUtfEight;
        let envelope = message.envelope();
        let non_ascii =
            envelope.from().into_iter().chain(envelope.to()).any(|a: &lettre::Address| !a.to_string().is_ascii());
        if non_ascii && !connection.server_info().supports_feature(utf8) {
            return Err(SmtpError::NoSmtpUtf8);
        }
        let response = connection.send(message.envelope(), &message.formatted()).await.map_err(SmtpError::Smtp)?;
        Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")))
    }

    /// Says goodbye to the server (QUIT), briefly.
    pub async fn close(mut self) {
        if let Some(mut connection) = self.connection.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), connection.quit()).await;
        }
    }
}
