//! Digests: compose an issue from the new posts, freeze it with its recipients, send it.
//!
//! `compose.rs` decides which posts (pure), `content.rs` renders the issue once for all
//! subscribers, `send.rs` is the delivery engine (`commits.rs` commits its delivery states,
//! `own_thread.rs` gives a send a thread and runtime of its own). This file wires them for the `digest`
//! commands and the daemon: [`send`] resumes an unfinished issue or creates the next one (or
//! records a skipped one), [`preview`] shows the message a subscriber would get, [`status`]
//! lists the issues.

mod commits;
pub mod compose;
pub mod content;
mod own_thread;
pub mod send;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::{Body, Mailbox};
use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::mail::{self, Letter, Tokens, Transport};
use crate::render::{RenderError, Templates};
use crate::site::FrozenPost;
use crate::site::Site;
use crate::store::{
    Created, Delivery, Issue, IssueSummary, Location, Node, SendLock, Status, Store, StoreError, blocking, with_store,
};
use content::IssueContent;
use own_thread::run_on_own_thread;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot read {path}: {source}")]
    Content { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Mail(#[from] mail::SettingsError),
    #[error(transparent)]
    Message(#[from] mail::MessageError),
}

/// Everything needed to turn an issue into messages.
pub struct Mailer {
    config: Config,
    templates: Templates,
    tokens: Tokens,
    from: Mailbox,
    /// The VERP envelope senders (`mail/verp.rs`).
    verp: mail::Verp,
    /// This store's random id, part of every Message-ID.
    store_id: String,
    list_id: String,
    dkim: Option<lettre::message::dkim::DkimConfig>,
    /// Made without the store's secret: must not sign or verify (see `without_store`).
    sealed: bool,
}

/// What bounces do, from `[bounces]`.
pub fn bounce_policy(config: &Config) -> crate::store::BouncePolicy {
    crate::store::BouncePolicy {
        soft_limit: config.bounces.soft_limit,
        soft_window: chrono::Duration::days(i64::from(config.bounces.soft_window_days)),
    }
}

/// Opens the store of a site (blocks: from a blocking thread or outside the async runtime).
pub fn open_store(root: &Path, config: &Config) -> Result<Store, StoreError> {
    crate::store::Location::of(root, config).open()
}

impl Mailer {
    pub fn new(root: &Path, config: &Config, store: &Store) -> Result<Mailer, DigestError> {
        Mailer::with_secret(root, config, secret(config, store)?, store.store_id()?, false)
    }

    /// A mailer for a daemon whose store cannot be opened: templates for its pages, and —
    /// without `KURIER_SECRET` — a throwaway key, marked *sealed*: nothing may be signed or
    /// verified with it (the handlers answer 503 until the store is back and a real mailer
    /// replaces this one).
    pub fn without_store(root: &Path, config: &Config) -> Result<Mailer, DigestError> {
        let (secret, sealed) = match &config.secret {
            Some(secret) => (secret.expose().as_bytes().to_vec(), false),
            None => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key).expect("the operating system provides random bytes");
                (key, true)
            }
        };
        Mailer::with_secret(root, config, secret, "nostore".to_owned(), sealed)
    }

    /// Whether this mailer must not sign or verify anything (see [`Mailer::without_store`]).
    pub fn sealed(&self) -> bool {
        self.sealed
    }

    fn with_secret(
        root: &Path,
        config: &Config,
        secret: Vec<u8>,
        store_id: String,
        sealed: bool,
    ) -> Result<Mailer, DigestError> {
        let templates = Templates::load(root, config)?;
        let from = sender(config)?;
        let verp = verp(config, &secret, &from)?;
        let host = config.base_url.host_str().unwrap_or("localhost");
        let dkim = config.dkim.as_ref().map(|dkim| mail::dkim::load(root, dkim)).transpose()?;
        Ok(Mailer {
            config: config.clone(),
            templates,
            tokens: Tokens::new(&secret),
            from,
            verp,
            store_id,
            list_id: format!("digest.{host}"),
            dkim,
            sealed,
        })
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The VERP addresses of this site's messages, for matching bounces.
    pub fn verp(&self) -> &mail::Verp {
        &self.verp
    }

    /// The one-click unsubscribe URL of a subscriber (RFC 8058).
    pub fn unsubscribe_url(&self, subscriber: i64) -> String {
        self.config.public(&format!("unsubscribe/{}", self.tokens.unsubscribe(subscriber)))
    }

    /// Renders a stored issue.
    pub fn content(&self, issue: &Issue) -> Result<IssueContent, RenderError> {
        content::render(&self.config, &self.templates, issue.id, &issue.created_at, &issue.subject, &issue.posts)
    }

    /// The message of `issue` for one subscriber, signed when DKIM is configured.
    pub fn letter(
        &self,
        content: &IssueContent,
        issue: i64,
        subscriber: i64,
        email: &str,
        name: Option<&str>,
    ) -> Result<Message, mail::MessageError> {
        let unsubscribe = self.unsubscribe_url(subscriber);
        let bodies = content.encoded(email, name, &unsubscribe);
        self.letter_with(content, bodies, (issue, subscriber, email, name), &unsubscribe, SystemTime::now())
    }

    /// [`Mailer::letter`] with its (HTML, text) bodies, unsubscribe URL and date given.
    fn letter_with(
        &self,
        content: &IssueContent,
        (html, text): (Body, Body),
        (issue, subscriber, email, name): (i64, i64, &str, Option<&str>),
        unsubscribe: &str,
        date: SystemTime,
    ) -> Result<Message, mail::MessageError> {
        let mut message = mail::build(Letter {
            from: &self.from,
            to_email: &crate::store::sending_address(email),
            to_name: name,
            subject: &content.subject,
            text,
            html,
            date,
            message_id: mail::message_id(issue, subscriber, &self.store_id, &self.from),
            envelope_from: Some(&self.verp.address(issue, subscriber)),
            list_id: &self.list_id,
            list_name: &self.config.title,
            unsubscribe_url: Some(unsubscribe),
        })?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(message)
    }
}

impl Mailer {
    /// The double opt-in message for a new subscriber, whose link works while the subscriber
    /// stays at `version` (see `mail/token.rs`).
    pub fn confirmation(
        &self,
        subscriber: i64,
        version: i64,
        email: &str,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Message, DigestError> {
        let token = self.tokens.confirm(subscriber, version, now + crate::mail::token::CONFIRMATION_VALID_FOR);
        let url = self.config.public(&format!("confirm/{token}"));
        let mut context = tera::Context::new();
        context.insert(
            "site",
            &serde_json::json!({ "title": self.config.title, "url": self.config.base_url.as_str(), "language": self.config.language }),
        );
        context.insert("t", &self.templates.locale().strings());
        context.insert("confirm_url", &url);
        let html = self.templates.render(crate::render::CONFIRM_EMAIL_HTML, &context)?;
        let text = self.templates.render(crate::render::CONFIRM_EMAIL_TXT, &context)?;
        let subject = format!("{}: {}", self.templates.locale().strings().confirm_email_subject, self.config.title);
        // Whatever name the form was given goes nowhere: not into `To:`, not into a greeting
        // (double opt-in must not carry a stranger's text to a victim's inbox).
        let _ = name;
        let message = mail::build(Letter {
            from: &self.from,
            to_email: &crate::store::sending_address(email),
            to_name: None,
            subject: &subject,
            text: Body::new(text),
            html: Body::new(html),
            date: SystemTime::from(now),
            message_id: format!(
                "kurier.confirm.{subscriber}.{version}.{}.{}@{}",
                now.timestamp(),
                self.store_id,
                self.from.email.domain()
            ),
            envelope_from: Some(&self.verp.address(0, subscriber)),
            list_id: &self.list_id,
            list_name: &self.config.title,
            unsubscribe_url: None,
        })?;
        Ok(message)
    }
}

/// The HMAC key of tokens and VERP addresses: `KURIER_SECRET`, else the store's.
fn secret(config: &Config, store: &Store) -> Result<Vec<u8>, DigestError> {
    Ok(match &config.secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => store.secret()?,
    })
}

fn verp(config: &Config, secret: &[u8], from: &Mailbox) -> Result<mail::Verp, DigestError> {
    let address = config.bounce_address().unwrap_or_else(|| format!("bounces@{}", from.email.domain()));
    Ok(mail::Verp::new(secret, &address)?)
}

/// The VERP addresses of a site, for reading bounces (no templates needed).
pub fn verp_for(config: &Config, store: &Store) -> Result<mail::Verp, DigestError> {
    verp(config, &secret(config, store)?, &sender(config)?)
}

/// `digest.from`, else the site author's address under the site's title (also for `check`).
pub fn sender(config: &Config) -> Result<Mailbox, DigestError> {
    if let Some(from) = &config.digest.from {
        return from.parse().map_err(|problem| {
            DigestError::from(mail::SettingsError::Sender { setting: "digest.from", value: from.clone(), problem })
        });
    }
    let email = config.author.as_ref().and_then(|a| a.email.as_deref()).ok_or(mail::SettingsError::NoSender)?;
    let address = email.parse().map_err(|problem| mail::SettingsError::Sender {
        setting: "author.email",
        value: email.to_owned(),
        problem,
    })?;
    Ok(Mailbox::new(Some(config.title.clone()), address))
}

/// What the next send would do.
#[derive(Debug)]
pub enum Plan {
    /// An issue was started and not finished: it is resumed first.
    Resume(Issue),
    /// A new issue with these posts (and, on the first issue, this baseline).
    New { subject: String, posts: Vec<FrozenPost>, baseline: Vec<String> },
    /// Nothing new since the last issue.
    Nothing { baseline: Vec<String> },
}

/// Decides what the next send does, as of `now`: from `published` (see [`SendOptions::site`])
/// while it is current, else from `content/` read again.
pub fn plan(
    root: &Path,
    config: &Config,
    store: &Store,
    templates: &Templates,
    now: DateTime<Utc>,
    published: Option<&Site>,
) -> Result<Plan, DigestError> {
    if let Some(issue) = store.unfinished_issue()? {
        return Ok(Plan::Resume(issue));
    }
    let read;
    let site = match published.filter(|site| is_current(site, now)) {
        Some(site) => site,
        None => {
            let loaded = Site::load(root, config, now)
                .map_err(|source| DigestError::Content { path: root.join(crate::site::CONTENT_DIR), source })?;
            for error in &loaded.errors {
                tracing::warn!("{error}");
            }
            read = loaded.site;
            &read
        }
    };
    let excluded = store.excluded_post_ids()?;
    let selection = compose::select(site, &excluded, store.digests_started()?, &config.digest, now);
    let posts: Vec<FrozenPost> = selection.posts.iter().map(|p| crate::site::freeze(p, site)).collect();
    if posts.is_empty() {
        return Ok(Plan::Nothing { baseline: selection.baseline });
    }
    let subject = content::subject(config, templates, now, &posts)?;
    Ok(Plan::New { subject, posts, baseline: selection.baseline })
}

/// Whether a site published earlier is the site as of `now`: no post has become visible or
/// expired since, and every post still has its HTML (a build may drop what no feed lists).
fn is_current(site: &Site, now: DateTime<Utc>) -> bool {
    site.next_publication.is_none_or(|next| next > now) && site.posts.iter().all(|post| !post.content_dropped)
}

/// What `digest send` did (one per run: its size does not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Nothing new: a skipped issue was recorded.
    Skipped {
        issue: i64,
        /// Deferred deliveries of earlier issues whose retry time had come.
        earlier: Option<send::Report>,
    },
    /// `--dry-run`: what would be sent, to how many.
    DryRun { resumed: bool, subject: String, posts: Vec<FrozenPost>, recipients: u64 },
    Sent {
        issue: Issue,
        resumed: bool,
        report: send::Report,
        transport: String,
        /// Deferred deliveries of earlier issues whose retry time had come.
        earlier: Option<send::Report>,
    },
}

