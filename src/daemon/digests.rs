//! The daemon's digest runs: every fire of `digest.schedule` gives exactly one recorded run.
//!
//! A fire is recorded in the store (`store/runs.rs`) before anything is done for it, and its
//! outcome after. While a run is in progress, a fire is recorded `deferred` and served by one
//! run as soon as the current one ends — never dropped, and never run twice however many fires
//! waited. A run that fails (the store is locked, a template is broken, the task panicked)
//! puts its fires back to `deferred` and is retried with backoff, and at once when the
//! configuration or the templates change. Fires missed while no daemon ran are collapsed into
//! the latest of them and sent once at start-up (product.md §8). Fires left `running` or
//! `deferred` by a daemon that stopped are served by the first run of the next one.
//!
//! With several nodes on one PostgreSQL store the records are the site's, not a node's: every
//! node records the same fires (the fire time is the key, so once), each node's run for a fire
//! sends the one issue made for it — by whichever node came first (`store/issues.rs`) — with
//! the others, and each records the same outcome for it.
//!
//! Fire times come from wall-clock evaluation of the schedule (`schedule.rs`), so a DST change
//! neither skips nor doubles one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::digest::{self, DigestError, Outcome};
use crate::http::AppState;
use crate::schedule::Schedule;
use crate::site::Site;
use crate::store::{Node, RunOutcome, StoreError};

/// The `meta` key of the time from which fires count: the first start, or a schedule change.
const SCHEDULE_SINCE: &str = "digest_last_run";
/// The first retry of a run that failed comes after this; each next one after twice as long.
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(600);
/// The note of a fire that came while the previous issue was sending.
const STILL_SENDING: &str = "deferred: previous issue still sending";
/// The note of a fire that passed while no daemon ran.
const MISSED: &str = "missed while kurier was down";

/// The run in progress and the fires it serves. A run for fires sends the due issue (and the
/// deferred deliveries whose time has come); a run without fires only the deferred deliveries
/// (`Ok(None)`).
struct Running {
    task: JoinHandle<Result<Option<Outcome>, DigestError>>,
    fires: Vec<DateTime<Utc>>,
    /// Only deferred deliveries (no issue is resumed or created).
    retry_only: bool,
}

pub(super) struct Digests {
    root: PathBuf,
    /// This daemon among the nodes of its store: its claims on deliveries are recorded as its.
    node: Node,
    state: Arc<AppState>,
    schedule: Schedule,
    /// The latest fire acted on; the next fire is the first after it.
    last_fire: DateTime<Utc>,
    /// Fires waiting for a run, oldest first.
    waiting: Vec<DateTime<Utc>>,
    /// Why a waiting fire did not run at its time (its record says so when it is served).
    delayed: std::collections::BTreeMap<DateTime<Utc>, &'static str>,
    /// An unfinished issue waits to be resumed (found at start-up).
    resume: bool,
    /// Whether the store's record of the schedule was read (it may fail at start-up).
    recovered: bool,
    running: Option<Running>,
    /// When to try again after a failed run, and how many failed in a row.
    retry: Option<(tokio::time::Instant, u32)>,
    /// The earliest retry time of a deferred delivery.
    next_deferred: Option<DateTime<Utc>>,
    failures: u32,
}

