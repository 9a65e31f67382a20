//! Bounces and complaints coming back: `kurier bounces ingest` (one message per file, or
//! standard input — what an MTA's pipe transport delivers: Postfix `pipe`, Exim, procmail,
//! `.forward`) and the daemon's `[bounces] maildir`.
//!
//! `parse.rs` says what a message is (PURE); this file applies it to the store, where
//! `store/bounces.rs` decides what it does to the subscriber; `maildir.rs` reads a maildir.
//! A message is matched to a subscriber by its VERP address when it has one (signed: it cannot
//! name someone else), else by the recipient addresses the report names.

pub mod maildir;
pub mod parse;

use chrono::{DateTime, Utc};

use crate::mail::Verp;
use crate::store::{BounceKind, BouncePolicy, Store, StoreError};
pub use parse::{Finding, Report, Verdict, classify};

/// Applies one message (read from `source`) to the store and says what it was, as the line a
/// command prints after the file's name: `permanent reader@example.org`, `ignored`, …
pub fn ingest(
    store: &Store,
    verp: &Verp,
    raw: &[u8],
    source: &str,
    policy: &BouncePolicy,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let report = classify(raw, verp);
    let kind = match report.verdict {
        Verdict::Permanent => BounceKind::Permanent,
        Verdict::Transient => BounceKind::Transient,
        Verdict::Complaint => BounceKind::Complaint,
        Verdict::Ignored => return Ok(Verdict::Ignored.as_str().to_owned()),
    };
    let mut words = vec![report.verdict.as_str().to_owned()];
    // (subscriber, issue, detail) of each bounce to record.
    let mut targets = Vec::new();
    match report.verp.map(|tagged| (tagged, store.subscriber(tagged.subscriber))) {
        Some((tagged, found)) => {
            let detail =
                report.findings.first().map_or_else(|| "returned to the VERP address".to_owned(), |f| f.detail.clone());
            match found? {
                Some(subscriber) => {
                    words.push(subscriber.email.clone());
                    targets.push((subscriber.id, Some(tagged.issue), detail));
                }
                None => words.push(format!("(VERP subscriber {} no longer exists)", tagged.subscriber)),
            }
        }
        None => {
            for finding in &report.findings {
                match store.subscriber_by_email(&finding.address) {
                    Ok(Some(subscriber)) => {
                        words.push(subscriber.email.clone());
                        targets.push((subscriber.id, None, finding.detail.clone()));
                    }
                    Ok(None) | Err(StoreError::InvalidEmail(_)) | Err(StoreError::AddressLiteral(_)) => {
                        words.push(format!("{} (not a subscriber)", finding.address));
                    }
                    Err(e) => return Err(e),
                }
            }
            if report.findings.is_empty() {
                words.push("(no recipient named)".to_owned());
            }
        }
    }
    for (subscriber, issue, detail) in targets {
        store.record_bounce(subscriber, issue, kind, &detail, source, policy, now)?;
    }
    Ok(words.join(" "))
}
