//! The `build` and `check` commands: load the site, render every feed, write (or not), report.
//! `check` also renders a sample digest with the site's templates, so that a template mistake
//! shows before a send.
//!
//! A broken post never stops a build: it is reported as `path:line: reason`, left out, and the
//! feeds of the other posts are written (ripgrep reports a bad file and keeps searching). What
//! does stop a build — an invalid `kurier.toml`, an unreadable `content/`, a failed write of a
//! new feed — stops it before any feed is replaced, so the last good feeds stay in place: new
//! feeds are staged beside the old ones and renamed over them only once all are written
//! (`feed/output.rs`; only a failure of those renames, which need no new space, could leave some
//! feeds replaced and others not).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::build_cache;
use crate::config::{Config, ConfigError};
use crate::digest::content;
use crate::feed::{self, output::OutputError, output::WriteReport};
use crate::render::{RenderError, Templates};
use crate::site::{self, PostCache, PostError, Site};

/// Threads writing feed files during a build.
const WRITERS: usize = 8;
/// Rendered files waiting for a writer, at most (bounds memory).
const WRITE_QUEUE: usize = 16;

/// What a build did.
#[derive(Debug)]
pub struct BuildReport {
    /// Visible posts in the feeds.
    pub posts: usize,
    pub feeds: WriteReport,
    /// Posts left out, with why.
    pub errors: Vec<PostError>,
    /// Paths the scan did not follow (warnings).
    pub warnings: Vec<site::Warning>,
    pub duration: Duration,
}

/// What a check found.
#[derive(Debug)]
pub struct CheckReport {
    pub posts: usize,
    pub feed_files: usize,
    pub errors: Vec<PostError>,
    pub warnings: Vec<site::Warning>,
    /// Templates that do not load or do not render a sample issue.
    pub template_errors: Vec<RenderError>,
    /// Files of the site's templates folder left unused (another tool's templates), and why.
    pub template_warnings: Vec<String>,
    /// What `run` would refuse or could not send with: the sender, `smtp.url`, `smtp.ca_file`,
    /// the DKIM key.
    pub mail_errors: Vec<String>,
    /// What works but should not stay so (a placeholder sender).
    pub mail_warnings: Vec<String>,
}

/// Why a build could not run at all.
#[derive(Debug)]
pub enum PublishError {
    Config(ConfigError),
    Content {
        path: PathBuf,
        source: std::io::Error,
    },
    Output(OutputError),
    /// A post changed while the build read it twice.
    Changed(crate::site::PostError),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Config(e) => e.fmt(f),
            PublishError::Content { path, source } => {
                write!(f, "cannot read {}: {}", path.display(), source)
            }
            PublishError::Output(e) => e.fmt(f),
            PublishError::Changed(e) => write!(f, "{e}; build again"),
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PublishError::Config(e) => Some(e),
            PublishError::Content { source, .. } => Some(source),
            PublishError::Output(e) => Some(e),
            PublishError::Changed(e) => Some(e),
        }
    }
}

/// Loads the configuration and the site under `root`.
pub fn load(root: &Path, now: DateTime<Utc>) -> Result<(Config, site::Loaded), PublishError> {
    let config = Config::load(root).map_err(PublishError::Config)?;
    let loaded = read_posts(root, &config)?.into_site(&config, now);
    Ok((config, loaded))
}

/// Reads every post file under `root/content`.
fn read_posts(root: &Path, config: &Config) -> Result<PostCache, PublishError> {
    PostCache::load(root, config).map_err(|source| PublishError::Content { path: root.join(site::CONTENT_DIR), source })
}

/// The folder feeds are written to.
pub fn output_dir(root: &Path, config: &Config) -> PathBuf {
    root.join(&config.output_dir)
}

