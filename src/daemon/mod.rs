//! `kurier run`: build, then watch and rebuild, schedule digests and serve HTTP, until SIGINT or
//! SIGTERM.
//!
//! Wiring only; the work is done by the modules it calls. What the daemon guarantees:
//! - a broken post is logged (`path:line: reason`) and left out, the others publish; a broken
//!   `kurier.toml` or template on reload is logged and the last good one stays in use;
//! - it serves HTTP before it reads a post: an unchanged site whose last build is on record
//!   (`build_cache`) has its feeds served at once, as they are, while the posts are read;
//! - a rebuild re-reads only the changed files and rewrites only feeds whose bytes change;
//! - a post dated in the future is published when its time comes (a rebuild is scheduled then);
//! - digests follow `digest.schedule` in the site's time zone: every fire gives exactly one
//!   recorded run, deferred while another is sending, retried when it fails; a run missed while
//!   the daemon was down is sent once at start-up, and an unfinished issue is resumed then
//!   (`digests.rs`);
//! - on PostgreSQL it is a node of its store (`store/nodes.rs`): a heartbeat on a thread of its
//!   own while it runs; it fires the schedule and sends like every other node, one issue per
//!   fire for all of them;
//! - bounces and complaints are read from `[bounces] maildir` (`maildir.rs`);
//! - on SIGINT/SIGTERM it stops taking work, lets the digest in flight finish the messages it
//!   holds (the rest stay pending for the next start), lets HTTP requests finish, and exits 0.
//!
//! Threads: this loop runs on the process's main thread (`block_on` in `main.rs`), never on a
//! runtime worker; its rebuilds (on a rayon pool at lower priority), file reads and the schedule's
//! store calls block only it. HTTP requests run on the runtime's workers, their store calls and
//! the digest's sending on blocking threads, the node's heartbeat on a thread of its own.

mod digests;
mod maildir;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::build_cache;
use crate::config::Config;
use crate::digest::{self, Mailer};
use crate::feed;
use crate::feed::output::{OutputError, WriteReport};
use crate::http::{self, AppState, FeedCache, Metrics};
use crate::mail::Transport;
use crate::schedule::Schedule;
use crate::site::{PostCache, Site};
use crate::store::{DaemonLock, Heartbeat, Node, SharedStore};
use crate::watch::Changes;

/// How often a store that could not be opened is tried again.
const STORE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);
/// How long the site stays unchanged after a clean build before the build is recorded: recording
/// stats every post and feed file (140 ms at 100,000 posts), which an editor saving again and
/// again should not wait for. Freed memory is given back after as long a quiet.
const RECORD_WHEN_QUIET: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a stop waits, in all, for the digest in flight and the open requests: a stop ends the
/// daemon within 5 s whatever it is doing. A message whose SMTP exchange is cut off stays
/// `sending` and is sent again, with the same Message-ID, at the next start (the crash rule).
const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_millis(4500);

/// Loads `kurier.toml` with the environment overrides.
pub fn load_config(root: &Path) -> anyhow::Result<Config> {
    let mut config = Config::load(root)?;
    config.apply_env(|key| std::env::var(key).ok());
    Ok(config)
}

/// A fingerprint per channel (by its folder), of what its feeds were rendered from.
type FeedFingerprints = std::collections::HashMap<String, u64>;

struct Daemon {
    root: PathBuf,
    config: Arc<Config>,
    state: Arc<AppState>,
    cache: PostCache,
    digests: digests::Digests,
    next_publication: Option<DateTime<Utc>>,
    /// The site of the last build, for the fast stage of the next one.
    site: Option<Site>,
    /// Channel folder → fingerprint of the last successful build (see `feed::fingerprint`).
    fingerprints: FeedFingerprints,
    /// When to read again posts (or the folder tree) that could not be read, and how many
    /// times that was tried.
    read_retry: Option<(tokio::time::Instant, u32)>,
    /// The last walk of `content/` failed.
    rescan_failed: bool,
    /// When to write the feeds again after a failed write (1 s, doubling to a minute).
    write_retry: Option<(tokio::time::Instant, u32)>,
    /// Turns true on SIGINT/SIGTERM: a rebuild in progress gives up.
    stop: watch::Receiver<bool>,
    /// While the store could not be opened: when to try it again.
    store_check: Option<tokio::time::Instant>,
    /// One daemon per SQLite store, held while this one runs.
    _daemon_lock: Option<DaemonLock>,
    /// On PostgreSQL: this node's heartbeat, refreshed on a thread of its own; dropped last
    /// (the node leaves when the daemon has stopped sending).
    _heartbeat: Option<Heartbeat>,
    /// What the last build read and wrote, when the site is still exactly that: the first build
    /// only checks that the posts it read are those, and keeps the feeds being served.
    fresh: Option<build_cache::Cache>,
    /// When to record the last clean build (`build_cache`): once the site has been quiet for
    /// [`RECORD_WHEN_QUIET`], or at a stop — not between an edit and the next.
    record_at: Option<tokio::time::Instant>,
    /// When to give the memory rebuilds freed back to the system: once the site has been quiet
    /// for [`RECORD_WHEN_QUIET`] (see [`give_back_freed_memory`]).
    trim_at: Option<tokio::time::Instant>,
}

