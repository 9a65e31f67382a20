//! Helpers shared by the integration tests: fixture sites in temporary folders, the real
//! `kurier` binary, third-party feed parsers.
#![allow(dead_code)]

pub mod daemon;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for an event before it fails. Generous, for a loaded machine: a wait
/// ends as soon as its event comes, so a passing test never waits this long. No test measures
/// how fast something happens; speed is for the benchmarks.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the tests run on the PostgreSQL store: `KURIER_TEST_BACKEND=postgres` (tests/run.sh
/// runs the store's integration tests once on each backend). Each site then gets a fresh
/// database on `KURIER_TEST_POSTGRES_URL`'s server, passed to kurier as `KURIER_STORE_URL`.
pub fn postgres_backend() -> bool {
    std::env::var("KURIER_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// For a test of what only SQLite has (its file, its locks): says so and tells the caller to
/// skip the test on the PostgreSQL backend.
pub fn sqlite_only(test: &str) -> bool {
    if postgres_backend() {
        eprintln!("skipped on PostgreSQL: {test} is about the SQLite file");
    }
    postgres_backend()
}

/// A new, empty database on the test PostgreSQL server, when there is one (tests/run.sh starts
/// it); without one, `None` and a note that the test is skipped — a failure when
/// `KURIER_TEST_POSTGRES_REQUIRED` is set.
pub fn test_database(test: &str) -> Option<String> {
    if std::env::var("KURIER_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        return Some(fresh_database());
    }
    assert!(std::env::var_os("KURIER_TEST_POSTGRES_REQUIRED").is_none(), "{test} needs KURIER_TEST_POSTGRES_URL");
    eprintln!("skipped: {test} needs a PostgreSQL server (KURIER_TEST_POSTGRES_URL is unset)");
    None
}

/// A new, empty database on the test PostgreSQL server; its URL.
pub fn fresh_database() -> String {
    let server = std::env::var("KURIER_TEST_POSTGRES_URL")
        .expect("KURIER_TEST_BACKEND=postgres needs KURIER_TEST_POSTGRES_URL (tests/run.sh sets both)");
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).expect("the test PostgreSQL answers");
    let name = format!("kurier_site_{:016x}", fastrand::u64(..));
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// A copy of `tests/fixtures/<name>` in a fresh temporary folder, removed when dropped.
pub struct TempSite {
    dir: tempfile::TempDir,
    /// The site's PostgreSQL database, on that backend.
    store_url: std::cell::RefCell<Option<String>>,
}

impl TempSite {
    pub fn fixture(name: &str) -> TempSite {
        let site = TempSite::empty();
        copy_dir(&repo().join("tests/fixtures").join(name), site.root());
        site
    }

    /// The repository's own sample site (kurier.toml and content/), copied.
    pub fn sample() -> TempSite {
        let site = TempSite::empty();
        std::fs::copy(repo().join("kurier.toml"), site.root().join("kurier.toml")).unwrap();
        copy_dir(&repo().join("content"), &site.root().join("content"));
        site
    }

    pub fn empty() -> TempSite {
        TempSite {
            dir: tempfile::tempdir().unwrap(),
            store_url: std::cell::RefCell::new(postgres_backend().then(fresh_database)),
        }
    }

    /// A copy of `tests/fixtures/<name>` whose store is the PostgreSQL database at `url`
    /// (several sites on one database: the nodes of one site, each with its checkout).
    pub fn fixture_on(name: &str, url: &str) -> TempSite {
        let site = TempSite::fixture(name);
        *site.store_url.borrow_mut() = Some(url.to_owned());
        site
    }

    /// The site's PostgreSQL database (given to kurier as `KURIER_STORE_URL`), on that backend.
    pub fn store_url(&self) -> Option<String> {
        self.store_url.borrow().clone()
    }

    /// A new, empty store in place of the site's (a reinstall): the SQLite folder removed, or a
    /// fresh PostgreSQL database.
    pub fn new_store(&self) {
        match postgres_backend() {
            true => *self.store_url.borrow_mut() = Some(fresh_database()),
            false => std::fs::remove_dir_all(self.path("subscribers")).unwrap(),
        }
    }

    /// The site's store, opened as kurier opens it.
    pub fn store(&self) -> kurier::store::Store {
        let location = match self.store_url() {
            Some(url) => {
                kurier::store::Location::Postgres(kurier::store::PostgresTarget { url, password: None, ca_file: None })
            }
            None => kurier::store::Location::Sqlite(self.path("subscribers")),
        };
        location.open().unwrap()
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Writes a file as a deploy or a careful editor does: to a hidden temporary name beside it,
    /// renamed into place. A watcher sees it appear whole, in one event, however slowly the
    /// test runs (a plain write is a create and a modify that a busy machine can space apart).
    pub fn write_whole(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let temporary = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(temporary, path).unwrap();
    }

    /// Replaces text in a file; each `from` must be there, so an edit can never silently miss.
    pub fn replace(&self, relative: &str, replacements: &[(&str, &str)]) {
        let mut text = self.read(relative);
        for (from, to) in replacements {
            assert!(text.contains(from), "{relative} has no {from:?}");
            text = text.replace(from, to);
        }
        self.write(relative, &text);
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.path(relative)).unwrap();
    }

    /// Runs `kurier --root <site> <args>`.
    pub fn kurier(&self, args: &[&str]) -> Run {
        self.kurier_env(args, &[])
    }

    /// Runs `kurier --root <site> <args>` with extra environment variables.
    pub fn kurier_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Run(self.command(args, env).output().expect("the kurier binary runs"))
    }

    /// Runs `kurier --root <site> <args>`, killing it and failing if it has not exited within
    /// `limit` (for runs that must end by themselves, e.g. at a deadline, however a server stalls).
    pub fn kurier_bounded(&self, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
        let mut child = self.spawn(args, env);
        drop(child.stdin.take());
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut stdout, &mut bytes).map(|_| bytes).unwrap_or_default()
        });
        let err = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut stderr, &mut bytes).map(|_| bytes).unwrap_or_default()
        });
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kurier {args:?} did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run(Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() })
    }

    /// Starts `kurier --root <site> <args>` without waiting for it.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut command = self.command(args, env);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.spawn().expect("the kurier binary starts")
    }

    pub fn command_for(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        self.command(args, env)
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kurier"));
        command.arg("--root").arg(self.root()).args(args).env("RUST_LOG", "warn").env_remove("KURIER_SMTP_URL");
        command.env_remove("KURIER_STORE_URL");
        if let Some(url) = self.store_url() {
            command.env("KURIER_STORE_URL", url);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    /// A feed file parsed by feed-rs.
    pub fn feed(&self, relative: &str) -> feed_rs::model::Feed {
        let bytes = std::fs::read(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
        feed_rs::parser::parse(&bytes[..]).unwrap_or_else(|e| panic!("feed-rs cannot parse {relative}: {e}"))
    }

    pub fn json(&self, relative: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }
}

/// The finished process of one `kurier` run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Panics with the output unless the run exited with `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(self.code(), code, "stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        self
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The Python interpreter with the test dependencies (feedparser, aiosmtpd), installed by the
/// README's test command into `target/test-venv`.
pub fn python() -> PathBuf {
    let path = std::env::var_os("KURIER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-venv/bin/python"));
    assert!(
        path.exists(),
        "{} not found: run the test suite with `tests/run.sh`, which installs the Python test dependencies",
        path.display()
    );
    path
}

/// Every file below `dir`, relative, sorted, with its bytes.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files, &|_| true);
    files.sort();
    files
}

/// The files a build staged below `dir` and has not swapped in yet (`.kurier-*.tmp`): while a
/// daemon writes they come and go; once it is done, none may be left.
pub fn is_staged(name: &str) -> bool {
    name.starts_with(".kurier-") && name.ends_with(".tmp")
}

/// [`snapshot`] of the files a reader can be served: staged files are left out, unread (a
/// write in progress removes them as it fails or swaps them in).
pub fn published(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files, &|name| !is_staged(name));
    files.sort();
    files
}

fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>, wanted: &dyn Fn(&str) -> bool) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(base, &path, files, wanted);
        } else if path.file_name().is_some_and(|name| wanted(&name.to_string_lossy())) {
            let relative = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            files.push((relative, std::fs::read(&path).unwrap()));
        }
    }
}
