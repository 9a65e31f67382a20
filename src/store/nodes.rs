//! Nodes: the processes that send from one store, and their claims on deliveries.
//!
//! On PostgreSQL several `kurier run` processes (on several machines, with the same
//! `kurier.toml`) share one database, and every one of them sends. Each is a *node* with a
//! readable id (`[store] node`, else the host name and the process id) and a row in `nodes`
//! whose heartbeat it refreshes every few seconds from a thread of its own ([`Heartbeat`]). A
//! node is live while its heartbeat is younger than `[store] lease_seconds`.
//!
//! Deliveries are claimed a few at a time ([`Store::claim_deliveries`]): the claim records the
//! node and a lease expiry on each row, in one statement that skips rows another node is
//! claiming at that moment (`FOR UPDATE SKIP LOCKED`; SQLite, whose one writer at a time makes
//! the statement atomic anyway, runs it without). A claim holds while its lease has not expired
//! *or* its node's heartbeat is live: the heartbeat renews every claim of its node at once by
//! writing one row, not the claimed rows themselves (which the node's commits are writing at the
//! same time: two writers of the same rows in different orders deadlock). The move to an end
//! state (sent, failed, skipped, deferred, or back to pending at a stop) clears the lease and
//! keeps the node, which is how `digest status` knows who sent what. A node that dies stops
//! beating: `lease_seconds` later its rows are claimable again, and the only messages sent twice
//! are those whose SMTP transaction it had finished without committing `sent` — at most one per
//! worker (`digest/send.rs`), its concurrency.
//!
//! A node that stops cleanly deletes its row ([`Store::leave`]); the row of one that died is
//! deleted by any live node once it has been silent for [`FORGET_AFTER`] (each node's heartbeat
//! thread looks at its start and then every [`FORGET_EVERY`]), so `nodes` holds the nodes of the
//! last day, not every process that ever ran. Its name stays on the deliveries it settled.
//!
//! Time is each node's clock: the nodes' clocks must agree (NTP) to well within a lease.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::db::params;
use super::{Delivery, DeliveryState, Location, Result, Status, Store, timestamp};
use crate::config::StoreConfig;

/// A node silent for this long is dead for good: its row is deleted.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How often a live node deletes the rows of dead ones.
pub const FORGET_EVERY: Duration = Duration::from_secs(3600);

/// Who sends: a node's id and how long its heartbeat and claims count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub lease: Duration,
}

impl Node {
    /// The node of `kurier run`: `[store] node`, else the host name and the process id.
    pub fn of(store: &StoreConfig) -> Node {
        Node {
            id: store.node.clone().unwrap_or_else(Node::process_id),
            lease: Duration::from_secs(store.lease_seconds),
        }
    }

    /// The node of a command (`kurier digest send`): the host name and the process id, never
    /// `[store] node`, which belongs to the daemon of this machine.
    pub fn of_command(store: &StoreConfig) -> Node {
        Node { id: Node::process_id(), lease: Duration::from_secs(store.lease_seconds) }
    }

    /// `host-pid`: two processes on one host differ; readable in logs and `digest status`.
    fn process_id() -> String {
        format!("{}-{}", hostname(), std::process::id())
    }

    /// How often the heartbeat is refreshed: several times a lease, at most every 5 s.
    pub fn heartbeat_every(&self) -> Duration {
        (self.lease / 3).min(Duration::from_secs(5))
    }

    fn lease_until(&self, now: DateTime<Utc>) -> String {
        timestamp(now + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX))
    }

    fn live_since(&self, now: DateTime<Utc>) -> String {
        timestamp(now - chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX))
    }
}

/// The host's name, cut to the characters and length a node id may have.
fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let named = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    let name: String = String::from_utf8_lossy(&buffer[..end])
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(48)
        .collect();
    if named && !name.is_empty() { name } else { "kurier".to_owned() }
}

impl Store {
    /// Refreshes `node`'s heartbeat (registering it if new), which keeps its claims.
    pub fn beat(&self, node: &Node, now: DateTime<Utc>) -> Result<()> {
        let at = timestamp(now);
        self.db.execute(
            "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES (?1, ?2, ?2)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = ?2",
            params![node.id, at],
        )?;
        Ok(())
    }

