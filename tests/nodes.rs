//! Several nodes, one site (issue 10): three real `kurier run` processes, each with a checkout
//! of its own of the same site (the same `kurier.toml` and `content/`) and a listen port of its
//! own, on one PostgreSQL database, sending into one aiosmtpd sink. Each node is named by
//! `KURIER_STORE_NODE`, so that the three `kurier.toml` stay byte for byte the same.
//!
//! Every test here needs the test PostgreSQL (tests/run.sh starts one): without it each says it
//! is skipped, which is a failure under tests/run.sh. That SQLite refuses a second daemon is
//! shown by `daemon.rs`'s `a_second_daemon_on_the_same_store_is_refused_with_a_clear_error`.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{Datelike, Timelike};
use serde_json::json;
use support::daemon::{Daemon, SECRET};
use support::smtp::Sink;
use support::{PATIENCE, TempSite};

const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];
/// The nodes' `[store] lease_seconds`: short, so that a dead node's deliveries come back soon.
const LEASE_SECONDS: u64 = 3;
/// The fixture's `[smtp] concurrency`: the most messages one node has in flight.
const CONCURRENCY: usize = 4;

/// One site on one database, checked out three times, and the sink its nodes send into.
struct Cluster {
    sites: Vec<TempSite>,
    sink: Sink,
}

impl Cluster {
    /// The digest fixture with `subscribers` active readers and `schedule`, checked out once per
    /// node; `None` (the test is skipped) without a test PostgreSQL.
    fn new(test: &str, subscribers: usize, schedule: &str) -> Option<Cluster> {
        Cluster::with(test, subscribers, schedule, "")
    }

    /// [`Cluster::new`] with `smtp` added to the `[smtp]` section.
    fn with(test: &str, subscribers: usize, schedule: &str, smtp: &str) -> Option<Cluster> {
        let url = support::test_database(test)?;
        let sites: Vec<TempSite> = NODES.iter().map(|_| TempSite::fixture_on("digest", &url)).collect();
        // The sink may hold messages at the end of DATA for a while: a long SMTP deadline.
        let config = sites[0]
            .read("kurier.toml")
            .replace("timeout_seconds = 5", &format!("timeout_seconds = 120\n{smtp}"))
            .replace("max_posts = 10", &format!("max_posts = 10\nschedule = \"{schedule}\""))
            + &format!("\n[http]\nlisten = \"127.0.0.1:0\"\n\n[store]\nlease_seconds = {LEASE_SECONDS}\n");
        for site in &sites {
            site.write("kurier.toml", &config);
        }
        if subscribers > 0 {
            let rows: Vec<String> =
                (1..=subscribers).map(|i| format!("reader{i:04}@example.org,Czytelnik {i},active")).collect();
            sites[0].write("list.csv", &format!("email,name,status\n{}\n", rows.join("\n")));
            sites[0].kurier(&["subscribers", "import", sites[0].path("list.csv").to_str().unwrap()]).expect_code(0);
        }
        Some(Cluster { sites, sink: Sink::start() })
    }

    /// The daemons last fired four days ago: each node finds the same missed midnight at start
    /// (schedule `0 0 0 * * *`) and sends it — one issue, whichever node comes first.
    fn missed_midnight(&self) {
        let four_days_ago = chrono::Utc::now() - chrono::Duration::days(4);
        self.sites[0].store().set_meta("digest_last_run", &four_days_ago.to_rfc3339()).unwrap();
    }

    fn start(&self, node: usize) -> Daemon {
        Daemon::start(
            &self.sites[node],
            &[("KURIER_SMTP_URL", &self.sink.url()), ("KURIER_SECRET", SECRET), ("KURIER_STORE_NODE", NODES[node])],
        )
    }

    fn start_all(&self) -> Vec<Daemon> {
        (0..NODES.len()).map(|node| self.start(node)).collect()
    }

    /// `kurier digest status`.
    fn status(&self) -> String {
        self.sites[0].kurier(&["digest", "status"]).expect_code(0).stdout()
    }