/// Runs the daemon for the site at `root` until a stop signal.
pub async fn run(root: &Path) -> anyhow::Result<()> {
    // Before anything else: a stop during start-up ends the daemon cleanly (exit 0).
    let stop_rx = crate::shutdown::listen();
    let root = root.canonicalize().with_context(|| format!("cannot open {}", root.display()))?;
    rebuilds_yield_to_requests();
    session_yields_to_other_services();
    let (mut daemon, changes, _watcher) = start(root, &stop_rx)?;
    // The feeds of an unchanged site are served at once; otherwise nothing is served before the
    // first build has written them (a reader is refused a connection, not sent a 404).
    let early = if daemon.fresh.is_some() { Some(listen(&daemon).await?) } else { None };
    let built = daemon.first_build()?;
    let server = match early {
        Some(server) => server,
        None if built => listen(&daemon).await?,
        None => tokio::spawn(async { Ok(()) }),
    };
    if !built {
        tracing::info!("stopped during start-up");
        daemon.finish(server).await;
        return Ok(());
    }
    // At start-up: resume an unfinished issue, or send once for a run missed while down.
    daemon.digests.run(&daemon.config, &stop_rx, Utc::now(), daemon.site.as_ref());
    daemon.serve(changes).await;
    tracing::info!("stopping: finishing the messages in flight and the open requests");
    daemon.finish(server).await;
    tracing::info!("stopped");
    Ok(())
}

/// Everything up to reading the posts: configuration, store, mailer, the feeds of the last build
/// when the site has not changed since, the watcher (started before the posts are read, so that
/// no save after that goes unnoticed).
fn start(
    root: PathBuf,
    stop_rx: &watch::Receiver<bool>,
) -> anyhow::Result<(Daemon, mpsc::UnboundedReceiver<Changes>, crate::watch::Watcher)> {
    let config = Arc::new(load_config(&root)?);
    let location = crate::store::Location::of(&root, &config);
    // One daemon per SQLite store. A PostgreSQL store takes none: several nodes share one
    // database, each with a heartbeat (`store/nodes.rs`), and all of them send.
    let node = Node::of(&config.store);
    let heartbeat = match &location {
        crate::store::Location::Postgres(_) => {
            tracing::info!(node = %node.id, lease_seconds = node.lease.as_secs(), "this daemon is a node of its store");
            Some(Heartbeat::start(location.clone(), node.clone()))
        }
        crate::store::Location::Sqlite(_) => None,
    };
    let daemon_lock = match location.sqlite_dir().map(DaemonLock::acquire) {
        None => None,
        Some(Ok(lock)) => Some(lock),
        Some(Err(e @ crate::store::StoreError::DaemonRunning(_))) => return Err(e.into()),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot take the daemon lock of the store");
            None
        }
    };
    // A store that cannot be opened does not stop the feeds: subscriptions and digests wait for
    // it, and the daemon tries it again every few seconds.
    let (store, _) = SharedStore::open(&location);
    let (mailer, store_error) = mailer_for(&root, &config, &store)?;
    let store_check = store_error.map(|e| {
        tracing::error!(
            error = %e,
            "cannot use the subscriber store: feeds are built and served; subscriptions answer 503 \
             and digests wait until it can be used"
        );
        tokio::time::Instant::now() + STORE_CHECK
    });
    let transport = Transport::new(&root, &config)?;
    let schedule = Schedule::parse(&config.digest.schedule, config.timezone)?;
    let fresh = build_cache::load(&root).filter(|cache| {
        let why = if cache.outputs.iter().any(|seen| seen.etag.is_none()) {
            Some("recorded by `kurier build`, without the ETags of its feeds")
        } else {
            build_cache::out_of_date(cache, &root, &config, Utc::now())
        };
        if let Some(why) = why {
            tracing::info!("the last build's record is out of date ({why}): building the site");
        }
        why.is_none()
    });
    let state = Arc::new(AppState {
        config: RwLock::new(Arc::clone(&config)),
        mailer: RwLock::new(Arc::new(mailer)),
        transport: RwLock::new(Arc::new(transport)),
        store,
        feeds: RwLock::new(FeedCache::new(root.join(&config.output_dir))),
        metrics: Metrics::default(),
        confirmations: http::Confirmations::start(),
    });
    if let Some(cache) = &fresh {
        let mut feeds = state.feeds.write().unwrap_or_else(|p| p.into_inner());
        for seen in &cache.outputs {
            let changed_at = SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(seen.mtime_ns as u64);
            feeds.set(&seen.path, seen.etag.clone().expect("checked above"), changed_at);
        }
        tracing::info!(feeds = cache.outputs.len(), "the site is as the last build left it: serving its feeds");
    }
    let (watcher, changes) = crate::watch::start(&root).context("cannot watch the site's folders")?;
    let daemon = Daemon {
        root: root.clone(),
        config: Arc::clone(&config),
        state: Arc::clone(&state),
        cache: PostCache::default(),
        digests: digests::Digests::start(root, node, state, schedule, Utc::now()),
        stop: stop_rx.clone(),
        next_publication: None,
        site: None,
        fingerprints: Default::default(),
        read_retry: None,
        rescan_failed: false,
        write_retry: None,
        store_check,
        _daemon_lock: daemon_lock,
        _heartbeat: heartbeat,
        fresh,
        record_at: None,
        trim_at: None,
    };
    Ok((daemon, changes, watcher))
}

