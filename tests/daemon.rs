//! `kurier run` as operators run it: the real binary on a temporary site and a free port,
//! talked to over HTTP, its files edited, stopped with SIGTERM; mail into aiosmtpd.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::json;
use support::daemon::{Daemon, SECRET, site};
use support::smtp::Sink;
use support::{PATIENCE, TempSite};

fn start(site: &TempSite, sink: &Sink) -> Daemon {
    Daemon::start(site, &[("KURIER_SMTP_URL", &sink.url()), ("KURIER_SECRET", SECRET)])
}

fn set_schedule(site: &TempSite, schedule: &str) {
    let config: String =
        site.read("kurier.toml").lines().filter(|l| !l.starts_with("schedule =")).map(|l| format!("{l}\n")).collect();
    site.write("kurier.toml", &config.replace("max_posts = 10", &format!("max_posts = 10\nschedule = \"{schedule}\"")));
}

fn per_recipient(sink: &Sink) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in sink.messages() {
        *counts.entry(message.recipient().to_owned()).or_default() += 1;
    }
    counts
}

/// What each full rebuild so far was for (the `changed` of every `rebuilt` log line, in order;
/// the fast first stage of an edit logs `edit published` instead).
fn rebuilds(daemon: &Daemon) -> Vec<String> {
    daemon
        .logs()
        .lines()
        .filter_map(|l| l.split(" rebuilt changed=").nth(1))
        .map(|rest| rest.split('"').nth(1).unwrap_or(rest).to_owned())
        .collect()
}

#[test]
fn a_new_post_is_served_and_an_editor_save_is_one_rebuild() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    assert!(daemon.get("/atom.xml").text().contains("Trzeci wpis: oddech"));

    let nowy = "content/2026-05-01-nowy.md";
    site.write_whole(nowy, "+++\ntitle = \"Nowy wpis z demona\"\ndate = 2026-05-01\n+++\nTreść.\n");
    daemon.wait_for_body("/atom.xml", "Nowy wpis z demona", PATIENCE).expect("never served");
    assert!(daemon.wait_for_log("rebuilt changed=\"content/2026-05-01-nowy.md\"", 1, PATIENCE), "{}", daemon.logs());

    // An editor's save: swap file, backup, a temporary file renamed over the post.
    let post = site.read(nowy);
    site.write("content/.2026-05-01-nowy.md.swp", "swap");
    site.write("content/2026-05-01-nowy.md~", &post);
    site.write("content/.nowy.tmp", &post.replace("Nowy wpis z demona", "Poprawiony wpis z demona"));
    std::fs::rename(site.path("content/.nowy.tmp"), site.path(nowy)).unwrap();
    site.remove("content/.2026-05-01-nowy.md.swp");
    daemon.wait_for_body("/atom.xml", "Poprawiony wpis z demona", PATIENCE).expect("edit never served");
    assert!(daemon.wait_for_log("rebuilt changed=\"content/2026-05-01-nowy.md\"", 2, PATIENCE), "{}", daemon.logs());
    // A later post is rebuilt after every event of the save was handled: once it is, the save
    // has had all the rebuilds it will ever get. One, and one for the later post.
    site.write_whole("content/2026-05-02-pozniej.md", "+++\ntitle = \"Później\"\ndate = 2026-05-02\n+++\nx\n");
    daemon.wait_for_body("/atom.xml", "Później", PATIENCE).expect("the later post never served");
    assert!(daemon.wait_for_log("2026-05-02-pozniej.md", 1, PATIENCE), "{}", daemon.logs());
    assert_eq!(rebuilds(&daemon), ["start", nowy, nowy, "content/2026-05-02-pozniej.md"], "{}", daemon.logs());
}

#[test]
fn a_broken_post_is_logged_and_the_others_stay_served() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    site.write("content/2026-05-02-zepsuty.md", "+++\ntitle = \"Zepsuty\"\ndate = \"jutro\"\n+++\nx\n");
    assert!(
        daemon.wait_for_log("content/2026-05-02-zepsuty.md:3: date: `jutro` is not a date", 1, PATIENCE),
        "{}",
        daemon.logs()
    );
    let atom = daemon.get("/atom.xml").text();
    for title in ["Pierwszy wpis", "Drugi wpis", "Trzeci wpis"] {
        assert!(atom.contains(title), "{title} missing");
    }
    assert!(!atom.contains("Zepsuty"));
    assert_eq!(daemon.metric("kurier_post_errors"), 1.0);
}

#[test]
fn a_broken_config_on_reload_is_logged_and_the_last_good_one_kept() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    let config = site.read("kurier.toml");
    site.replace("kurier.toml", &[("Fixture: Zażółć gęślą jaźń", "Nowy tytuł")]);
    daemon.wait_for_body("/rss.xml", "<title>Nowy tytuł</title>", PATIENCE).expect("new title never served");
    site.write("kurier.toml", &config.replace("timezone = \"Europe/Warsaw\"", "timezone = \"Mars/Olympus\""));
    assert!(daemon.wait_for_log("timezone: unknown time zone `Mars/Olympus`", 1, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("keeping the last good configuration", 1, PATIENCE), "{}", daemon.logs());
    // Still serving, still with the last good title; a post edit still rebuilds with it.
    site.write("content/2026-05-03-po-bledzie.md", "+++\ntitle = \"Po błędzie\"\ndate = 2026-05-03\n+++\nx\n");
    daemon.wait_for_body("/rss.xml", "Po błędzie", PATIENCE).expect("no rebuild after a config error");
    assert!(daemon.get("/rss.xml").text().contains("<title>Nowy tytuł</title>"));
    assert_eq!(daemon.get("/healthz").status, 200);
}