impl Outcome {
    /// Deliveries that failed for good, and deliveries deferred to a later retry, in all.
    pub fn failed_and_deferred(&self) -> (u64, u64) {
        let (report, earlier) = match self {
            Outcome::Sent { report, earlier, .. } => (Some(report), earlier.as_ref()),
            Outcome::Skipped { earlier, .. } => (None, earlier.as_ref()),
            Outcome::DryRun { .. } => (None, None),
        };
        let reports = report.into_iter().chain(earlier);
        reports.fold((0, 0), |(f, d), r| (f + r.failed, d + r.deferred))
    }
}

/// How a send is made: by whom, when, for which fire of the schedule.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub dry_run: bool,
    pub now: DateTime<Utc>,
    /// A progress bar on stderr.
    pub progress: bool,
    /// The node that sends (its claims on deliveries are recorded under its id).
    pub node: Node,
    /// The fire of the schedule this send is for (`None`: by hand): one issue per fire,
    /// whichever node comes first; the others send it with that node.
    pub fire: Option<DateTime<Utc>>,
    /// The site as the daemon publishes it: a new issue is made from its posts, as the feeds
    /// show them, instead of reading `content/` again (a daemon's edit would wait for that read
    /// on the shared rebuild threads: 10 s at 100,000 posts). Read again all the same when the
    /// clock has passed its next publication (a post the daemon has not published yet may be
    /// due). `None`: read `content/`.
    pub site: Option<Arc<Site>>,
}