/// Binds `http.listen`, says where, and serves HTTP (and watches the bounce maildir) until the
/// daemon stops.
async fn listen(daemon: &Daemon) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listen = &daemon.config.http.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    // Tests and scripts read the address from this line (the port may have been 0).
    println!("listening on http://{address}/");
    tracing::info!(%address, site = %daemon.root.display(), "kurier is running");
    let http_stop = {
        let mut stop = daemon.stop.clone();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    };
    let server = tokio::spawn(http::serve(listener, Arc::clone(&daemon.state), http_stop));
    tokio::spawn(maildir::watch(Arc::clone(&daemon.state), daemon.root.clone(), daemon.stop.clone()));
    Ok(server)
}

impl Daemon {
    /// Reads every post and builds; `false` if asked to stop meanwhile.
    fn first_build(&mut self) -> anyhow::Result<bool> {
        tracing::info!(site = %self.root.display(), "starting: reading content/");
        let stop = self.stop.clone();
        let stopping = || *stop.borrow();
        self.cache = match PostCache::load_until(&self.root, &self.config, &stopping) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(false),
            loaded => loaded.with_context(|| format!("cannot read {}/content", self.root.display()))?,
        };
        self.rebuild("start", Instant::now());
        Ok(!*self.stop.borrow())
    }

    /// Waits for what the daemon reacts to — saved files, scheduled posts, digest fires and their
    /// ends, retries — until it is asked to stop.
    async fn serve(&mut self, mut changes: mpsc::UnboundedReceiver<Changes>) {
        let stop_rx = self.stop.clone();
        let mut stop_wait = stop_rx.clone();
        loop {
            let next_fire = self.digests.next_fire();
            let retry_at = self.digests.retry_at();
            let next_deferred = self.digests.next_deferred();
            tokio::select! {
                _ = stop_wait.wait_for(|stopped| *stopped) => break,
                Some(batch) = changes.recv() => {
                    let mut batch = batch;
                    // Drain what else arrived meanwhile: one rebuild for all of it.
                    while let Ok(more) = changes.try_recv() {
                        merge(&mut batch, more);
                    }
                    self.apply(batch);
                }
                _ = sleep_until(self.next_publication) => self.rebuild("a scheduled post's time came", Instant::now()),
                _ = sleep_until(next_fire) => self.digests.fire(&self.config, &stop_rx, Utc::now(), self.site.as_ref()),
                result = self.digests.finished() => {
                    self.digests.ended(result, &self.config, &stop_rx, Utc::now(), self.site.as_ref());
                }
                _ = sleep_until_instant(retry_at) => self.digests.run(&self.config, &stop_rx, Utc::now(), self.site.as_ref()),
                _ = sleep_until_instant(self.read_retry.map(|(at, _)| at)) => self.reread(),
                _ = sleep_until_instant(self.store_check) => self.check_store(),
                _ = sleep_until_instant(self.write_retry.map(|(at, _)| at)) => {
                    self.rebuild("retrying the write of the feeds", Instant::now());
                }
                _ = sleep_until(next_deferred) => self.digests.retry_deferred(&self.config, &stop_rx),
                _ = sleep_until_instant(self.record_at) => self.remember(),
                _ = sleep_until_instant(self.trim_at) => {
                    self.trim_at = None;
                    give_back_freed_memory();
                }
            }
        }
    }

    /// Finishes the messages in flight and the open requests, within [`STOP_DEADLINE`] in all.
    async fn finish(mut self, server: tokio::task::JoinHandle<std::io::Result<()>>) {
        self.remember();
        let Daemon { digests, config, stop, .. } = self;
        let deadline = tokio::time::Instant::now() + STOP_DEADLINE;
        digests.stop(&config, &stop, STOP_DEADLINE).await;
        match tokio::time::timeout_at(deadline, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "HTTP server error"),
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server task failed"),
            Err(_) => tracing::warn!("HTTP requests did not finish in time"),
        }
    }
}