    /// `node` starts: claims under its name are a previous process's (one that died, under a
    /// `[store] node` that stays across restarts), which the new heartbeat would otherwise keep
    /// alive with nobody to send them: they are released. Then the first heartbeat. A node name
    /// is for one process at a time.
    pub fn arrive(&self, node: &Node, now: DateTime<Utc>) -> Result<()> {
        self.release_claims(node)?;
        self.beat(node, now)
    }

    /// `node` leaves: its heartbeat row goes (the others' share of the rate grows at once) and
    /// its claims are released, so that the other nodes send them without waiting for a lease.
    pub fn leave(&self, node: &Node) -> Result<()> {
        self.db.execute("DELETE FROM nodes WHERE id = ?1", params![node.id])?;
        self.release_claims(node)
    }

    /// Deletes the rows of nodes silent for more than [`FORGET_AFTER`] at `now`; how many.
    pub fn forget_dead_nodes(&self, now: DateTime<Utc>) -> Result<u64> {
        let silent_since = timestamp(now - chrono::Duration::from_std(FORGET_AFTER).unwrap_or(chrono::Duration::MAX));
        self.db.execute("DELETE FROM nodes WHERE heartbeat_at < ?1", params![silent_since])
    }

    /// Releases `node`'s claims on `issue`: its run of the issue has ended, and no worker of it
    /// holds a delivery any more (those it claimed and did not reach go back to every node).
    pub fn release_claims_of(&self, issue: i64, node: &Node) -> Result<()> {
        self.db.execute(
            "UPDATE deliveries SET lease_until = NULL WHERE issue_id = ?1 AND node = ?2 AND lease_until IS NOT NULL",
            params![issue, node.id],
        )?;
        Ok(())
    }

    fn release_claims(&self, node: &Node) -> Result<()> {
        self.db.execute(
            "UPDATE deliveries SET lease_until = NULL WHERE node = ?1 AND lease_until IS NOT NULL",
            params![node.id],
        )?;
        Ok(())
    }

    /// The nodes whose heartbeat is younger than `node`'s lease, at least 1 (the caller).
    pub fn live_nodes(&self, node: &Node, now: DateTime<Utc>) -> Result<u64> {
        let live: i64 =
            self.db.query_value("SELECT COUNT(*) FROM nodes WHERE heartbeat_at > ?1", params![node.live_since(now)])?;
        Ok(live.max(1) as u64)
    }