#[test]
fn a_future_post_appears_by_itself_when_its_time_comes() {
    // Dated 20 s ahead (the daemon starts in well under that): the feed is polled from the start
    // until the post is in it. An answer that came back before the post's time must not have it,
    // and some did come back then (else nothing was shown hidden); load only makes answers
    // later, so it cannot make this fail. The rule itself, to the second, is tested with an
    // injected clock in `site::tests`.
    let site = site(0);
    let at = chrono::Utc::now() + chrono::Duration::seconds(20);
    site.write(
        "content/przyszly.md",
        &format!("+++\ntitle = \"Wpis z przyszłości\"\ndate = \"{}\"\n+++\nx\n", at.to_rfc3339()),
    );
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    let deadline = at + chrono::Duration::from_std(PATIENCE).unwrap();
    let mut answers_before_its_time = 0;
    loop {
        let atom = daemon.get("/atom.xml").text();
        let answered = chrono::Utc::now();
        if atom.contains("Wpis z przyszłości") {
            assert!(answered >= at, "served at {answered}, before its time {at}");
            break;
        }
        if answered < at {
            answers_before_its_time += 1;
        }
        assert!(answered < deadline, "never appeared:\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answers_before_its_time > 0, "no answer came before the post's time");
    // The log line follows the write it reports.
    assert!(daemon.wait_for_log("a scheduled post's time came", 1, PATIENCE), "{}", daemon.logs());
}

#[test]
fn feeds_answer_conditional_gets_with_304_gzip_on_request_and_nothing_else_from_disk() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    let first = daemon.get("/rss.xml");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/rss+xml; charset=utf-8"));
    let etag = first.header("etag").unwrap().to_owned();
    let last_modified = first.header("last-modified").unwrap().to_owned();
    assert_eq!(daemon.request("GET", "/rss.xml", &[("If-None-Match", &etag)], None).status, 304);
    assert_eq!(daemon.request("GET", "/rss.xml", &[("If-Modified-Since", &last_modified)], None).status, 304);
    assert_eq!(daemon.request("GET", "/rss.xml", &[("If-None-Match", "\"stale\"")], None).status, 200);
    let head = daemon.request("HEAD", "/atom.xml", &[], None);
    assert_eq!((head.status, head.body.len()), (200, 0));

    let gzipped = daemon.request("GET", "/feed.json", &[("Accept-Encoding", "gzip")], None);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gzipped.body[..]).read_to_end(&mut plain).unwrap();
    assert_eq!(plain, daemon.get("/feed.json").body);
    assert_eq!(daemon.get("/tags/stres/atom.xml").status, 200);

    for path in [
        "/../kurier.toml",
        "/kurier.toml",
        "/tags/../kurier.toml",
        "/%2e%2e/kurier.toml",
        "/subscribers/kurier.sqlite",
        "/public/rss.xml",
    ] {
        let reply = daemon.request("GET", path, &[], None);
        assert_eq!(reply.status, 404, "{path}");
        assert!(!reply.text().contains("base_url"), "{path} leaked the config");
    }
    // The ETag changes with the feed, and only then.
    site.write("content/2026-05-04-zmiana.md", "+++\ntitle = \"Zmiana\"\ndate = 2026-05-04\n+++\nx\n");
    daemon.wait_for_body("/rss.xml", "Zmiana", PATIENCE).unwrap();
    assert!(daemon.wait_for_log("zmiana.md", 1, PATIENCE), "{}", daemon.logs());
    assert_eq!(daemon.request("GET", "/rss.xml", &[("If-None-Match", &etag)], None).status, 200);
}

/// The confirmation link of the last mail to `address` in the sink.
fn confirmation_path(sink: &Sink, address: &str) -> String {
    let message = sink.messages().into_iter().rev().find(|m| m.recipient() == address).expect("no confirmation mail");
    let text = message.parsed().body_text(0).unwrap().into_owned();
    let url = text.split_whitespace().find(|w| w.contains("/confirm/")).unwrap().to_owned();
    url.strip_prefix("https://digest.example.org").unwrap().to_owned()
}

fn status_of(site: &TempSite, address: &str) -> String {
    let list = site.kurier(&["subscribers", "list"]).expect_code(0).stdout();
    list.lines().find(|l| l.starts_with(address)).map(|l| l.split('\t').nth(1).unwrap().to_owned()).unwrap_or_default()
}

#[test]
fn double_opt_in_mails_a_link_whose_get_shows_a_page_and_whose_post_confirms() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    let reply =
        daemon.post("/subscribe", "application/x-www-form-urlencoded", "email=Ola%40example.org&name=Ola+Nowak");
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert!(reply.text().contains("Sprawdź skrzynkę"), "{}", reply.text());
    assert_eq!(status_of(&site, "Ola@example.org"), "pending");
    assert!(sink.wait_for(1, PATIENCE));
    let mail = sink.messages().remove(0);
    assert_eq!(mail.recipient(), "Ola@example.org");
    assert_eq!(mail.parsed().subject(), Some("Potwierdź zapis na newsletter: Fixture: Zażółć gęślą jaźń"));
    // A confirmation's bounce names the subscriber too (issue 0: not a digest).
    assert!(mail.mail_from.starts_with("bounces+0-1-") && mail.mail_from.ends_with("@digest.example.org"));
    assert_eq!(mail.helo, "digest.example.org");

    let path = confirmation_path(&sink, "Ola@example.org");
    let page = daemon.get(&path);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<form method=\"post\""), "{}", page.text());
    assert_eq!(status_of(&site, "Ola@example.org"), "pending", "a GET (a link scanner) must not confirm");
    let confirmed = daemon.post(&path, "application/x-www-form-urlencoded", "");
    assert_eq!(confirmed.status, 200);
    assert!(confirmed.text().contains("Zapis potwierdzony"), "{}", confirmed.text());
    assert_eq!(status_of(&site, "Ola@example.org"), "active");

    // JSON works too; an already active address gets the same answer and no new mail.
    let reply = daemon.post("/subscribe", "application/json", &json!({"email": "ola@EXAMPLE.org"}).to_string());
    assert_eq!(reply.status, 202);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap()["status"], "pending");
    // Confirmations go out in order: once a new address's has come, the active one got none.
    assert_eq!(
        daemon.post("/subscribe", "application/json", &json!({"email": "jan@example.org"}).to_string()).status,
        202
    );
    assert!(sink.wait_for(2, PATIENCE), "{}", daemon.logs());
    let to: Vec<String> = sink.messages().iter().map(|m| m.recipient().to_owned()).collect();
    assert_eq!(to, ["Ola@example.org", "jan@example.org"]);
    let reply = daemon.post("/subscribe", "application/json", &json!({"email": "nie adres"}).to_string());
    assert_eq!(reply.status, 400);
}