fn merge(into: &mut Changes, more: Changes) {
    into.posts.extend(more.posts);
    into.vanished.extend(more.vanished);
    into.rescan |= more.rescan;
    into.templates |= more.templates;
    into.config |= more.config;
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
        }
        None => std::future::pending().await,
    }
}

/// The mailer of the site, with the store's secret — or, while the store cannot be used, a sealed
/// one (`Mailer::without_store`) and the store's error. Other errors (a template, the sender)
/// are the operator's to mend.
fn mailer_for(
    root: &Path,
    config: &Config,
    store: &SharedStore,
) -> Result<(Mailer, Option<crate::store::StoreError>), digest::DigestError> {
    let opened = store.get().map_err(digest::DigestError::from).and_then(|s| Mailer::new(root, config, &s));
    let (mailer, store_error) = match opened {
        Ok(mailer) => (mailer, None),
        Err(digest::DigestError::Store(e)) => (Mailer::without_store(root, config)?, Some(e)),
        Err(e) => return Err(e),
    };
    for warning in mailer.templates().warnings() {
        tracing::warn!("{warning}");
    }
    Ok((mailer, store_error))
}

/// The niceness of the threads that rebuild the site (rayon's pool).
const REBUILD_NICENESS: libc::c_int = 10;

/// Lowers the priority of the rebuild's threads (rayon's pool, which reads posts and renders
/// feeds on every core) so that the threads answering HTTP and sending mail run first when the
/// machine is busy: a full rebuild of a large site takes every core for seconds, and requests
/// at normal priority would otherwise wait for their time slices behind it. On an idle machine
/// a rebuild is as fast as before. The pool is made once per process; if something made it
/// already, it is left as it is.
fn rebuilds_yield_to_requests() {
    let built = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| {
            // SAFETY: setpriority with `who` 0 changes the calling thread alone (on Linux, the
            // niceness is per thread) and reads no memory of ours.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, REBUILD_NICENESS) };
        })
        .build_global();
    if let Err(e) = built {
        tracing::debug!(error = %e, "rebuild threads keep their priority");
    }
}

/// Gives this process's session the rebuild's niceness, when the daemon leads the session (a
/// systemd service, a container's first process, `setsid kurier run`). Linux shares the CPU
/// first among sessions ("autogroups", on by default in most distributions) and only then
/// among a session's threads by their niceness: the rebuild's threads at niceness 10 would
/// still take a whole session's share from PostgreSQL or a mail server on the same machine,
/// whose backends then wait for a CPU while a request waits for them (measured: `POST
/// /subscribe` p99 350 ms with the session at niceness 0, 14 ms at 10; BENCHMARKS.md, "HTTP
/// latency under load"). Within the session, requests still run before rebuilds. A daemon
/// started from a shell shares the shell's session, which is not its to change; a kernel
/// without autogroups has no such file, and a process's niceness alone decides.
fn session_yields_to_other_services() {
    // SAFETY: getsid(0) and getpid() only read the calling process's ids.
    let leads_its_session = unsafe { libc::getsid(0) == libc::getpid() };
    if !leads_its_session {
        tracing::debug!("the session is the shell's: its scheduling group is left as it is");
        return;
    }
    match std::fs::write("/proc/self/autogroup", REBUILD_NICENESS.to_string()) {
        Ok(()) => tracing::debug!(niceness = REBUILD_NICENESS, "this session's scheduling group yields to others"),
        Err(e) => tracing::debug!(error = %e, "no scheduling group of this session to change"),
    }
}

