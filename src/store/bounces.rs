//! Bounces and complaints, and what they do to a subscriber (product.md §11).
//!
//! A list that keeps mailing dead addresses, or people who reported it as spam, gets its sender
//! blocked (Gmail's and Yahoo's bulk-sender rules: complaints under 0.3 %), so:
//! - a **permanent** failure — a 5xx at send time, a 5.x.x delivery status notification — marks
//!   the subscriber `bounced` at once, with the status code and diagnostic as the reason;
//! - a **complaint** (an RFC 5965 ARF report) marks it `complained`, whatever it was;
//! - a **transient** bounce (4.x.x, a delivery given up after `smtp.retry_hours`) is counted;
//!   [`BouncePolicy::soft_limit`] of them within `soft_window` (and since the subscriber's last
//!   status change, so an operator's reset starts the count afresh) make it `bounced`.
//!
//! `bounced` and `complained` addresses get no issue (issues freeze only `active` recipients),
//! cannot be re-armed by the subscribe form, and only `kurier subscribers reset` makes them
//! active again. Every bounce is kept, with where it came from.

use std::collections::BTreeMap;

use super::db::params;
use super::{Result, Status, Store, StoreError, Subscriber, timestamp};
use chrono::{DateTime, Utc};

/// What a bounce says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BounceKind {
    Permanent,
    Transient,
    Complaint,
}

impl BounceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BounceKind::Permanent => "permanent",
            BounceKind::Transient => "transient",
            BounceKind::Complaint => "complaint",
        }
    }

    pub(super) fn parse(text: &str) -> BounceKind {
        match text {
            "permanent" => BounceKind::Permanent,
            "complaint" => BounceKind::Complaint,
            _ => BounceKind::Transient,
        }
    }
}

/// When transient bounces make an address `bounced`.
#[derive(Debug, Clone, Copy)]
pub struct BouncePolicy {
    pub soft_limit: u32,
    pub soft_window: chrono::Duration,
}

impl Default for BouncePolicy {
    fn default() -> Self {
        BouncePolicy { soft_limit: 5, soft_window: chrono::Duration::days(30) }
    }
}

/// What recording a bounce did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BounceEffect {
    /// The subscriber is `bounced` now.
    Bounced,
    /// The subscriber is `complained` now.
    Complained,
    /// A transient bounce, the `n`th within the window.
    Counted(u32),
    /// Nothing changed: the subscriber is not mailed anyway (already bounced, complained or
    /// unsubscribed).
    Unchanged,
}

impl Store {
    /// Records a bounce of `subscriber` (about `issue`, when known) and applies the policy.
    #[allow(clippy::too_many_arguments)]
    pub fn record_bounce(
        &self,
        subscriber: i64,
        issue: Option<i64>,
        kind: BounceKind,
        detail: &str,
        source: &str,
        policy: &BouncePolicy,
        now: DateTime<Utc>,
    ) -> Result<BounceEffect> {
        let current =
            self.subscriber(subscriber)?.ok_or_else(|| StoreError::NotFound(format!("subscriber {subscriber}")))?;
        let at = timestamp(now);
        self.db.execute(
            "INSERT INTO bounces (subscriber_id, issue_id, kind, detail, source, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![subscriber, issue, kind.as_str(), detail, source, at],
        )?;
        let mailed = matches!(current.status, Status::Active | Status::Pending);
        let suppress = |status: Status, reason: String| -> Result<()> {
            self.set_status(subscriber, status, now)?;
            self.db.execute("UPDATE subscribers SET status_reason = ?2 WHERE id = ?1", params![subscriber, reason])?;
            Ok(())
        };
        let about = issue.map(|i| if i == 0 { " (confirmation)".to_owned() } else { format!(" (issue {i})") });
        let about = about.unwrap_or_default();
        match kind {
            BounceKind::Complaint if current.status != Status::Complained => {
                suppress(Status::Complained, format!("complaint{about}: {detail}"))?;
                Ok(BounceEffect::Complained)
            }
            BounceKind::Permanent if mailed => {
                suppress(Status::Bounced, format!("{detail}{about}"))?;
                Ok(BounceEffect::Bounced)
            }
            BounceKind::Transient if mailed => {
                let since = (now - policy.soft_window).max(
                    DateTime::parse_from_rfc3339(&current.updated_at).map(|d| d.with_timezone(&Utc)).unwrap_or(now),
                );
                let count: i64 = self.db.query_value(
                    "SELECT COUNT(*) FROM bounces WHERE subscriber_id = ?1 AND kind = 'transient' AND received_at >= ?2",
                    params![subscriber, timestamp(since)],
                )?;
                let count = count.clamp(0, i64::from(u32::MAX)) as u32;
                if count >= policy.soft_limit {
                    let days = policy.soft_window.num_days();
                    suppress(
                        Status::Bounced,
                        format!("{count} transient bounces within {days} days; the last: {detail}{about}"),
                    )?;
                    return Ok(BounceEffect::Bounced);
                }
                Ok(BounceEffect::Counted(count))
            }
            _ => Ok(BounceEffect::Unchanged),
        }
    }