/// Builds the site under `root` and writes its feeds.
pub fn build(root: &Path, now: DateTime<Utc>) -> Result<BuildReport, PublishError> {
    let started = Instant::now();
    let config = Config::load(root).map_err(PublishError::Config)?;
    if let Some(cache) = build_cache::load(root)
        && build_cache::is_fresh(&cache, root, &config, now)
    {
        let feeds = WriteReport { unchanged: cache.outputs.len(), ..WriteReport::default() };
        let (errors, warnings) = (Vec::new(), Vec::new());
        return Ok(BuildReport { posts: cache.posts, feeds, errors, warnings, duration: started.elapsed() });
    }
    build_cache::forget(root);
    let posts = PostCache::load_for_feeds(root, &config, now)
        .map_err(|source| PublishError::Content { path: root.join(site::CONTENT_DIR), source })?;
    let revisions = posts.revisions();
    let mut loaded = posts.into_site(&config, now);
    // A feed item whose HTML was dropped while reading (it looked as if no feed could list it).
    let dropped: std::collections::HashSet<PathBuf> = feed::channels(&loaded.site, &config)
        .iter()
        .flat_map(|channel| channel.posts.iter().filter(|p| p.content_dropped).map(|p| p.source.clone()))
        .collect();
    if let Err(error) = site::restore_content(root, &config, &mut loaded.site, &dropped) {
        return Err(PublishError::Changed(error));
    }
    let out_dir = output_dir(root, &config);
    let output = feed::output::Output::new(&out_dir);
    // Rendering keeps the cores busy; writing mostly waits for fsync. Writer threads take the
    // files as they are rendered, so the waits overlap with each other and with rendering.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<feed::FeedFile>(WRITE_QUEUE);
    let receiver = std::sync::Mutex::new(receiver);
    let (paths, failures) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let next = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(file) = next else { return Ok(()) };
                        output.put(&file)?;
                    }
                })
            })
            .collect();
        let paths = feed::render_each(&loaded.site, &config, |file| sender.send(file).map_err(|_| ()));
        drop(sender);
        let failures: Vec<feed::output::OutputError> =
            writers.into_iter().filter_map(|w| w.join().ok().and_then(Result::err)).collect();
        (paths, failures)
    });
    if let Some(failure) = failures.into_iter().next() {
        return Err(PublishError::Output(failure));
    }
    let paths = paths.unwrap_or_default();
    let keep: std::collections::BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    let feeds = output.commit(Some(&keep)).map_err(PublishError::Output)?;
    if loaded.errors.is_empty() && loaded.warnings.is_empty() {
        remember(root, &config, &loaded.site, revisions, &out_dir, &paths, |_| None);
    }
    Ok(BuildReport {
        posts: loaded.site.posts.len(),
        feeds,
        errors: loaded.errors,
        warnings: loaded.warnings,
        duration: started.elapsed(),
    })
}

/// Writes the build cache: what this build read (`revisions`) and wrote (`paths`, with the
/// `etag` of each where known).
pub fn remember(
    root: &Path,
    config: &Config,
    site: &Site,
    revisions: Option<Vec<(PathBuf, u64)>>,
    out_dir: &Path,
    paths: &[String],
    etag: impl Fn(&str) -> Option<String> + Sync,
) {
    let inputs = revisions.and_then(|revisions| build_cache::inputs(root, revisions));
    let outputs = build_cache::outputs(out_dir, paths, etag);
    if let (Some(inputs), Some(outputs)) = (inputs, outputs) {
        let key = build_cache::key(root, config);
        let until = site.next_publication;
        build_cache::save(root, &build_cache::Cache { key, until, posts: site.posts.len(), inputs, outputs });
    }
}

