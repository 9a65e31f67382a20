//! Pruning the deliveries of old issues (`kurier digest prune --older-than 90d`): a list of a
//! million subscribers adds a million rows an issue. An issue that finished before the cut-off,
//! with nothing left to send or retry, keeps its counts by state (`pruned_counts`) and loses its
//! delivery rows; `digest status` shows the same counts before and after. What an issue sent,
//! its posts and its archived page stay.

use super::db::{Begin, params};
use super::{Result, Store, timestamp};
use chrono::{DateTime, Utc};

/// What a prune did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    pub issues: u64,
    pub deliveries: u64,
}

impl Store {
    /// Prunes the deliveries of the issues finished before `before`, in one transaction.
    pub fn prune_deliveries(&mut self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<PruneReport> {
        let db = &self.db;
        db.transaction(Begin::Deferred, || {
            let ids: Vec<i64> = db.query_all(
                "SELECT id FROM issues i WHERE status IN ('sent', 'skipped') AND finished_at < ?1
                   AND pruned_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = i.id
                                   AND d.state IN ('pending', 'sending', 'deferred'))
                 ORDER BY id",
                params![timestamp(before)],
                |row| row.get(0),
            )?;
            let mut report = PruneReport::default();
            for id in ids {
                db.execute(
                    "INSERT INTO pruned_counts (issue_id, state, count)
                     SELECT issue_id, state, COUNT(*) FROM deliveries WHERE issue_id = ?1 GROUP BY issue_id, state",
                    params![id],
                )?;
                report.deliveries += db.execute("DELETE FROM deliveries WHERE issue_id = ?1", params![id])?;
                db.execute("UPDATE issues SET pruned_at = ?2 WHERE id = ?1", params![id, timestamp(now)])?;
                report.issues += 1;
            }
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_each_backend;
    use crate::store::{DeliveryState, Status};

    #[test]
    fn old_finished_issues_lose_their_rows_and_keep_their_counts() {
        on_each_backend(|mut store| {
            let at = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
            for i in 0..6 {
                store
                    .add_subscriber(&format!("r{i}@example.org"), None, Status::Active, at("2026-01-01T00:00:00Z"))
                    .unwrap();
            }
            let old = store.create_issue("Stare", &[], "", at("2026-01-02T00:00:00Z")).unwrap();
            store.db.execute("UPDATE deliveries SET state = 'sent' WHERE subscriber_id <= 4", params![]).unwrap();
            store.db.execute("UPDATE deliveries SET state = 'failed' WHERE subscriber_id > 4", params![]).unwrap();
            store.finish_issue_if_done(old.id, at("2026-01-02T01:00:00Z")).unwrap();
            let recent = store.create_issue("Nowe", &[], "", at("2026-11-01T00:00:00Z")).unwrap();
            store.db.execute("UPDATE deliveries SET state = 'sent' WHERE issue_id = ?1", params![recent.id]).unwrap();
            store.finish_issue_if_done(recent.id, at("2026-11-01T01:00:00Z")).unwrap();
            let before = store.delivery_counts(Some(old.id)).unwrap();
            assert_eq!((before[&DeliveryState::Sent], before[&DeliveryState::Failed]), (4, 2));

            let report = store.prune_deliveries(at("2026-09-01T00:00:00Z"), at("2026-11-29T00:00:00Z")).unwrap();
            assert_eq!(report, PruneReport { issues: 1, deliveries: 6 });
            assert_eq!(store.delivery_counts(Some(old.id)).unwrap(), before, "the counts stay");
            assert_eq!(
                store.totals().unwrap().deliveries,
                store.delivery_counts(None).unwrap(),
                "and /metrics' totals"
            );
            assert_eq!(store.totals().unwrap().deliveries[&DeliveryState::Sent], 4 + 6);
            let rows: i64 =
                store.db.query_value("SELECT COUNT(*) FROM deliveries WHERE issue_id = ?1", params![old.id]).unwrap();
            assert_eq!(rows, 0);
            assert_eq!(
                store.delivery_counts(Some(recent.id)).unwrap()[&DeliveryState::Sent],
                6,
                "the recent one is kept"
            );
            // Twice is the same as once.
            let again = store.prune_deliveries(at("2026-09-01T00:00:00Z"), at("2026-11-29T00:00:00Z")).unwrap();
            assert_eq!(again, PruneReport::default());
            assert_eq!(store.delivery_counts(Some(old.id)).unwrap(), before);
        });
    }

    #[test]
    fn an_issue_with_deliveries_left_to_retry_is_not_pruned() {
        on_each_backend(|mut store| {
            let at = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
            store.add_subscriber("a@example.org", None, Status::Active, at("2026-01-01T00:00:00Z")).unwrap();
            let issue = store.create_issue("Stare", &[], "", at("2026-01-02T00:00:00Z")).unwrap();
            store.db.execute("UPDATE deliveries SET state = 'deferred'", params![]).unwrap();
            store
                .db
                .execute("UPDATE issues SET status = 'sent', finished_at = '2026-01-03T00:00:00.000Z'", params![])
                .unwrap();
            let report = store.prune_deliveries(at("2026-09-01T00:00:00Z"), at("2026-11-29T00:00:00Z")).unwrap();
            assert_eq!(report, PruneReport::default());
            assert_eq!(store.delivery_counts(Some(issue.id)).unwrap()[&DeliveryState::Deferred], 1);
        });
    }
}