/// Sends the due issue (resuming an unfinished one first, or joining the one another node made
/// for the same fire), then the deferred deliveries of earlier issues whose retry time has come.
/// On SQLite it holds the store's send lock; on PostgreSQL every node sends, each delivery
/// claimed by one (`store/nodes.rs`).
pub async fn send(
    root: &Path,
    config: &Config,
    options: SendOptions,
    stop: watch::Receiver<bool>,
) -> Result<Outcome, DigestError> {
    let (root, config) = (root.to_owned(), config.clone());
    run_on_own_thread(move || async move { send_here(&root, &config, options, stop).await }).await
}

/// [`send`], on the runtime it is called on.
async fn send_here(
    root: &Path,
    config: &Config,
    options: SendOptions,
    stop: watch::Receiver<bool>,
) -> Result<Outcome, DigestError> {
    // The store's work (and the site's loading and rendering) on a blocking thread.
    let (owned_root, owned_config, owned_options) = (root.to_owned(), config.clone(), options.clone());
    let (prepared, _lock) = blocking(move || prepare(&owned_root, &owned_config, &owned_options)).await?;
    let SendOptions { progress, node, .. } = options;
    let (store, mailer, issue, content, resumed) = match prepared {
        Prepared::Done(outcome) => return Ok(outcome),
        Prepared::Skipped { store, mailer, issue } => {
            let store = Arc::new(Mutex::new(store));
            let earlier = retry_deferred_with(root, config, store, &Arc::new(mailer), &node, stop, Some(issue)).await?;
            return Ok(Outcome::Skipped { issue, earlier });
        }
        Prepared::Send { store, mailer, issue, content, resumed } => (store, mailer, issue, content, resumed),
    };
    let transport = Arc::new(Transport::new(root, config)?);
    let described = transport.describe();
    let mailer = Arc::new(mailer);
    let store = Arc::new(Mutex::new(store));
    let sender = Sender { mailer: &mailer, transport: &transport, config, node: &node };
    let report = send_issue(&store, &issue, content, &sender, stop.clone(), progress, resumed).await?;
    let id = issue.id;
    let issue = with_store(&store, move |store| store.issue(id)).await?.unwrap_or(issue);
    let earlier = retry_deferred_with(root, config, store, &mailer, &node, stop, Some(issue.id)).await?;
    Ok(Outcome::Sent { issue, resumed, report, transport: described, earlier })
}