/// Returns to the system the memory a rebuild freed: glibc keeps freed memory in the arenas of
/// the threads that used it (rayon's), and a daemon that rebuilt a large site would otherwise
/// hold its peak for good. Done once the site is quiet, not after every rebuild: memory given
/// back is faulted in again, page by page, by the next rebuild (about 6 % of the daemon's CPU
/// in a profile of 10,000-post edits when every rebuild trimmed).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until_instant(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    /// Acts on a batch of file changes.
    fn apply(&mut self, changes: Changes) {
        let started = Instant::now();
        let mut what = Vec::new();
        if changes.config {
            match load_config(&self.root) {
                Ok(config) => {
                    if config.http.listen != self.config.http.listen {
                        tracing::warn!("http.listen changed: restart kurier to listen on {}", config.http.listen);
                    }
                    if config.digest.schedule != self.config.digest.schedule || config.timezone != self.config.timezone
                    {
                        match Schedule::parse(&config.digest.schedule, config.timezone) {
                            Ok(schedule) => self.digests.set_schedule(schedule, Utc::now()),
                            Err(e) => tracing::error!(error = %e, "keeping the previous schedule"),
                        }
                    }
                    self.config = Arc::new(config);
                    self.fingerprints.clear();
                    *self.state.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&self.config);
                    match Transport::new(&self.root, &self.config) {
                        Ok(t) => *self.state.transport.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(t),
                        Err(e) => tracing::error!(error = %e, "smtp: keeping the previous transport"),
                    }
                    self.reload_posts();
                    what.push("kurier.toml".to_owned());
                }
                Err(e) => {
                    tracing::error!("{e:#}; keeping the last good configuration");
                }
            }
        }
        if changes.templates || changes.config {
            match mailer_for(&self.root, &self.config, &self.state.store) {
                Ok((mailer, _)) => {
                    if mailer.sealed() {
                        self.store_check = Some(tokio::time::Instant::now() + STORE_CHECK);
                    }
                    *self.state.mailer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(mailer);
                    self.digests.retry_now();
                    if changes.templates {
                        what.push("templates".to_owned());
                    }
                }
                Err(e) => tracing::error!("{e}; keeping the last good templates"),
            }
        }
        let vanished_folder = changes.vanished.iter().any(|dir| self.cache.has_posts_below(dir));
        if changes.rescan || vanished_folder {
            self.reload_posts();
            what.push("content/ (rescanned)".to_owned());
        } else if !changes.posts.is_empty() {
            let files: Vec<PathBuf> = changes.posts.iter().cloned().collect();
            self.cache.refresh(&self.root, &self.config, &files);
            if !changes.config {
                tracing::debug!(refresh_ms = started.elapsed().as_secs_f64() * 1e3, "edit read");
                self.patch(&files, started);
            }
            what.extend(files.iter().map(|f| f.display().to_string()));
        }
        if !what.is_empty() && (changes.config || changes.rescan || vanished_folder || !changes.posts.is_empty()) {
            self.rebuild(&what.join(", "), started);
        }
    }

    /// Tries a store that could not be opened; once it opens, the real mailer (with the store's
    /// secret) replaces the sealed one and subscriptions work again.
    fn check_store(&mut self) {
        match mailer_for(&self.root, &self.config, &self.state.store) {
            Ok((mailer, None)) => {
                *self.state.mailer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(mailer);
                self.store_check = None;
                self.digests.retry_now();
                tracing::info!("the subscriber store is open again: subscriptions and digests resume");
            }
            Ok((_, Some(_))) => self.store_check = Some(tokio::time::Instant::now() + STORE_CHECK),
            Err(e) => {
                tracing::error!(error = %e, "the store can be used, but the mailer cannot be made");
                self.store_check = Some(tokio::time::Instant::now() + STORE_CHECK);
            }
        }
    }

    /// Reads every post again. A walk that fails (too many open files, say) keeps every post as
    /// it was and is retried.
    fn reload_posts(&mut self) {
        match self.cache.reload(&self.root, &self.config) {
            Ok(()) => self.rescan_failed = false,
            Err(e) => {
                tracing::error!(error = %e, "cannot read content/; the posts as last read stay published, retrying");
                self.rescan_failed = true;
            }
        }
    }

    /// Reads again what could not be read last time, then rebuilds.
    fn reread(&mut self) {
        let started = Instant::now();
        if self.rescan_failed {
            self.reload_posts();
        } else {
            let files: Vec<PathBuf> = self.cache.unreadable().map(|(error, _)| error.path.clone()).collect();
            self.cache.refresh(&self.root, &self.config, &files);
        }
        self.rebuild("reading again what could not be read", started);
    }

    /// Arms (or disarms) the timer of [`Daemon::reread`]: 1 s, doubling to a minute, while
    /// anything stays unreadable.
    fn schedule_reread(&mut self) {
        let unreadable = self.rescan_failed || self.cache.unreadable().next().is_some();
        self.read_retry = match (unreadable, self.read_retry) {
            (false, _) => None,
            (true, Some((at, attempt))) if at > tokio::time::Instant::now() => Some((at, attempt)),
            (true, previous) => {
                let attempt = previous.map_or(0, |(_, attempt)| attempt + 1);
                let wait = std::time::Duration::from_secs(1 << attempt.min(6));
                Some((tokio::time::Instant::now() + wait, attempt))
            }
        };
    }

    /// Builds the feeds from the cached posts: renders only the channels whose fingerprint
    /// changed, writes the files whose bytes changed, serves them.
    /// `started` is when the work began (the end of the debounce, for a file change).
    fn rebuild(&mut self, cause: &str, started: Instant) {
        let now = Utc::now();
        let before_site = started.elapsed();
        let loaded = self.cache.site(&self.config, now, self.site.as_mut());
        let after_site = started.elapsed();
        for error in &loaded.errors {
            tracing::warn!("{error}");
        }
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        for (error, _) in self.cache.unreadable().filter(|(_, kept)| *kept) {
            tracing::warn!("{error}; its last good version stays published, retrying");
        }
        let clean = loaded.errors.is_empty() && loaded.warnings.is_empty();
        let fresh =
            self.fresh.take().filter(|cache| clean && build_cache::read_as_cached(cache, self.cache.revisions()));
        let published = if fresh.is_some() {
            self.keep_served_feeds(&loaded.site, started)
        } else {
            self.publish(&loaded.site, loaded.errors.len(), cause, started, Some((before_site, after_site)), None)
        };
        if published {
            let metrics = &self.state.metrics;
            metrics.builds.fetch_add(1, Ordering::Relaxed);
            metrics.last_build_micros.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            let record = clean && fresh.is_none();
            self.record_at = record.then(|| tokio::time::Instant::now() + RECORD_WHEN_QUIET);
        } else {
            self.record_at = None;
        }
        self.next_publication = loaded.site.next_publication;
        self.site = Some(loaded.site);
        self.schedule_reread();
        self.trim_at = Some(tokio::time::Instant::now() + RECORD_WHEN_QUIET);
    }

    /// The first build of a site that is as the last build left it: the feeds being served are
    /// what rendering would write, so only their fingerprints are taken.
    fn keep_served_feeds(&mut self, site: &Site, started: Instant) -> bool {
        let channels = feed::channels(site, &self.config);
        self.fingerprints = channels.iter().map(|c| (c.dir.clone(), feed::fingerprint(c))).collect();
        let metrics = &self.state.metrics;
        metrics.posts.store(site.posts.len() as u64, Ordering::Relaxed);
        metrics.post_errors.store(0, Ordering::Relaxed);
        tracing::info!(
            posts = site.posts.len(),
            ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
            "read; the feeds of the last build are the site's, kept as they are"
        );
        true
    }

    /// Records what this build read and the feeds being served (`build_cache`), so that the
    /// next start of an unchanged site serves them at once.
    fn remember(&mut self) {
        if self.record_at.take().is_none() {
            return;
        }
        let Some(site) = &self.site else { return };
        let started = Instant::now();
        let etags: std::collections::HashMap<String, String> =
            self.state.feeds.read().unwrap_or_else(|p| p.into_inner()).etags().collect();
        let mut paths: Vec<String> = etags.keys().cloned().collect();
        paths.sort();
        let out_dir = self.root.join(&self.config.output_dir);
        let revisions = self.cache.revisions();
        crate::publish::remember(&self.root, &self.config, site, revisions, &out_dir, &paths, |path| {
            etags.get(path).cloned()
        });
        tracing::debug!(ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0), "build recorded");
    }

    /// The fast first stage of a rebuild after posts were edited in place (same id, permalink and
    /// date, still published): the edited posts replace their old versions in the last site,
    /// keeping its related lists, and the channels they appear in are written at once. The full
    /// rebuild that follows recomputes related posts over the whole site and writes whatever
    /// else that changes, so the end state is exactly that of a full build. Returns whether it
    /// could patch.
    fn patch(&mut self, files: &[PathBuf], started: Instant) -> bool {
        let Some(mut site) = self.site.take() else { return false };
        let now = Utc::now();
        let mut patched = true;
        let mut edited: std::collections::HashSet<usize> = std::collections::HashSet::new();
        for file in files {
            let Some(Ok(new)) = self.cache.get(file) else {
                patched = false;
                break;
            };
            let Some(index) = site.posts.iter().position(|p| p.source.as_os_str() == file.as_os_str()) else {
                patched = false;
                break;
            };
            let old = &site.posts[index];
            let same_place = new.id == old.id && new.url == old.url && new.date == old.date;
            let still_visible = !new.draft && new.in_feeds && new.date.with_timezone(&Utc) <= now;
            if !same_place || !still_visible {
                patched = false;
                break;
            }
            // Its related list is its old version's until the full rebuild links the site again.
            let mut new = new.clone();
            new.related = old.related.clone();
            site.replace(index, new);
            edited.insert(index);
        }
        tracing::debug!(replaced_ms = started.elapsed().as_secs_f64() * 1e3, "edit replaced");
        if patched {
            // Only the channels that can show an edited post: its tags', those of the posts
            // that list it as related, and the main one.
            let mut slugs: std::collections::HashSet<String> = std::collections::HashSet::new();
            for (index, post) in site.posts.iter().enumerate() {
                if edited.contains(&index) || post.related.iter().any(|r| edited.contains(r)) {
                    slugs.extend(post.tag_slugs.iter().cloned());
                }
            }
            tracing::debug!(
                patched_ms = started.elapsed().as_secs_f64() * 1e3,
                channels = slugs.len() + 1,
                "edit patched"
            );
            let broken = self.state.metrics.post_errors.load(Ordering::Relaxed) as usize;
            self.publish(&site, broken, "edit", started, None, Some(&slugs));
        }
        self.site = Some(site);
        patched
    }

    /// Renders the channels of `site` whose fingerprint changed, writes the files whose bytes
    /// changed, serves them; says whether it succeeded.
    fn publish(
        &mut self,
        site: &Site,
        broken: usize,
        cause: &str,
        started: Instant,
        phases: Option<(std::time::Duration, std::time::Duration)>,
        only_tags: Option<&std::collections::HashSet<String>>,
    ) -> bool {
        // Fingerprints of the channels as rendered now; a channel is rendered when its
        // fingerprint differs from the last successful build's.
        let channels = feed::channels_matching(site, &self.config, |slug| only_tags.is_none_or(|t| t.contains(slug)));
        let fingerprints: FeedFingerprints = channels.iter().map(|c| (c.dir.clone(), feed::fingerprint(c))).collect();
        let after_fingerprints = started.elapsed();
        let (before_site, after_site) = phases.unwrap_or((after_fingerprints, after_fingerprints));
        let (result, staged) = self.write_channels(&channels, &fingerprints, only_tags.is_none());
        let rendered = staged.len();
        let (report, paths) = match result {
            Ok(written) => written,
            Err(_) if *self.stop.borrow() => {
                tracing::info!("rebuild given up: stopping; the feeds stay as they were");
                return false;
            }
            Err(e) => {
                self.write_failed(&e);
                return false;
            }
        };
        self.serve_written(staged, only_tags.is_none().then_some(&paths));
        if only_tags.is_none() {
            self.fingerprints = fingerprints;
        } else {
            self.fingerprints.extend(fingerprints);
        }
        let elapsed = started.elapsed();
        tracing::debug!(
            read_ms = before_site.as_secs_f64() * 1e3,
            select_and_relate_ms = (after_site - before_site).as_secs_f64() * 1e3,
            fingerprint_ms = (after_fingerprints - after_site).as_secs_f64() * 1e3,
            render_and_write_ms = (elapsed - after_fingerprints).as_secs_f64() * 1e3,
            "rebuild phases"
        );
        let metrics = &self.state.metrics;
        metrics.posts.store(site.posts.len() as u64, Ordering::Relaxed);
        metrics.post_errors.store(broken as u64, Ordering::Relaxed);
        let stage = if phases.is_some() { "rebuilt" } else { "edit published" };
        tracing::info!(
            changed = cause,
            posts = site.posts.len(),
            broken = broken,
            rendered,
            written = report.written.len(),
            removed = report.removed.len(),
            ms = format!("{:.1}", elapsed.as_secs_f64() * 1000.0),
            "{stage}"
        );
        if self.write_retry.take().is_some() {
            tracing::info!("the feeds are written again");
        }
        metrics.set_write_error(None);
        true
    }

    /// Renders the channels whose fingerprint changed, stages their files and swaps them all in;
    /// `whole_site`: these are all the channels, so the tag feeds of vanished tags go. Returns
    /// what was written with every channel's paths, and each rendered file as (path, ETag,
    /// whether its bytes changed). A stop leaves the rest unrendered and swaps nothing in.
    #[allow(clippy::type_complexity)]
    fn write_channels(
        &self,
        channels: &[feed::Channel<'_>],
        fingerprints: &FeedFingerprints,
        whole_site: bool,
    ) -> (Result<(WriteReport, Vec<String>), OutputError>, Vec<(String, String, bool)>) {
        let out_dir = self.root.join(&self.config.output_dir);
        let output = feed::output::Output::new(&out_dir);
        let staged: Mutex<Vec<(String, String, bool)>> = Mutex::new(Vec::new());
        let stop = &self.stop;
        let result = feed::render_channels(
            channels,
            &self.config,
            |channel| self.fingerprints.get(&channel.dir) != fingerprints.get(&channel.dir) && !*stop.borrow(),
            |file| {
                let written = output.put(&file)?;
                let etag = http::etag(&file.bytes);
                staged.lock().unwrap_or_else(|p| p.into_inner()).push((file.path, etag, written));
                Ok::<(), OutputError>(())
            },
        )
        .and_then(|paths| {
            if *stop.borrow() {
                let source = std::io::Error::new(std::io::ErrorKind::Interrupted, "stopping");
                return Err(OutputError { path: out_dir.clone(), source });
            }
            let keep: std::collections::BTreeSet<&str> = paths.iter().map(String::as_str).collect();
            // A build of some channels only must not remove the others' feeds.
            let report = output.commit(whole_site.then_some(&keep))?;
            Ok((report, paths))
        });
        (result, staged.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    /// Serves the files just swapped in; given every path of the site, forgets the others.
    fn serve_written(&self, staged: Vec<(String, String, bool)>, every_path: Option<&Vec<String>>) {
        let out_dir = self.root.join(&self.config.output_dir);
        let mut feeds = self.state.feeds.write().unwrap_or_else(|p| p.into_inner());
        feeds.set_dir(out_dir.clone());
        let now = SystemTime::now();
        for (path, etag, written) in staged {
            let changed_at = if written {
                now
            } else {
                std::fs::metadata(out_dir.join(&path)).and_then(|m| m.modified()).unwrap_or(now)
            };
            feeds.set(&path, etag, changed_at);
        }
        if let Some(paths) = every_path {
            feeds.retain(&paths.iter().map(String::as_str).collect());
        }
    }

    /// After a failed write: every served feed stays as it was; try again later (1 s, doubling
    /// to a minute), rendering everything, since what is on disk is not known for sure.
    fn write_failed(&mut self, e: &OutputError) {
        let metrics = &self.state.metrics;
        metrics.build_failures.fetch_add(1, Ordering::Relaxed);
        metrics.set_write_error(Some(e.to_string()));
        self.fingerprints.clear();
        let attempt = self.write_retry.map_or(0, |(_, attempt)| attempt + 1);
        let wait = std::time::Duration::from_secs(1 << attempt.min(6));
        self.write_retry = Some((tokio::time::Instant::now() + wait, attempt));
        tracing::error!(
            error = %e,
            retry_in_s = wait.as_secs(),
            "cannot write the feeds; every served feed stays as it was, retrying"
        );
    }
}
