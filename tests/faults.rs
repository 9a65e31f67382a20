//! The daemon under faults and bad luck (issue 12): every scheduled digest fires, what is
//! published stays published. The real binary on a temporary site, mail into aiosmtpd.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use support::TempSite;
use support::daemon::{Daemon, SECRET, site};
use support::smtp::Sink;

fn start(site: &TempSite, sink: &Sink) -> Daemon {
    Daemon::start(site, &[("KURIER_SMTP_URL", &sink.url()), ("KURIER_SECRET", SECRET)])
}

fn set_schedule(site: &TempSite, schedule: &str) {
    site.replace("kurier.toml", &[("max_posts = 10", &format!("max_posts = 10\nschedule = \"{schedule}\""))]);
}

/// One line of `digest status` about a fire of the schedule.
#[derive(Debug, Clone)]
struct RunLine {
    fire: DateTime<Utc>,
    outcome: String,
    issue: Option<i64>,
    missed: i64,
    line: String,
}

/// The schedule's recorded fires, oldest first.
fn runs(site: &TempSite) -> Vec<RunLine> {
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    status
        .lines()
        .filter_map(|line| line.strip_prefix("run "))
        .map(|rest| {
            let head = rest.split(" (").next().unwrap();
            let words: Vec<&str> = head.split(' ').collect();
            let after = |key: &str| words.iter().position(|w| *w == key).map(|i| words[i + 1].parse().unwrap());
            RunLine {
                fire: words[0].parse().unwrap(),
                outcome: words[1].to_owned(),
                issue: after("issue"),
                missed: after("missed").unwrap_or(0),
                line: rest.to_owned(),
            }
        })
        .collect()
}

