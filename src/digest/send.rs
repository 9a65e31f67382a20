//! The delivery engine: every pending delivery of an issue, sent once, through faults.
//!
//! `concurrency` workers (one SMTP connection each, kept for the run) take the issue's deliveries
//! in subscriber order from small batches their node claims with a lease (`store/nodes.rs`), so
//! memory stays flat however many subscribers there are, and several nodes on one PostgreSQL
//! store send one issue together, each delivery once. A node with nothing left to claim waits
//! while other nodes still hold unsettled deliveries of the issue: if one of them dies, its
//! deliveries come back when its lease ends and are sent by those still there. (Its own
//! unsettled deliveries are its other workers', which need no waiting for.) For each delivery a worker commits `sending`, runs the SMTP transaction under a
//! deadline, and commits `sent` or `failed` (see `store/issues.rs` for why this order makes a
//! crash cost at most `concurrency` duplicates and never a miss). A `sent` is held by its worker
//! and committed with the `sending` of the worker's next message, in one transaction before that
//! message's SMTP transaction (`commits.rs`), or alone before the worker waits or ends.
//!
//! Transient failures (4xx, connection errors, deadlines) are retried with exponential backoff
//! and jitter ([`backoff`]), at most `max_attempts` times per run; then the delivery is
//! *deferred* with a retry time of its own ([`retry_delay`]: minutes at first, then hours) and
//! the run goes on — a deferred delivery does not keep its issue open, so it never holds back
//! the next issue. A delivery deferred for `retry_hours` is given up as failed. Permanent failures
//! (5xx) are recorded with the server's reply and not retried. After `pause_after_failures`
//! consecutive failures every worker pauses for `pause_seconds`: a server that is down is given
//! time instead of being hammered. `rate_per_second` is the whole site's: each node sends at
//! that rate divided by the live nodes, counted at most once per heartbeat interval (a claim
//! after that counts them again). A stop request (SIGINT/SIGTERM in the daemon) lets every
//! worker finish the message it holds and take no other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use indicatif::ProgressBar;
use lettre::Message;
use tokio::sync::watch;

use super::commits::Committer;
use crate::config::SmtpConfig;
use crate::mail::transport::{SendError, Session};
use crate::mail::{Masked, MessageError, Transport, mask_addresses};
use crate::store::{
    BounceKind, BouncePolicy, Delivery, DeliveryChange, DeliveryState, Node, Status, Store, StoreError, with_store,
};

/// The longest a deferred delivery waits between two retries.
const RETRY_MAX: Duration = Duration::from_secs(4 * 3600);
/// Deliveries claimed at a time, per worker: small, so that several nodes share an issue evenly
/// and a node that dies holds few.
const CLAIM_PER_WORKER: usize = 2;
/// How often a node with nothing to claim looks again while other nodes hold deliveries.
const SETTLE_POLL: Duration = Duration::from_millis(300);

/// How a run sends.
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: usize,
    pub rate_per_second: u32,
    pub max_attempts: u32,
    pub retry_base: Duration,
    /// The first wait of a deferred delivery.
    pub retry_first: Duration,
    /// How long a delivery may stay deferred before it is given up.
    pub give_up_after: Duration,
    pub pause_after_failures: u32,
    pub pause_for: Duration,
    /// What a permanent failure or a given-up delivery does to its subscriber.
    pub bounces: BouncePolicy,
    /// Who sends: claims are recorded under this node's id.
    pub node: Node,
}

