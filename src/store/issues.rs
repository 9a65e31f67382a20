//! Digest issues and their deliveries: the state that makes "each subscriber exactly one
//! message" survive crashes and restarts (§7 of the specification).
//!
//! An issue is created with its posts (frozen as they were sent, so that a resumed issue is the
//! same issue) and one delivery row per active subscriber, in one transaction: the recipients
//! are frozen. Each delivery then goes `pending → sending → sent | failed | deferred`, each step
//! committed —
//! `sending` before the SMTP transaction starts, `sent` after the server accepted the message.
//! After a crash a `sending` row is sent again (with the same Message-ID), so the only duplicates
//! possible are the messages in flight at the crash; a `pending` row is sent; a `sent` row never
//! is. Losing a commit can only move a row back to an earlier state, which means a duplicate,
//! never a miss. A `deferred` delivery (the server said "later") waits for its own retry time
//! (`deferrals.rs`) and does not keep its issue open: the issue is done when nothing is pending.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::db::{Begin, DbError, Row, params};
use super::{Result, Status, Store, StoreError, timestamp};
use crate::site::FrozenPost;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStatus {
    /// Created; deliveries remain.
    Sending,
    /// Every delivery is sent, failed or skipped.
    Sent,
    /// Nothing new to send: recorded, nothing sent.
    Skipped,
}

impl IssueStatus {
    fn parse(s: &str) -> IssueStatus {
        match s {
            "sending" => IssueStatus::Sending,
            "sent" => IssueStatus::Sent,
            _ => IssueStatus::Skipped,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Sending => "sending",
            IssueStatus::Sent => "sent",
            IssueStatus::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryState {
    Pending,
    Sending,
    Sent,
    /// Refused for good (5xx), or transiently refused too many times; the reply is kept.
    Failed,
    /// The subscriber left after the issue was created.
    Skipped,
    /// Refused for now (4xx, connection errors, deadlines); tried again at its retry time.
    Deferred,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 6] = [
        DeliveryState::Pending,
        DeliveryState::Sending,
        DeliveryState::Sent,
        DeliveryState::Failed,
        DeliveryState::Skipped,
        DeliveryState::Deferred,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
            DeliveryState::Deferred => "deferred",
        }
    }

    pub(super) fn parse(s: &str) -> DeliveryState {
        DeliveryState::ALL.into_iter().find(|state| state.as_str() == s).unwrap_or(DeliveryState::Failed)
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub id: i64,
    pub status: IssueStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub subject: String,
    pub posts: Vec<FrozenPost>,
    pub archive_html: Option<String>,
}

/// A delivery's move to a new state, with the server's reply and the attempts it adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryChange {
    pub issue: i64,
    pub subscriber: i64,
    pub state: DeliveryState,
    pub reply: Option<String>,
    pub attempts: u32,
}

/// A delivery still to be made, with what is needed to make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub subscriber_id: i64,
    pub email: String,
    pub name: Option<String>,
    /// The subscriber's status now, which may have changed since the issue was created.
    pub subscriber_status: Status,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the delivery was first deferred, if it was.
    pub deferred_since: Option<DateTime<Utc>>,
}

/// What [`Store::create_issue_for`] did.
#[derive(Debug)]
pub enum Created {
    New(Issue),
    /// An unfinished issue, or the fire's own issue, made by another node first.
    Existing(Issue),
}

impl Created {
    pub fn issue(self) -> Issue {
        match self {
            Created::New(issue) | Created::Existing(issue) => issue,
        }
    }
}

/// An issue with its delivery counts, for `digest status`.
#[derive(Debug, Clone)]
pub struct IssueSummary {
    pub id: i64,
    pub status: IssueStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub subject: String,
    pub posts: usize,
    pub counts: BTreeMap<DeliveryState, u64>,
    /// Failed recipients with the server's last reply.
    pub failures: Vec<(String, String)>,
    /// Deferred recipients: address, retry time, the server's last reply.
    pub deferrals: Vec<(String, String, String)>,
    /// Bounces and complaints about this issue, by kind.
    pub bounces: BTreeMap<super::BounceKind, u64>,
    /// Per node that claimed deliveries of this issue: its deliveries by state (who sent what).
    pub nodes: BTreeMap<String, BTreeMap<DeliveryState, u64>>,
}