/// Validates the site under `root` as a build would, writing nothing.
pub fn check(root: &Path, now: DateTime<Utc>) -> Result<CheckReport, PublishError> {
    let (config, loaded) = load(root, now)?;
    let count = std::sync::atomic::AtomicUsize::new(0);
    feed::render_each(&loaded.site, &config, |_| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    let (template_errors, template_warnings) = match check_templates(root, &config, &loaded.site, now) {
        Ok(warnings) => (Vec::new(), warnings),
        Err(e) => (vec![e], Vec::new()),
    };
    let (mail_errors, mail_warnings) = check_mail(root, &config);
    Ok(CheckReport {
        posts: loaded.site.posts.len(),
        feed_files: count.into_inner(),
        errors: loaded.errors,
        warnings: loaded.warnings,
        template_errors,
        template_warnings,
        mail_errors,
        mail_warnings,
    })
}

/// Everything `kurier run` needs to send mail, checked as it would check it (with the
/// environment's overrides), writing nothing.
fn check_mail(root: &Path, config: &Config) -> (Vec<String>, Vec<String>) {
    let mut config = config.clone();
    config.apply_env(|key| std::env::var(key).ok());
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    match crate::digest::sender(&config) {
        Ok(from) if from.email.domain().eq_ignore_ascii_case("example.invalid") => warnings.push(format!(
            "digest.from `{from}` is a placeholder: mail from it reaches nobody's inbox; set your sender"
        )),
        Ok(_) => {}
        Err(e) => errors.push(e.to_string()),
    }
    // Only an [smtp] section is checked here: without one, mail goes to outbox/ (made by `run`).
    if config.smtp.is_some()
        && let Err(e) = crate::mail::Transport::new(root, &config)
    {
        errors.push(e.to_string());
    }
    if let Some(dkim) = &config.dkim
        && let Err(e) = crate::mail::dkim::load(root, dkim)
    {
        errors.push(e.to_string());
    }
    (errors, warnings)
}

/// Loads the templates and renders an issue of the newest posts with them, as a send would;
/// returns the warnings of loading them.
fn check_templates(root: &Path, config: &Config, site: &Site, now: DateTime<Utc>) -> Result<Vec<String>, RenderError> {
    let templates = Templates::load(root, config)?;
    let posts: Vec<_> =
        site.posts.iter().take(config.digest.max_posts.max(1)).map(|p| crate::site::freeze(p, site)).collect();
    let subject = content::subject(config, &templates, now, &posts)?;
    content::render(config, &templates, 1, &now.to_rfc3339(), &subject, &posts)?;
    Ok(templates.warnings().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_that_drops_the_html_no_feed_lists_writes_what_a_build_keeping_all_of_it_would() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "title = \"T\"\nbase_url = \"https://example.org/\"\n[feeds]\nlimit = 2\nrelated = 1\n";
        std::fs::write(dir.path().join("kurier.toml"), toml).unwrap();
        let content = dir.path().join(site::CONTENT_DIR);
        std::fs::create_dir_all(&content).unwrap();
        let post = |file: &str, front: &str| {
            let text = format!("+++\n{front}\n+++\nTreść wpisu {file}: sen, stres i oddech.\n");
            std::fs::write(content.join(file), text).unwrap();
        };
        for day in 1..=6 {
            let tag = if day % 2 == 0 { "sen" } else { "stres" };
            post(&format!("p{day}.md"), &format!("title = \"P{day}\"\ndate = 2026-01-0{day}\ntags = [\"{tag}\"]"));
        }
        post("draft.md", "title = \"D\"\ndate = 2026-01-09\ndraft = true");
        post("future.md", "title = \"F\"\ndate = 2027-01-01");
        // Claims p6's permalink with a later date: left out, after it took a slot while read.
        post("z.md", "title = \"Z\"\ndate = 2026-01-08\nslug = \"p6\"\ntags = [\"stres\"]");
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        let config = Config::load(dir.path()).unwrap();

        let lean = PostCache::load_for_feeds(dir.path(), &config, now).unwrap().into_site(&config, now);
        let titles = |site: &Site| site.posts.iter().map(|p| (p.title.clone(), p.content_dropped)).collect::<Vec<_>>();
        let expected = [("P6", false), ("P5", false), ("P4", false), ("P3", true), ("P2", true), ("P1", true)];
        let expected: Vec<(String, bool)> = expected.iter().map(|(t, d)| (t.to_string(), *d)).collect();
        assert_eq!(titles(&lean.site), expected, "Z pushed P3 out of the `stres` list, then left the site");

        let report = build(dir.path(), now).unwrap();
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        let full = Site::load(dir.path(), &config, now).unwrap().site;
        assert!(full.posts.iter().all(|p| !p.content_dropped && !p.content_html.is_empty()));
        for file in feed::render(&full, &config) {
            let written = std::fs::read(dir.path().join("public").join(&file.path)).unwrap();
            assert!(written == file.bytes, "{} differs from a build keeping every post's HTML", file.path);
        }
        let stres = std::fs::read_to_string(dir.path().join("public/tags/stres/rss.xml")).unwrap();
        assert!(stres.contains("Treść wpisu p3.md"), "{stres}");
    }
}