#[test]
fn forged_and_expired_tokens_answer_4xx_and_change_nothing() {
    let site = site(1);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    let tokens = kurier::mail::Tokens::new(SECRET.as_bytes());
    let real = tokens.unsubscribe(1);
    let forged = format!("2.{}", real.split_once('.').unwrap().1);
    for path in [format!("/unsubscribe/{forged}"), "/unsubscribe/x".into(), format!("/confirm/{real}")] {
        assert_eq!(daemon.get(&path).status, 400, "GET {path}");
        assert_eq!(
            daemon.post(&path, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click").status,
            400,
            "POST {path}"
        );
    }
    let expired = tokens.confirm(1, 0, chrono::Utc::now() - chrono::Duration::hours(1));
    assert_eq!(daemon.post(&format!("/confirm/{expired}"), "text/plain", "").status, 410);
    assert_eq!(status_of(&site, "reader001@example.org"), "active");
    assert_eq!(daemon.metric("kurier_subscribers{status=\"active\"}"), 1.0);
    assert_eq!(daemon.metric("kurier_subscribers{status=\"unsubscribed\"}"), 0.0);
}

/// Every genuine unsubscribe token in `text`: each run of the characters a token is made of
/// (`<id>.<base64url MAC>`), wherever it stands (a link, a form, plain text), that the daemon's
/// key accepts.
fn unsubscribe_tokens_in(text: &str, tokens: &kurier::mail::Tokens) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'))
        .map(|word| word.trim_matches('.')) // a sentence's full stop is no part of a token
        .filter(|word| tokens.check_unsubscribe(word).is_ok())
        .map(str::to_owned)
        .collect()
}

#[test]
fn one_click_unsubscribe_from_a_real_digest_and_the_next_digest_skips_them() {
    let site = site(3);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url()), ("KURIER_SECRET", SECRET)]).expect_code(0);
    let digest = sink.messages().into_iter().find(|m| m.recipient() == "reader002@example.org").unwrap();
    let header = digest.parsed().header_raw("List-Unsubscribe").unwrap().trim().to_owned();
    let url = header.trim_start_matches('<').trim_end_matches('>');
    let path = url.strip_prefix("https://digest.example.org").unwrap();
    // RFC 8058: a POST with exactly this body, no cookies, no session.
    let reply = daemon.post(path, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(status_of(&site, "reader002@example.org"), "unsubscribed");
    // The archived issue the digest links to is served, and it is nobody's: no subscriber's
    // working unsubscribe link or token is in it (anyone with the link could unsubscribe them).
    let archive = daemon.get("/digests/1");
    assert_eq!(archive.status, 200);
    let page = archive.text();
    assert!(page.contains("Trzeci wpis: oddech"), "{page}");
    let tokens = kurier::mail::Tokens::new(SECRET.as_bytes());
    assert_eq!(unsubscribe_tokens_in(&page, &tokens), Vec::<String>::new(), "{page}");
    for id in 1..=3 {
        assert!(!page.contains(&tokens.unsubscribe(id)), "subscriber {id}'s token is on the archive page");
    }
    assert!(!page.contains("/unsubscribe/"), "{page}");
    // The check finds a token where there is one: in the digest reader002 got, and in the page
    // with reader001's link put in.
    let html = digest.parsed().body_html(0).unwrap().into_owned();
    assert_eq!(unsubscribe_tokens_in(&html, &tokens), [tokens.unsubscribe(2)]);
    let planted = page.replacen("</body>", &format!("<a href=\"{}\">x</a></body>", tokens.unsubscribe(1)), 1);
    assert_eq!(unsubscribe_tokens_in(&planted, &tokens), [tokens.unsubscribe(1)]);
    // No dead unsubscribe link, no "view in browser" link to the page itself.
    assert!(!page.contains("href=\"\"") && !page.contains("/digests/1\""), "{page}");
    assert_eq!(daemon.get("/digests/99").status, 404);

    site.write("content/2026-06-01-nowy.md", "+++\ntitle = \"Po wypisaniu\"\ndate = 2026-06-01\n+++\nx\n");
    site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url()), ("KURIER_SECRET", SECRET)]).expect_code(0);
    let counts = per_recipient(&sink);
    assert_eq!(counts["reader001@example.org"], 2);
    assert_eq!(counts["reader003@example.org"], 2);
    assert_eq!(counts["reader002@example.org"], 1, "the unsubscribed reader got the next digest");
}

#[test]
fn subscribe_is_rate_limited_and_bodies_are_size_limited() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    let statuses: Vec<u16> = (0..4)
        .map(|_| daemon.post("/subscribe", "application/x-www-form-urlencoded", "email=spam%40example.org").status)
        .collect();
    assert_eq!(statuses, [202, 202, 202, 429]);
    let big = format!("email=a%40example.org&name={}", "x".repeat(64 * 1024));
    let refused = daemon.post("/subscribe", "application/x-www-form-urlencoded", &big);
    assert_eq!(refused.status, 413);
    // The unread body is still on that connection: it is closed, and the client is told, so that
    // the next request does not go onto it (flaky "peer disconnected" before).
    assert_eq!(refused.header("connection"), Some("close"));
    // Per client: ten subscriptions from one client, then no more. The request refused above
    // (over the address's limit) counted against no limit, so this client has used three.
    let statuses: Vec<u16> = (0..8)
        .map(|i| {
            daemon.post("/subscribe", "application/x-www-form-urlencoded", &format!("email=k{i}%40example.org")).status
        })
        .collect();
    assert_eq!(statuses, [202, 202, 202, 202, 202, 202, 202, 429]);
}

