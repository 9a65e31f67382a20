//! The `kurier` command line: parses arguments, calls the library, prints results and errors,
//! sets the exit code (0 success; 1 a failure, a broken post or failed deliveries; 2 usage).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kurier::digest::{self, Outcome};
use kurier::store::{self, Status};

/// `digest send`'s exit code when nothing failed but some deliveries wait for a retry
/// (sysexits.h `EX_TEMPFAIL`).
const EXIT_DEFERRED: u8 = 75;
/// Scheduled runs `digest status` lists, the latest.
const RUNS_SHOWN: usize = 50;

#[derive(Parser)]
#[command(name = "kurier", version, about = "RSS, Atom and JSON feeds and e-mail digests from Markdown posts")]
struct Cli {
    /// The site folder (holding kurier.toml).
    #[arg(long, global = true, default_value = ".")]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new site in DIR: kurier.toml, content/ with one post, templates/, subscribers/.
    Init {
        dir: PathBuf,
        /// The site's title.
        #[arg(long, default_value = "Mój blog")]
        title: String,
        /// The absolute URL the site is published at.
        #[arg(long, default_value = "https://example.org/")]
        base_url: String,
        /// BCP 47 language of the site.
        #[arg(long, default_value = "pl")]
        language: String,
        /// IANA time zone for dates and schedules.
        #[arg(long, default_value = "Europe/Warsaw")]
        timezone: String,
        /// The sender of digests, `Name <address>`; without it a placeholder that `check` flags.
        #[arg(long)]
        from: Option<String>,
    },
    /// Build every feed into the output folder.
    Build,
    /// Validate configuration, content and templates; write nothing.
    Check,
    /// The daemon: build, watch and rebuild, send digests on schedule, serve HTTP.
    Run,
    /// E-mail digests of the new posts.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// The subscriber list.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Bounces and complaints that came back.
    #[command(subcommand)]
    Bounces(BouncesCommand),
    /// The subscriber store itself.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy the site's SQLite store into an empty PostgreSQL database, all or nothing (counts
    /// checked); then point `[store] url` (or KURIER_STORE_URL) at it. The password comes from
    /// KURIER_STORE_PASSWORD or the URL.
    Migrate {
        /// The PostgreSQL database: `postgres://user@host:port/database`.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum BouncesCommand {
    /// Read bounce and complaint messages, one RFC 5322 message per FILE (standard input when
    /// none, as an MTA's pipe transport delivers it) and apply them: one line per message,
    /// `FILE: permanent|transient|complaint|ignored ADDRESS…`.
    Ingest { files: Vec<PathBuf> },
}

#[derive(Subcommand)]
enum DigestCommand {
    /// Print the message the next issue would bring a subscriber, exactly as it would be sent.
    Preview {
        /// The subscriber to preview for (default: the first active one).
        #[arg(long)]
        subscriber: Option<String>,
        /// Print only the plain-text part.
        #[arg(long)]
        text: bool,
    },
    /// Send the due issue now, or resume an unfinished one.
    Send {
        /// Show what would be sent, to how many; send and record nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Issues with their delivery counts and failed recipients, then the latest scheduled runs.
    Status,
    /// Delete the delivery rows of issues finished before a cut-off, keeping each issue's counts.
    Prune {
        /// How old an issue must be, in days: `90d`.
        #[arg(long, value_parser = parse_days)]
        older_than: chrono::Duration,
    },
}

/// `90d` → 90 days.
fn parse_days(text: &str) -> Result<chrono::Duration, String> {
    text.strip_suffix('d')
        .and_then(|days| days.parse::<u32>().ok())
        .map(|days| chrono::Duration::days(days.into()))
        .ok_or_else(|| format!("`{text}` is not a number of days such as `90d`"))
}

#[derive(Subcommand)]
enum SubscribersCommand {
    /// Add an address (pending, or active with --confirmed).
    Add {
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Add as active, skipping double opt-in (you have the subscriber's consent).
        #[arg(long)]
        confirmed: bool,
    },
    /// Mark an address unsubscribed (the record is kept).
    Remove { email: String },
    /// List subscribers: address, status, name, added, and why a bounced or complained one is.
    List {
        /// Only this status: pending, active, unsubscribed, bounced, complained.
        #[arg(long)]
        status: Option<Status>,
    },
    /// Make a bounced or complained address active again (the operator's decision alone).
    Reset { email: String },
    /// Import a CSV file of `email,name[,status]` rows, all or nothing.
    Import { file: PathBuf },
    /// Write all subscribers as CSV to standard output.
    Export,
}

/// `RUST_LOG` (default `info`), with the PostgreSQL client held to warnings: at `debug` it logs
/// every statement's parameters, subscribers' addresses among them.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    ["tokio_postgres=warn", "postgres=warn"]
        .into_iter()
        .fold(filter, |filter, directive| filter.add_directive(directive.parse().expect("a valid directive")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", each_cause_once(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once (`kurier::errors`).
fn each_cause_once(error: &anyhow::Error) -> String {
    kurier::errors::each_cause_once(&**error)
}

fn load_config(root: &Path) -> anyhow::Result<kurier::config::Config> {
    kurier::daemon::load_config(root)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let root = cli.root.as_path();
    match cli.command {
        Command::Init { dir, title, base_url, language, timezone, from } => {
            let options = kurier::init::Options { title, base_url, language, timezone, from };
            kurier::init::create(&dir, &options, now)?;
            println!(
                "created a new site in {}; check it with `kurier --root {} check`, run it with `kurier --root {} run`",
                dir.display(),
                dir.display(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Build => {
            let report = kurier::publish::build(root, now)?;
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            for error in &report.errors {
                eprintln!("{error}");
            }
            println!(
                "built {} posts in {} ms: {} feed files written, {} unchanged, {} removed",
                report.posts,
                report.duration.as_millis(),
                report.feeds.written.len(),
                report.feeds.unchanged,
                report.feeds.removed.len()
            );
            Ok(exit_for(report.errors.len()))
        }
        Command::Check => {
            let report = kurier::publish::check(root, now)?;
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            for error in &report.errors {
                eprintln!("{error}");
            }
            for error in &report.template_errors {
                eprintln!("{error}");
            }
            for warning in report.template_warnings.iter().chain(&report.mail_warnings) {
                eprintln!("warning: {warning}");
            }
            for error in &report.mail_errors {
                eprintln!("{error}");
            }
            let errors = report.errors.len() + report.template_errors.len() + report.mail_errors.len();
            println!(
                "checked {} posts, {} feed files, the templates and the mail settings: {errors} errors",
                report.posts, report.feed_files
            );
            Ok(exit_for(errors))
        }
        Command::Run => {
            let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(kurier::daemon::run(root))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Digest(command) => digest_command(root, command, now),
        Command::Subscribers(command) => subscribers_command(root, command, now),
        Command::Bounces(BouncesCommand::Ingest { files }) => bounces_ingest(root, &files, now),
        Command::Store(StoreCommand::Migrate { to }) => store_migrate(root, &to),
    }
}

fn store_migrate(root: &Path, to: &str) -> anyhow::Result<ExitCode> {
    let config = load_config(root)?;
    let from = store::Location::of(root, &config);
    if from.sqlite_dir().is_none() {
        anyhow::bail!(
            "the site's store is already PostgreSQL ({}): `store migrate` copies an SQLite store",
            from.name()
        );
    }
    let url = match kurier::config::parse_store_url(to) {
        Ok(kurier::config::StoreBackend::Postgres(url)) => url,
        _ => anyhow::bail!("--to: `{}` is not a postgres:// URL", kurier::config::display_url(to)),
    };
    let target = store::Location::Postgres(store::PostgresTarget {
        url,
        password: config.store.password.clone(),
        ca_file: config.store.ca_file.as_ref().map(|file| root.join(file)),
    });
    let source = from.open()?;
    // No digest is sent from the SQLite store while it is copied.
    let _lock = store::SendLock::acquire_at(&from)?;
    let copied = source.copy_into(&target.open()?)?;
    for (table, rows) in &copied {
        println!("{table}: {rows}");
    }
    println!("copied {} into {}; set [store] url (or KURIER_STORE_URL) to it", from.name(), target.name());
    Ok(ExitCode::SUCCESS)
}

fn bounces_ingest(root: &Path, files: &[PathBuf], now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<ExitCode> {
    let config = load_config(root)?;
    let store = digest::open_store(root, &config)?;
    let verp = digest::verp_for(&config, &store)?;
    let policy = digest::bounce_policy(&config);
    let mut failed = false;
    let mut one = |name: &str, raw: std::io::Result<Vec<u8>>| match raw {
        Ok(raw) => match kurier::bounce::ingest(&store, &verp, &raw, name, &policy, now) {
            Ok(line) => println!("{name}: {line}"),
            Err(e) => {
                eprintln!("{name}: {}", each_cause_once(&anyhow::Error::new(e)));
                failed = true;
            }
        },
        Err(e) => {
            eprintln!("{name}: cannot read: {e}");
            failed = true;
        }
    };
    if files.is_empty() {
        let mut raw = Vec::new();
        let read = std::io::Read::read_to_end(&mut std::io::stdin(), &mut raw).map(|_| raw);
        one("-", read);
    }
    for file in files {
        one(&file.display().to_string(), std::fs::read(file));
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn digest_command(root: &Path, command: DigestCommand, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<ExitCode> {
    let config = load_config(root)?;
    match command {
        DigestCommand::Preview { subscriber, text } => {
            let Some(message) = digest::preview(root, &config, subscriber.as_deref(), now)? else {
                println!("nothing new to send");
                return Ok(ExitCode::SUCCESS);
            };
            let raw = message.formatted();
            let mut out = std::io::stdout().lock();
            if text {
                out.write_all(kurier::mail::message::text_part(&raw).as_bytes())?;
            } else {
                out.write_all(&raw)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DigestCommand::Send { dry_run } => {
            let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let outcome = runtime.block_on(async {
                let (stop_tx, stop) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    kurier::shutdown::signal().await;
                    eprintln!("stopping: finishing the messages in flight");
                    let _ = stop_tx.send(true);
                });
                let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
                // On PostgreSQL this command is a node while it sends (its heartbeat counts it
                // in the rate's share; its claims are its own), named after host and process.
                let node = store::Node::of_command(&config.store);
                let location = store::Location::of(root, &config);
                let _heartbeat = (!dry_run && location.sqlite_dir().is_none())
                    .then(|| store::Heartbeat::start(location, node.clone()));
                let options = digest::SendOptions { dry_run, now, progress, node, fire: None, site: None };
                digest::send(root, &config, options, stop).await
            })?;
            print_outcome(&outcome);
            Ok(match outcome.failed_and_deferred() {
                (0, 0) => ExitCode::SUCCESS,
                (0, _) => ExitCode::from(EXIT_DEFERRED),
                _ => ExitCode::FAILURE,
            })
        }
        DigestCommand::Prune { older_than } => {
            let before = now - older_than;
            let report = digest::open_store(root, &config)?.prune_deliveries(before, now)?;
            println!(
                "pruned {} of {} finished before {} (their counts are kept)",
                plural(report.deliveries, "delivery", "deliveries"),
                plural(report.issues, "issue", "issues"),
                before.format("%Y-%m-%d")
            );
            Ok(ExitCode::SUCCESS)
        }
        DigestCommand::Status => {
            print_status(root, &config)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `digest status`: every issue, then the latest fires of the schedule.
fn print_status(root: &Path, config: &kurier::config::Config) -> anyhow::Result<()> {
    for issue in digest::status(root, config)? {
        let counts: Vec<String> = issue.counts.iter().map(|(state, n)| format!("{state} {n}")).collect();
        println!(
            "issue {} {} {} ({} post{}) {}{}",
            issue.id,
            issue.status.as_str(),
            issue.created_at,
            issue.posts,
            if issue.posts == 1 { "" } else { "s" },
            if issue.subject.is_empty() { String::new() } else { format!("\"{}\" ", issue.subject) },
            counts.join(", ")
        );
        for (email, reply) in &issue.failures {
            println!("  failed {email}: {reply}");
        }
        for (email, retry_at, reply) in &issue.deferrals {
            println!("  deferred {email} until {retry_at}: {reply}");
        }
        for (node, counts) in &issue.nodes {
            let counts: Vec<String> = counts.iter().map(|(state, n)| format!("{state} {n}")).collect();
            println!("  node {node}: {}", counts.join(", "));
        }
        if !issue.bounces.is_empty() {
            let counts: Vec<String> = issue.bounces.iter().map(|(kind, n)| format!("{} {n}", kind.as_str())).collect();
            println!("  bounces: {}", counts.join(", "));
        }
    }
    for run in digest::runs(root, config, RUNS_SHOWN)? {
        let mut line = format!("run {} {}", run.fire_at, run.outcome.as_str());
        if let Some(issue) = run.issue {
            line += &format!(" issue {issue}");
        }
        if run.missed > 0 {
            line += &format!(" missed {}", run.missed);
        }
        if let Some(note) = &run.note {
            line += &format!(" ({note})");
        }
        println!("{line}");
    }
    Ok(())
}

/// `1 issue`, `3 issues` (the command line speaks English; the rule is the locale's).
fn plural(n: u64, one: &str, many: &str) -> String {
    let word = match kurier::site::Locale::English.plural(n) {
        kurier::site::Plural::One => one,
        _ => many,
    };
    format!("{n} {word}")
}

fn print_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Skipped { issue, earlier } => {
            println!("nothing new since the last issue: issue {issue} recorded as skipped");
            print_earlier(earlier.as_ref());
        }
        Outcome::DryRun { resumed, subject, posts, recipients } => {
            if posts.is_empty() {
                println!("dry run: nothing new to send");
                return;
            }
            let what = if *resumed { "would resume" } else { "would send" };
            println!("dry run: {what} \"{subject}\" with {} posts to {recipients} subscribers:", posts.len());
            for post in posts {
                println!("  {} {}", post.date, post.title);
            }
        }
        Outcome::Sent { issue, resumed, report, transport, earlier } => {
            println!(
                "issue {} ({}{}) via {transport}: sent {}, failed {}, skipped {}, retried {}, deferred {} in {:.2} s ({:.0} messages/s)",
                issue.id,
                issue.status.as_str(),
                if *resumed { ", resumed" } else { "" },
                report.sent,
                report.failed,
                report.skipped,
                report.retried,
                report.deferred,
                report.duration.as_secs_f64(),
                report.messages_per_second()
            );
            print_earlier(earlier.as_ref());
        }
    }
}

/// The retries of earlier issues' deferred deliveries that came with a send.
fn print_earlier(earlier: Option<&digest::send::Report>) {
    if let Some(r) = earlier {
        println!(
            "deferred deliveries of earlier issues: sent {}, failed {}, skipped {}, deferred again {}",
            r.sent, r.failed, r.skipped, r.deferred
        );
    }
}

fn subscribers_command(
    root: &Path,
    command: SubscribersCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(root)?;
    let mut store = digest::open_store(root, &config)?;
    match command {
        SubscribersCommand::Add { email, name, confirmed } => {
            let status = if confirmed { Status::Active } else { Status::Pending };
            let s = store.add_subscriber(&email, name.as_deref(), status, now)?;
            println!("added {} ({})", s.email, s.status);
        }
        SubscribersCommand::Remove { email } => {
            let s = store.unsubscribe_email(&email, now)?;
            println!("{} is now unsubscribed", s.email);
        }
        SubscribersCommand::List { status } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            store.for_each_subscriber(status, |s| {
                let name = s.name.as_deref().unwrap_or("");
                let reason = s.status_reason.as_deref().unwrap_or("");
                writeln!(out, "{}\t{}\t{}\t{}\t{}", s.email, s.status, name, s.created_at, reason)
                    .map_err(anyhow::Error::from)
            })?;
            out.flush()?;
        }
        SubscribersCommand::Reset { email } => {
            let s = store.reset_subscriber(&email, now)?;
            println!("{} is active again", s.email);
        }
        SubscribersCommand::Import { file } => {
            let reader = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let rows = store::parse_import(reader).with_context(|| file.display().to_string())?;
            let report = store.import(rows, now).with_context(|| file.display().to_string())?;
            println!(
                "imported {}: {} added, {} already in the list",
                file.display(),
                report.added,
                report.already_present
            );
        }
        SubscribersCommand::Export => {
            store::export_csv(&store, std::io::BufWriter::new(std::io::stdout().lock()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_for(errors: usize) -> ExitCode {
    if errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