    /// Waits until every delivery of issue `id` is settled and the issue is marked sent.
    fn wait_until_sent(&self, id: i64) -> bool {
        let store = self.sites[0].store();
        let deadline = Instant::now() + PATIENCE * 3;
        while Instant::now() < deadline {
            if store.issue(id).unwrap().is_some_and(|i| i.status == kurier::store::IssueStatus::Sent) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// How many messages each recipient got.
    fn per_recipient(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for message in self.sink.messages() {
            *counts.entry(message.recipient().to_owned()).or_default() += 1;
        }
        counts
    }
}

/// The `sent` count of each node in `digest status` (lines `  node NAME: sent N, …`).
fn sent_per_node(status: &str) -> BTreeMap<String, usize> {
    status
        .lines()
        .filter_map(|l| l.strip_prefix("  node "))
        .map(|rest| {
            let (node, counts) = rest.split_once(": ").unwrap();
            let sent = counts.split(", ").find_map(|c| c.strip_prefix("sent ")).map_or(0, |n| n.parse().unwrap());
            (node.to_owned(), sent)
        })
        .collect()
}

fn logs_of(nodes: &[Daemon]) -> String {
    nodes.iter().zip(NODES).map(|(d, name)| format!("== {name}\n{}", d.logs())).collect()
}

#[test]
fn three_nodes_send_one_3000_recipient_issue_each_recipient_once_and_each_node_a_real_share() {
    let recipients = 3000;
    let Some(cluster) = Cluster::new("three nodes send one issue", recipients, "0 0 0 * * *") else { return };
    cluster.missed_midnight();
    // The sink holds every message at the end of DATA until all three nodes are sending, so
    // that the first node up does not send the issue alone before the others have started.
    cluster.sink.set_rules(json!({"hold_data": true}));
    let nodes = cluster.start_all();
    for node in &nodes {
        assert!(node.wait_for_log("sending digest", 1, PATIENCE), "{}", logs_of(&nodes));
    }
    cluster.sink.set_rules(json!({}));
    assert!(cluster.wait_until_sent(1), "the issue was not finished:\n{}", logs_of(&nodes));
    assert!(cluster.sink.wait_for(recipients, PATIENCE), "{} of {recipients} arrived", cluster.sink.count());

    let counts = cluster.per_recipient();
    assert_eq!(counts.len(), recipients, "every recipient got the issue");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "recipients with other than one message: {twice:?}\n{}", logs_of(&nodes));
    // A real share: each node sent at least a tenth of the issue (a third if they were equal).
    let status = cluster.status();
    let shares = sent_per_node(&status);
    assert_eq!(shares.keys().map(String::as_str).collect::<Vec<_>>(), NODES, "{status}");
    assert_eq!(shares.values().sum::<usize>(), recipients, "{status}");
    for (node, sent) in &shares {
        assert!(*sent >= recipients / 10, "{node} sent only {sent} of {recipients}:\n{status}");
    }
    assert_eq!(status.lines().filter(|l| l.starts_with("issue ")).count(), 1, "one issue:\n{status}");
}

#[test]
fn a_node_killed_mid_issue_misses_nobody_and_duplicates_at_most_its_concurrency() {
    let recipients = 2000;
    let Some(cluster) = Cluster::new("kill -9 of a node", recipients, "0 0 0 * * *") else { return };
    cluster.missed_midnight();
    // 20 ms per message at the sink: the issue takes long enough to be cut in the middle.
    cluster.sink.set_rules(json!({"hold_data": true, "data_delay_ms": 20}));
    let mut nodes = cluster.start_all();
    for node in &nodes {
        assert!(node.wait_for_log("sending digest", 1, PATIENCE), "{}", logs_of(&nodes));
    }
    cluster.sink.set_rules(json!({"data_delay_ms": 20}));
    assert!(cluster.sink.wait_for(recipients / 4, PATIENCE), "{}", logs_of(&nodes));
    let killed = nodes.remove(1);
    let status = std::process::Command::new("kill").args(["-9", &killed.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let at_kill = cluster.sink.count();
    assert!(at_kill < recipients, "the issue was done before the kill");

    assert!(cluster.wait_until_sent(1), "the others did not finish the issue:\n{}", logs_of(&nodes));
    assert!(cluster.sink.wait_idle(PATIENCE));
    let counts = cluster.per_recipient();
    assert_eq!(counts.len(), recipients, "nobody is missed");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(duplicates <= CONCURRENCY, "{duplicates} duplicates, more than node-b's {CONCURRENCY} in flight");
    let status = cluster.status();
    let shares = sent_per_node(&status);
    assert!(shares.get("node-b").is_some_and(|n| *n > 0), "node-b sent its share before it died:\n{status}");
    assert_eq!(shares.values().sum::<usize>(), recipients, "{status}");
    drop(killed);
}

#[test]
fn the_schedule_fires_once_with_three_nodes() {
    let recipients = 30;
    // A fire 15 s from now, in the site's time zone: after the three nodes have started (a node
    // that starts later finds it missed, and acts on it then: once either way).
    let (schedule, _) = fire_in(15);
    let Some(cluster) = Cluster::new("the schedule fires once", recipients, &schedule) else { return };
    let nodes = cluster.start_all();
    for node in &nodes {
        assert!(node.wait_for_log("digest run done", 1, PATIENCE), "{}", logs_of(&nodes));
    }
    assert!(cluster.sink.wait_for(recipients, PATIENCE));
    assert!(cluster.sink.wait_idle(PATIENCE));
    let counts = cluster.per_recipient();
    assert_eq!(counts.len(), recipients);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let status = cluster.status();
    assert_eq!(status.lines().filter(|l| l.starts_with("issue ")).count(), 1, "one issue:\n{status}");
    let runs: Vec<&str> = status.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(runs.len(), 1, "one recorded run:\n{status}");
    assert!(runs[0].contains(" sent issue 1"), "{status}");
    let frozen = logs_of(&nodes).matches("issue frozen with its recipients").count();
    assert_eq!(frozen, 1, "one node made the issue:\n{}", logs_of(&nodes));
}

/// A schedule that fires once, `seconds` from now (in the fixture's time zone), and that fire.
fn fire_in(seconds: i64) -> (String, chrono::DateTime<chrono::Utc>) {
    let at = (chrono::Utc::now() + chrono::Duration::seconds(seconds)).with_nanosecond(0).unwrap();
    let local = at.with_timezone(&chrono_tz::Europe::Warsaw);
    (format!("{} {} {} {} {} *", local.second(), local.minute(), local.hour(), local.day(), local.month()), at)
}

#[test]
fn the_site_wide_rate_is_shared_among_the_live_nodes() {
    // rate_per_second = 4 for the site, two nodes: each sends at 2 a second, from the fire on.
    // In the T seconds after the fire each node starts at most 2T + 1 messages, both together
    // 4T + 2: the k-th RCPT (from 0) cannot come before (k - 1) / 4 s after the fire. Unshared
    // (4 a second each), the 16 messages would all be out about 2 s after it, before the
    // bound's 3.5 s. A busy machine can only make an RCPT late, never early, so the bound
    // holds under any load. The fire comes 20 s after the start, when both nodes' heartbeats
    // are on record.
    let recipients = 16;
    let (schedule, fire) = fire_in(20);
    // The fire on the sink's clock (both are this machine's clocks, read at one moment).
    let now = chrono::Utc::now();
    let fire_on_sink = support::smtp::sink_clock() - (now - fire).num_microseconds().unwrap() as f64 / 1e6;
    let Some(cluster) = Cluster::with("the rate is shared", recipients, &schedule, "rate_per_second = 4") else {
        return;
    };
    let nodes: Vec<Daemon> = (0..2).map(|node| cluster.start(node)).collect();
    for node in &nodes {
        assert!(node.wait_for_log("digest run done", 1, PATIENCE), "{}", logs_of(&nodes));
    }
    assert!(cluster.sink.wait_for(recipients, PATIENCE));
    let logs = logs_of(&nodes);
    let shared = "live nodes changed: the rate is shared among them issue=1 nodes=2";
    assert_eq!(logs.matches(shared).count(), 2, "{logs}");
    let mut at: Vec<f64> = cluster.sink.rcpts().iter().map(|r| r.at).collect();
    at.sort_by(f64::total_cmp);
    assert_eq!(at.len(), recipients, "{:?}", cluster.sink.rcpts());
    for (k, &when) in at.iter().enumerate() {
        let after = when - fire_on_sink;
        let bound = (k as f64 - 1.0) / 4.0;
        assert!(after >= bound, "RCPT {k} came {after:.3} s after the fire, before {bound} s: {at:?}\n{logs}");
    }
    let shares = sent_per_node(&cluster.status());
    assert!(shares.len() == 2 && shares.values().all(|n| *n > 0), "{shares:?}");
}

#[test]
fn subscribe_on_one_node_confirm_on_another_unsubscribe_on_a_third() {
    let Some(cluster) = Cluster::new("subscribe, confirm, unsubscribe", 0, "0 0 0 1 1 *") else { return };
    let nodes = cluster.start_all();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let reply = a.post("/subscribe", "application/x-www-form-urlencoded", "email=ola%40example.org");
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert!(cluster.sink.wait_for(1, PATIENCE), "{}", logs_of(&nodes));
    let mail = cluster.sink.messages().remove(0);
    let text = mail.parsed().body_text(0).unwrap().into_owned();
    let url = text.split_whitespace().find(|w| w.contains("/confirm/")).unwrap().to_owned();
    let path = url.strip_prefix("https://digest.example.org").unwrap();

    let confirmed = b.post(path, "application/x-www-form-urlencoded", "");
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let store = cluster.sites[0].store();
    let subscriber = store.subscriber_by_email("ola@example.org").unwrap().unwrap();
    assert_eq!(subscriber.status, kurier::store::Status::Active);

    let token = kurier::mail::Tokens::new(SECRET.as_bytes()).unsubscribe(subscriber.id);
    let left =
        c.post(&format!("/unsubscribe/{token}"), "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click");
    assert_eq!(left.status, 200, "{}", left.text());
    let subscriber = store.subscriber_by_email("ola@example.org").unwrap().unwrap();
    assert_eq!(subscriber.status, kurier::store::Status::Unsubscribed);
    // Each node counts the store's subscribers alike in its own /metrics.
    for node in &nodes {
        assert_eq!(node.metric("kurier_subscribers{status=\"unsubscribed\"}"), 1.0);
    }
}

/// Each node builds the feeds from its own checkout (made at another time: other file times):
/// the same bytes under the same ETags on every node, so a reader that moves between nodes
/// keeps its cached copy. The gzip coding has a weak tag (compressed as it streams, its bytes
/// may differ); what it unpacks to is the same everywhere.
#[test]
fn every_node_serves_the_same_feed_bytes_under_the_same_etags() {
    use std::io::Read;
    let Some(cluster) = Cluster::new("the same feeds on every node", 0, "0 0 0 1 1 *") else { return };
    let long_ago = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200); // 2001-01-01
    for entry in std::fs::read_dir(cluster.sites[1].path("content")).unwrap() {
        std::fs::File::options().write(true).open(entry.unwrap().path()).unwrap().set_modified(long_ago).unwrap();
    }
    let nodes = cluster.start_all();
    let mut paths = vec!["/rss.xml".to_owned(), "/atom.xml".to_owned(), "/feed.json".to_owned()];
    for tag in std::fs::read_dir(cluster.sites[0].path("public/tags")).unwrap() {
        let tag = tag.unwrap().file_name().into_string().unwrap();
        paths.extend(["rss.xml", "atom.xml", "feed.json"].map(|feed| format!("/tags/{tag}/{feed}")));
    }
    assert!(paths.len() > 3, "the fixture has tag feeds: {paths:?}");
    let unpacked = |body: &[u8]| {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body).read_to_end(&mut plain).unwrap();
        plain
    };
    for path in &paths {
        let plains: Vec<_> = nodes.iter().map(|node| node.request("GET", path, &[], None)).collect();
        let etag = plains[0].header("ETag").unwrap_or_else(|| panic!("{path}: no ETag")).to_owned();
        assert!(!etag.starts_with("W/"), "{path}: {etag}");
        let gzip = [("Accept-Encoding", "gzip")];
        let packed: Vec<_> = nodes.iter().map(|node| node.request("GET", path, &gzip, None)).collect();
        let packed_etag = packed[0].header("ETag").unwrap().to_owned();
        for ((plain, packed), name) in plains.iter().zip(&packed).zip(NODES) {
            assert_eq!((plain.status, packed.status), (200, 200), "{name} {path}");
            assert_eq!(plain.header("ETag"), Some(etag.as_str()), "{name} {path}");
            assert_eq!(packed.header("ETag"), Some(packed_etag.as_str()), "{name} {path} gzip");
            assert!(plain.body == plains[0].body, "{name} {path}: other bytes");
            assert_eq!(unpacked(&packed.body), plain.body, "{name} {path}: gzip unpacks to other bytes");
        }
        // A reader that moves to another node keeps its cached copy, in either coding.
        let again = nodes[2].request("GET", path, &[("If-None-Match", etag.as_str())], None);
        assert_eq!(again.status, 304, "{path}");
        let again = nodes[1].request("GET", path, &[gzip[0], ("If-None-Match", packed_etag.as_str())], None);
        assert_eq!(again.status, 304, "{path} gzip");
    }
}
