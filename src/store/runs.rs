//! Scheduled digest runs: one row per cron fire time, whatever became of it.
//!
//! The daemon records a fire before it acts on it and records the outcome after, so that every
//! fire of `digest.schedule` leaves exactly one row: `running` → `sent` | `skipped`, or
//! `deferred` (a run was already in progress, or the run could not start) → the outcome of the
//! run that served it. Fires missed while no daemon ran are collapsed into the latest of them,
//! whose `missed` column counts the others (product.md §8: sent once, not once per fire). The
//! fire time is the key, so a fire can never be recorded — or acted on — twice.

use chrono::{DateTime, Utc};

use super::db::params;
use super::{Result, Store, timestamp};

/// What became of a fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Its run is in progress (or was, when the daemon stopped).
    Running,
    /// Waiting for a run: the previous one was still sending, or it could not start yet.
    Deferred,
    /// An issue was sent (or resumed) for it.
    Sent,
    /// Nothing new: a skipped issue was recorded.
    Skipped,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Deferred => "deferred",
            RunOutcome::Sent => "sent",
            RunOutcome::Skipped => "skipped",
        }
    }

    fn parse(text: &str) -> RunOutcome {
        match text {
            "running" => RunOutcome::Running,
            "deferred" => RunOutcome::Deferred,
            "sent" => RunOutcome::Sent,
            _ => RunOutcome::Skipped,
        }
    }
}

/// One recorded fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub fire_at: String,
    pub outcome: RunOutcome,
    pub issue: Option<i64>,
    /// Earlier fires, missed while no daemon ran, that this one stands for.
    pub missed: u64,
    /// Why it was deferred, or what went wrong on the way.
    pub note: Option<String>,
}

impl Store {
    /// Records a fire; says whether it was new (a fire already recorded is not acted on again).
    pub fn record_fire(
        &self,
        fire: DateTime<Utc>,
        missed: u64,
        outcome: RunOutcome,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let inserted = self.db.execute(
            "INSERT INTO digest_runs (fire_at, outcome, missed, note, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            params![timestamp(fire), outcome.as_str(), missed as i64, note, timestamp(now)],
        )?;
        Ok(inserted == 1)
    }

    /// Sets what became of a fire; `note` replaces the one it had.
    pub fn set_run_outcome(
        &self,
        fire: DateTime<Utc>,
        outcome: RunOutcome,
        issue: Option<i64>,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.db.execute(
            "UPDATE digest_runs SET outcome = ?2, issue_id = COALESCE(?3, issue_id), note = ?4, updated_at = ?5
             WHERE fire_at = ?1",
            params![timestamp(fire), outcome.as_str(), issue, note, timestamp(now)],
        )?;
        Ok(())
    }

    /// The latest recorded fire time.
    pub fn last_fire(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = self.db.query_value("SELECT MAX(fire_at) FROM digest_runs", params![])?;
        Ok(at.and_then(|at| DateTime::parse_from_rfc3339(&at).ok()).map(|at| at.with_timezone(&Utc)))
    }

    /// Fires still waiting for the outcome of a run (`running` or `deferred`): after a restart,
    /// the first run serves them.
    pub fn open_fires(&self) -> Result<Vec<DateTime<Utc>>> {
        let fires: Vec<String> = self.db.query_all(
            "SELECT fire_at FROM digest_runs WHERE outcome IN ('running', 'deferred') ORDER BY fire_at",
            params![],
            |row| row.get(0),
        )?;
        Ok(fires
            .iter()
            .filter_map(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc))
            .collect())
    }

    /// The latest `limit` recorded fires, oldest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<Run>> {
        self.db.query_all(
            "SELECT fire_at, outcome, issue_id, missed, note FROM
             (SELECT * FROM digest_runs ORDER BY fire_at DESC LIMIT ?1) AS latest ORDER BY fire_at",
            params![limit as i64],
            |row| {
                Ok(Run {
                    fire_at: row.get(0)?,
                    outcome: RunOutcome::parse(&row.get::<String>(1)?),
                    issue: row.get(2)?,
                    missed: row.get::<i64>(3)? as u64,
                    note: row.get(4)?,
                })
            },
        )
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
    fn a_fire_is_recorded_once_and_keeps_its_final_outcome() {
        on_each_backend(|store| {
            let now = at("2026-11-29T08:00:05Z");
            let (first, second) = (at("2026-11-29T08:00:00Z"), at("2026-11-29T08:00:02Z"));
            assert!(store.record_fire(first, 0, RunOutcome::Running, None, now).unwrap());
            assert!(!store.record_fire(first, 0, RunOutcome::Running, None, now).unwrap(), "recorded twice");
            assert!(
                store.record_fire(second, 3, RunOutcome::Deferred, Some("previous issue still sending"), now).unwrap()
            );
            assert_eq!(store.open_fires().unwrap(), [first, second]);
            assert_eq!(store.last_fire().unwrap(), Some(second));

            let (one, two) = (store.record_skipped_issue(now).unwrap(), store.record_skipped_issue(now).unwrap());
            store.set_run_outcome(first, RunOutcome::Sent, Some(one), None, now).unwrap();
            store.set_run_outcome(second, RunOutcome::Skipped, Some(two), Some("deferred"), now).unwrap();
            assert!(store.open_fires().unwrap().is_empty());
            let runs = store.runs(10).unwrap();
            assert_eq!(runs.len(), 2);
            assert_eq!((runs[0].outcome, runs[0].issue, runs[0].missed), (RunOutcome::Sent, Some(one), 0));
            assert_eq!(runs[1].outcome, RunOutcome::Skipped);
            assert_eq!((runs[1].missed, runs[1].note.as_deref()), (3, Some("deferred")));
            assert_eq!(store.runs(1).unwrap()[0].fire_at, "2026-11-29T08:00:02.000Z");
        });
    }
}