#[test]
fn a_per_second_schedule_sends_one_issue_per_due_run_and_none_when_nothing_is_new() {
    let site = site(3);
    set_schedule(&site, "*/2 * * * * *");
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    assert!(daemon.wait_for_log("digest: nothing new, skipped", 2, PATIENCE), "{}", daemon.logs());
    assert_eq!(sink.count(), 3, "one issue to each of the 3 subscribers");
    site.write("content/2026-06-02-harmonogram.md", "+++\ntitle = \"Z harmonogramu\"\ndate = 2026-06-02\n+++\nx\n");
    assert!(sink.wait_for(6, PATIENCE));
    assert!(daemon.wait_for_log("digest: nothing new, skipped", 3, PATIENCE));
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    let sent: Vec<&str> = status.lines().filter(|l| l.starts_with("issue ") && l.contains(" sent ")).collect();
    assert_eq!(sent.len(), 2, "{status}");
    assert_eq!(sink.count(), 6);
    // Issues are created one per due run: every issue belongs to its own fire, and the fires
    // are those of the schedule (even seconds), each once. Read from the store's records, not
    // from when things happened to be done.
    let runs: Vec<(chrono::DateTime<chrono::Utc>, Option<u32>)> = status
        .lines()
        .filter_map(|l| l.strip_prefix("run "))
        .map(|rest| {
            let words: Vec<&str> = rest.split(' ').collect();
            let issue = words.iter().position(|w| *w == "issue").map(|i| words[i + 1].parse().unwrap());
            (words[0].parse().unwrap(), issue)
        })
        .collect();
    let fires: std::collections::BTreeSet<_> = runs.iter().map(|(fire, _)| *fire).collect();
    assert_eq!(fires.len(), runs.len(), "a fire recorded twice: {status}");
    assert!(fires.iter().all(|f| f.timestamp() % 2 == 0 && f.timestamp_subsec_millis() == 0), "{status}");
    let issues: Vec<u32> = runs.iter().filter_map(|(_, issue)| *issue).collect();
    let distinct: std::collections::BTreeSet<_> = issues.iter().collect();
    assert_eq!(distinct.len(), issues.len(), "two fires made one issue: {status}");
    assert_eq!(issues.len(), status.lines().filter(|l| l.starts_with("issue ")).count(), "{status}");
}