/// What [`send`] does after its blocking part (one value per send, moved once: its size does not
/// matter).
#[allow(clippy::large_enum_variant)]
enum Prepared {
    /// Nothing more: a dry run.
    Done(Outcome),
    /// Nothing new: a skipped issue was recorded.
    Skipped { store: Store, mailer: Mailer, issue: i64 },
    /// An issue to send, created or resumed, with its content.
    Send { store: Store, mailer: Mailer, issue: Issue, content: IssueContent, resumed: bool },
}

/// The blocking part of [`send`]: the store opened and locked, the plan made, a new issue
/// rendered and created with its recipients.
fn prepare(root: &Path, config: &Config, options: &SendOptions) -> Result<(Prepared, Option<SendLock>), DigestError> {
    let SendOptions { dry_run, now, fire, .. } = *options;
    let location = Location::of(root, config);
    let mut store = location.open()?;
    let lock = if dry_run { None } else { lock_sending(&location, &store)? };
    let mailer = Mailer::new(root, config, &store)?;
    // The fire's issue, made by another node, sent or skipped already: nothing more to do.
    if let Some(issue) = fire.map(|fire| store.issue_for_fire(fire)).transpose()?.flatten()
        && issue.status != crate::store::IssueStatus::Sending
    {
        tracing::info!(issue = issue.id, "this fire's issue was made by another node and is done");
        return Ok((Prepared::Done(done_outcome(issue)), lock));
    }
    let plan = plan(root, config, &store, &mailer.templates, now, options.site.as_deref())?;
    let active = store.totals()?.subscribers.get(&Status::Active).copied().unwrap_or(0);
    if dry_run {
        return Ok((
            Prepared::Done(match plan {
                Plan::Resume(issue) => {
                    let recipients = store.deliveries_left(issue.id, now)?;
                    Outcome::DryRun { resumed: true, subject: issue.subject, posts: issue.posts, recipients }
                }
                Plan::New { subject, posts, .. } => {
                    Outcome::DryRun { resumed: false, subject, posts, recipients: active }
                }
                Plan::Nothing { .. } => {
                    Outcome::DryRun { resumed: false, subject: String::new(), posts: vec![], recipients: 0 }
                }
            }),
            lock,
        ));
    }
    // A new issue is rendered before it is created (see below); a resumed one here.
    let mut rendered = None;
    let (issue, resumed) = match plan {
        Plan::Resume(issue) => (issue, true),
        Plan::Nothing { baseline } => {
            if !store.digests_started()? {
                store.start_digests(&baseline, now)?;
            }
            match store.record_skipped_issue_for(fire, now)? {
                Created::New(issue) => {
                    tracing::info!(issue = issue.id, "digest skipped: no new posts");
                    return Ok((Prepared::Skipped { store, mailer, issue: issue.id }, lock));
                }
                // Another node made the fire's issue while this one read its posts as sent.
                Created::Existing(issue) if issue.status == crate::store::IssueStatus::Sending => {
                    tracing::info!(issue = issue.id, "another node made the issue first: sending it with that node");
                    (issue, true)
                }
                Created::Existing(issue) => return Ok((Prepared::Done(done_outcome(issue)), lock)),
            }
        }
        Plan::New { subject, posts, baseline } => {
            // Rendered once before the issue exists: a template error must not leave an issue
            // behind that every later send would try to resume.
            let (id, created) = (store.next_issue_id()?, crate::store::timestamp(now));
            rendered = Some((id, content::render(config, &mailer.templates, id, &created, &subject, &posts)?));
            if !store.digests_started()? {
                store.start_digests(&baseline, now)?;
            }
            let freezing = std::time::Instant::now();
            match store.create_issue_for(fire, &subject, &posts, "", now)? {
                Created::New(issue) => {
                    let ms = freezing.elapsed().as_secs_f64() * 1e3;
                    tracing::info!(issue = issue.id, recipients = active, ms, "issue frozen with its recipients");
                    (issue, false)
                }
                Created::Existing(issue) if issue.status == crate::store::IssueStatus::Sending => {
                    tracing::info!(issue = issue.id, "another node made the issue first: sending it with that node");
                    (issue, true)
                }
                Created::Existing(issue) => return Ok((Prepared::Done(done_outcome(issue)), lock)),
            }
        }
    };
    let content = match rendered {
        // Another node may have made the issue first (its id is then another).
        Some((id, content)) if id == issue.id => content,
        _ => mailer.content(&issue)?,
    };
    store.set_archive(issue.id, &content.archive_html)?;
    Ok((Prepared::Send { store, mailer, issue, content, resumed }, lock))
}