impl Digests {
    /// Reads where the schedule stands. A store that cannot be read does not stop the daemon:
    /// fires count from now, and the store is asked again at the first run.
    pub(super) fn start(
        root: PathBuf,
        node: Node,
        state: Arc<AppState>,
        schedule: Schedule,
        now: DateTime<Utc>,
    ) -> Digests {
        let mut digests = Digests {
            root,
            node,
            state,
            schedule,
            last_fire: now,
            waiting: Vec::new(),
            delayed: Default::default(),
            resume: false,
            recovered: false,
            running: None,
            retry: None,
            next_deferred: None,
            failures: 0,
        };
        match digests.recover(now) {
            Ok(()) => digests.recovered = true,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the digest schedule's state from the store; retrying");
                digests.retry = Some((tokio::time::Instant::now() + RETRY_FIRST, 1));
            }
        }
        digests
    }

    fn recover(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let store = self.state.store()?;
        let since = store.meta(SCHEDULE_SINCE)?.and_then(|s| DateTime::parse_from_rfc3339(&s).ok());
        let last = match (store.last_fire()?, since.map(|s| s.with_timezone(&Utc))) {
            (Some(fire), Some(since)) => fire.max(since),
            (fire, since) => match fire.or(since) {
                Some(at) => at,
                None => {
                    // First start: nothing was missed.
                    store.set_meta(SCHEDULE_SINCE, &now.to_rfc3339())?;
                    now
                }
            },
        };
        // Fires acted on before the store could be read stay acted on.
        self.last_fire = self.last_fire.max(last);
        let mut waiting = store.open_fires()?;
        waiting.append(&mut self.waiting);
        waiting.sort();
        waiting.dedup();
        self.waiting = waiting;
        self.resume = store.unfinished_issue()?.is_some();
        self.next_deferred = store.next_retry()?;
        if let Some((fire, missed)) = self.schedule.due(last, now).filter(|(fire, _)| !self.waiting.contains(fire)) {
            tracing::info!(missed = %fire, earlier = missed, "a digest run was missed while kurier was down: sending it now");
            store.record_fire(fire, missed, RunOutcome::Deferred, Some(MISSED), now)?;
            self.delayed.insert(fire, MISSED);
            self.last_fire = fire;
            self.waiting.push(fire);
        }
        Ok(())
    }

    /// The next fire time, which may have passed already (the loop was busy): act on it then.
    pub(super) fn next_fire(&self) -> Option<DateTime<Utc>> {
        self.schedule.next_after(self.last_fire)
    }

    /// When a failed run is tried again.
    pub(super) fn retry_at(&self) -> Option<tokio::time::Instant> {
        self.retry.map(|(at, _)| at)
    }

    /// When the earliest deferred delivery is due.
    pub(super) fn next_deferred(&self) -> Option<DateTime<Utc>> {
        self.next_deferred
    }

    /// Retries the deferred deliveries whose time has come, unless a run is in progress (its
    /// end looks again).
    pub(super) fn retry_deferred(&mut self, config: &Arc<Config>, stop: &watch::Receiver<bool>) {
        self.next_deferred = None;
        if self.running.is_some() {
            return;
        }
        let (root, config, stop, node) = (self.root.clone(), Arc::clone(config), stop.clone(), self.node.clone());
        let task = tokio::spawn(async move {
            if let Some(report) = digest::retry_deferred(&root, &config, &node, stop).await? {
                tracing::info!(
                    sent = report.sent,
                    failed = report.failed,
                    deferred = report.deferred,
                    "deferred deliveries retried"
                );
            }
            Ok(None)
        });
        self.running = Some(Running { task, fires: Vec::new(), retry_only: true });
    }

    /// Waits for the run in progress to end; never resolves when there is none.
    pub(super) async fn finished(&mut self) -> Result<Result<Option<Outcome>, DigestError>, tokio::task::JoinError> {
        match &mut self.running {
            Some(running) => (&mut running.task).await,
            None => std::future::pending().await,
        }
    }

    /// A new schedule (from a reloaded `kurier.toml`): fires count from now, so that a changed
    /// expression does not find fires in the past.
    pub(super) fn set_schedule(&mut self, schedule: Schedule, now: DateTime<Utc>) {
        self.schedule = schedule;
        self.last_fire = self.last_fire.max(now);
        if let Err(e) = self.state.store().and_then(|s| s.set_meta(SCHEDULE_SINCE, &now.to_rfc3339())) {
            tracing::error!(error = %e, "cannot record the schedule change");
        }
    }

    /// The configuration or the templates changed: a run that failed is worth trying now.
    pub(super) fn retry_now(&mut self) {
        if let Some((_, attempt)) = self.retry {
            self.retry = Some((tokio::time::Instant::now(), attempt));
        }
    }

    /// Acts on the fires due at `now`.
    pub(super) fn fire(
        &mut self,
        config: &Arc<Config>,
        stop: &watch::Receiver<bool>,
        now: DateTime<Utc>,
        site: Option<&Site>,
    ) {
        let Some((fire, missed)) = self.schedule.due(self.last_fire, now) else { return };
        self.last_fire = fire;
        if missed > 0 {
            tracing::warn!(%fire, missed, "digest fires passed while kurier was busy: one run for them");
        }
        if self.running.is_some() {
            tracing::warn!(%fire, "digest due while the previous one is still sending: deferred until it finishes");
            self.record(fire, missed, RunOutcome::Deferred, Some(STILL_SENDING), now);
            self.delayed.insert(fire, STILL_SENDING);
            self.waiting.push(fire);
            return;
        }
        tracing::info!(%fire, "digest due");
        self.record(fire, missed, RunOutcome::Deferred, None, now);
        self.waiting.push(fire);
        if self.retry.is_none() {
            self.run(config, stop, now, site);
        }
    }

    /// Records a fire; a store fault is logged, and the fire is recorded again when its run starts.
    fn record(&self, fire: DateTime<Utc>, missed: u64, outcome: RunOutcome, note: Option<&str>, now: DateTime<Utc>) {
        if let Err(e) = self.state.store().and_then(|s| s.record_fire(fire, missed, outcome, note, now)) {
            tracing::error!(%fire, error = %e, "cannot record the digest fire; it is kept and retried");
        }
    }

    /// Starts a run for the waiting fires (and an unfinished issue), unless one is in progress.
    /// `site`, the site the daemon publishes, is what a new issue is made from while it is
    /// current (`digest::SendOptions::site`); the run takes a copy of it.
    pub(super) fn run(
        &mut self,
        config: &Arc<Config>,
        stop: &watch::Receiver<bool>,
        now: DateTime<Utc>,
        site: Option<&Site>,
    ) {
        if self.running.is_some() {
            return;
        }
        self.retry = None;
        if !self.recovered {
            // A daemon that could not read the store at start-up learns now what it missed.
            match self.recover(now) {
                Ok(()) => self.recovered = true,
                Err(e) => return self.failed(&e.to_string()),
            }
        }
        if self.waiting.is_empty() {
            // Without a fire a run only resumes an unfinished issue; it never starts one.
            if !self.resume {
                return;
            }
            let unfinished = self.state.store().and_then(|s| s.unfinished_issue()).map(|i| i.is_some());
            match unfinished {
                Ok(true) => {}
                Ok(false) => {
                    self.resume = false;
                    return;
                }
                Err(e) => return self.failed(&e.to_string()),
            }
        }
        let fires = std::mem::take(&mut self.waiting);
        let recorded = self.state.store().and_then(|store| {
            fires.iter().try_for_each(|fire| {
                store.record_fire(*fire, 0, RunOutcome::Running, None, now)?;
                let note = self.delayed.get(fire).copied();
                store.set_run_outcome(*fire, RunOutcome::Running, None, note, now)
            })
        });
        if let Err(e) = recorded {
            self.waiting = fires;
            return self.failed(&e.to_string());
        }
        self.resume = false;
        let root = self.root.clone();
        let config = Arc::clone(config);
        let stop = stop.clone();
        // One issue per fire, whichever node fires first: the issue is keyed by the latest fire
        // this run serves (the same on every node, from the same schedule and records).
        let options = digest::SendOptions {
            dry_run: false,
            now: Utc::now(),
            progress: false,
            node: self.node.clone(),
            fire: fires.iter().max().copied(),
            site: site.map(|site| Arc::new(site.clone())),
        };
        let task = tokio::spawn(async move { digest::send(&root, &config, options, stop).await.map(Some) });
        self.running = Some(Running { task, fires, retry_only: false });
    }

    /// Records what the run that just ended did for its fires, and starts the next if fires
    /// waited meanwhile.
    pub(super) fn ended(
        &mut self,
        result: Result<Result<Option<Outcome>, DigestError>, tokio::task::JoinError>,
        config: &Arc<Config>,
        stop: &watch::Receiver<bool>,
        now: DateTime<Utc>,
        site: Option<&Site>,
    ) {
        let Some(Running { fires, retry_only, .. }) = self.running.take() else { return };
        let settled = match result {
            Ok(Ok(None)) => None,
            Ok(Ok(Some(Outcome::Skipped { issue, .. }))) => {
                tracing::info!(issue, "digest: nothing new, skipped");
                Some((RunOutcome::Skipped, issue))
            }
            Ok(Ok(Some(Outcome::Sent { issue, report, .. }))) => {
                tracing::info!(
                    issue = issue.id,
                    status = issue.status.as_str(),
                    sent = report.sent,
                    failed = report.failed,
                    skipped = report.skipped,
                    retried = report.retried,
                    deferred = report.deferred,
                    "digest run done"
                );
                Some((RunOutcome::Sent, issue.id))
            }
            Ok(Ok(Some(Outcome::DryRun { .. }))) => None,
            Ok(Err(e)) if retry_only => {
                tracing::error!(error = %e, "retrying deferred deliveries failed; trying again in a minute");
                self.next_deferred = Some(now + chrono::Duration::minutes(1));
                return self.run(config, stop, now, site);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "digest run failed");
                self.waiting.splice(0..0, fires.iter().copied());
                // An issue it was resuming (or had created) is resumed by the retry.
                self.resume = true;
                self.failed(&e.to_string());
                None
            }
            Err(join) => {
                let why = if join.is_panic() { "the digest run panicked" } else { "the digest run was cancelled" };
                tracing::error!(fires = ?fires, "{why}");
                self.waiting.splice(0..0, fires.iter().copied());
                self.resume = true;
                self.failed(why);
                None
            }
        };
        if let Some((outcome, issue)) = settled {
            self.settle(&fires, outcome, issue, now);
        }
        match self.state.store().and_then(|s| s.next_retry()) {
            Ok(next) => self.next_deferred = next,
            Err(e) => tracing::error!(error = %e, "cannot read when deferred deliveries are due"),
        }
        if !*stop.borrow() && self.retry.is_none() {
            self.run(config, stop, now, site);
        }
    }

    /// Records what a run did for each of the fires it served, with notes on why it was late.
    fn settle(&mut self, fires: &[DateTime<Utc>], outcome: RunOutcome, issue: i64, now: DateTime<Utc>) {
        let retried = std::mem::take(&mut self.failures);
        let store = match self.state.store() {
            Ok(store) => store,
            Err(e) => {
                tracing::error!(error = %e, "cannot record the outcome of the digest run");
                return;
            }
        };
        for fire in fires {
            let mut notes = Vec::new();
            if let Some(why) = self.delayed.remove(fire) {
                notes.push(why.to_owned());
            }
            if fires.len() > 1 {
                notes.push(format!("one run for {} fires", fires.len()));
            }
            if retried > 0 {
                notes.push(format!("after {retried} failed attempts"));
            }
            let note = (!notes.is_empty()).then(|| notes.join("; "));
            if let Err(e) = store.set_run_outcome(*fire, outcome, Some(issue), note.as_deref(), now) {
                tracing::error!(%fire, error = %e, "cannot record the outcome of the digest run");
            }
        }
    }

    /// A run could not start or did not finish: its fires wait, recorded `deferred`, for a retry.
    fn failed(&mut self, why: &str) {
        self.failures += 1;
        let wait = RETRY_FIRST.saturating_mul(1 << self.failures.min(10).saturating_sub(1)).min(RETRY_MAX);
        self.retry = Some((tokio::time::Instant::now() + wait, self.failures));
        let note = format!("retrying in {} s: {why}", wait.as_secs());
        if let Ok(store) = self.state.store() {
            for fire in &self.waiting {
                let _ = store.set_run_outcome(*fire, RunOutcome::Deferred, None, Some(&note), Utc::now());
            }
        }
        tracing::warn!(fires = self.waiting.len(), "digest run deferred: {note}");
    }

    /// Waits for the run in progress (at most `deadline`) and records its outcome.
    pub(super) async fn stop(mut self, config: &Arc<Config>, stop: &watch::Receiver<bool>, deadline: Duration) {
        if self.running.is_none() {
            return;
        }
        match tokio::time::timeout(deadline, self.finished()).await {
            // Stopping: `ended` starts no run, so it needs no site.
            Ok(result) => self.ended(result, config, stop, Utc::now(), None),
            Err(_) => {
                tracing::warn!("the digest did not stop in time; its pending deliveries resume at the next start")
            }
        }
    }
}
