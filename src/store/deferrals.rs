//! Deferred deliveries: the server said "not now" (a 4xx, a lost connection, a deadline).
//!
//! A deferred delivery keeps its own retry time and does not hold its issue open, so one
//! greylisting recipient never holds back the next issue for everyone else (product.md §11).
//! The delivery engine picks it up again, in whichever run comes after its retry time
//! (`deliveries_to_make`); the daemon wakes up for the earliest one ([`Store::next_retry`]).

use super::db::params;
use super::{Result, Store, timestamp};
use chrono::{DateTime, Utc};

impl Store {
    /// Defers one delivery until `retry_at`, keeping the server's reply; the first deferral's
    /// time is kept, for giving up.
    pub fn defer_delivery(
        &self,
        issue: i64,
        subscriber: i64,
        reply: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.db
            .execute(
                "UPDATE deliveries SET state = 'deferred', last_reply = ?3, retry_at = ?4,
                    deferred_since = COALESCE(deferred_since, ?5), updated_at = ?5,
                    lease_until = NULL
                 WHERE issue_id = ?1 AND subscriber_id = ?2",
                params![issue, subscriber, reply, timestamp(retry_at), timestamp(now)],
            )
            .map(|_| ())
    }

    /// Issues with deferred deliveries whose retry time has come, oldest first.
    pub fn issues_with_due_deferrals(&self, now: DateTime<Utc>) -> Result<Vec<i64>> {
        self.db.query_all(
            "SELECT DISTINCT issue_id FROM deliveries WHERE state = 'deferred' AND retry_at <= ?1 ORDER BY issue_id",
            params![timestamp(now)],
            |row| row.get(0),
        )
    }

    /// The earliest retry time of a deferred delivery.
    pub fn next_retry(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> =
            self.db.query_value("SELECT MIN(retry_at) FROM deliveries WHERE state = 'deferred'", params![])?;
        Ok(at.and_then(|at| DateTime::parse_from_rfc3339(&at).ok()).map(|at| at.with_timezone(&Utc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_each_backend;
    use crate::store::{DeliveryState, Status};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_deferred_delivery_leaves_its_issue_done_and_comes_back_at_its_retry_time() {
        on_each_backend(|mut store| {
            let now = at("2026-11-29T08:00:00Z");
            let a = store.add_subscriber("a@example.org", None, Status::Active, now).unwrap();
            let b = store.add_subscriber("b@example.org", None, Status::Active, now).unwrap();
            let issue = store.create_issue("T", &[], "", now).unwrap();
            store.set_delivery(issue.id, a.id, DeliveryState::Sent, Some("250 OK"), 1, now).unwrap();
            let retry = at("2026-11-29T08:02:00Z");
            store.defer_delivery(issue.id, b.id, "451 4.7.1 greylisted", retry, now).unwrap();

            assert!(store.finish_issue_if_done(issue.id, now).unwrap(), "a deferral does not hold the issue open");
            assert!(store.unfinished_issue().unwrap().is_none());
            assert_eq!(store.next_retry().unwrap(), Some(retry));
            assert!(store.issues_with_due_deferrals(now).unwrap().is_empty());
            assert!(store.deliveries_to_make(issue.id, 0, 10, now).unwrap().is_empty());

            assert_eq!(store.issues_with_due_deferrals(retry).unwrap(), [issue.id]);
            let due = store.deliveries_to_make(issue.id, 0, 10, retry).unwrap();
            assert_eq!(due.len(), 1);
            assert_eq!(
                (due[0].subscriber_id, due[0].state, due[0].deferred_since),
                (b.id, DeliveryState::Deferred, Some(now))
            );
            // A second deferral keeps the time of the first.
            store.defer_delivery(issue.id, b.id, "451 again", at("2026-11-29T08:06:00Z"), retry).unwrap();
            let later = store.deliveries_to_make(issue.id, 0, 10, at("2026-11-29T09:00:00Z")).unwrap();
            assert_eq!(later[0].deferred_since, Some(now));
        });
    }
}