    /// Every node on record with its start and last heartbeat, by id.
    pub fn nodes(&self) -> Result<Vec<(String, String, String)>> {
        self.db.query_all("SELECT id, started_at, heartbeat_at FROM nodes ORDER BY id", params![], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
    }

    /// Releases every lease: the sender that holds SQLite's send lock is the only one, so no
    /// claim of another process is alive.
    pub fn release_leases(&self) -> Result<()> {
        self.db.execute("UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL", params![])?;
        Ok(())
    }

    /// Claims up to `limit` deliveries of `issue` still to make (pending, interrupted while
    /// sending, or deferred with a retry time at or before `now`) that no claim holds — none, or
    /// another node's whose lease has expired and whose heartbeat is not live — for `node`,
    /// returned in subscriber order. A node's own claims are never taken back by it, however old
    /// (a delivery retried for minutes is still in one of its workers' hands; on SQLite there is
    /// no heartbeat to keep them): they are released when its run ends
    /// ([`Store::release_claims_of`]).
    ///
    /// Pending deliveries come first, then interrupted ones, then deferred ones, each state read
    /// in subscriber order from the index on (issue, state, subscriber): a claim passes only the
    /// claimed deliveries of that state (a few per worker and node), never those already settled,
    /// so that its cost does not grow as the issue is sent.
    pub fn claim_deliveries(&self, issue: i64, node: &Node, limit: usize, now: DateTime<Utc>) -> Result<Vec<Delivery>> {
        let (lease_until, now_at, live_since) = (node.lease_until(now), timestamp(now), node.live_since(now));
        let mut claimed = Vec::new();
        for state in [DeliveryState::Pending, DeliveryState::Sending, DeliveryState::Deferred] {
            let wanted = limit.saturating_sub(claimed.len());
            if wanted == 0 {
                break;
            }
            claimed.extend(self.db.query_all(
                &self.claim_sql(wanted),
                params![issue, node.id, lease_until, now_at, live_since, state.as_str()],
                |row| {
                    Ok((row.get::<i64>(0)?, row.get::<String>(1)?, row.get::<i64>(2)?, row.get::<Option<String>>(3)?))
                },
            )?);
        }
        let mut subscribers = self.claimed_subscribers(claimed.iter().map(|c| c.0))?;
        let mut deliveries = Vec::with_capacity(claimed.len());
        for (subscriber_id, state, attempts, deferred_since) in claimed {
            let (email, name, status) = subscribers
                .remove(&subscriber_id)
                .ok_or_else(|| super::StoreError::NotFound(format!("subscriber {subscriber_id}")))?;
            deliveries.push(Delivery {
                subscriber_id,
                email,
                name,
                subscriber_status: status.parse().unwrap_or(Status::Bounced),
                state: DeliveryState::parse(&state),
                attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
                deferred_since: deferred_since
                    .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
                    .map(|at| at.with_timezone(&Utc)),
            });
        }
        deliveries.sort_by_key(|d| d.subscriber_id);
        Ok(deliveries)
    }

    /// One claim of up to `limit` deliveries in the state `?6`: see [`Store::claim_deliveries`].
    /// The limit is written into the statement: PostgreSQL may plan a prepared statement once for
    /// any parameters, and with an unknown limit it expects thousands of rows and joins them by
    /// reading the whole table (measured: 140 ms a claim at 300,000 deliveries, against 1 ms).
    fn claim_sql(&self, limit: usize) -> String {
        let skip_locked = if self.db.is_postgres() { "FOR UPDATE SKIP LOCKED" } else { "" };
        format!(
            "WITH picked AS (
                 SELECT subscriber_id FROM deliveries
                 WHERE issue_id = ?1 AND state = ?6 AND (?6 <> 'deferred' OR retry_at <= ?4)
                   AND (lease_until IS NULL OR (lease_until < ?4 AND deliveries.node IS DISTINCT FROM ?2
                       AND NOT EXISTS (
                       SELECT 1 FROM nodes WHERE nodes.id = deliveries.node AND nodes.heartbeat_at > ?5)))
                 ORDER BY subscriber_id LIMIT {limit} {skip_locked})
             UPDATE deliveries SET node = ?2, lease_until = ?3
             FROM picked WHERE deliveries.issue_id = ?1 AND deliveries.subscriber_id = picked.subscriber_id
             RETURNING deliveries.subscriber_id, state, attempts, deferred_since"
        )
    }