/// Waits until `n` fires have a final outcome (sent or skipped); returns every recorded fire.
fn wait_for_runs(site: &TempSite, n: usize, timeout: Duration) -> Vec<RunLine> {
    let deadline = Instant::now() + timeout;
    loop {
        let runs = runs(site);
        if runs.iter().filter(|r| r.outcome == "sent" || r.outcome == "skipped").count() >= n {
            return runs;
        }
        assert!(Instant::now() < deadline, "fewer than {n} finished runs within {timeout:?}: {runs:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every fire of a schedule that fires every `period` seconds has exactly one record: between
/// two recorded fires lie only the fires the later one counts as missed.
fn assert_one_record_per_fire(runs: &[RunLine], period: i64) {
    assert!(runs.len() >= 2, "{runs:#?}");
    for pair in runs.windows(2) {
        let gap = (pair[1].fire - pair[0].fire).num_milliseconds();
        assert_eq!(gap, period * 1000 * (1 + pair[1].missed), "a fire is missing or doubled between {pair:#?}");
    }
}

#[test]
fn every_fire_of_a_quiet_daemon_is_one_recorded_run_also_across_a_restart() {
    // Regression: the daemon decided "still sending" at the top of its loop and did not look
    // again before the next fire, so on a quiet site every other fire was dropped.
    let site = site(2);
    set_schedule(&site, "* * * * * *");
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    let before = wait_for_runs(&site, 8, Duration::from_secs(60));
    assert!(daemon.terminate(support::PATIENCE).success());
    let stopped = Utc::now();

    // Fires pass while no daemon runs.
    while Utc::now() < stopped + chrono::Duration::milliseconds(2500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let daemon = start(&site, &sink);
    let all = wait_for_runs(&site, before.len() + 5, Duration::from_secs(60));
    drop(daemon);
    let all: Vec<RunLine> = all.into_iter().filter(|r| r.outcome == "sent" || r.outcome == "skipped").collect();
    assert_one_record_per_fire(&all, 1);
    let down = all.iter().find(|r| r.fire > stopped).unwrap();
    assert!(down.missed >= 1 && down.line.contains("missed while kurier was down"), "{all:#?}");
    // The first fire sent the fixture's posts; every later one found nothing new.
    assert_eq!((all[0].outcome.as_str(), all[0].issue), ("sent", Some(1)), "{all:#?}");
    assert!(all[1..].iter().all(|r| r.outcome == "skipped"), "{all:#?}");
    let issues: std::collections::BTreeSet<i64> = all.iter().filter_map(|r| r.issue).collect();
    assert_eq!(issues.len(), all.len(), "one issue per run: {all:#?}");
    assert_eq!(sink.count(), 2, "one message to each of the two subscribers");
}

#[test]
fn fires_while_an_issue_is_sending_are_deferred_and_served_by_one_run_when_it_ends() {
    let subscribers = 40;
    let site = site(subscribers);
    set_schedule(&site, "* * * * * *");
    let sink = Sink::start();
    // 40 messages, 4 connections, 0.4 s each: the first issue sends for about 4 s.
    sink.set_rules(json!({"data_delay_ms": 400}));
    let daemon = start(&site, &sink);
    assert!(sink.wait_for(subscribers, support::PATIENCE), "{}", daemon.logs());
    let all = wait_for_runs(&site, 6, Duration::from_secs(60));
    let logs = daemon.logs();
    drop(daemon);
    let all: Vec<RunLine> = all.into_iter().filter(|r| r.outcome == "sent" || r.outcome == "skipped").collect();
    assert_one_record_per_fire(&all, 1);
    assert_eq!((all[0].outcome.as_str(), all[0].issue), ("sent", Some(1)), "{all:#?}");
    // The fires that came while issue 1 was sending waited for it, then one run served them.
    let deferred: Vec<&RunLine> = all[1..]
        .iter()
        .take_while(|r| r.line.contains("deferred: previous issue still sending") && r.issue == all[1].issue)
        .collect();
    assert!(deferred.len() >= 2, "{all:#?}");
    assert!(deferred.iter().all(|r| r.outcome == "skipped" && r.issue == deferred[0].issue), "{all:#?}");
    assert!(deferred[0].line.contains(&format!("one run for {} fires", deferred.len())), "{all:#?}");
    assert!(logs.contains("deferred until it finishes"), "{logs}");
    // Nobody got the issue twice.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for message in sink.messages() {
        *counts.entry(message.recipient().to_owned()).or_default() += 1;
    }
    assert_eq!(counts.len(), subscribers);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

/// The titles in `public/rss.xml`, read from disk.
fn rss_titles(site: &TempSite) -> Vec<String> {
    site.feed("public/rss.xml").entries.into_iter().map(|e| e.title.map(|t| t.content).unwrap_or_default()).collect()
}

fn wait_for_log(daemon: &Daemon, needle: &str) {
    assert!(daemon.wait_for_log(needle, 1, support::PATIENCE), "no {needle:?} in\n{}", daemon.logs());
}

#[test]
fn a_post_that_cannot_be_read_for_a_while_stays_published_and_is_read_again() {
    // Regression: during descriptor exhaustion a save got "Too many open files", and the next
    // unrelated edit published rss.xml without that post.
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    wait_for_log(&daemon, "rebuilt");
    assert_eq!(rss_titles(&site).len(), 3);
    let limits = std::process::Command::new("prlimit")
        .args(["--pid", &daemon.pid().to_string(), "--nofile", "--output", "SOFT,HARD", "--noheadings"])
        .output()
        .unwrap();
    let limits = String::from_utf8(limits.stdout).unwrap();
    let (soft, hard) = limits.split_once(char::is_whitespace).map(|(s, h)| (s.trim(), h.trim())).unwrap();
    let set_limit = |soft: &str| {
        let status = std::process::Command::new("prlimit")
            .args(["--pid", &daemon.pid().to_string(), &format!("--nofile={soft}:{hard}")])
            .status()
            .unwrap();
        assert!(status.success());
    };

    // No descriptor above 2 can be opened: every read of a post fails with EMFILE.
    set_limit("3");
    site.replace("content/2026-01-10-pierwszy.md", &[("Pierwszy wpis: stres i sen", "Pierwszy wpis, poprawiony")]);
    wait_for_log(&daemon, "Too many open files");
    assert!(rss_titles(&site).contains(&"Pierwszy wpis: stres i sen".to_owned()));
    set_limit(soft);

    // An unrelated edit publishes the other posts; the unreadable one is read again by itself.
    site.replace("content/2026-03-10-trzeci.md", &[("Trzeci wpis: oddech", "Trzeci wpis, nowy")]);
    let deadline = Instant::now() + support::PATIENCE;
    loop {
        let titles = rss_titles(&site);
        assert_eq!(titles.len(), 3, "a post vanished: {titles:?}\n{}", daemon.logs());
        assert!(titles.iter().any(|t| t.starts_with("Pierwszy wpis")), "{titles:?}");
        if titles.contains(&"Pierwszy wpis, poprawiony".to_owned()) && titles.contains(&"Trzeci wpis, nowy".to_owned())
        {
            break;
        }
        assert!(Instant::now() < deadline, "the edits never arrived: {titles:?}\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let kept = "its last good version stays published, retrying";
    assert!(daemon.wait_for_log(kept, 1, support::PATIENCE), "{}", daemon.logs());
}

#[test]
fn a_newcomer_with_a_live_posts_permalink_takes_nothing_and_is_reported() {
    // Regression: `0000-x.md` with the permalink of a published post took its place in the
    // feeds (the first by path won).
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    wait_for_log(&daemon, "rebuilt");
    site.write("content/0000-x.md", "+++\ntitle = \"Podróbka\"\ndate = 2026-03-11\nslug = \"trzeci\"\n+++\nx\n");
    wait_for_log(&daemon, "is already used by content/2026-03-10-trzeci.md, published first");
    let titles = rss_titles(&site);
    assert!(
        titles.contains(&"Trzeci wpis: oddech".to_owned()) && !titles.contains(&"Podróbka".to_owned()),
        "{titles:?}"
    );
    let check = site.kurier(&["check"]).expect_code(1);
    assert!(check.stderr().contains("content/0000-x.md:1: permalink"), "{}", check.stderr());
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts one, or says why it cannot (mounting needs root).
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full, then gives `leave` bytes back.
    fn fill(&self, leave: u64) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path().join("fill")).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).and_then(|()| file.sync_all()).is_ok() {}
        let len = file.metadata().unwrap().len();
        file.set_len(len.saturating_sub(leave)).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_leaves_every_served_feed_as_it_was_and_the_write_is_retried_until_it_succeeds() {
    // Regression: a full disk left a mixed set of feeds (a tag's atom.xml and rss.xml replaced,
    // its feed.json and the main feeds not), nothing rebuilt after space was freed, and
    // /healthz said `ok` throughout.
    let disk = match SmallDisk::mount("2m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: cannot mount a small tmpfs (needs root): {why}");
            return;
        }
    };
    let site = site(0);
    let out = disk.path().join("public");
    let config = site.read("kurier.toml");
    site.write("kurier.toml", &format!("output_dir = \"{}\"\n{config}", out.display()));
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    wait_for_log(&daemon, "rebuilt");
    let before = support::snapshot(&out);
    assert!(before.len() >= 6, "{:?}", before.iter().map(|(p, _)| p).collect::<Vec<_>>());

    // Two pages are left: room for a feed file, not for the nine this edit changes (the main
    // feeds and those of the post's two tags, each two or three pages after it).
    disk.fill(2 * 4096);
    let more = "slowo ".repeat(870);
    site.replace(
        "content/2026-01-10-pierwszy.md",
        &[("Pierwszy wpis: stres i sen", "Pierwszy wpis, nowy"), ("zasypianie,", &format!("zasypianie, {more}"))],
    );
    wait_for_log(&daemon, "cannot write the feeds; every served feed stays as it was");
    // The edit is written in two stages (its own feeds, then the whole site's), each failing here
    // and removing what it staged; the second may still be staging when the first has failed.
    assert_eq!(support::published(&out), before, "a feed was replaced on a full disk");
    let health = daemon.get("/healthz");
    assert_eq!(health.status, 503);
    assert!(health.text().contains("No space left on device"), "{}", health.text());
    assert_eq!(daemon.metric("kurier_feeds_write_failing"), 1.0);
    assert!(daemon.get("/rss.xml").text().contains("Pierwszy wpis: stres i sen"));

    // Space comes back: the write is retried by itself.
    std::fs::remove_file(disk.path().join("fill")).unwrap();
    wait_for_log(&daemon, "the feeds are written again");
    assert!(daemon.get("/rss.xml").text().contains("Pierwszy wpis, nowy"));
    assert!(
        site.feed(&format!("{}/tags/sen/atom.xml", out.display()))
            .entries
            .iter()
            .any(|e| e.title.as_ref().is_some_and(|t| t.content == "Pierwszy wpis, nowy"))
    );
    let health = daemon.get("/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    assert_eq!(daemon.metric("kurier_feeds_write_failing"), 0.0);
    // Every failed write removed what it had staged; the one that succeeded swapped it all in.
    let staged: Vec<String> = support::snapshot(&out)
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| support::is_staged(path.rsplit('/').next().unwrap_or(path)))
        .collect();
    assert!(staged.is_empty(), "temporary files left: {staged:?}");
}

#[test]
fn lock_files_loops_and_links_out_of_the_site_are_skipped_and_configured_paths_stay_inside() {
    // Regression: an Emacs lock file (a dangling link) made build and check exit 1 and run
    // refuse to start; a link to a file outside the site was published; `output_dir =
    // "../../etc"` was written to.
    let site = site(0);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.md"), "+++\ntitle = \"Tajne\"\ndate = 2026-01-01\n+++\nx\n").unwrap();
    let link = |target: &std::path::Path, name: &str| std::os::unix::fs::symlink(target, site.path(name)).unwrap();
    link(std::path::Path::new("root@host.4242:1700000000"), "content/.#2026-01-10-pierwszy.md");
    link(&outside.path().join("secret.md"), "content/leak.md");
    link(std::path::Path::new(".."), "content/loop");

    let build = site.kurier(&["build"]).expect_code(0);
    let stderr = build.stderr();
    assert!(stderr.contains("warning: content/leak.md: symbolic link to a place outside the site folder"), "{stderr}");
    assert!(stderr.contains("warning: content/loop: symbolic link loop"), "{stderr}");
    assert!(!stderr.contains(".#"), "{stderr}");
    let titles = rss_titles(&site);
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(!titles.contains(&"Tajne".to_owned()));
    site.kurier(&["check"]).expect_code(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    wait_for_log(&daemon, "symbolic link to a place outside the site folder");
    assert_eq!(daemon.get("/healthz").status, 200);
    drop(daemon);

    let config = site.read("kurier.toml");
    site.write("kurier.toml", &format!("output_dir = \"../../etc\"\n{config}"));
    let build = site.kurier(&["build"]).expect_code(1);
    assert!(
        build.stderr().contains("kurier.toml:1: output_dir: `../../etc` leaves the site folder"),
        "{}",
        build.stderr()
    );
    site.write("kurier.toml", &format!("output_dir = \"/\"\n{config}"));
    let build = site.kurier(&["build"]).expect_code(1);
    assert!(build.stderr().contains("output_dir: must not be the filesystem root"), "{}", build.stderr());
    link(outside.path(), "elsewhere");
    site.write("kurier.toml", &format!("output_dir = \"elsewhere/public\"\n{config}"));
    let build = site.kurier(&["build"]).expect_code(1);
    assert!(build.stderr().contains("leads out of the site folder"), "{}", build.stderr());
    assert!(!outside.path().join("public").exists());
    // Templates come from inside the site too.
    site.write("kurier.toml", &config);
    link(outside.path(), "templates");
    let check = site.kurier(&["check"]).expect_code(1);
    assert!(check.stderr().contains("templates/: `templates` leads out of the site folder"), "{}", check.stderr());
}

#[test]
fn idle_and_slow_clients_beyond_the_connection_limit_neither_take_the_descriptors_nor_block_health() {
    // Regression: 140 idle sockets under a 1,024-descriptor limit made /healthz time out, and
    // a save then got "Too many open files".
    let site = site(0);
    let sink = Sink::start();
    // 300 descriptors: kurier keeps 256 for itself and serves 44 connections at once.
    let daemon = Daemon::start_limited(&site, &[("KURIER_SMTP_URL", &sink.url()), ("KURIER_SECRET", SECRET)], 300);
    wait_for_log(&daemon, "rebuilt");
    let address = daemon.base.trim_start_matches("http://").to_owned();
    // A body that never comes, then 64 clients that connect and say nothing: 20 more than
    // kurier serves at once.
    let mut slow = std::net::TcpStream::connect(&address).unwrap();
    use std::io::{Read, Write};
    slow.write_all(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=").unwrap();
    let idle: Vec<std::net::TcpStream> = (0..64).map(|_| std::net::TcpStream::connect(&address).unwrap()).collect();

    // Posts are still read and published.
    site.replace("content/2026-03-10-trzeci.md", &[("Trzeci wpis: oddech", "Trzeci wpis, mimo tłoku")]);
    let deadline = Instant::now() + support::PATIENCE;
    while !rss_titles(&site).contains(&"Trzeci wpis, mimo tłoku".to_owned()) {
        assert!(Instant::now() < deadline, "the edit was not published:\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Health answers once idle connections are closed by the header timeout, freeing slots (it
    // waits its turn behind the 20 beyond the limit).
    let mut health = std::net::TcpStream::connect(&address).unwrap();
    health.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    health.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = String::new();
    let _ = health.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n"), "{answer:?}");
    let mut byte = [0u8; 1];
    for mut socket in idle.into_iter().take(5) {
        socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        assert_eq!(socket.read(&mut byte).unwrap_or(0), 0, "an idle connection was kept open");
    }
    slow.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(!daemon.logs().contains("Too many open files"), "{}", daemon.logs());
}

#[test]
fn a_post_with_5000_tags_publishes_its_first_100_and_sigterm_still_stops_the_daemon() {
    // Regression: one post with 5,000 tags rebuilt for 6.5 minutes at 200 % CPU, wrote 1.3 GB,
    // and the daemon ignored SIGTERM for 4 minutes.
    let site = site(0);
    let tags: Vec<String> = (0..5000).map(|i| format!("\"tag {i}\"")).collect();
    let post =
        |title: &str| format!("+++\ntitle = \"{title}\"\ndate = 2026-04-01\ntags = [{}]\n+++\nx\n", tags.join(", "));
    site.write("content/2026-04-01-tagi.md", &post("Tagi"));
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    wait_for_log(&daemon, "content/2026-04-01-tagi.md:4: tags: 5000 of them; only the first 100 are used");
    let tag_feeds = std::fs::read_dir(site.path("public/tags")).unwrap().count();
    assert_eq!(tag_feeds, 100 + 4, "the first 100 tags and the fixture's 4");
    // A stop in the middle of the rebuild of that post.
    site.write("content/2026-04-01-tagi.md", &post("Tagi, znowu"));
    wait_for_log(&daemon, "2026-04-01-tagi.md");
    assert!(daemon.terminate(support::PATIENCE).success());
}

#[test]
fn sigterm_during_the_first_build_exits_0() {
    // Regression: SIGTERM before the daemon was listening killed it (exit 143).
    let site = site(0);
    let mut child = site.spawn(&["run"], &[("RUST_LOG", "info")]);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("starting: reading content/") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "kurier run ended early");
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + support::PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "kurier run did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// Another process holding the store's write lock (as `sqlite3` with `BEGIN EXCLUSIVE` would)
/// until dropped; on PostgreSQL, another connection holding an exclusive lock on `meta` (every
/// use of the store reads the token secret there).
struct StoreLock {
    child: Option<std::process::Child>,
    _postgres: Option<postgres::Client>,
}

impl StoreLock {
    fn hold(site: &TempSite) -> StoreLock {
        use std::io::BufRead;
        if let Some(url) = site.store_url() {
            site.store(); // the schema, made as kurier makes it
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.batch_execute("BEGIN; LOCK TABLE meta IN ACCESS EXCLUSIVE MODE").unwrap();
            return StoreLock { child: None, _postgres: Some(client) };
        }
        let script = "import sqlite3, sys\n\
            c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
            c.execute('BEGIN EXCLUSIVE')\n\
            c.execute(\"INSERT OR REPLACE INTO meta (key, value) VALUES ('held', 'yes')\")\n\
            print('locked', flush=True)\n\
            sys.stdin.read()\n";
        let mut child = std::process::Command::new(support::python())
            .args(["-c", script])
            .arg(site.path("subscribers/kurier.sqlite"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        StoreLock { child: Some(child), _postgres: None }
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

fn subscribe(daemon: &Daemon, address: &str) -> support::daemon::Reply {
    daemon.post("/subscribe", "application/x-www-form-urlencoded", &format!("email={}", address.replace('@', "%40")))
}

#[test]
fn a_locked_store_degrades_subscriptions_and_defers_the_digest_and_nothing_dies() {
    // Regression: a write lock held by another process at a fire time made the daemon exit 1,
    // and /healthz took 9 s while it was held.
    let site = site(2);
    set_schedule(&site, "* * * * * *");
    let lock = StoreLock::hold(&site);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    wait_for_log(&daemon, "rebuilt");
    assert_eq!(daemon.get("/rss.xml").status, 200);
    let health = daemon.get("/healthz");
    assert_eq!(health.status, 503);
    // SQLite: "database is locked"; PostgreSQL: "canceling statement due to lock timeout".
    assert!(health.text().contains("store: ") && health.text().contains("lock"), "{}", health.text());
    let refused = subscribe(&daemon, "nowa@example.org");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("30"));
    wait_for_log(&daemon, "digest run deferred: retrying in");
    assert_eq!(sink.count(), 0);

    drop(lock);
    assert!(sink.wait_for(2, support::PATIENCE), "the digest never went out:\n{}", daemon.logs());
    assert_eq!(subscribe(&daemon, "nowa@example.org").status, 202);
    // Healthy again, once the daemon's own last writes of the issue are done (the probe waits
    // for the write lock at most `store::PROBE_WAIT`, and a loaded run can meet a longer one).
    let health = daemon.wait_for_body("/healthz", "ok\n", support::PATIENCE);
    assert!(health.is_some_and(|reply| reply.status == 200), "{}", daemon.logs());
    assert!(daemon.terminate(support::PATIENCE).success());
}

#[test]
fn a_read_only_store_at_start_up_still_serves_feeds_and_subscriptions_resume_when_it_is_writable() {
    if support::sqlite_only("a read-only SQLite folder") {
        return;
    }
    // Regression: a read-only store made subscribe answer 500, the first fire exit 1, and a
    // restart exit 1 at once (a systemd restart loop).
    let site = site(2);
    let dir = site.path("subscribers");
    let mount = |args: &[&str]| std::process::Command::new("mount").args(args).arg(&dir).arg(&dir).output();
    let bound = mount(&["--bind"]).map(|o| o.status.success()).unwrap_or(false);
    if !bound {
        eprintln!("skipped: cannot bind-mount the store read-only (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let unmount = Unmount(dir.clone());
    let read_only = std::process::Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&dir).status().unwrap();
    assert!(read_only.success());

    let sink = Sink::start();
    let daemon = start(&site, &sink);
    wait_for_log(&daemon, "rebuilt");
    assert_eq!(daemon.get("/rss.xml").status, 200);
    let health = daemon.get("/healthz");
    assert_eq!(health.status, 503);
    assert!(health.text().contains("store: "), "{}", health.text());
    let refused = subscribe(&daemon, "nowa@example.org");
    assert_eq!((refused.status, refused.header("retry-after")), (503, Some("30")), "{}", refused.text());

    drop(unmount);
    let deadline = Instant::now() + Duration::from_secs(60);
    while subscribe(&daemon, "nowa@example.org").status != 202 {
        assert!(Instant::now() < deadline, "subscriptions never resumed:\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(sink.wait_for(1, support::PATIENCE), "no confirmation mail:\n{}", daemon.logs());
    assert_eq!(daemon.get("/healthz").text(), "ok\n");
}

#[test]
fn sigterm_during_a_stalled_smtp_exchange_still_ends_the_daemon_promptly() {
    // A stop ends the daemon whatever it is doing: a server that never answers RCPT (with a
    // ten-minute SMTP deadline) does not hold it up. Waiting for the deadline would take ten
    // times the test's patience; the daemon gives the exchange 4.5 s.
    let site = site(3);
    site.replace("kurier.toml", &[("timeout_seconds = 5", "timeout_seconds = 600")]);
    set_schedule(&site, "* * * * * *");
    let sink = Sink::start();
    sink.set_rules(json!({"stall_rcpt": ["reader002@example.org"]}));
    let daemon = start(&site, &sink);
    let deadline = Instant::now() + support::PATIENCE;
    while !sink.rcpt_log().iter().any(|(address, reply)| address == "reader002@example.org" && reply == "stall") {
        assert!(Instant::now() < deadline, "the stalled exchange never began:\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(daemon.terminate(support::PATIENCE).success());
}
