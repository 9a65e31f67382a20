//! The `kurier` command line: parses arguments, calls the library, prints errors, sets the exit
//! code (0 success, 1 a failure or a broken post, 2 a usage error).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kurier",
    version,
    about = "RSS, Atom and JSON feeds and e-mail digests from Markdown posts"
)]
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
    },
    /// Build every feed into the output folder.
    Build,
    /// Validate configuration and content; write nothing.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    match cli.command {
        Command::Init {
            dir,
            title,
            base_url,
            language,
            timezone,
        } => {
            let options = kurier::init::Options {
                title,
                base_url,
                language,
                timezone,
            };
            kurier::init::create(&dir, &options, now)?;
            println!(
                "created a new site in {}; build it with `kurier --root {} build`",
                dir.display(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Build => {
            let report = kurier::publish::build(&cli.root, now)?;
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
            let report = kurier::publish::check(&cli.root, now)?;
            for error in &report.errors {
                eprintln!("{error}");
            }
            println!(
                "checked {} posts and {} feed files: {} errors",
                report.posts,
                report.feed_files,
                report.errors.len()
            );
            Ok(exit_for(report.errors.len()))
        }
    }
}

fn exit_for(errors: usize) -> ExitCode {
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