    /// The address, name and status of each subscriber of `ids`, in one statement (SQLite's
    /// `UPDATE … RETURNING` cannot join them to the claim).
    fn claimed_subscribers(&self, ids: impl Iterator<Item = i64>) -> Result<HashMap<i64, Recipient>> {
        let ids: Vec<i64> = ids.collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
        let params: Vec<&dyn super::db::Param> = ids.iter().map(|id| id as &dyn super::db::Param).collect();
        let rows = self.db.query_all(
            &format!("SELECT id, email, name, status FROM subscribers WHERE id IN ({})", placeholders.join(", ")),
            &params,
            |row| Ok((row.get::<i64>(0)?, (row.get(1)?, row.get(2)?, row.get(3)?))),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Deliveries of `issue` not settled yet (pending or sending) that are not `node`'s own: while
    /// there are any, a node that has nothing to claim waits for them to settle, or for a dead
    /// node's leases to end. Its own are its workers' (in flight, or sent and about to be
    /// recorded): those it need not wait for.
    pub fn deliveries_unsettled_elsewhere(&self, issue: i64, node: &Node) -> Result<u64> {
        self.db
            .query_value::<i64>(
                "SELECT COUNT(*) FROM deliveries WHERE issue_id = ?1 AND state IN ('pending', 'sending')
                   AND COALESCE(node, '') <> ?2",
                params![issue, node.id],
            )
            .map(|n| n as u64)
    }

    /// Per node, the deliveries of `issue` it settled, by state (rows never claimed, made before
    /// nodes were recorded, are under "").
    pub fn deliveries_by_node(&self, issue: i64) -> Result<Vec<(String, DeliveryState, u64)>> {
        self.db.query_all(
            "SELECT COALESCE(node, ''), state, COUNT(*) FROM deliveries WHERE issue_id = ?1
             GROUP BY COALESCE(node, ''), state ORDER BY 1, 2",
            params![issue],
            |row| Ok((row.get(0)?, DeliveryState::parse(&row.get::<String>(1)?), row.get::<i64>(2)? as u64)),
        )
    }
}

/// A claimed delivery's subscriber: address, name and status.
type Recipient = (String, Option<String>, String);

/// A node's heartbeat, refreshed by a thread of its own on a connection of its own (no store
/// call on an async worker) until dropped; then the node leaves ([`Store::leave`]).
pub struct Heartbeat {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts the heartbeat of `node`: the first one (with [`Store::arrive`]) before it returns,
    /// so that the node's first claims come after it, if the store can be reached now; the
    /// thread beats again otherwise (without arriving, see there).
    pub fn start(location: Location, node: Node) -> Heartbeat {
        let (stop, stopped) = mpsc::channel::<()>();
        let first = location.open().and_then(|store| store.arrive(&node, Utc::now()).map(|()| store));
        let mut store = first.ok();
        let thread = std::thread::Builder::new()
            .name("kurier-heartbeat".to_owned())
            .spawn(move || {
                let mut failing = false;
                let mut forgotten_at: Option<Instant> = None;
                loop {
                    let beat = match &store {
                        Some(store) => store.beat(&node, Utc::now()),
                        // Only a beat: by now this process may hold claims of its own, which
                        // arriving would release to the others while its workers send them. A
                        // previous process's claims go back at the end of this one's run.
                        None => location.open().and_then(|opened| {
                            let beat = opened.beat(&node, Utc::now());
                            store = Some(opened);
                            beat
                        }),
                    };
                    if beat.is_ok()
                        && forgotten_at.is_none_or(|at| at.elapsed() >= FORGET_EVERY)
                        && let Some(store) = &store
                    {
                        forgotten_at = Some(Instant::now());
                        match store.forget_dead_nodes(Utc::now()) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(nodes = n, "forgot nodes silent for more than a day"),
                            Err(e) => tracing::warn!(error = %e, "cannot forget the nodes silent for more than a day"),
                        }
                    }
                    match beat {
                        Ok(()) if failing => {
                            tracing::info!(node = %node.id, "heartbeat recorded again");
                            failing = false;
                        }
                        Ok(()) => {}
                        Err(e) => {
                            if !failing {
                                tracing::error!(node = %node.id, error = %e, "cannot record the node's heartbeat");
                            }
                            failing = true;
                            store = None;
                        }
                    }
                    if !matches!(stopped.recv_timeout(node.heartbeat_every()), Err(mpsc::RecvTimeoutError::Timeout)) {
                        break;
                    }
                }
                if let Some(store) = store
                    && let Err(e) = store.leave(&node)
                {
                    tracing::warn!(node = %node.id, error = %e, "cannot record that the node leaves");
                }
            })
            .expect("a thread can be started");
        Heartbeat { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryChange;
    use crate::store::tests::on_each_backend;

    fn now() -> DateTime<Utc> {
        "2026-11-30T08:00:00Z".parse().unwrap()
    }

    fn node(id: &str) -> Node {
        Node { id: id.to_owned(), lease: Duration::from_secs(30) }
    }

    /// An issue to `recipients` new active subscribers, `r0@example.org`…
    fn issue_to(store: &mut Store, recipients: usize) -> crate::store::Issue {
        for i in 0..recipients {
            store.add_subscriber(&format!("r{i}@example.org"), None, Status::Active, now()).unwrap();
        }
        store.create_issue("T", &[], "", now()).unwrap()
    }

    #[test]
    fn claims_do_not_overlap_a_dead_nodes_lease_ends_and_the_sender_is_recorded() {
        on_each_backend(|mut store| {
            let issue = issue_to(&mut store, 10);
            let other = store.reopen();
            let (a, b) = (node("a"), node("b"));
            let first = store.claim_deliveries(issue.id, &a, 4, now()).unwrap();
            let second = other.claim_deliveries(issue.id, &b, 4, now()).unwrap();
            let ids = |d: &[Delivery]| d.iter().map(|d| d.subscriber_id).collect::<Vec<_>>();
            assert_eq!(first.len(), 4);
            assert_eq!(second.len(), 4);
            assert!(ids(&first).iter().all(|id| !ids(&second).contains(id)), "{first:?} {second:?}");
            assert_eq!(first[0].email, "r0@example.org");
            // a sends one; b dies holding four. The rest (2) is free; b's four come back only
            // when its lease has ended and its heartbeat is no longer live.
            store.beat(&b, now()).unwrap();
            let sent = first[0].subscriber_id;
            store.set_delivery(issue.id, sent, DeliveryState::Sending, None, 1, now()).unwrap();
            store.set_delivery(issue.id, sent, DeliveryState::Sent, Some("250"), 0, now()).unwrap();
            assert_eq!(store.claim_deliveries(issue.id, &a, 10, now()).unwrap().len(), 2);
            assert!(store.claim_deliveries(issue.id, &a, 10, now()).unwrap().is_empty());
            assert_eq!(store.deliveries_unsettled_elsewhere(issue.id, &a).unwrap(), 4, "b's");
            assert_eq!(store.deliveries_unsettled_elsewhere(issue.id, &b).unwrap(), 5, "a's");
            let later = now() + chrono::Duration::seconds(31);
            store.beat(&a, later).unwrap(); // a is alive: its own claims are kept
            store.beat(&b, later - chrono::Duration::seconds(1)).unwrap();
            assert!(store.claim_deliveries(issue.id, &a, 10, later).unwrap().is_empty(), "b is alive: kept");
            store.beat(&b, now()).unwrap();
            let taken = store.claim_deliveries(issue.id, &a, 10, later).unwrap();
            assert_eq!(ids(&taken), ids(&second), "b's claims are taken over, a's kept");
            let by_node = store.deliveries_by_node(issue.id).unwrap();
            assert!(by_node.contains(&("a".to_owned(), DeliveryState::Sent, 1)), "{by_node:?}");
            assert!(by_node.contains(&("a".to_owned(), DeliveryState::Pending, 9)), "{by_node:?}");
        });
    }

    #[test]
    fn a_claim_reads_one_state_of_the_issue_in_subscriber_order_from_its_index() {
        // A claim must not pass every delivery already sent, nor read the whole table: its cost
        // would grow with the issue (quadratic over a run of a million). Each database says how
        // it reads the deliveries.
        on_each_backend(|mut store| {
            let issue = issue_to(&mut store, 2000);
            store.db.execute("UPDATE deliveries SET state = 'sent' WHERE subscriber_id <= 1900", params![]).unwrap();
            let plan: Vec<String> = if store.db.is_postgres() {
                // The plan PostgreSQL may keep for a statement it prepared, whatever the parameters.
                store.db.batch("ANALYZE; SET plan_cache_mode = force_generic_plan").unwrap();
                let claim = super::super::db::dollar_placeholders(&store.claim_sql(16));
                store.db.batch(&format!("PREPARE claim (BIGINT, TEXT, TEXT, TEXT, TEXT, TEXT) AS {claim}")).unwrap();
                store
                    .db
                    .query_all(
                        &format!("EXPLAIN EXECUTE claim ({}, 'a', 't', 't', 't', 'pending')", issue.id),
                        params![],
                        |row| row.get::<String>(0),
                    )
                    .unwrap()
            } else {
                store
                    .db
                    .query_all(
                        &format!("EXPLAIN QUERY PLAN {}", store.claim_sql(16)),
                        params![issue.id, "a", "t", "t", "t", "pending"],
                        |row| row.get::<String>(3),
                    )
                    .unwrap()
            };
            let text = plan.join("\n");
            if store.db.is_postgres() {
                assert!(text.contains("Index Scan using deliveries_state"), "{text}");
                // It expects the few rows it claims: with an unknown limit it expected a tenth of
                // the table and, on a large one, joined them by reading all of it.
                let limit = plan.iter().find(|line| line.trim_start().starts_with("->  Limit")).expect("a limit");
                assert!(limit.contains(" rows=16 "), "{text}");
            } else {
                assert!(text.contains("USING INDEX deliveries_state (issue_id=? AND state=?)"), "{text}");
                assert!(!text.contains("TEMP B-TREE"), "no sort of the issue's deliveries: {text}");
            }
        });
    }

    #[test]
    fn claims_take_pending_then_interrupted_then_due_deferred_deliveries_each_once() {
        on_each_backend(|mut store| {
            let issue = issue_to(&mut store, 9);
            let ids: Vec<i64> =
                store.deliveries_to_make(issue.id, 0, 100, now()).unwrap().iter().map(|d| d.subscriber_id).collect();
            let change = |subscriber: i64, state: DeliveryState| DeliveryChange {
                issue: issue.id,
                subscriber,
                state,
                reply: None,
                attempts: 0,
            };
            // 0–2 sent, 3 interrupted while sending (by a node that is gone), 4 deferred and due, 5
            // deferred till later, 6–8 pending.
            let moves = [
                change(ids[0], DeliveryState::Sent),
                change(ids[1], DeliveryState::Sent),
                change(ids[2], DeliveryState::Sent),
                change(ids[3], DeliveryState::Sending),
            ];
            store.set_deliveries(&moves.iter().collect::<Vec<_>>(), now()).unwrap();
            let (hour, minute) = (chrono::Duration::hours(1), chrono::Duration::minutes(1));
            store.defer_delivery(issue.id, ids[4], "451 later", now() - minute, now() - hour).unwrap();
            store.defer_delivery(issue.id, ids[5], "451 later", now() + hour, now() - hour).unwrap();
            let a = node("a");
            let first = store.claim_deliveries(issue.id, &a, 4, now()).unwrap();
            let second = store.claim_deliveries(issue.id, &a, 4, now()).unwrap();
            let third = store.claim_deliveries(issue.id, &a, 4, now()).unwrap();
            let got = |d: &[Delivery]| d.iter().map(|d| d.subscriber_id).collect::<Vec<_>>();
            assert_eq!(
                got(&first),
                vec![ids[3], ids[6], ids[7], ids[8]],
                "pending first, then interrupted; in subscriber order"
            );
            assert_eq!(got(&second), vec![ids[4]], "then the deferred delivery that is due, and not the other");
            assert!(third.is_empty());
            assert_eq!(first[1].email, "r6@example.org");
        });
    }

    #[test]
    fn a_node_never_takes_back_its_own_claims_and_gives_them_back_when_its_run_ends() {
        on_each_backend(|mut store| {
            let issue = issue_to(&mut store, 3);
            let other = store.reopen();
            let (a, b) = (node("a"), node("b"));
            // No heartbeat, as on SQLite: a's claims are still its workers' long after the lease
            // (a delivery retried for minutes); neither a nor a live b may take them.
            assert_eq!(store.claim_deliveries(issue.id, &a, 2, now()).unwrap().len(), 2);
            let later = now() + chrono::Duration::seconds(300);
            store.beat(&b, later).unwrap();
            assert_eq!(store.claim_deliveries(issue.id, &a, 10, later).unwrap().len(), 1, "only the unclaimed one");
            assert!(store.claim_deliveries(issue.id, &a, 10, later).unwrap().is_empty());
            // a's run ends: what it claimed and did not settle goes back to every node.
            store.release_claims_of(issue.id, &a).unwrap();
            assert_eq!(other.claim_deliveries(issue.id, &b, 10, later).unwrap().len(), 3);
        });
    }

    #[test]
    fn a_node_restarting_under_its_name_takes_back_what_its_previous_process_claimed() {
        on_each_backend(|mut store| {
            let issue = issue_to(&mut store, 3);
            let a = node("a");
            store.beat(&a, now()).unwrap();
            assert_eq!(store.claim_deliveries(issue.id, &a, 10, now()).unwrap().len(), 3);
            // a dies and comes back at once under its name: its heartbeat is live, the claims
            // are nobody's to send until it arrives.
            let later = now() + chrono::Duration::seconds(40);
            store.beat(&a, later).unwrap();
            assert!(store.claim_deliveries(issue.id, &a, 10, later).unwrap().is_empty());
            store.arrive(&a, later).unwrap();
            assert_eq!(store.claim_deliveries(issue.id, &a, 10, later).unwrap().len(), 3);
        });
    }

    #[test]
    fn a_node_is_live_while_its_heartbeat_is_younger_than_the_lease_and_leaves_at_once() {
        on_each_backend(|store| {
            let (a, b) = (node("a"), node("b"));
            assert_eq!(store.live_nodes(&a, now()).unwrap(), 1, "at least the caller");
            store.beat(&a, now()).unwrap();
            store.beat(&b, now() - chrono::Duration::seconds(20)).unwrap();
            assert_eq!(store.live_nodes(&a, now()).unwrap(), 2);
            assert_eq!(store.live_nodes(&a, now() + chrono::Duration::seconds(15)).unwrap(), 1, "b's beat is 35 s old");
            store.leave(&a).unwrap();
            assert_eq!(store.nodes().unwrap().len(), 1);
        });
    }

    #[test]
    fn nodes_silent_for_more_than_a_day_are_forgotten_and_no_other() {
        on_each_backend(|store| {
            let (dead, sleeping, live) = (node("dead"), node("sleeping"), node("live"));
            let day = chrono::Duration::from_std(FORGET_AFTER).unwrap();
            store.beat(&dead, now() - day - chrono::Duration::seconds(1)).unwrap();
            store.beat(&sleeping, now() - day + chrono::Duration::seconds(60)).unwrap();
            store.beat(&live, now()).unwrap();
            assert_eq!(store.forget_dead_nodes(now()).unwrap(), 1);
            let left: Vec<String> = store.nodes().unwrap().into_iter().map(|(id, _, _)| id).collect();
            assert_eq!(left, ["live", "sleeping"]);
        });
    }

    #[test]
    fn a_heartbeat_forgets_dead_nodes_at_its_start_and_its_row_goes_when_it_stops() {
        on_each_backend(|store| {
            let dead = node("dead");
            store.beat(&dead, Utc::now() - chrono::Duration::days(3)).unwrap();
            let heartbeat = Heartbeat::start(store.location().clone(), node("live"));
            // The thread forgets after its first beat: wait for it (bounded: it may never).
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while store.nodes().unwrap().iter().any(|(id, _, _)| id == "dead") {
                assert!(std::time::Instant::now() < deadline, "the dead node was never forgotten");
                std::thread::sleep(Duration::from_millis(20));
            }
            let ids: Vec<String> = store.nodes().unwrap().into_iter().map(|(id, _, _)| id).collect();
            assert_eq!(ids, ["live"]);
            drop(heartbeat);
            assert!(store.nodes().unwrap().is_empty(), "a node that stops deletes its row");
        });
    }

    #[test]
    fn a_default_node_id_is_the_host_and_the_process() {
        let node = Node::of(&StoreConfig::default());
        assert!(node.id.ends_with(&format!("-{}", std::process::id())), "{}", node.id);
        assert!(crate::config::check_store_node(&node.id).is_ok(), "{}", node.id);
        assert_eq!(node.heartbeat_every(), Duration::from_secs(5));
    }
}