/// Takes SQLite's send lock (one sender per SQLite store), and releases the leases a sender
/// that died left behind: none of their holders is alive. On PostgreSQL no lock: every node
/// sends, each delivery claimed by one.
fn lock_sending(location: &Location, store: &Store) -> Result<Option<SendLock>, DigestError> {
    let lock = SendLock::acquire_at(location)?;
    if lock.is_some() {
        store.release_leases()?;
    }
    Ok(lock)
}

/// What a send did for a fire whose issue another node made and finished (sent or skipped).
fn done_outcome(issue: Issue) -> Outcome {
    match issue.status {
        crate::store::IssueStatus::Skipped => Outcome::Skipped { issue: issue.id, earlier: None },
        _ => Outcome::Sent {
            issue,
            resumed: true,
            report: send::Report::default(),
            transport: "another node".to_owned(),
            earlier: None,
        },
    }
}

/// Sends the deferred deliveries, of every issue, whose retry time has come (the daemon's
/// timer for them). None when there were none.
pub async fn retry_deferred(
    root: &Path,
    config: &Config,
    node: &Node,
    stop: watch::Receiver<bool>,
) -> Result<Option<send::Report>, DigestError> {
    let (root, config, node) = (root.to_owned(), config.clone(), node.clone());
    run_on_own_thread(move || async move { retry_deferred_here(&root, &config, &node, stop).await }).await
}