impl Settings {
    pub fn new(smtp: Option<&SmtpConfig>, bounces: BouncePolicy, node: Node) -> Settings {
        match smtp {
            Some(smtp) => Settings {
                concurrency: smtp.concurrency,
                rate_per_second: smtp.rate_per_second,
                max_attempts: smtp.max_attempts,
                retry_base: Duration::from_millis(smtp.retry_base_ms),
                retry_first: Duration::from_secs(smtp.retry_first_seconds),
                give_up_after: Duration::from_secs(smtp.retry_hours.saturating_mul(3600)),
                pause_after_failures: smtp.pause_after_failures,
                pause_for: Duration::from_secs(smtp.pause_seconds),
                bounces,
                node,
            },
            // Writing files into outbox/.
            None => Settings {
                concurrency: 4,
                rate_per_second: 0,
                max_attempts: 3,
                retry_base: Duration::from_millis(100),
                retry_first: Duration::from_secs(120),
                give_up_after: Duration::from_secs(72 * 3600),
                pause_after_failures: 10,
                pause_for: Duration::from_secs(1),
                bounces,
                node,
            },
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: u64,
    pub failed: u64,
    /// Subscribers who left after the issue was created.
    pub skipped: u64,
    /// Attempts beyond each delivery's first.
    pub retried: u64,
    /// Deferred to a later retry after transient failures (or left pending by a stop).
    pub deferred: u64,
    pub duration: Duration,
}

impl Report {
    /// Adds another run's counts (and time) to these.
    pub fn add(&mut self, other: &Report) {
        self.sent += other.sent;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.retried += other.retried;
        self.deferred += other.deferred;
        self.duration += other.duration;
    }

    pub fn messages_per_second(&self) -> f64 {
        self.sent as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// Builds the message of one delivery.
pub type Compose = dyn Fn(&Delivery) -> Result<Message, MessageError> + Send + Sync;

/// Shared state of one run's workers.
struct Run {
    store: Arc<Mutex<Store>>,
    /// Where delivery states are committed, several workers' at once.
    commits: Committer,
    issue: i64,
    transport: Arc<Transport>,
    compose: Arc<Compose>,
    settings: Settings,
    stop: watch::Receiver<bool>,
    progress: ProgressBar,
    /// Held while a batch is claimed, so that one worker claims it and the others wait.
    pages: tokio::sync::Mutex<VecDeque<Delivery>>,
    /// The live nodes when last counted (the rate is shared among them).
    live_nodes: AtomicU64,
    /// When the live nodes are counted again: at a claim, at most once per heartbeat interval.
    count_live: Every,
    consecutive_failures: AtomicU32,
    paused_until: Mutex<Option<Instant>>,
    next_slot: Mutex<Instant>,
    counts: [AtomicU64; 5],
}

/// What a worker does next.
enum Next {
    Deliver(Delivery),
    /// Nothing to claim now, but other nodes hold unsettled deliveries.
    Wait,
    Done,
}

const SENT: usize = 0;
const FAILED: usize = 1;
const SKIPPED: usize = 2;
const RETRIED: usize = 3;
const DEFERRED: usize = 4;

/// Sends every delivery of `issue` still to be made, then marks the issue sent if none is left.
pub async fn run(
    store: Arc<Mutex<Store>>,
    issue: i64,
    transport: Arc<Transport>,
    compose: Arc<Compose>,
    settings: Settings,
    stop: watch::Receiver<bool>,
    progress: ProgressBar,
) -> Result<Report, StoreError> {
    let started = Instant::now();
    let workers = settings.concurrency.max(1);
    let count_live = Every::new(settings.node.heartbeat_every());
    let run = Arc::new(Run {
        commits: Committer::start(Arc::clone(&store)),
        store,
        issue,
        transport,
        compose,
        settings,
        stop,
        progress,
        pages: tokio::sync::Mutex::new(VecDeque::new()),
        live_nodes: AtomicU64::new(1),
        count_live,
        consecutive_failures: AtomicU32::new(0),
        paused_until: Mutex::new(None),
        next_slot: Mutex::new(Instant::now()),
        counts: Default::default(),
    });
    let handles: Vec<_> = (0..workers).map(|_| tokio::spawn(worker(Arc::clone(&run)))).collect();
    let mut first_error = None;
    for handle in handles {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(join) => panic!("a delivery worker panicked: {join}"),
        }
    }
    run.progress.finish_and_clear();
    // No worker holds a delivery now: what this node claimed and did not settle (a stop, a store
    // error) goes back to every node, itself included.
    let node = run.settings.node.clone();
    let released = with_store(&run.store, move |store| store.release_claims_of(issue, &node)).await;
    if let Some(e) = first_error {
        return Err(e);
    }
    released?;
    with_store(&run.store, move |store| store.finish_issue_if_done(issue, Utc::now())).await?;
    let count = |i: usize| run.counts[i].load(Ordering::Relaxed);
    Ok(Report {
        sent: count(SENT),
        failed: count(FAILED),
        skipped: count(SKIPPED),
        retried: count(RETRIED),
        deferred: count(DEFERRED),
        duration: started.elapsed(),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Says a thing is due at most once per `interval`: the first time it is asked, then once
/// `interval` has passed since it last said so.
struct Every {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl Every {
    fn new(interval: Duration) -> Every {
        Every { interval, last: Mutex::new(None) }
    }

    fn due(&self, now: Instant) -> bool {
        let mut last = lock(&self.last);
        let due = last.is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
        if due {
            *last = Some(now);
        }
        due
    }
}

impl Run {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// The next delivery of this node's claims, claiming a batch when they are used up.
    async fn next(&self) -> Result<Next, StoreError> {
        let mut buffer = self.pages.lock().await;
        if let Some(delivery) = buffer.pop_front() {
            return Ok(Next::Deliver(delivery));
        }
        let (issue, node) = (self.issue, self.settings.node.clone());
        let batch = self.settings.concurrency.max(1) * CLAIM_PER_WORKER;
        let count_live = self.count_live.due(Instant::now());
        let (claimed, live, unsettled) = with_store(&self.store, move |store| {
            let now = Utc::now();
            let claimed = store.claim_deliveries(issue, &node, batch, now)?;
            let live = if count_live { Some(store.live_nodes(&node, now)?) } else { None };
            let unsettled = if claimed.is_empty() { store.deliveries_unsettled_elsewhere(issue, &node)? } else { 0 };
            Ok((claimed, live, unsettled))
        })
        .await?;
        if let Some(live) = live
            && self.live_nodes.swap(live, Ordering::Relaxed) != live
        {
            tracing::info!(issue, nodes = live, "live nodes changed: the rate is shared among them");
        }
        buffer.extend(claimed);
        Ok(match buffer.pop_front() {
            Some(delivery) => Next::Deliver(delivery),
            None if unsettled > 0 => Next::Wait,
            None => Next::Done,
        })
    }

    fn change(&self, delivery: &Delivery, state: DeliveryState, reply: Option<&str>, attempts: u32) -> DeliveryChange {
        DeliveryChange {
            issue: self.issue,
            subscriber: delivery.subscriber_id,
            state,
            reply: reply.map(str::to_owned),
            attempts,
        }
    }

    /// Moves `delivery` to `state` and returns once that is committed.
    async fn set(
        &self,
        delivery: &Delivery,
        state: DeliveryState,
        reply: Option<&str>,
        attempts: u32,
    ) -> Result<(), StoreError> {
        self.set_after(&mut None, delivery, state, reply, attempts).await
    }

    /// [`Run::set`], in one transaction after the worker's held move, if any.
    async fn set_after(
        &self,
        held: &mut Held,
        delivery: &Delivery,
        state: DeliveryState,
        reply: Option<&str>,
        attempts: u32,
    ) -> Result<(), StoreError> {
        let mut changes: Vec<DeliveryChange> = held.take().into_iter().collect();
        changes.push(self.change(delivery, state, reply, attempts));
        self.commits.set(changes).await
    }

    /// Commits the worker's held move, if any.
    async fn flush(&self, held: &mut Held) -> Result<(), StoreError> {
        match held.take() {
            Some(change) => self.commits.set(vec![change]).await,
            None => Ok(()),
        }
    }

    /// Records a bounce at send time (a 5xx, or a delivery given up) against the subscriber.
    async fn bounce(&self, delivery: &Delivery, kind: BounceKind, reply: &str) -> Result<(), StoreError> {
        let policy = self.settings.bounces;
        let (subscriber, issue, reply) = (delivery.subscriber_id, self.issue, reply.to_owned());
        let effect = with_store(&self.store, move |store| {
            store.record_bounce(subscriber, Some(issue), kind, &reply, "smtp", &policy, Utc::now())
        })
        .await?;
        tracing::info!(subscriber = delivery.subscriber_id, kind = kind.as_str(), effect = ?effect, "bounce recorded");
        Ok(())
    }

    fn count(&self, which: usize) {
        self.counts[which].fetch_add(1, Ordering::Relaxed);
    }

    /// Sleeps for `duration`, or less if a stop is requested; says whether it was stopped.
    async fn sleep(&self, duration: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => self.stopped(),
            _ = stop.wait_for(|stopped| *stopped) => true,
        }
    }

    /// Waits out a pause and the rate limit before a send; the held move is committed first.
    async fn wait_turn(&self, held: &mut Held) -> Result<(), StoreError> {
        let pause = *lock(&self.paused_until);
        if let Some(until) = pause {
            let now = Instant::now();
            if until > now {
                self.flush(held).await?;
                self.sleep(until - now).await;
            }
        }
        if self.settings.rate_per_second > 0 {
            let nodes = self.live_nodes.load(Ordering::Relaxed).max(1) as f64;
            let interval = Duration::from_secs_f64(nodes / f64::from(self.settings.rate_per_second));
            let slot = {
                let mut next = lock(&self.next_slot);
                let slot = (*next).max(Instant::now());
                *next = slot + interval;
                slot
            };
            if slot > Instant::now() {
                self.flush(held).await?;
            }
            tokio::time::sleep_until(slot.into()).await;
        }
        Ok(())
    }

    fn succeeded(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    fn failed(&self) {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.settings.pause_after_failures {
            self.consecutive_failures.store(0, Ordering::Relaxed);
            *lock(&self.paused_until) = Some(Instant::now() + self.settings.pause_for);
            tracing::warn!(
                failures,
                pause_seconds = self.settings.pause_for.as_secs(),
                "consecutive delivery failures: pausing the issue"
            );
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        backoff(&self.settings, attempt)
    }
}

/// Exponential backoff with jitter: a random delay between half and all of
/// base × 2^(attempt-1), capped at five minutes ("equal jitter": never a zero wait that would
/// hit a rate-limiting server again at once).
fn backoff(settings: &Settings, attempt: u32) -> Duration {
    let ceiling = settings.retry_base.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let ceiling = ceiling.min(Duration::from_secs(300));
    ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// How long a deferred delivery waits before its next try, after `deferred_for` of deferrals:
/// `first` at first, then as long as it has already waited (so the waits double: 2, 2, 4, 8 …
/// minutes), at most [`RETRY_MAX`]; `jitter` in `0..1` spreads it by ±10 %, so that the
/// deliveries one outage deferred do not all come back at once.
fn retry_delay(first: Duration, deferred_for: Duration, jitter: f64) -> Duration {
    first.max(deferred_for).min(RETRY_MAX).mul_f64(0.9 + jitter.clamp(0.0, 1.0) / 5.0)
}

/// A worker's `sent` move not committed yet: it goes with the worker's next move.
type Held = Option<DeliveryChange>;

async fn worker(run: Arc<Run>) -> Result<(), StoreError> {
    let mut session = run.transport.session();
    let mut held = None;
    let mut result = Ok(());
    while !run.stopped() {
        let delivery = match run.next().await {
            Ok(Next::Deliver(delivery)) => delivery,
            Ok(Next::Done) => break,
            Ok(Next::Wait) => {
                // What this worker holds is committed first: others may be waiting for it.
                if let Err(e) = run.flush(&mut held).await {
                    result = Err(e);
                    break;
                }
                run.sleep(SETTLE_POLL).await;
                continue;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if let Err(e) = deliver(&run, &mut session, &mut held, &delivery).await {
            result = Err(e);
            break;
        }
        run.progress.inc(1);
    }
    let flushed = run.flush(&mut held).await;
    session.close().await;
    result.and(flushed)
}

async fn deliver(run: &Run, session: &mut Session, held: &mut Held, delivery: &Delivery) -> Result<(), StoreError> {
    if delivery.subscriber_status != Status::Active {
        let reply = format!("subscriber is {}", delivery.subscriber_status);
        run.set_after(held, delivery, DeliveryState::Skipped, Some(&reply), 0).await?;
        run.count(SKIPPED);
        return Ok(());
    }
    let message = match (run.compose)(delivery) {
        Ok(message) => message,
        Err(reason) => {
            run.set_after(held, delivery, DeliveryState::Failed, Some(&reason.to_string()), 0).await?;
            run.count(FAILED);
            return Ok(());
        }
    };
    let mut attempt = 0;
    loop {
        run.wait_turn(held).await?;
        attempt += 1;
        if attempt > 1 {
            run.count(RETRIED);
        }
        // Committed before the SMTP transaction: after a crash this delivery is sent again.
        run.set_after(held, delivery, DeliveryState::Sending, None, 1).await?;
        match session.send(&message).await {
            Ok(reply) => {
                // Committed with the worker's next move, before its next SMTP transaction.
                *held = Some(run.change(delivery, DeliveryState::Sent, Some(&reply), 0));
                run.count(SENT);
                run.succeeded();
                return Ok(());
            }
            Err(error) if error.permanent => {
                run.failed();
                return refused(run, delivery, &error).await;
            }
            Err(error) => {
                run.failed();
                if run.stopped() {
                    // Left as it was: the next start resumes it.
                    run.set(delivery, DeliveryState::Pending, Some(&error.reply), 0).await?;
                    run.count(DEFERRED);
                    return Ok(());
                }
                if attempt >= run.settings.max_attempts || run.sleep(run.backoff(attempt)).await {
                    return defer_or_give_up(run, delivery, &error).await;
                }
                tracing::debug!(
                    subscriber = delivery.subscriber_id,
                    recipient = %Masked(&delivery.email),
                    reply = %mask_addresses(&error.reply),
                    attempt,
                    "transient failure, retrying"
                );
            }
        }
    }
}

/// A permanent refusal (5xx): the delivery failed; a bounce when it is about the address.
async fn refused(run: &Run, delivery: &Delivery, error: &SendError) -> Result<(), StoreError> {
    tracing::warn!(
        subscriber = delivery.subscriber_id,
        recipient = %Masked(&delivery.email),
        reply = %mask_addresses(&error.reply),
        "permanent delivery failure"
    );
    run.set(delivery, DeliveryState::Failed, Some(&error.reply), 0).await?;
    if error.about_recipient {
        run.bounce(delivery, BounceKind::Permanent, &error.reply).await?;
    } else {
        tracing::warn!(subscriber = delivery.subscriber_id, "the failure is kurier's, not the address's: no bounce");
    }
    run.count(FAILED);
    Ok(())
}

/// Transient failures that outlasted this run's attempts: the delivery is deferred to a later
/// retry (which does not hold the issue back), or — deferred for longer than `give_up_after` —
/// given up and counted as a soft bounce.
async fn defer_or_give_up(run: &Run, delivery: &Delivery, error: &SendError) -> Result<(), StoreError> {
    let now = Utc::now();
    let since = delivery.deferred_since.unwrap_or(now);
    let deferred_for = (now - since).to_std().unwrap_or_default();
    if deferred_for >= run.settings.give_up_after {
        let reply = format!("gave up after {} h of deferrals: {}", deferred_for.as_secs() / 3600, error.reply);
        tracing::warn!(
            subscriber = delivery.subscriber_id,
            recipient = %Masked(&delivery.email),
            reply = %mask_addresses(&reply),
            "delivery given up"
        );
        run.set(delivery, DeliveryState::Failed, Some(&reply), 0).await?;
        run.bounce(delivery, BounceKind::Transient, &reply).await?;
        run.count(FAILED);
        return Ok(());
    }
    let wait = retry_delay(run.settings.retry_first, deferred_for, fastrand::f64());
    let retry_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
    tracing::info!(
        subscriber = delivery.subscriber_id,
        recipient = %Masked(&delivery.email),
        reply = %mask_addresses(&error.reply),
        %retry_at,
        "delivery deferred"
    );
    let (issue, subscriber, reply) = (run.issue, delivery.subscriber_id, error.reply.clone());
    with_store(&run.store, move |store| store.defer_delivery(issue, subscriber, &reply, retry_at, now)).await?;
    run.count(DEFERRED);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_nodes_are_counted_at_most_once_per_heartbeat_interval() {
        let node = Node { id: "a".to_owned(), lease: Duration::from_secs(30) };
        let count = Every::new(node.heartbeat_every());
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // The first claim counts; claims and idle polls within 5 s do not; the next one after does.
        assert!(count.due(at(0)));
        assert!(!count.due(at(300)));
        assert!(!count.due(at(4_999)));
        assert!(count.due(at(5_000)));
        assert!(!count.due(at(9_999)));
        assert!(count.due(at(10_000)));
    }

    #[test]
    fn deferred_deliveries_wait_minutes_then_hours_and_at_most_four_hours() {
        let first = Duration::from_secs(120);
        let minutes = |m: u64| Duration::from_secs(60 * m);
        for jitter in [0.0, 0.5, 1.0] {
            let spread = |d: Duration| (d.mul_f64(0.9), d.mul_f64(1.1));
            let within = |got: Duration, expected: Duration| {
                let (low, high) = spread(expected);
                got >= low && got <= high
            };
            assert!(within(retry_delay(first, Duration::ZERO, jitter), minutes(2)));
            assert!(within(retry_delay(first, minutes(2), jitter), minutes(2)));
            assert!(within(retry_delay(first, minutes(30), jitter), minutes(30)));
            assert!(within(retry_delay(first, minutes(600), jitter), minutes(240)));
        }
        // Waits never shrink as deferrals go on.
        let waits: Vec<Duration> = (0..2000).step_by(7).map(|m| retry_delay(first, minutes(m), 0.5)).collect();
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        // Properties of `backoff` itself, from many draws: every delay lies in the upper half of
        // its attempt's ceiling (equal jitter, never near zero), the draws reach both ends of that
        // half (the jitter is real), the ceilings are 100 ms × 2^(attempt−1) written out, they
        // never shrink, and no attempt, however late, waits more than five minutes.
        fastrand::seed(13);
        let settings = Settings {
            retry_base: Duration::from_millis(100),
            ..Settings::new(None, BouncePolicy::default(), Node::of(&Default::default()))
        };
        let ms = Duration::from_millis;
        let cap = Duration::from_secs(300);
        let ceilings = [
            (1, ms(100)),
            (2, ms(200)),
            (3, ms(400)),
            (4, ms(800)),
            (5, ms(1_600)),
            (8, ms(12_800)),
            (12, ms(204_800)),
            (13, cap),
            (17, cap),
            (20, cap),
            (64, cap),
            (u32::MAX, cap),
        ];
        let draws = 2_000;
        for (attempt, ceiling) in ceilings {
            let delays: Vec<Duration> = (0..draws).map(|_| backoff(&settings, attempt)).collect();
            let (lowest, highest) = (*delays.iter().min().unwrap(), *delays.iter().max().unwrap());
            assert!(lowest >= ceiling / 2, "attempt {attempt}: {lowest:?} below half of {ceiling:?}");
            assert!(highest <= ceiling, "attempt {attempt}: {highest:?} above {ceiling:?}");
            // Over 2,000 uniform draws the extremes come within 1 % of the ceiling of either end.
            assert!(lowest <= ceiling.mul_f64(0.51), "attempt {attempt}: no draw near {:?}", ceiling / 2);
            assert!(highest >= ceiling.mul_f64(0.99), "attempt {attempt}: no draw near {ceiling:?}");
        }
        // Between the written-out attempts too: the highest draw (within 1 % of the ceiling)
        // never falls as the attempts go on.
        let mut previous = Duration::ZERO;
        for attempt in 1..=40 {
            let highest = (0..draws).map(|_| backoff(&settings, attempt)).max().unwrap();
            assert!(highest >= previous.mul_f64(0.99), "attempt {attempt}: {highest:?} after {previous:?}");
            assert!(highest <= cap, "attempt {attempt}: {highest:?} above the five-minute cap");
            previous = highest;
        }
    }
}
