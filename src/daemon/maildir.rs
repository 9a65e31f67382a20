//! The daemon's reading of `[bounces] maildir`: every few seconds, each message in its `new/`
//! is ingested (`bounce/`) on a blocking thread and moved to `cur/`; logs name subscribers by
//! masked address only.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::bounce::{self, maildir};
use crate::http::{self, AppState};
use crate::mail::mask_addresses;

/// How often the maildir is read.
pub const POLL: Duration = Duration::from_secs(2);

/// Reads the maildir until a stop; does nothing while none is configured.
pub async fn watch(state: Arc<AppState>, root: std::path::PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let config = state.config();
        let Some(dir) = config.bounces.maildir.as_ref().map(|d| root.join(d)) else { continue };
        let mailer = state.mailer();
        if mailer.sealed() {
            continue;
        }
        let policy = crate::digest::bounce_policy(&config);
        http::blocking(&state, move |state| read(state, &dir, mailer.verp(), &policy)).await;
    }
}

fn read(state: &AppState, dir: &std::path::Path, verp: &crate::mail::Verp, policy: &crate::store::BouncePolicy) {
    let waiting = match maildir::waiting(dir) {
        Ok(waiting) => waiting,
        Err(e) => {
            tracing::error!(maildir = %dir.display(), error = %e, "cannot read the bounce maildir");
            return;
        }
    };
    for message in waiting {
        let raw = match std::fs::read(&message) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(message = %message.display(), error = %e, "cannot read a bounce");
                continue;
            }
        };
        let source = message.file_name().and_then(|n| n.to_str()).unwrap_or("maildir").to_owned();
        let result = state.store().and_then(|store| bounce::ingest(&store, verp, &raw, &source, policy, Utc::now()));
        match result {
            Ok(line) => {
                tracing::info!(message = %source, "bounce maildir: {}", mask_addresses(&line));
                if let Err(e) = maildir::mark_seen(dir, &message) {
                    tracing::error!(message = %source, error = %e, "cannot move a processed bounce to cur/");
                }
            }
            Err(e) => {
                // Left in new/: read again at the next poll.
                tracing::error!(message = %source, error = %e, "cannot apply a bounce; it stays in new/");
                return;
            }
        }
    }
}