const ISSUE_COLUMNS: &str = "id, status, created_at, finished_at, subject, posts_json, archive_html";

fn issue_from_row(row: &Row<'_>) -> std::result::Result<Issue, DbError> {
    let status: String = row.get(1)?;
    let posts: String = row.get(5)?;
    Ok(Issue {
        id: row.get(0)?,
        status: IssueStatus::parse(&status),
        created_at: row.get(2)?,
        finished_at: row.get(3)?,
        subject: row.get(4)?,
        posts: serde_json::from_str(&posts).unwrap_or_default(),
        archive_html: row.get(6)?,
    })
}

impl Store {
    /// Ids of posts no digest may contain: those sent in an issue and the baseline.
    pub fn excluded_post_ids(&self) -> Result<HashSet<String>> {
        let ids = self.db.query_all(
            "SELECT post_id FROM issue_posts UNION SELECT post_id FROM baseline_posts",
            params![],
            |row| row.get::<String>(0),
        )?;
        Ok(ids.into_iter().collect())
    }

    /// Whether the first digest was ever composed (and the baseline recorded).
    pub fn digests_started(&self) -> Result<bool> {
        Ok(self.meta("digests_started_at")?.is_some())
    }

    /// Records the baseline: posts too old for the first digest, never to be sent.
    pub fn start_digests(&mut self, baseline: &[String], now: DateTime<Utc>) -> Result<()> {
        self.db.transaction(Begin::Deferred, || {
            for id in baseline {
                self.db
                    .execute("INSERT INTO baseline_posts (post_id) VALUES (?1) ON CONFLICT DO NOTHING", params![id])?;
            }
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('digests_started_at', ?1) ON CONFLICT DO NOTHING",
                params![timestamp(now)],
            )?;
            Ok(())
        })
    }

    /// The issue being sent, if one was started and not finished.
    pub fn unfinished_issue(&self) -> Result<Option<Issue>> {
        self.db.query_opt(
            &format!("SELECT {ISSUE_COLUMNS} FROM issues WHERE status = 'sending' ORDER BY id LIMIT 1"),
            params![],
            issue_from_row,
        )
    }

    pub fn issue(&self, id: i64) -> Result<Option<Issue>> {
        self.db.query_opt(&format!("SELECT {ISSUE_COLUMNS} FROM issues WHERE id = ?1"), params![id], issue_from_row)
    }

    /// When the last issue (sent or skipped) was created.
    pub fn last_issue_at(&self) -> Result<Option<String>> {
        self.db.query_value("SELECT MAX(created_at) FROM issues", params![])
    }

    /// Creates an issue with its posts and one pending delivery per active subscriber, in one
    /// transaction.
    pub fn create_issue(
        &mut self,
        subject: &str,
        posts: &[FrozenPost],
        archive_html: &str,
        now: DateTime<Utc>,
    ) -> Result<Issue> {
        Ok(self.create_issue_for(None, subject, posts, archive_html, now)?.issue())
    }

    /// [`Store::create_issue`] for the schedule's `fire` (`None`: a send by hand), once per fire
    /// whichever node comes first: in a transaction that takes the store's write lock (one
    /// creator at a time), an unfinished issue or the fire's own issue, if another node made
    /// one, is given back instead of a new one; and the fire time is a unique key of `issues`,
    /// so a second issue for one fire cannot be stored even by a creator that skipped the checks.
    pub fn create_issue_for(
        &mut self,
        fire: Option<DateTime<Utc>>,
        subject: &str,
        posts: &[FrozenPost],
        archive_html: &str,
        now: DateTime<Utc>,
    ) -> Result<Created> {
        let at = timestamp(now);
        let fire_at = fire.map(timestamp);
        let posts_json = serde_json::to_string(posts).expect("plain data serializes");
        let db = &self.db;
        let created = db.transaction(Begin::Immediate, || {
            if let Some(issue) = self.unfinished_issue()? {
                return Ok(Err(issue.id));
            }
            if let Some(fire) = fire
                && let Some(issue) = self.issue_for_fire(fire)?
            {
                return Ok(Err(issue.id));
            }
            let id: i64 = db.query_value(
                "INSERT INTO issues (status, created_at, subject, posts_json, archive_html, fire_at)
                 VALUES ('sending', ?1, ?2, ?3, ?4, ?5) RETURNING id",
                params![at, subject, posts_json, archive_html, fire_at],
            )?;
            for (position, post) in posts.iter().enumerate() {
                db.execute(
                    "INSERT INTO issue_posts (issue_id, post_id, position) VALUES (?1, ?2, ?3)",
                    params![id, post.id, position as i64],
                )?;
            }
            // One statement, whatever the number of recipients.
            db.execute(
                "INSERT INTO deliveries (issue_id, subscriber_id, state, updated_at)
                 SELECT CAST(?1 AS BIGINT), id, 'pending', ?2 FROM subscribers WHERE status = 'active'",
                params![id, at],
            )?;
            Ok(Ok(id))
        })?;
        let id = created.unwrap_or_else(|existing| existing);
        let issue = self.issue(id)?.ok_or_else(|| StoreError::NotFound(format!("issue {id}")))?;
        Ok(if created.is_ok() { Created::New(issue) } else { Created::Existing(issue) })
    }

    /// The issue made for the schedule's `fire`, if one was (sent, sending or skipped).
    pub fn issue_for_fire(&self, fire: DateTime<Utc>) -> Result<Option<Issue>> {
        self.db.query_opt(
            &format!("SELECT {ISSUE_COLUMNS} FROM issues WHERE fire_at = ?1"),
            params![timestamp(fire)],
            issue_from_row,
        )
    }

    /// Stores the "view in browser" page of an issue.
    pub fn set_archive(&self, issue: i64, html: &str) -> Result<()> {
        self.db.execute("UPDATE issues SET archive_html = ?2 WHERE id = ?1", params![issue, html]).map(|_| ())
    }

    /// The id the next issue will get (SQLite gives a new row the largest id plus one).
    pub fn next_issue_id(&self) -> Result<i64> {
        self.db.query_value("SELECT COALESCE(MAX(id), 0) + 1 FROM issues", params![])
    }

    /// Records that a digest was due and had nothing new to send.
    pub fn record_skipped_issue(&self, now: DateTime<Utc>) -> Result<i64> {
        Ok(self.record_skipped_issue_for(None, now)?.issue().id)
    }

    /// [`Store::record_skipped_issue`] for the schedule's `fire`: once per fire. The fire's
    /// issue, if another node made one first, is given back instead — skipped, or one with
    /// posts that node found before this one read them as sent.
    pub fn record_skipped_issue_for(&self, fire: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<Created> {
        let at = timestamp(now);
        let inserted: Option<i64> = self.db.query_opt(
            "INSERT INTO issues (status, created_at, finished_at, fire_at) VALUES ('skipped', ?1, ?1, ?2)
             ON CONFLICT DO NOTHING RETURNING id",
            params![at, fire.map(timestamp)],
            |row| row.get(0),
        )?;
        let (id, issue) = match (inserted, fire) {
            (Some(id), _) => (id, None),
            (None, Some(fire)) => match self.issue_for_fire(fire)? {
                Some(issue) => (issue.id, Some(issue)),
                None => return Err(StoreError::NotFound(format!("the issue of the fire at {}", timestamp(fire)))),
            },
            (None, None) => return Err(StoreError::NotFound("the skipped issue just recorded".to_owned())),
        };
        match issue {
            Some(issue) => Ok(Created::Existing(issue)),
            None => Ok(Created::New(self.issue(id)?.ok_or_else(|| StoreError::NotFound(format!("issue {id}")))?)),
        }
    }

    /// Up to `limit` deliveries of `issue` still to make (pending, interrupted while sending, or
    /// deferred with a retry time at or before `now`), with subscriber ids above `after`, in
    /// subscriber order — so a send loop can page through 100,000 recipients in constant memory.
    pub fn deliveries_to_make(
        &self,
        issue: i64,
        after: i64,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>> {
        self.db.query_all(
            "SELECT d.subscriber_id, s.email, s.name, s.status, d.state, d.attempts, d.deferred_since
             FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.issue_id = ?1 AND d.subscriber_id > ?2
               AND (d.state IN ('pending', 'sending') OR (d.state = 'deferred' AND d.retry_at <= ?4))
             ORDER BY d.subscriber_id LIMIT ?3",
            params![issue, after, limit as i64, timestamp(now)],
            |row| {
                let status: String = row.get(3)?;
                let state: String = row.get(4)?;
                Ok(Delivery {
                    subscriber_id: row.get(0)?,
                    email: row.get(1)?,
                    name: row.get(2)?,
                    subscriber_status: status.parse().unwrap_or(Status::Bounced),
                    state: DeliveryState::parse(&state),
                    attempts: row.get::<i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
                    deferred_since: row
                        .get::<Option<String>>(6)?
                        .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
                        .map(|at| at.with_timezone(&Utc)),
                })
            },
        )
    }

    /// How many deliveries of `issue` [`Store::deliveries_to_make`] would give as of `now`,
    /// counted, not loaded.
    pub fn deliveries_left(&self, issue: i64, now: DateTime<Utc>) -> Result<u64> {
        self.db
            .query_value::<i64>(
                "SELECT COUNT(*) FROM deliveries WHERE issue_id = ?1
                   AND (state IN ('pending', 'sending') OR (state = 'deferred' AND retry_at <= ?2))",
                params![issue, timestamp(now)],
            )
            .map(|n| n as u64)
    }

    /// One delivery's move (the tests'; the engine commits several at once).
    #[cfg(test)]
    pub fn set_delivery(
        &mut self,
        issue: i64,
        subscriber: i64,
        state: DeliveryState,
        reply: Option<&str>,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let change = DeliveryChange { issue, subscriber, state, reply: reply.map(str::to_owned), attempts };
        self.set_deliveries(&[&change], now)
    }

    /// Sets several deliveries' states in one transaction (`digest/commits.rs`), in one
    /// statement when no delivery moves twice: on PostgreSQL the counters' triggers then take
    /// their row locks once, in one order, so that several nodes committing at once never
    /// deadlock (`schema.rs`, migration 9).
    pub fn set_deliveries(&mut self, changes: &[&DeliveryChange], now: DateTime<Utc>) -> Result<()> {
        let at = timestamp(now);
        let distinct: HashSet<(i64, i64)> = changes.iter().map(|c| (c.issue, c.subscriber)).collect();
        if distinct.len() < changes.len() {
            return self.db.transaction(Begin::Deferred, || {
                changes.iter().try_for_each(|change| self.set_deliveries_at(std::slice::from_ref(change), &at))
            });
        }
        self.db.transaction(Begin::Deferred, || self.set_deliveries_at(changes, &at))
    }

    /// One statement moving `changes` (each delivery at most once).
    fn set_deliveries_at(&self, changes: &[&DeliveryChange], at: &str) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let values: Vec<String> = (0..changes.len())
            .map(|i| {
                let p = 2 + i * 5;
                format!(
                    "(CAST(?{} AS BIGINT), CAST(?{} AS BIGINT), CAST(?{} AS TEXT), CAST(?{} AS TEXT), CAST(?{} AS BIGINT))",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4
                )
            })
            .collect();
        let owned: Vec<(&str, i64)> = changes.iter().map(|c| (c.state.as_str(), i64::from(c.attempts))).collect();
        let mut params: Vec<&dyn super::db::Param> = vec![&at];
        for (change, (state, attempts)) in changes.iter().zip(&owned) {
            params.extend([&change.issue as &dyn super::db::Param, &change.subscriber, state, &change.reply, attempts]);
        }
        self.db.execute(
            &format!(
                "WITH moved (issue_id, subscriber_id, state, reply, attempts) AS (VALUES {})
                 UPDATE deliveries SET state = moved.state, last_reply = COALESCE(moved.reply, last_reply),
                     attempts = deliveries.attempts + moved.attempts, updated_at = ?1,
                     lease_until = CASE WHEN moved.state = 'sending' THEN lease_until END
                 FROM moved
                 WHERE deliveries.issue_id = moved.issue_id AND deliveries.subscriber_id = moved.subscriber_id",
                values.join(", ")
            ),
            &params,
        )?;
        Ok(())
    }

    /// Marks the issue sent when no delivery is left to make; says whether it did.
    pub fn finish_issue_if_done(&self, issue: i64, now: DateTime<Utc>) -> Result<bool> {
        let changed = self.db.execute(
            "UPDATE issues SET status = 'sent', finished_at = ?2
             WHERE id = ?1 AND status = 'sending' AND NOT EXISTS (
                 SELECT 1 FROM deliveries WHERE issue_id = ?1 AND state IN ('pending', 'sending'))",
            params![issue, timestamp(now)],
        )?;
        Ok(changed > 0)
    }

    /// Deliveries by state, pruned ones included: of one issue, or of every issue (`None`).
    pub fn delivery_counts(&self, issue: Option<i64>) -> Result<BTreeMap<DeliveryState, u64>> {
        let counts = self.db.query_all(
            "SELECT state, CAST(SUM(n) AS BIGINT) FROM (
                 SELECT state, COUNT(*) AS n FROM deliveries
                 WHERE CAST(?1 AS BIGINT) IS NULL OR issue_id = ?1 GROUP BY state
                 UNION ALL
                 SELECT state, count FROM pruned_counts WHERE CAST(?1 AS BIGINT) IS NULL OR issue_id = ?1
             ) AS counted GROUP BY state",
            params![issue],
            |row| Ok((DeliveryState::parse(&row.get::<String>(0)?), row.get::<i64>(1)? as u64)),
        )?;
        Ok(counts.into_iter().collect())
    }

    /// Every issue, newest first, with its counts and failed recipients.
    pub fn issue_summaries(&self) -> Result<Vec<IssueSummary>> {
        let issues = self.db.query_all(
            &format!("SELECT {ISSUE_COLUMNS} FROM issues ORDER BY id DESC"),
            params![],
            issue_from_row,
        )?;
        issues
            .into_iter()
            .map(|issue| {
                let failed = self.db.query_all(
                    "SELECT s.email, COALESCE(d.last_reply, '') FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                     WHERE d.issue_id = ?1 AND d.state = 'failed' ORDER BY s.id",
                    params![issue.id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                let deferred = self.db.query_all(
                    "SELECT s.email, COALESCE(d.retry_at, ''), COALESCE(d.last_reply, '') FROM deliveries d
                     JOIN subscribers s ON s.id = d.subscriber_id
                     WHERE d.issue_id = ?1 AND d.state = 'deferred' ORDER BY s.id",
                    params![issue.id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )?;
                Ok(IssueSummary {
                    id: issue.id,
                    status: issue.status,
                    created_at: issue.created_at,
                    finished_at: issue.finished_at,
                    subject: issue.subject,
                    posts: issue.posts.len(),
                    counts: self.delivery_counts(Some(issue.id))?,
                    failures: failed,
                    deferrals: deferred,
                    bounces: self.bounce_counts(Some(issue.id))?,
                    nodes: self.deliveries_by_node(issue.id)?.into_iter().filter(|(node, _, _)| !node.is_empty()).fold(
                        BTreeMap::new(),
                        |mut nodes, (node, state, n)| {
                            nodes.entry(node).or_insert_with(BTreeMap::new).insert(state, n);
                            nodes
                        },
                    ),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_each_backend;

    fn now() -> DateTime<Utc> {
        "2026-11-26T08:00:00Z".parse().unwrap()
    }

    fn post(id: &str) -> FrozenPost {
        FrozenPost {
            id: id.into(),
            title: id.into(),
            url: format!("https://example.org/{id}/"),
            date: "2026-11-26T08:00:00+01:00".into(),
            summary_html: String::new(),
            summary_text: String::new(),
            tags: vec![],
            related: vec![],
        }
    }

    #[test]
    fn an_issue_stored_before_related_posts_existed_still_loads() {
        let old = r#"{"id":"a","title":"A","url":"https://example.org/a/","date":"2026-11-26T08:00:00+01:00","summary_html":"","summary_text":"","tags":[]}"#;
        let post: FrozenPost = serde_json::from_str(old).unwrap();
        assert!(post.related.is_empty());
    }

    #[test]
    fn an_issue_freezes_its_posts_and_its_active_recipients() {
        on_each_backend(|mut store| {
            let a = store.add_subscriber("a@example.org", None, Status::Active, now()).unwrap();
            store.add_subscriber("p@example.org", None, Status::Pending, now()).unwrap();
            store.add_subscriber("u@example.org", None, Status::Unsubscribed, now()).unwrap();
            let issue = store.create_issue("Temat", &[post("p1"), post("p2")], "<p>archive</p>", now()).unwrap();
            // Someone who joins after the issue was created is not a recipient of it.
            store.add_subscriber("late@example.org", None, Status::Active, now()).unwrap();
            let todo = store.deliveries_to_make(issue.id, 0, 100, now()).unwrap();
            assert_eq!(todo.iter().map(|d| d.subscriber_id).collect::<Vec<_>>(), [a.id]);
            assert_eq!(store.excluded_post_ids().unwrap(), HashSet::from(["p1".to_owned(), "p2".to_owned()]));
            assert_eq!(store.unfinished_issue().unwrap().unwrap().posts, [post("p1"), post("p2")]);
        });
    }

    #[test]
    fn one_issue_per_fire_whichever_of_three_nodes_comes_first_and_once_it_is_done() {
        on_each_backend(|mut store| {
            let a = store.add_subscriber("a@example.org", None, Status::Active, now()).unwrap();
            let fire = now();
            // Three nodes create the fire's issue at the same moment, each on its connection.
            let nodes: Vec<Store> = (0..3).map(|_| store.reopen()).collect();
            let created: Vec<Created> = std::thread::scope(|scope| {
                let racing: Vec<_> = nodes
                    .into_iter()
                    .map(|mut node| {
                        scope.spawn(move || node.create_issue_for(Some(fire), "T", &[post("p1")], "", now()))
                    })
                    .collect();
                racing.into_iter().map(|r| r.join().unwrap().unwrap()).collect()
            });
            assert_eq!(created.iter().filter(|c| matches!(c, Created::New(_))).count(), 1, "{created:?}");
            let ids: HashSet<i64> = created.into_iter().map(|c| c.issue().id).collect();
            assert_eq!(ids.len(), 1);
            let id = *ids.iter().next().unwrap();
            assert_eq!(store.issue_for_fire(fire).unwrap().unwrap().id, id);
            // Sent: a node that comes late gets the fire's issue back, not a new or skipped one.
            store.set_delivery(id, a.id, DeliveryState::Sent, Some("250"), 1, now()).unwrap();
            assert!(store.finish_issue_if_done(id, now()).unwrap());
            let late = store.create_issue_for(Some(fire), "T", &[post("p2")], "", now()).unwrap();
            assert!(matches!(&late, Created::Existing(issue) if issue.id == id), "{late:?}");
            let again = store.record_skipped_issue_for(Some(fire), now()).unwrap();
            assert!(matches!(&again, Created::Existing(issue) if issue.id == id && issue.status == IssueStatus::Sent));
            // The next fire has one of its own, skipped once however many nodes record it.
            let next = now() + chrono::Duration::hours(1);
            let skipped = store.record_skipped_issue_for(Some(next), next).unwrap();
            assert!(matches!(skipped, Created::New(_)), "{skipped:?}");
            let late = store.reopen().record_skipped_issue_for(Some(next), next).unwrap();
            assert!(matches!(late, Created::Existing(issue) if issue.status == IssueStatus::Skipped));
            assert_eq!(store.issue_summaries().unwrap().len(), 2);
        });
    }

    #[test]
    fn an_issue_finishes_only_when_no_delivery_is_left() {
        on_each_backend(|mut store| {
            let a = store.add_subscriber("a@example.org", None, Status::Active, now()).unwrap();
            let b = store.add_subscriber("b@example.org", None, Status::Active, now()).unwrap();
            let issue = store.create_issue("T", &[post("p1")], "", now()).unwrap();
            store.set_delivery(issue.id, a.id, DeliveryState::Sending, None, 1, now()).unwrap();
            store.set_delivery(issue.id, a.id, DeliveryState::Sent, Some("250 OK"), 0, now()).unwrap();
            assert!(!store.finish_issue_if_done(issue.id, now()).unwrap());
            // An interrupted `sending` delivery is still to be made.
            store.set_delivery(issue.id, b.id, DeliveryState::Sending, None, 1, now()).unwrap();
            assert_eq!(store.deliveries_to_make(issue.id, 0, 10, now()).unwrap()[0].state, DeliveryState::Sending);
            store.set_delivery(issue.id, b.id, DeliveryState::Failed, Some("550 no such user"), 0, now()).unwrap();
            assert!(store.finish_issue_if_done(issue.id, now()).unwrap());
            assert!(store.unfinished_issue().unwrap().is_none());
            let summary = &store.issue_summaries().unwrap()[0];
            assert_eq!(summary.counts[&DeliveryState::Sent], 1);
            assert_eq!(summary.failures, [("b@example.org".to_owned(), "550 no such user".to_owned())]);
        });
    }
}