/// [`retry_deferred`], on the runtime it is called on.
async fn retry_deferred_here(
    root: &Path,
    config: &Config,
    node: &Node,
    stop: watch::Receiver<bool>,
) -> Result<Option<send::Report>, DigestError> {
    let (owned_root, owned_config) = (root.to_owned(), config.clone());
    let (store, _lock, mailer) = blocking(move || -> Result<_, DigestError> {
        let location = Location::of(&owned_root, &owned_config);
        let store = location.open()?;
        let lock = lock_sending(&location, &store)?;
        let mailer = Mailer::new(&owned_root, &owned_config, &store)?;
        Ok((store, lock, mailer))
    })
    .await?;
    retry_deferred_with(root, config, Arc::new(Mutex::new(store)), &Arc::new(mailer), node, stop, None).await
}

/// The deferred deliveries due now, of every issue but `except` (just sent, which took its
/// own), issue by issue; their reports added up.
async fn retry_deferred_with(
    root: &Path,
    config: &Config,
    store: Arc<Mutex<Store>>,
    mailer: &Arc<Mailer>,
    node: &Node,
    stop: watch::Receiver<bool>,
    except: Option<i64>,
) -> Result<Option<send::Report>, DigestError> {
    let due = with_store(&store, |store| store.issues_with_due_deferrals(Utc::now())).await?;
    let due: Vec<i64> = due.into_iter().filter(|i| Some(*i) != except).collect();
    if due.is_empty() {
        return Ok(None);
    }
    let transport = Arc::new(Transport::new(root, config)?);
    let mut total = send::Report::default();
    for id in due {
        if *stop.borrow() {
            break;
        }
        let Some(issue) = with_store(&store, move |store| store.issue(id)).await? else { continue };
        let content = mailer.content(&issue)?;
        let sender = Sender { mailer, transport: &transport, config, node };
        let report = send_issue(&store, &issue, content, &sender, stop.clone(), false, true).await?;
        total.add(&report);
    }
    Ok(Some(total))
}

/// Who sends an issue, and through what.
struct Sender<'a> {
    mailer: &'a Arc<Mailer>,
    transport: &'a Arc<Transport>,
    config: &'a Config,
    node: &'a Node,
}

/// Sends what is left to send of one issue: its pending deliveries and its deferred ones
/// whose time has come.
async fn send_issue(
    store: &Arc<Mutex<Store>>,
    issue: &Issue,
    content: IssueContent,
    sender: &Sender<'_>,
    stop: watch::Receiver<bool>,
    progress: bool,
    resumed: bool,
) -> Result<send::Report, DigestError> {
    let Sender { mailer, transport, config, node } = *sender;
    let id = issue.id;
    let todo = with_store(store, move |store| store.deliveries_left(id, Utc::now())).await?;
    let bar = if progress { progress_bar(todo) } else { indicatif::ProgressBar::hidden() };
    let issue_id = issue.id;
    let composer = Arc::clone(mailer);
    let content = Arc::new(content);
    let compose: Arc<send::Compose> = Arc::new(move |delivery: &Delivery| {
        composer.letter(&content, issue_id, delivery.subscriber_id, &delivery.email, delivery.name.as_deref())
    });
    tracing::info!(issue = issue_id, resumed, recipients = todo, node = %node.id, transport = %transport.describe(), "sending digest");
    let report = send::run(
        Arc::clone(store),
        issue_id,
        Arc::clone(transport),
        compose,
        send::Settings::new(config.smtp.as_ref(), bounce_policy(config), node.clone()),
        stop,
        bar,
    )
    .await?;
    tracing::info!(
        issue = issue_id,
        sent = report.sent,
        failed = report.failed,
        skipped = report.skipped,
        retried = report.retried,
        deferred = report.deferred,
        seconds = report.duration.as_secs_f64(),
        "digest run finished"
    );
    Ok(report)
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, {eta} left") {
        bar.set_style(style);
    }
    bar
}