    /// The operator's reset of a `bounced` or `complained` address: `active` again.
    pub fn reset_subscriber(&self, email: &str, now: DateTime<Utc>) -> Result<Subscriber> {
        let subscriber =
            self.subscriber_by_email(email)?.ok_or_else(|| StoreError::NotFound(email.trim().to_owned()))?;
        if !matches!(subscriber.status, Status::Bounced | Status::Complained) {
            return Err(StoreError::NotSuppressed { email: subscriber.email, status: subscriber.status });
        }
        self.set_status(subscriber.id, Status::Active, now)?;
        self.subscriber(subscriber.id)?.ok_or_else(|| StoreError::NotFound(email.to_owned()))
    }

    /// Bounces received, by kind (all issues; `issue` alone when given).
    pub fn bounce_counts(&self, issue: Option<i64>) -> Result<BTreeMap<BounceKind, u64>> {
        let counts = self.db.query_all(
            "SELECT kind, COUNT(*) FROM bounces WHERE CAST(?1 AS BIGINT) IS NULL OR issue_id = ?1 GROUP BY kind",
            params![issue],
            |row| Ok((BounceKind::parse(&row.get::<String>(0)?), row.get::<i64>(1)? as u64)),
        )?;
        Ok(counts.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_each_backend;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_permanent_failure_bounces_at_once_and_a_complaint_is_final() {
        on_each_backend(|store| {
            let now = at("2026-11-29T08:00:00Z");
            let policy = BouncePolicy::default();
            let a = store.add_subscriber("a@example.org", None, Status::Active, now).unwrap();
            let effect = store.record_bounce(
                a.id,
                Some(3),
                BounceKind::Permanent,
                "550 5.1.1 User unknown",
                "smtp",
                &policy,
                now,
            );
            assert_eq!(effect.unwrap(), BounceEffect::Bounced);
            let a = store.subscriber(a.id).unwrap().unwrap();
            assert_eq!(
                (a.status, a.status_reason.as_deref()),
                (Status::Bounced, Some("550 5.1.1 User unknown (issue 3)"))
            );
            // A complaint overrides a bounce; nothing overrides a complaint but the operator.
            assert_eq!(
                store.record_bounce(a.id, Some(3), BounceKind::Complaint, "abuse", "x.eml", &policy, now).unwrap(),
                BounceEffect::Complained
            );
            assert_eq!(
                store.record_bounce(a.id, None, BounceKind::Permanent, "550", "smtp", &policy, now).unwrap(),
                BounceEffect::Unchanged
            );
            assert_eq!(store.subscriber(a.id).unwrap().unwrap().status, Status::Complained);
            let reset = store.reset_subscriber("A@example.org", now).unwrap();
            assert_eq!((reset.status, reset.status_reason), (Status::Active, None));
            assert!(matches!(store.reset_subscriber("a@example.org", now), Err(StoreError::NotSuppressed { .. })));
            assert_eq!(store.bounce_counts(Some(3)).unwrap()[&BounceKind::Complaint], 1);
        });
    }

    #[test]
    fn transient_bounces_count_within_the_window_and_since_the_last_reset() {
        on_each_backend(|store| {
            let policy = BouncePolicy { soft_limit: 3, soft_window: chrono::Duration::days(30) };
            let start = at("2026-01-01T00:00:00Z");
            let a = store.add_subscriber("a@example.org", None, Status::Active, start).unwrap();
            let bounce = |day: i64| {
                let now = start + chrono::Duration::days(day);
                store
                    .record_bounce(a.id, Some(1), BounceKind::Transient, "452 4.2.2 Mailbox full", "smtp", &policy, now)
                    .unwrap()
            };
            assert_eq!(bounce(1), BounceEffect::Counted(1));
            assert_eq!(bounce(2), BounceEffect::Counted(2));
            // Forty days later the first two are out of the window.
            assert_eq!(bounce(42), BounceEffect::Counted(1));
            assert_eq!(bounce(43), BounceEffect::Counted(2));
            assert_eq!(bounce(44), BounceEffect::Bounced);
            let reason = store.subscriber(a.id).unwrap().unwrap().status_reason.unwrap();
            assert_eq!(reason, "3 transient bounces within 30 days; the last: 452 4.2.2 Mailbox full (issue 1)");
            store.reset_subscriber("a@example.org", start + chrono::Duration::days(45)).unwrap();
            assert_eq!(bounce(46), BounceEffect::Counted(1), "the count starts again after a reset");
        });
    }
}