#[test]
fn sigterm_mid_send_exits_0_and_the_next_start_resumes_without_extra_duplicates() {
    let subscribers = 150;
    let site = site(subscribers);
    set_schedule(&site, "* * * * * *");
    let sink = Sink::start();
    sink.set_rules(json!({"data_delay_ms": 30}));
    let daemon = start(&site, &sink);
    assert!(sink.wait_for(20, PATIENCE), "the digest never started");
    let status = daemon.terminate(PATIENCE);
    assert!(status.success(), "exit status {status:?}");
    // Once the sink has closed every session, nothing more can arrive from the stopped daemon.
    assert!(sink.wait_idle(PATIENCE), "the sink still has a session open");
    let after_stop = sink.count();
    assert!(after_stop < subscribers, "the whole issue went out before the stop");
    // What the daemon recorded as sent before it exited is exactly what arrived.
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    let issue = status.lines().find(|l| l.starts_with("issue 1 ")).unwrap_or_else(|| panic!("{status}"));
    let recorded: usize = issue
        .rsplit('"')
        .next()
        .and_then(|counts| counts.split(", ").find_map(|c| c.trim().strip_prefix("sent ")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no sent count in {issue:?}"));
    assert_eq!(recorded, after_stop, "{status}");

    sink.set_rules(json!({}));
    set_schedule(&site, "0 0 0 1 1 *");
    let daemon = start(&site, &sink);
    assert!(sink.wait_for(subscribers, PATIENCE), "the issue was not resumed: {}", daemon.logs());
    assert!(daemon.wait_for_log("digest run done", 1, PATIENCE));
    let counts = per_recipient(&sink);
    assert_eq!(counts.len(), subscribers);
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(duplicates <= 4, "{duplicates} duplicates");
}

#[test]
fn health_metrics_and_logs_without_secrets() {
    let site = site(2);
    // The sink takes mail only with the password, so the confirmation below uses it.
    let sink = Sink::with_auth("kurier:bardzo-tajne-haslo");
    let daemon = Daemon::start(
        &site,
        &[
            ("KURIER_SMTP_URL", &format!("smtp://kurier@127.0.0.1:{}", sink.port)),
            ("KURIER_SMTP_PASSWORD", "bardzo-tajne-haslo"),
            ("KURIER_SECRET", SECRET),
            ("RUST_LOG", "debug,kurier=trace"),
        ],
    );
    assert_eq!(daemon.get("/healthz").text(), "ok\n");
    let metrics = daemon.get("/metrics");
    assert_eq!(metrics.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert!(daemon.metric("kurier_builds_total") >= 1.0);
    assert!(daemon.metric("kurier_build_duration_seconds") > 0.0);
    assert_eq!(daemon.metric("kurier_posts"), 3.0);
    assert_eq!(daemon.metric("kurier_subscribers{status=\"active\"}"), 2.0);
    assert_eq!(daemon.metric("kurier_deliveries{state=\"sent\"}"), 0.0);
    daemon.get("/no-such-page");
    daemon.post("/subscribe", "application/x-www-form-urlencoded", "email=x%40example.org");
    assert!(sink.wait_for(1, PATIENCE), "no confirmation through the sink that requires AUTH:\n{}", daemon.logs());
    assert!(daemon.wait_for_log("confirmation e-mail sent", 1, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("HTTP client error", 1, PATIENCE), "{}", daemon.logs());
    let logs = daemon.logs();
    assert!(logs.contains("rebuilt"), "{logs}");
    assert!(logs.contains("status=404"), "{logs}");
    for secret in ["bardzo-tajne-haslo", SECRET] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

#[test]
fn runs_missed_while_down_are_sent_once_at_start_up() {
    let site = site(2);
    set_schedule(&site, "0 0 0 * * *");
    // The daemon last fired four days ago: three midnights were missed.
    {
        let store = site.store();
        let four_days_ago = chrono::Utc::now() - chrono::Duration::days(4);
        store.set_meta("digest_last_run", &four_days_ago.to_rfc3339()).unwrap();
    }
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    assert!(daemon.wait_for_log("a digest run was missed while kurier was down", 1, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("digest run done", 1, PATIENCE), "{}", daemon.logs());
    // Once the daemon has moved on, a second run for the other missed midnights would have
    // been recorded: there is none.
    wait_until_the_daemon_moved_on(&site, &daemon, "po-pierwszym");
    assert_eq!(sink.count(), 2, "one issue, once");
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert_eq!(status.lines().filter(|l| l.starts_with("issue ")).count(), 1, "{status}");
    assert_eq!(status.lines().filter(|l| l.starts_with("run ")).count(), 1, "{status}");
    // A restart right after does not send it again: it decides at start-up (before it says it
    // is running), and acts on it before it handles any file change.
    drop(daemon);
    let daemon = start(&site, &sink);
    assert!(daemon.wait_for_log("kurier is running", 1, PATIENCE), "{}", daemon.logs());
    wait_until_the_daemon_moved_on(&site, &daemon, "po-restarcie");
    assert!(!daemon.logs().contains("was missed"), "{}", daemon.logs());
    assert_eq!(site.kurier(&["digest", "status"]).expect_code(0).stdout(), status, "a run was recorded");
    assert_eq!(sink.count(), 2);
}

/// Adds a post and waits until the daemon has rebuilt the feeds with it. The daemon handles
/// one event at a time, so whatever it was about to do before (start a digest run and record
/// it, say) is done: a test can then check that something did *not* happen.
fn wait_until_the_daemon_moved_on(site: &TempSite, daemon: &Daemon, slug: &str) {
    let file = format!("content/2020-01-01-{slug}.md");
    site.write_whole(&file, &format!("+++\ntitle = \"{slug}\"\ndate = 2020-01-01\n+++\nx\n"));
    assert!(daemon.wait_for_log(&format!("rebuilt changed=\"{file}\""), 1, PATIENCE), "{}", daemon.logs());
}

#[test]
fn sigint_stops_an_idle_daemon_with_exit_0() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    assert_eq!(daemon.get("/healthz").status, 200);
    let status = daemon.signal("-INT", PATIENCE);
    assert!(status.success(), "{status:?}");
}

#[test]
fn feeds_after_edits_in_the_daemon_are_byte_identical_to_a_fresh_build() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    // Edit a post that others list as related (a title change shows in their related blocks),
    // add one, then edit again: each goes through the fast first stage and the full rebuild.
    let first = site.read("content/2026-01-10-pierwszy.md");
    site.write(
        "content/2026-01-10-pierwszy.md",
        &first.replace("Pierwszy wpis: stres i sen", "Pierwszy wpis: sen i stres"),
    );
    assert!(daemon.wait_for_log("edit published", 1, PATIENCE), "{}", daemon.logs());
    site.write(
        "content/2026-05-05-piaty.md",
        "+++\ntitle = \"Piąty\"\ndate = 2026-05-05\ntags = [\"stres\", \"sen\"]\n+++\nStres i sen.\n",
    );
    assert!(daemon.wait_for_log("piaty.md", 1, PATIENCE), "{}", daemon.logs());
    let third = site.read("content/2026-03-10-trzeci.md");
    site.write(
        "content/2026-03-10-trzeci.md",
        &third.replace("Oddech przeponowy uspokaja.", "Oddech przeponowy uspokaja i pomaga zasnąć."),
    );
    assert!(daemon.wait_for_log("rebuilt changed=\"content/2026-03-10-trzeci.md\"", 1, PATIENCE), "{}", daemon.logs());
    let served = support::snapshot(&site.path("public"));

    let fresh = TempSite::empty();
    std::fs::copy(site.path("kurier.toml"), fresh.path("kurier.toml")).unwrap();
    support::copy_dir(&site.path("content"), &fresh.path("content"));
    fresh.kurier(&["build"]).expect_code(0);
    let built = support::snapshot(&fresh.path("public"));
    assert_eq!(served.iter().map(|(p, _)| p).collect::<Vec<_>>(), built.iter().map(|(p, _)| p).collect::<Vec<_>>());
    for ((path, a), (_, b)) in served.iter().zip(&built) {
        assert!(a == b, "{path} differs from a fresh build");
    }
    assert!(String::from_utf8_lossy(&served.iter().find(|(p, _)| p == "atom.xml").unwrap().1).contains("sen i stres"));
}

#[test]
fn deferred_deliveries_are_retried_on_their_own_timer_without_a_cron_fire() {
    let site = site(3);
    set_schedule(&site, "0 0 0 1 1 *");
    let sink = Sink::start();
    let grey = "reader002@example.org";
    sink.set_rules(json!({"rcpt": {grey: {"code": 451, "times": 3, "message": "4.7.1 Greylisted"}}}));
    let run = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url())]).expect_code(75);
    assert!(run.stdout().contains("sent 2, failed 0, skipped 0, retried 2, deferred 1"), "{}", run.stdout());

    // No fire is due this year: the daemon sends the deferred message when its retry time comes.
    let daemon = start(&site, &sink);
    assert!(sink.wait_for(3, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("deferred deliveries retried", 1, PATIENCE), "{}", daemon.logs());
    let counts = per_recipient(&sink);
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains("issue 1 sent") && status.contains("sent 3") && !status.contains("deferred"), "{status}");
}

#[test]
fn a_template_with_a_bad_date_format_is_reported_everywhere_and_the_daemon_goes_on() {
    // Regression: `date(format="%Q")` panicked: `check` and `preview` exited 101 with a
    // backtrace, and in the daemon the digest task died without a log line.
    let site = site(2);
    let good = std::fs::read_to_string(support::repo().join("templates/digest.txt")).unwrap();
    let bad = good.replacen("date(format=\"long\")", "date(format=\"%Q\")", 1);
    assert_ne!(good, bad);
    site.write("templates/digest.txt", &bad);
    for command in [&["check"][..], &["digest", "preview"][..], &["digest", "send"][..]] {
        let run = site.kurier(command).expect_code(1);
        assert!(
            run.stderr().contains("templates/digest.txt") && run.stderr().contains("`%Q` is not a date format"),
            "{command:?}: {}",
            run.stderr()
        );
        assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    }

    set_schedule(&site, "* * * * * *");
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    assert!(daemon.wait_for_log("`%Q` is not a date format", 1, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("digest run deferred: retrying in", 1, PATIENCE), "{}", daemon.logs());
    assert_eq!(daemon.get("/healthz").status, 200);
    // The operator mends the template: the waiting fires are served at once, by one run.
    site.write("templates/digest.txt", &good);
    assert!(sink.wait_for(2, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("digest run done", 1, PATIENCE), "{}", daemon.logs());
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains(" sent issue 1 (") && status.contains("after 1 failed attempts)"), "{status}");
    assert_eq!(per_recipient(&sink).values().copied().collect::<Vec<_>>(), [1, 1]);
}

#[test]
fn the_daemon_reads_bounces_from_its_maildir_and_moves_each_to_cur() {
    let site = site(3);
    site.replace("kurier.toml", &[("[smtp]", "[bounces]\nmaildir = \"mail/bounces\"\n\n[smtp]")]);
    let fixtures = support::repo().join("tests/fixtures/bounces");
    let verp = kurier::mail::Verp::new(SECRET.as_bytes(), "bounces@digest.example.org").unwrap();
    let store = site.store();
    let second = store.subscriber_by_email("reader002@example.org").unwrap().unwrap().id;
    drop(store);
    let signed = std::fs::read_to_string(fixtures.join("verp-postfix.eml"))
        .unwrap()
        .replace("bounces+1-2-PLACEHOLDERMAC@digest.example.org", &verp.address(1, second));
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    site.write("mail/bounces/tmp/.keep", "");
    site.write(
        "mail/bounces/new/1764403200.1.mx",
        &std::fs::read_to_string(fixtures.join("rfc3464-permanent.eml")).unwrap(),
    );
    site.write("mail/bounces/new/1764403200.2.mx", &signed);
    site.write("mail/bounces/new/1764403200.3.mx", &std::fs::read_to_string(fixtures.join("vacation.eml")).unwrap());
    let deadline = Instant::now() + PATIENCE;
    while std::fs::read_dir(site.path("mail/bounces/new")).unwrap().count() > 0 {
        assert!(Instant::now() < deadline, "the maildir was not read:\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut seen: Vec<String> = std::fs::read_dir(site.path("mail/bounces/cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, ["1764403200.1.mx:2,S", "1764403200.2.mx:2,S", "1764403200.3.mx:2,S"]);
    assert_eq!(status_of(&site, "reader001@example.org"), "bounced");
    assert_eq!(status_of(&site, "reader002@example.org"), "bounced");
    assert_eq!(status_of(&site, "reader003@example.org"), "active");
    assert_eq!(daemon.metric("kurier_bounces_total{kind=\"permanent\"}"), 2.0);
    assert_eq!(daemon.metric("kurier_subscribers{status=\"bounced\"}"), 2.0);
    let logs = daemon.logs();
    assert!(logs.contains("bounce maildir: permanent r***@example.org"), "{logs}");
    assert!(!logs.contains("reader001@example.org"), "{logs}");
}

#[test]
fn a_greylisted_recipient_does_not_hold_back_the_next_scheduled_issue() {
    // Regression: one recipient answering 451 kept its issue open, and every later run only
    // resumed it: the others never got the next post.
    let site = site(5);
    set_schedule(&site, "* * * * * *");
    let sink = Sink::start();
    let grey = "reader003@example.org";
    sink.set_rules(json!({"rcpt": {grey: {"code": 451, "times": -1, "message": "4.7.1 Greylisted"}}}));
    let daemon = start(&site, &sink);
    assert!(sink.wait_for(4, PATIENCE), "{}", daemon.logs());
    site.write("content/2026-04-01-czwarty.md", "+++\ntitle = \"Czwarty\"\ndate = 2026-04-01\n+++\nNowy.\n");
    assert!(sink.wait_for(8, PATIENCE), "the next issue did not go out:\n{}", daemon.logs());
    assert!(!per_recipient(&sink).contains_key(grey));

    // The greylisting ends: the deferred deliveries of both issues go out on their own timer.
    sink.set_rules(json!({}));
    assert!(sink.wait_for(10, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("digest run done", 2, PATIENCE));
    let counts = per_recipient(&sink);
    assert_eq!(counts.len(), 5);
    assert!(counts.values().all(|&n| n == 2), "{counts:?}");
}

#[test]
fn a_site_made_by_init_checks_runs_and_takes_a_subscriber_through_to_a_digest_on_localhost() {
    // Regression: `kurier init` made a site that `kurier run` refused (digest.from is not set),
    // `check` accepted it, and the subscribe form posted to the public base_url.
    let site = TempSite::empty();
    site.kurier(&["init", site.root().to_str().unwrap()]).expect_code(0);
    let check = site.kurier(&["check"]).expect_code(0);
    assert!(
        check.stderr().contains("warning: digest.from `newsletter@example.invalid` is a placeholder"),
        "{}",
        check.stderr()
    );
    site.replace("kurier.toml", &[("from = \"newsletter@example.invalid\"", "from = \"Mój blog <ja@blog.example>\"")]);
    let check = site.kurier(&["check"]).expect_code(0);
    assert!(!check.stderr().contains("warning"), "{}", check.stderr());

    site.replace("kurier.toml", &[("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")]);
    let daemon = Daemon::start(&site, &[]);
    let form = daemon.get("/subscribe");
    assert!(form.text().contains("action=\"http://127.0.0.1:8080/subscribe\""), "{}", form.text());
    assert_eq!(daemon.post("/subscribe", "application/x-www-form-urlencoded", "email=ola%40example.org").status, 202);
    // The confirmation lands in outbox/ (no [smtp]); its link is on this machine.
    let deadline = Instant::now() + PATIENCE;
    let link = loop {
        let mail: Vec<String> = std::fs::read_dir(site.path("outbox"))
            .map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect())
            .unwrap_or_default();
        let found = mail.iter().find_map(|m| {
            let m = m.replace("=\r\n", "").replace("=3D", "=");
            m.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:8080/confirm/")).map(str::to_owned)
        });
        if let Some(link) = found {
            break link;
        }
        assert!(Instant::now() < deadline, "no confirmation in outbox/:\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(50));
    };
    let path = link.trim_start_matches("http://127.0.0.1:8080");
    assert_eq!(daemon.get(path).status, 200);
    assert_eq!(daemon.post(path, "application/x-www-form-urlencoded", "").status, 200);
    assert_eq!(status_of(&site, "ola@example.org"), "active");
    site.kurier(&["digest", "send"]).expect_code(0);
    assert!(daemon.get("/digests/1").text().contains("Witaj"));
}

#[test]
fn a_second_daemon_on_the_same_store_is_refused_with_a_clear_error() {
    // One daemon per SQLite store; PostgreSQL is for several (issue 10).
    if support::sqlite_only("the daemon lock") {
        return;
    }
    let site = site(1);
    let sink = Sink::start();
    let first = start(&site, &sink);
    let env = [("KURIER_SMTP_URL", sink.url()), ("KURIER_SECRET", SECRET.to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let second = site.kurier_bounded(&["run"], &env, support::PATIENCE).expect_code(1);
    assert!(
        second.stderr().contains("another `kurier run` uses this store") && second.stderr().contains("daemon.lock"),
        "{}",
        second.stderr()
    );
    assert_eq!(first.get("/healthz").status, 200, "the first daemon goes on");
    // The lock goes with the daemon: a new one starts once the first has stopped.
    assert!(first.terminate(support::PATIENCE).success());
    let again = start(&site, &sink);
    assert_eq!(again.get("/healthz").status, 200);
}

/// Rewrites a file with bytes of the same length and puts its modification time back: an edit
/// that size and time alone do not show.
fn rewrite_keeping_time(path: &std::path::Path, text: &str) {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::File::options().write(true).open(path).unwrap().set_modified(modified).unwrap();
}

#[test]
fn an_unchanged_site_is_served_from_its_last_build_at_start_and_a_changed_one_is_built_again() {
    let site = site(0);
    let sink = Sink::start();
    let feeds = ["/rss.xml", "/atom.xml", "/feed.json", "/tags/sen/atom.xml"];
    let served = |daemon: &Daemon| -> Vec<(String, Vec<u8>)> {
        feeds
            .iter()
            .map(|path| {
                let reply = daemon.get(path);
                assert_eq!(reply.status, 200, "{path}");
                (reply.header("etag").unwrap().to_owned(), reply.body)
            })
            .collect()
    };
    // The first start builds, and records what it wrote once the site has been quiet a moment.
    let daemon = start(&site, &sink);
    let built = served(&daemon);
    assert!(!daemon.logs().contains("serving its feeds"), "{}", daemon.logs());
    let deadline = Instant::now() + PATIENCE;
    while !site.path(".kurier-build-cache").exists() {
        assert!(Instant::now() < deadline, "the build was never recorded: {}", daemon.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(daemon.terminate(PATIENCE).success());
    let times: Vec<_> = feeds
        .iter()
        .map(|p| std::fs::metadata(site.path(&format!("public{p}"))).unwrap().modified().unwrap())
        .collect();

    // Started again on the same files: the same feeds are served, with the ETags of their bytes,
    // before and after the posts are read, and no feed is written.
    let daemon = start(&site, &sink);
    // (Logged before it listens; read from its stderr by a thread of ours, perhaps after it answers.)
    let serving = "the site is as the last build left it: serving its feeds";
    assert!(daemon.wait_for_log(serving, 1, PATIENCE), "{}", daemon.logs());
    assert_eq!(served(&daemon), built);
    for (etag, body) in &built {
        assert_eq!(etag, &kurier::feed::output::etag(body));
    }
    assert!(
        daemon.wait_for_log("the feeds of the last build are the site's, kept as they are", 1, PATIENCE),
        "{}",
        daemon.logs()
    );
    assert_eq!(served(&daemon), built);
    // The first build still knows the site: an edit afterwards is published as usual.
    let post = site.path("content/2026-03-10-trzeci.md");
    let text = std::fs::read_to_string(&post).unwrap();
    let rebuilds = daemon.logs().matches("rebuilt changed=").count();
    site.write("content/2026-03-10-trzeci.md", &text.replace("uspokaja", "uspokaja wyraźnie"));
    daemon.wait_for_body("/atom.xml", "uspokaja wyraźnie", PATIENCE).expect("the edit was never served");
    // The edited post's feeds come first; stopped during the full rebuild after them, the daemon
    // would give that up and record nothing (and the next start would build).
    assert!(daemon.wait_for_log("rebuilt changed=", rebuilds + 1, PATIENCE), "{}", daemon.logs());
    // Stopped at once after the edit: the build of it is recorded at the stop, not lost.
    assert!(daemon.terminate(PATIENCE).success());
    let daemon = start(&site, &sink);
    assert!(daemon.wait_for_log(serving, 1, PATIENCE), "{}", daemon.logs());
    assert!(daemon.get("/atom.xml").text().contains("uspokaja wyraźnie"));
    assert!(daemon.terminate(PATIENCE).success());
    let after: Vec<_> = feeds
        .iter()
        .map(|p| std::fs::metadata(site.path(&format!("public{p}"))).unwrap().modified().unwrap())
        .collect();
    assert_eq!(after[3], times[3], "a tag feed the edit does not touch was not written");

    // A post changed behind the daemon's back, same size and time: the record is not trusted.
    let text = std::fs::read_to_string(&post).unwrap();
    rewrite_keeping_time(&post, &text.replace("uspokaja wyraźnie", "USPOKAJA wyraźnie"));
    let daemon = start(&site, &sink);
    let why = "the last build's record is out of date (a post changed): building the site";
    assert!(daemon.wait_for_log(why, 1, PATIENCE), "{}", daemon.logs());
    assert!(!daemon.logs().contains(serving), "{}", daemon.logs());
    assert!(daemon.get("/atom.xml").text().contains("USPOKAJA wyraźnie"));
    assert!(daemon.terminate(PATIENCE).success());
}

/// Each post's title → the titles of its related posts, as the site's Atom feed links them.
fn related_in_atom(site: &TempSite) -> BTreeMap<String, Vec<String>> {
    let feed = site.feed("public/atom.xml");
    let title_of: BTreeMap<String, String> = feed
        .entries
        .iter()
        .map(|e| {
            (
                e.links.iter().find(|l| l.rel.as_deref() == Some("alternate")).unwrap().href.clone(),
                e.title.clone().unwrap().content,
            )
        })
        .collect();
    feed.entries
        .iter()
        .map(|e| {
            let related =
                e.links.iter().filter(|l| l.rel.as_deref() == Some("related")).map(|l| title_of[&l.href].clone());
            (e.title.clone().unwrap().content, related.collect())
        })
        .collect()
}

#[test]
fn a_text_edit_that_changes_which_posts_are_related_leaves_the_feeds_of_a_fresh_build() {
    let site = TempSite::empty();
    let config = "title = \"T\"\nbase_url = \"https://example.org/\"\nauthor = { name = \"R\", email = \"r@example.org\" }\n[feeds]\nrelated = 1\n[http]\nlisten = \"127.0.0.1:0\"\n";
    site.write("kurier.toml", config);
    let post = |name: &str, day: u32, text: &str| {
        let front =
            format!("+++\ntitle = \"{}\"\ndate = 2026-01-0{day}\ntags = [\"{name}\"]\n+++\n", name.to_uppercase());
        site.write_whole(&format!("content/{name}.md"), &format!("{front}{text}\n"));
    };
    post("a", 1, "Sen, zasypianie, bezsenność i znowu sen.");
    post("b", 2, "Stres, kortyzol, napięcie i znowu stres.");
    post("c", 3, "Sen i zasypianie wieczorem, bezsenność.");
    let sink = Sink::start();
    let daemon = start(&site, &sink);
    assert_eq!(related_in_atom(&site)["C"], ["A"]);

    // Its title, date and permalink stay: the fast stage publishes C with its old list; the full
    // rebuild must then link the whole site again, not keep the lists of C's old text.
    post("c", 3, "Stres, kortyzol i napięcie wieczorem.");
    assert!(daemon.wait_for_log("edit published", 1, PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("rebuilt changed=\"content/c.md\"", 1, PATIENCE), "{}", daemon.logs());
    assert_eq!(related_in_atom(&site)["C"], ["B"]);
    let served = support::snapshot(&site.path("public"));
    assert!(daemon.terminate(PATIENCE).success());

    let fresh = TempSite::empty();
    std::fs::copy(site.path("kurier.toml"), fresh.path("kurier.toml")).unwrap();
    support::copy_dir(&site.path("content"), &fresh.path("content"));
    fresh.kurier(&["build"]).expect_code(0);
    assert_eq!(served, support::snapshot(&fresh.path("public")));
}

/// The niceness of each thread of process `pid`, by thread name (`/proc/PID/task/*/stat`).
fn niceness_of_threads(pid: u32) -> Vec<(String, i64)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        // "TID (NAME) STATE …": the name may hold spaces; the niceness is the 17th field after it.
        let (name, rest) = stat.split_once(" (").unwrap().1.rsplit_once(") ").unwrap();
        threads.push((name.to_owned(), rest.split(' ').nth(16).unwrap().parse().unwrap()));
    }
    threads
}

/// Rebuilds yield the CPU: the threads that rebuild (rayon's, named after the binary) run at
/// niceness 10, the threads that answer requests at 0; and, as Linux shares the CPU among
/// sessions before it looks at niceness, a daemon that leads its own session (as under systemd)
/// gives its session's scheduling group niceness 10 too, while one started in someone else's
/// session (a shell's, here the test's) leaves that session's group alone.
#[test]
fn rebuilds_yield_to_requests_and_a_daemon_leading_its_session_to_other_sessions() {
    let Ok(ours_before) = std::fs::read_to_string("/proc/self/autogroup") else {
        panic!("this kernel has no autogroups (/proc/self/autogroup): the test cannot see what it checks");
    };
    let (alone, shared) = (site(0), site(0));
    let leader = Daemon::start_in_own_session(&alone, &[]);
    assert!(leader.wait_for_log("kurier is running", 1, PATIENCE), "{}", leader.logs());
    let group = std::fs::read_to_string(format!("/proc/{}/autogroup", leader.pid())).unwrap();
    assert!(group.trim_end().ends_with(" nice 10"), "{group}");
    assert_ne!(group, ours_before, "the daemon's session is its own");
    let threads = niceness_of_threads(leader.pid());
    assert!(threads.iter().any(|(name, nice)| name == "kurier" && *nice == 10), "{threads:?}");
    let workers: Vec<_> = threads.iter().filter(|(name, _)| name.starts_with("tokio-rt")).collect();
    assert!(!workers.is_empty() && workers.iter().all(|(_, nice)| *nice == 0), "{threads:?}");

    let member = Daemon::start(&shared, &[]);
    assert!(member.wait_for_log("kurier is running", 1, PATIENCE), "{}", member.logs());
    assert_eq!(std::fs::read_to_string(format!("/proc/{}/autogroup", member.pid())).unwrap(), ours_before);
    assert_eq!(std::fs::read_to_string("/proc/self/autogroup").unwrap(), ours_before);
}