/// The message the next (or unfinished) issue would bring `subscriber` — or the first active
/// subscriber, or a sample address when there is none.
pub fn preview(
    root: &Path,
    config: &Config,
    subscriber: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Message>, DigestError> {
    let store = open_store(root, config)?;
    let mailer = Mailer::new(root, config, &store)?;
    let (id, created, subject, posts) = match plan(root, config, &store, &mailer.templates, now, None)? {
        Plan::Resume(issue) => (issue.id, issue.created_at, issue.subject, issue.posts),
        Plan::New { subject, posts, .. } => (store.next_issue_id()?, crate::store::timestamp(now), subject, posts),
        Plan::Nothing { .. } => return Ok(None),
    };
    let (subscriber_id, email, name) = match subscriber {
        Some(email) => {
            let s = store.subscriber_by_email(email)?.ok_or_else(|| StoreError::NotFound(email.to_owned()))?;
            (s.id, s.email, s.name)
        }
        None => match store.first_subscriber(Status::Active)? {
            Some(s) => (s.id, s.email, s.name),
            None => (0, "czytelnik@example.org".to_owned(), None),
        },
    };
    let content = content::render(config, &mailer.templates, id, &created, &subject, &posts)?;
    mailer.letter(&content, id, subscriber_id, &email, name.as_deref()).map(Some).map_err(DigestError::from)
}

/// The latest `limit` fires of the daemon's schedule and what became of each, oldest first.
pub fn runs(root: &Path, config: &Config, limit: usize) -> Result<Vec<crate::store::Run>, DigestError> {
    Ok(open_store(root, config)?.runs(limit)?)
}

/// Every issue with its delivery counts.
pub fn status(root: &Path, config: &Config) -> Result<Vec<IssueSummary>, DigestError> {
    Ok(open_store(root, config)?.issue_summaries()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site with a Polish title, its sender, and DKIM when `dkim`.
    fn mailer(dir: &Path, dkim: bool) -> Mailer {
        let mut text = "title = \"Zażółć gęślą jaźń: Psychosomatyka\"\nbase_url = \"https://digest.example.org/\"\n\
                        language = \"pl\"\n[digest]\nfrom = \"Zażółć <newsletter@digest.example.org>\"\n\
                        footer = \"Redakcja, ul. Przykładowa 1, 00-001 Warszawa\"\n"
            .to_owned();
        if dkim {
            let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim/test-only.key");
            std::fs::copy(key, dir.join("dkim.key")).unwrap();
            text.push_str("[dkim]\ndomain = \"digest.example.org\"\nselector = \"kurier\"\nkey_file = \"dkim.key\"\n");
        }
        let config = Config::parse(&text, &dir.join("kurier.toml")).unwrap();
        Mailer::without_store(dir, &config).unwrap()
    }

    /// Posts of Polish prose with long lines, long links and characters QP must escape.
    fn posts() -> Vec<FrozenPost> {
        let prose = "Zażółć gęślą jaźń — sen to praca ciała, a oddech = rytm; ".repeat(12);
        (0..3)
            .map(|i| FrozenPost {
                id: format!("https://digest.example.org/wpis-{i}/"),
                title: format!("Wpis {i}: źdźbło, łódź i żółw"),
                url: format!("https://digest.example.org/2026/11/wpis-{i}-{}/", "bardzo-dlugi-adres-".repeat(5)),
                date: "2026-11-26T08:00:00+01:00".into(),
                summary_html: format!("<p>{prose}<a href=\"https://example.org/x?a=1&amp;b=2\">łącze</a>.</p>"),
                summary_text: prose.clone(),
                tags: vec!["sen".into()],
                related: vec![],
            })
            .collect()
    }

    /// The message with its MIME boundary (random per message) named alike, and without its
    /// DKIM-Signature (whose body hash covers the boundary).
    fn comparable(message: &Message) -> String {
        let raw = String::from_utf8(message.formatted()).unwrap();
        let boundary = raw.split("boundary=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let raw = raw.replace(&boundary, "GRANICA");
        let Some(start) = raw.find("DKIM-Signature:") else { return raw };
        let end = start + raw[start..].find("\r\n").unwrap() + 2;
        let folded = raw[end..].lines().take_while(|l| l.starts_with([' ', '\t'])).map(|l| l.len() + 2).sum::<usize>();
        format!("{}{}", &raw[..start], &raw[end + folded..])
    }

    #[test]
    fn a_new_issue_is_made_from_the_published_site_while_it_is_current_else_from_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("content")).unwrap();
        let write = |file: &str, title: &str, date: &str| {
            let post = format!("+++\ntitle = \"{title}\"\ndate = {date}\n+++\nTekst.\n");
            std::fs::write(root.join("content").join(file), post).unwrap();
        };
        let text = "title = \"T\"\nbase_url = \"https://example.org/\"\n[digest]\nfrom = \"T <t@example.org>\"\n";
        let config = Config::parse(text, &root.join("kurier.toml")).unwrap();
        let now: DateTime<Utc> = "2026-11-26T08:00:00Z".parse().unwrap();
        write("a.md", "Opublikowany", "2026-11-24T08:00:00Z");
        let published = Site::load(root, &config, now).unwrap().site;
        write("a.md", "Zmieniony na dysku", "2026-11-24T08:00:00Z");
        let store = Location::of(root, &config).open().unwrap();
        let templates = Mailer::without_store(root, &config).unwrap().templates;
        let titles = |plan: Plan| match plan {
            Plan::New { posts, .. } => posts.into_iter().map(|p| p.title).collect::<Vec<_>>(),
            _ => panic!("not a new issue"),
        };
        let plan = |site: Option<&Site>| titles(plan(root, &config, &store, &templates, now, site).unwrap());
        // The site the daemon publishes, as its feeds show it.
        assert_eq!(plan(Some(&published)), ["Opublikowany"]);
        // Without one, `content/` as it is.
        assert_eq!(plan(None), ["Zmieniony na dysku"]);
        // A post that the published site had in its future is due now: `content/` is read again.
        write("b.md", "Zaplanowany", "2026-11-26T07:00:00Z");
        let earlier = Site::load(root, &config, "2026-11-26T06:00:00Z".parse().unwrap()).unwrap().site;
        assert!(earlier.next_publication.is_some_and(|next| next <= now));
        assert_eq!(plan(Some(&earlier)), ["Zaplanowany", "Zmieniony na dysku"]);
    }

    #[test]
    fn a_message_encoded_once_per_issue_is_the_message_lettre_encodes_for_each_subscriber() {
        let recipients = [
            (1, "anna@example.org".to_owned(), None),
            (42, "lucja.cwik@example.org".to_owned(), Some("Łucja Ćwik-Żółkiewska")),
            (7_000_000_001, format!("{}@example.org", "d".repeat(60)), Some("<b>Kowalski & \"Syn\"</b> = 100%")),
            (
                99,
                format!("{}@example.org", "r".repeat(64)),
                Some("Zażółć gęślą jaźń Zażółć gęślą jaźń Zażółć gęślą jaźń"),
            ),
        ];
        for dkim in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mailer = mailer(dir.path(), dkim);
            let content = content::render(
                &mailer.config,
                &mailer.templates,
                7,
                "2026-11-26T08:00:00+01:00",
                "Zażółć gęślą jaźń — 3 nowe wpisy",
                &posts(),
            )
            .unwrap();
            let date = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
            for (subscriber, email, name) in &recipients {
                let unsubscribe = mailer.unsubscribe_url(*subscriber);
                let to = (7, *subscriber, email.as_str(), *name);
                let once = content.encoded(email, *name, &unsubscribe);
                let fast = mailer.letter_with(&content, once, to, &unsubscribe, date).unwrap();
                // What kurier did before: the whole personalised texts, encoded by lettre.
                let (html, text) = content.personalize(email, *name, &unsubscribe);
                let slow =
                    mailer.letter_with(&content, (Body::new(html), Body::new(text)), to, &unsubscribe, date).unwrap();
                assert_eq!(comparable(&fast), comparable(&slow), "subscriber {subscriber}, DKIM {dkim}");
                assert_eq!(fast.envelope(), slow.envelope());
                // Read back as a mail client reads it: the same headers and decoded parts.
                let (fast_raw, slow_raw) = (fast.formatted(), slow.formatted());
                let parser = mail_parser::MessageParser::default();
                let (a, b) = (parser.parse(&fast_raw).unwrap(), parser.parse(&slow_raw).unwrap());
                assert_eq!(a.subject(), b.subject());
                assert_eq!(a.to(), b.to());
                assert_eq!(a.header_raw("List-Unsubscribe"), b.header_raw("List-Unsubscribe"));
                assert_eq!(a.body_text(0), b.body_text(0));
                assert_eq!(a.body_html(0), b.body_html(0));
                let html = a.body_html(0).unwrap();
                assert!(
                    html.contains(&crate::site::escape_html(&unsubscribe)),
                    "the unsubscribe link is in the HTML part"
                );
                assert!(a.body_text(0).unwrap().contains(&unsubscribe), "and in the text part");
                assert!(html.contains("źdźbło, łódź i żółw"), "Polish text decodes");
                assert_eq!(a.header_raw("DKIM-Signature").is_some(), dkim);
                // Quoted-printable lines stay within 76 characters, whatever was filled in.
                let raw = String::from_utf8(fast_raw).unwrap();
                let body = &raw[raw.find("\r\n\r\n").unwrap()..];
                assert!(body.split("\r\n").all(|line| line.len() <= 76), "a body line over 76 characters");
                assert!(raw.contains("Content-Transfer-Encoding: quoted-printable"), "{raw}");
            }
        }
    }
}
