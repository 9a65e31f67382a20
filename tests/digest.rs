//! Digests end to end, through the CLI as an operator runs it, into a real SMTP server
//! (aiosmtpd, `tests/smtp_sink.py`); the messages are read back with mail-parser.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mail_parser::{HeaderValue, MimeHeaders};
use serde_json::json;
use support::TempSite;
use support::smtp::{Received, Sink};

const SUBJECT: &str = "Fixture: Zażółć gęślą jaźń — 3 nowe wpisy";

/// The digest fixture with subscribers imported from `rows` (`email,name,status`).
fn site_with(rows: &[String]) -> TempSite {
    let site = TempSite::fixture("digest");
    site.write("list.csv", &format!("email,name,status\n{}\n", rows.join("\n")));
    site.kurier(&["subscribers", "import", site.path("list.csv").to_str().unwrap()]).expect_code(0);
    site
}

fn active(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("reader{i:03}@example.org,Czytelnik {i},active")).collect()
}

fn send(site: &TempSite, sink: &Sink) -> support::Run {
    site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url())])
}

/// Recipient → number of messages it got.
fn per_recipient(messages: &[Received]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in messages {
        for rcpt in &message.rcpt_tos {
            *counts.entry(rcpt.clone()).or_default() += 1;
        }
    }
    counts
}

/// A header as it is on the wire (unfolded, trimmed), for ASCII-only headers.
fn header_text(message: &mail_parser::Message<'_>, name: &str) -> String {
    let raw = message.header_raw(name).unwrap_or_else(|| panic!("no {name} header"));
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_active_subscriber_gets_exactly_one_complete_message() {
    let mut rows = active(20);
    rows.push("czeka@example.org,Oczekujący,pending".into());
    rows.push("odszedl@example.org,Były,unsubscribed".into());
    rows.push("odbity@example.org,,bounced".into());
    let site = site_with(&rows);
    let sink = Sink::start();
    let run = send(&site, &sink).expect_code(0);
    assert!(run.stdout().contains("sent 20, failed 0, skipped 0"), "{}", run.stdout());

    let messages = sink.messages();
    let counts = per_recipient(&messages);
    let expected: BTreeSet<String> = (1..=20).map(|i| format!("reader{i:03}@example.org")).collect();
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "pending, unsubscribed and bounced get nothing"
    );
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");

    let mut message_ids = BTreeSet::new();
    for received in &messages {
        let raw = String::from_utf8(received.raw.clone()).unwrap();
        assert!(!raw.replace("\r\n", "").contains('\n'), "bare LF on the wire");
        let message = received.parsed();
        // The Polish subject is RFC 2047-encoded on the wire and decodes back exactly.
        assert!(raw.contains("Subject: Fixture: =?utf-8?") || raw.contains("Subject: =?utf-8?"), "{raw}");
        assert_eq!(message.subject(), Some(SUBJECT));
        assert_eq!(message.from().unwrap().first().unwrap().address(), Some("newsletter@digest.example.org"));
        assert_eq!(message.from().unwrap().first().unwrap().name(), Some("Zażółć"));
        let to = message.to().unwrap().first().unwrap();
        assert_eq!(to.address(), Some(received.recipient()));
        let n: usize = received.recipient()[6..9].parse().unwrap();
        assert_eq!(to.name(), Some(format!("Czytelnik {n}").as_str()));
        assert!(message.date().is_some());
        let id = message.message_id().unwrap().to_owned();
        assert!(id.starts_with("kurier.1.") && id.ends_with("@digest.example.org"), "{id}");
        message_ids.insert(id);
        let Some(HeaderValue::Address(list_id)) = message.header("List-Id") else { panic!("List-Id") };
        assert_eq!(list_id.first().unwrap().name(), Some("Fixture: Zażółć gęślą jaźń"));
        assert_eq!(list_id.first().unwrap().address(), Some("digest.digest.example.org"));
        let unsubscribe = header_text(&message, "List-Unsubscribe");
        assert!(
            unsubscribe.starts_with("<https://digest.example.org/unsubscribe/") && unsubscribe.ends_with('>'),
            "{unsubscribe}"
        );
        assert_eq!(header_text(&message, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");

        // multipart/alternative: text/plain then text/html.
        let root = message.content_type().unwrap();
        assert_eq!((root.ctype(), root.subtype()), ("multipart", Some("alternative")));
        assert_eq!(message.text_body.len(), 1);
        assert_eq!(message.html_body.len(), 1);
        let text = message.body_text(0).unwrap();
        let html = message.body_html(0).unwrap();
        let url = &unsubscribe[1..unsubscribe.len() - 1];
        assert!(text.contains(url) && html.contains(url), "the visible unsubscribe link is the header's");
        for body in [&text, &html] {
            assert!(body.contains("https://digest.example.org/digests/1"), "view in browser link");
            assert!(body.contains("https://digest.example.org/2026/03/trzeci/"), "post link");
            assert!(body.contains("10 marca 2026"), "Polish long date");
        }
        // Polish greets neutrally: the name in the nominative would read as a form letter.
        assert!(text.contains("Dzień dobry!") && !text.contains("Dzień dobry, Czytelnik"), "{text}");
        assert!(text.contains("Krótko o tym, jak ból i napięcie mięśni napędzają się nawzajem."), "{text}");
        // CSS is inlined (mail clients strip <style>), the title's `<i>` is escaped, links absolute.
        assert!(!html.contains("<style"), "{html}");
        assert!(html.contains("style=\""), "{html}");
        assert!(html.contains("Drugi wpis: ból &lt;i&gt; napięcie"), "{html}");
        assert!(html.contains("href=\"https://digest.example.org/2026/02/drugi/\""), "{html}");
    }
    assert_eq!(message_ids.len(), 20, "one Message-ID per subscriber");
}

#[test]
fn nothing_new_sends_nothing_and_a_new_post_goes_out_alone() {
    let site = site_with(&active(3));
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    assert_eq!(sink.count(), 3);

    let run = send(&site, &sink).expect_code(0);
    assert!(run.stdout().contains("nothing new since the last issue: issue 2 recorded as skipped"), "{}", run.stdout());
    assert_eq!(sink.count(), 3);

    // An edit to a post already sent does not make it new.
    let first = site.read("content/2026-01-10-pierwszy.md");
    site.write("content/2026-01-10-pierwszy.md", &first.replace("Stres utrudnia", "Stres wyraźnie utrudnia"));
    site.write("content/2026-04-01-czwarty.md", "+++\ntitle = \"Czwarty wpis\"\ndate = 2026-04-01\n+++\nNowość.\n");
    send(&site, &sink).expect_code(0);
    let messages = sink.messages();
    assert_eq!(messages.len(), 6);
    for received in &messages[3..] {
        let message = received.parsed();
        assert_eq!(message.subject(), Some("Fixture: Zażółć gęślą jaźń — 1 nowy wpis"));
        let text = message.body_text(0).unwrap();
        assert!(text.contains("Czwarty wpis"), "{text}");
        // Only the new post is in the issue (the others may be listed as its related posts).
        assert!(!text.contains("== Pierwszy wpis") && !text.contains("== Trzeci wpis"), "{text}");
        assert!(message.message_id().unwrap().starts_with("kurier.3."));
    }
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains("issue 3 sent"), "{status}");
    let third = status.lines().find(|l| l.starts_with("issue 3 ")).unwrap();
    assert!(third.contains(" (1 post) "), "one post, in the singular: {third}");
    assert!(status.contains("issue 2 skipped"), "{status}");
    assert!(status.contains("issue 1 sent"), "{status}");
}

#[test]
fn a_recipient_answered_451_twice_is_delivered_once_on_a_later_attempt() {
    let site = site_with(&active(5));
    let sink = Sink::start();
    sink.set_rules(
        json!({"rcpt": {"reader003@example.org": {"code": 451, "times": 2, "message": "4.7.1 Try again later"}}}),
    );
    let run = send(&site, &sink).expect_code(0);
    assert!(run.stdout().contains("sent 5, failed 0, skipped 0, retried 2, deferred 0"), "{}", run.stdout());
    let counts = per_recipient(&sink.messages());
    assert_eq!(counts.len(), 5);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let attempts: Vec<String> =
        sink.rcpt_log().into_iter().filter(|(a, _)| a == "reader003@example.org").map(|(_, c)| c).collect();
    assert_eq!(attempts, ["451", "451", "250"]);
}

#[test]
fn a_550_is_recorded_as_failed_and_not_retried_and_the_rest_go_out() {
    let site = site_with(&active(6));
    let sink = Sink::start();
    sink.set_rules(
        json!({"rcpt": {"reader002@example.org": {"code": 550, "times": -1, "message": "5.1.1 No such user"}}}),
    );
    let run = send(&site, &sink).expect_code(1);
    assert!(run.stdout().contains("sent 5, failed 1, skipped 0, retried 0"), "{}", run.stdout());
    let counts = per_recipient(&sink.messages());
    assert_eq!(counts.len(), 5);
    assert!(!counts.contains_key("reader002@example.org"));
    let attempts = sink.rcpt_log().into_iter().filter(|(a, _)| a == "reader002@example.org").count();
    assert_eq!(attempts, 1, "a 5xx is not retried");
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains("issue 1 sent"), "{status}");
    assert!(status.contains("sent 5, failed 1"), "{status}");
    assert!(status.contains("failed reader002@example.org: ") && status.contains("5.1.1 No such user"), "{status}");
    // The failed recipient is not retried by the next run either.
    send(&site, &sink).expect_code(0);
    assert_eq!(sink.rcpt_log().into_iter().filter(|(a, _)| a == "reader002@example.org").count(), 1);
}

#[test]
fn a_server_that_stops_answering_hits_the_deadline_and_the_run_goes_on() {
    let site = site_with(&active(6));
    site.replace(
        "kurier.toml",
        &[("timeout_seconds = 5", "timeout_seconds = 1"), ("max_attempts = 3", "max_attempts = 1")],
    );
    let sink = Sink::start();
    sink.set_rules(json!({"stall_rcpt": ["reader004@example.org"]}));
    // The sink would hold the stalled RCPT for an hour: a run that ends by itself, within the
    // test's patience, ended at its one-second deadline.
    let run = site.kurier_bounded(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url())], support::PATIENCE);
    let run = run.expect_code(75);
    assert!(run.stdout().contains("sent 5, failed 0, skipped 0, retried 0, deferred 1"), "{}", run.stdout());
    assert!(!per_recipient(&sink.messages()).contains_key("reader004@example.org"));
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    // The deferred delivery does not keep the issue open.
    assert!(status.contains("issue 1 sent") && status.contains("sent 5, deferred 1"), "{status}");

    // The server recovers: once its retry time has come, the next run delivers the deferred
    // message and nothing else.
    sink.set_rules(json!({}));
    wait_until_retry_time(&site);
    let run = send(&site, &sink).expect_code(0);
    assert!(run.stdout().contains("deferred deliveries of earlier issues: sent 1, failed 0"), "{}", run.stdout());
    let counts = per_recipient(&sink.messages());
    assert_eq!(counts.len(), 6);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

/// Waits until the retry time of every deferred delivery `digest status` lists has passed.
fn wait_until_retry_time(site: &TempSite) {
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    let latest = status
        .lines()
        .filter_map(|l| l.trim().strip_prefix("deferred ")?.split(" until ").nth(1)?.split(": ").next())
        .map(|at| at.parse::<chrono::DateTime<chrono::Utc>>().unwrap())
        .max()
        .unwrap_or_else(|| panic!("no deferred delivery in\n{status}"));
    let patience = chrono::Duration::from_std(support::PATIENCE).unwrap();
    assert!(latest < chrono::Utc::now() + patience, "a retry time too far off to wait for: {latest}");
    while chrono::Utc::now() <= latest {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_greylisting_recipient_never_holds_back_the_next_issue_for_everyone_else() {
    // Regression: one recipient answering 451 kept issue 1 open, and the next `digest send`
    // only resumed it: 0 of 19 others got the new post.
    let site = site_with(&active(20));
    let sink = Sink::start();
    let grey = "reader005@example.org";
    sink.set_rules(json!({"rcpt": {grey: {"code": 451, "times": -1, "message": "4.7.1 Greylisted, try later"}}}));
    let run = send(&site, &sink).expect_code(75);
    assert!(run.stdout().contains("issue 1 (sent) via"), "{}", run.stdout());
    assert!(run.stdout().contains("sent 19, failed 0, skipped 0, retried 2, deferred 1"), "{}", run.stdout());

    site.write("content/2026-04-01-czwarty.md", "+++\ntitle = \"Czwarty wpis\"\ndate = 2026-04-01\n+++\nNowość.\n");
    let run = send(&site, &sink).expect_code(75);
    assert!(run.stdout().contains("issue 2 (sent) via"), "{}", run.stdout());
    assert!(run.stdout().contains("sent 19, failed 0"), "{}", run.stdout());
    let issue_two: Vec<String> = sink
        .messages()
        .iter()
        .filter(|m| m.parsed().subject().is_some_and(|s| s.contains("1 nowy wpis")))
        .map(|m| m.recipient().to_owned())
        .collect();
    assert_eq!(issue_two.len(), 19, "everyone but the greylisting recipient has issue 2");

    // The greylisting ends: both issues reach the last recipient, once each.
    sink.set_rules(json!({}));
    wait_until_retry_time(&site);
    let run = send(&site, &sink).expect_code(0);
    assert!(run.stdout().contains("recorded as skipped"), "{}", run.stdout());
    assert!(run.stdout().contains("deferred deliveries of earlier issues: sent 2, failed 0"), "{}", run.stdout());
    let counts = per_recipient(&sink.messages());
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|&n| n == 2), "{counts:?}");
}

#[test]
fn kill_9_in_mid_issue_then_another_send_reaches_everyone_with_at_most_concurrency_duplicates() {
    let subscribers = 120;
    let site = site_with(&active(subscribers));
    let sink = Sink::start();
    sink.set_rules(json!({"data_delay_ms": 40}));
    let mut child = site.spawn(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url())]);
    assert!(sink.wait_for(20, Duration::from_secs(30)), "the first run never got going");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = sink.count();
    assert!(before < subscribers, "the run finished before it was killed");

    sink.set_rules(json!({}));
    send(&site, &sink).expect_code(0);
    let counts = per_recipient(&sink.messages());
    assert_eq!(counts.len(), subscribers, "every active subscriber has the digest");
    let duplicates: usize = counts.values().map(|&n| n - 1).sum();
    assert!(duplicates <= 4, "{duplicates} duplicates > concurrency 4: {counts:?}");
    // A message sent again after the crash is recognisably the same message: same Message-ID.
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for received in sink.messages() {
        let id = received.parsed().message_id().unwrap().to_owned();
        ids.entry(received.recipient().to_owned()).or_default().insert(id);
    }
    assert!(ids.values().all(|set| set.len() == 1), "{ids:?}");
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains("issue 1 sent") && status.contains(&format!("sent {subscribers}")), "{status}");
}

#[test]
fn preview_prints_exactly_what_would_be_sent() {
    let site = site_with(&["anna@example.org,Anna Nowak,active".to_owned()]);
    let preview = site.kurier(&["digest", "preview", "--subscriber", "anna@example.org"]).expect_code(0);
    let previewed = mail_parser::MessageParser::default().parse(preview.0.stdout.as_slice()).unwrap();
    let text = site.kurier(&["digest", "preview", "--text"]).expect_code(0).stdout();
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    let messages = sink.messages();
    let sent = messages[0].parsed();
    assert_eq!(previewed.subject(), sent.subject());
    assert_eq!(previewed.message_id(), sent.message_id());
    assert_eq!(previewed.body_html(0), sent.body_html(0));
    assert_eq!(previewed.body_text(0), sent.body_text(0));
    assert_eq!(text.trim_end(), sent.body_text(0).unwrap().replace("\r\n", "\n").trim_end());
    assert_eq!(header_text(&previewed, "List-Unsubscribe"), header_text(&sent, "List-Unsubscribe"));
    // Nothing was recorded by previewing: the send above was issue 1.
    assert!(sent.message_id().unwrap().starts_with("kurier.1."));
}

#[test]
fn dry_run_sends_and_records_nothing() {
    let site = site_with(&active(2));
    let sink = Sink::start();
    let run = site.kurier_env(&["digest", "send", "--dry-run"], &[("KURIER_SMTP_URL", &sink.url())]).expect_code(0);
    assert!(
        run.stdout().contains(&format!("dry run: would send \"{SUBJECT}\" with 3 posts to 2 subscribers")),
        "{}",
        run.stdout()
    );
    assert_eq!(sink.count(), 0);
    assert_eq!(site.kurier(&["digest", "status"]).expect_code(0).stdout(), "");
}

#[test]
fn without_smtp_the_digest_is_written_to_the_outbox() {
    let site = site_with(&active(2));
    let config = site.read("kurier.toml");
    site.write("kurier.toml", &config[..config.find("# The tests point").unwrap()]);
    site.kurier(&["digest", "send"]).expect_code(0);
    let files: Vec<_> = std::fs::read_dir(site.path("outbox")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2);
    for file in files {
        let raw = std::fs::read(&file).unwrap();
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(message.subject(), Some(SUBJECT));
    }
}

#[test]
fn subscribers_cli_adds_removes_lists_imports_and_exports() {
    let site = TempSite::fixture("digest");
    site.kurier(&["subscribers", "add", "Anna@Example.org", "--name", "Anna", "--confirmed"]).expect_code(0);
    site.kurier(&["subscribers", "add", "jan@example.org"]).expect_code(0);
    let dup = site.kurier(&["subscribers", "add", "anna@example.ORG"]).expect_code(1);
    assert!(dup.stderr().contains("Anna@Example.org is already in the list (status active)"), "{}", dup.stderr());
    let bad = site.kurier(&["subscribers", "add", "not-an-address"]).expect_code(1);
    assert!(bad.stderr().contains("`not-an-address` is not a valid e-mail address"), "{}", bad.stderr());
    site.kurier(&["subscribers", "remove", "ANNA@example.org"]).expect_code(0);
    let list = site.kurier(&["subscribers", "list", "--status", "unsubscribed"]).expect_code(0).stdout();
    assert!(list.starts_with("Anna@Example.org\tunsubscribed\tAnna\t") && list.lines().count() == 1, "{list}");

    // A bad row: reported with its line number, nothing imported.
    site.write("bad.csv", "email,name\nola@example.org,Ola\nnie-adres,Zły\nela@example.org,Ela\n");
    let run = site.kurier(&["subscribers", "import", site.path("bad.csv").to_str().unwrap()]).expect_code(1);
    assert!(
        run.stderr().contains("line 3: `nie-adres` is not a valid e-mail address; nothing was imported"),
        "{}",
        run.stderr()
    );
    assert_eq!(site.kurier(&["subscribers", "list"]).expect_code(0).stdout().lines().count(), 2);

    // A good file; the unsubscribed address in it stays unsubscribed.
    site.write(
        "good.csv",
        "ola@example.org,Ola\nanna@example.org,Anna,active\nela@example.org,\"Ela, z przecinkiem\",pending\n",
    );
    let run = site.kurier(&["subscribers", "import", site.path("good.csv").to_str().unwrap()]).expect_code(0);
    assert!(run.stdout().contains("2 added, 1 already in the list"), "{}", run.stdout());
    let export = site.kurier(&["subscribers", "export"]).expect_code(0).stdout();
    let rows: Vec<Vec<String>> = export.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect();
    assert_eq!(rows[0], ["email", "name", "status", "created_at"]);
    assert!(export.contains("Anna@Example.org,Anna,unsubscribed,"), "{export}");
    assert!(export.contains("ela@example.org,\"Ela, z przecinkiem\",pending,"), "{export}");
    assert!(export.contains("ola@example.org,Ola,active,"), "{export}");
}

/// Runs `tests/dkim_verify.py` on `message` with the test key published at
/// `selector._domainkey.domain` only; whether the signature verifies, and what the script said.
fn dkim_verify(message: &std::path::Path, domain: &str, selector: &str) -> (bool, String) {
    let output = std::process::Command::new(support::python())
        .arg(support::repo().join("tests/dkim_verify.py"))
        .arg(message)
        .arg(support::repo().join("tests/fixtures/dkim/dns-txt-record.txt"))
        .args([domain, selector])
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}

/// Signs the site's mail with the test key as `kurier._domainkey.digest.example.org`.
fn sign_with_dkim(site: &TempSite) {
    std::fs::copy(support::repo().join("tests/fixtures/dkim/test-only.key"), site.path("dkim.key")).unwrap();
    let config = site.read("kurier.toml");
    site.write(
        "kurier.toml",
        &format!("{config}\n[dkim]\ndomain = \"digest.example.org\"\nselector = \"kurier\"\nkey_file = \"dkim.key\"\n"),
    );
}

#[test]
fn dkim_signatures_verify_and_cover_both_list_unsubscribe_headers() {
    let site = site_with(&active(2));
    sign_with_dkim(&site);
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    for (i, received) in messages.iter().enumerate() {
        let path = site.path(&format!("received-{i}.eml"));
        std::fs::write(&path, &received.raw).unwrap();
        let (verified, said) = dkim_verify(&path, "digest.example.org", "kurier");
        assert!(verified, "dkimpy: {said}");
        let said = said.to_lowercase();
        let signed: Vec<&str> = said.trim().lines().next().unwrap().split(':').collect();
        for header in
            ["from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe", "list-unsubscribe-post"]
        {
            assert!(signed.contains(&header), "{header} not signed: {signed:?}");
        }
        // A changed List-Unsubscribe breaks the signature.
        let tampered = String::from_utf8(received.raw.clone()).unwrap().replace("/unsubscribe/", "/unsubscribe/x");
        let tampered_path = site.path(&format!("tampered-{i}.eml"));
        std::fs::write(&tampered_path, tampered).unwrap();
        assert!(!dkim_verify(&tampered_path, "digest.example.org", "kurier").0, "a tampered message still verifies");
    }
}

#[test]
fn a_dkim_signature_does_not_verify_with_the_key_published_under_another_selector_or_domain() {
    // The check above is only worth something if the verifier looks the key up where the
    // signature's `d=` and `s=` say: the same untouched message, with the same key published
    // elsewhere, must fail.
    let site = site_with(&active(1));
    sign_with_dkim(&site);
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    let path = site.path("received.eml");
    std::fs::write(&path, &sink.messages()[0].raw).unwrap();
    let (verified, said) = dkim_verify(&path, "digest.example.org", "kurier");
    assert!(verified, "the message as sent verifies: {said}");
    for (domain, selector) in [
        ("digest.example.org", "inny"),
        ("example.org", "kurier"),
        ("digest.example.net", "kurier"),
        ("kurier._domainkey.digest.example.org", "kurier"),
    ] {
        let (verified, said) = dkim_verify(&path, domain, selector);
        assert!(!verified, "verified with the key at {selector}._domainkey.{domain}: {said}");
        assert!(said.contains("looked up: kurier._domainkey.digest.example.org"), "{said}");
    }
}

/// Every form in which `password` could show: as typed, percent-encoded (as in a URL), and
/// base64-encoded as AUTH PLAIN (`\0user\0password`) and AUTH LOGIN send it.
fn password_forms(user: &str, password: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let encoded: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    let plain = b64(format!("\0{user}\0{password}").as_bytes());
    vec![password.to_owned(), encoded, b64(password.as_bytes()), plain]
}

/// Panics if any of `forms` is in `text` (what `what` names).
fn assert_none_in(text: &str, forms: &[String], what: &str) {
    for form in forms {
        assert!(!text.contains(form.as_str()), "{form:?} is in {what}:\n{text}");
    }
}

/// Panics if any of `forms` is in a file below `dir` (the store, outbox, feeds: whatever kurier
/// wrote), as bytes.
fn assert_none_in_files(dir: &std::path::Path, forms: &[String]) {
    for (path, bytes) in support::snapshot(dir) {
        for form in forms {
            let found = bytes.windows(form.len()).any(|w| w == form.as_bytes());
            assert!(!found, "{form:?} is in {path}");
        }
    }
}

#[test]
fn a_password_in_the_smtp_url_or_in_kurier_smtp_password_logs_in_and_is_never_logged() {
    // Most verbose logging there is, for kurier and its crates (lettre, rustls, tokio).
    let verbose = "debug,kurier=trace";
    let in_url = "hasło:z@adresu/1";
    let in_env = "hasło-ze-zmiennej#2";
    let mut forms = password_forms("kurier", in_url);
    forms.extend(password_forms("kurier", in_env));
    let encoded: String = url::form_urlencoded::byte_serialize(in_url.as_bytes()).collect();

    // The password in the URL: the sink requires it, so a delivery proves it was used.
    let site = site_with(&active(2));
    let sink = Sink::with_auth(&format!("kurier:{in_url}"));
    let url = format!("smtp://kurier:{encoded}@127.0.0.1:{}", sink.port);
    let run = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &url), ("RUST_LOG", verbose)]);
    let run = run.expect_code(0);
    assert!(run.stdout().contains("sent 2, failed 0"), "{}", run.stdout());
    assert_eq!(sink.count(), 2);
    assert!(run.stderr().contains("DEBUG") || run.stderr().contains("TRACE"), "not verbose:\n{}", run.stderr());
    assert_none_in(&run.stdout(), &forms, "stdout");
    assert_none_in(&run.stderr(), &forms, "stderr");
    for command in [&["digest", "status"][..], &["subscribers", "list"], &["check"]] {
        let other = site.kurier_env(command, &[("KURIER_SMTP_URL", &url), ("RUST_LOG", verbose)]);
        assert_none_in(&format!("{}{}", other.stdout(), other.stderr()), &forms, &format!("{command:?}"));
    }

    // KURIER_SMTP_PASSWORD overrides a stale one in the URL: the sink takes only the new one.
    // (The daemon's site: the same fixture, listening on a free port.)
    let site = support::daemon::site(2);
    let sink = Sink::with_auth(&format!("kurier:{in_env}"));
    let url = format!("smtp://kurier:{encoded}@127.0.0.1:{}", sink.port);
    let env = [("KURIER_SMTP_URL", url.as_str()), ("KURIER_SMTP_PASSWORD", in_env), ("RUST_LOG", verbose)];
    let run = site.kurier_env(&["digest", "send"], &env).expect_code(0);
    assert!(run.stdout().contains("sent 2, failed 0"), "{}", run.stdout());
    assert_eq!(sink.count(), 2);
    assert_none_in(&run.stdout(), &forms, "stdout");
    assert_none_in(&run.stderr(), &forms, "stderr");

    // The daemon, at the same level, sending a confirmation with it.
    let mut daemon_env = env.to_vec();
    daemon_env.push(("KURIER_SECRET", support::daemon::SECRET));
    let daemon = support::daemon::Daemon::start(&site, &daemon_env);
    assert_eq!(daemon.post("/subscribe", "application/x-www-form-urlencoded", "email=nowa%40example.org").status, 202);
    assert!(sink.wait_for(3, Duration::from_secs(60)), "no confirmation:\n{}", daemon.logs());
    assert!(daemon.wait_for_log("confirmation e-mail sent", 1, Duration::from_secs(60)), "{}", daemon.logs());
    assert_none_in(&daemon.logs(), &forms, "the daemon's log");
    drop(daemon);
    assert_none_in_files(site.root(), &forms);

    // Without any password the server refuses the mail: recorded, nothing delivered, and a
    // refusal of kurier's own login (530) is not the addresses' fault: nobody is bounced.
    let site = site_with(&active(2));
    let url = format!("smtp://kurier@127.0.0.1:{}", sink.port);
    let run = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &url)]).expect_code(1);
    assert!(run.stdout().contains("sent 0, failed 2"), "{}", run.stdout());
    let bounced = site.kurier(&["subscribers", "list", "--status", "bounced"]).expect_code(0).stdout();
    assert!(bounced.is_empty(), "{bounced}");
    assert_eq!(sink.count(), 3);
}

/// The gaps between consecutive RCPT attempts at the sink, in seconds.
fn rcpt_gaps(sink: &Sink) -> Vec<f64> {
    sink.rcpts().windows(2).map(|pair| pair[1].at - pair[0].at).collect()
}

#[test]
fn consecutive_failures_pause_the_issue() {
    // One connection, every address refused: two failures, a pause of a second, two more.
    let site = site_with(&active(4));
    site.replace(
        "kurier.toml",
        &[("pause_after_failures = 100", "pause_after_failures = 2"), ("concurrency = 4", "concurrency = 1")],
    );
    let sink = Sink::start();
    let rules: serde_json::Map<String, serde_json::Value> = (1..=4)
        .map(|i| (format!("reader{i:03}@example.org"), json!({"code": 550, "times": -1, "message": "5.7.1 Blocked"})))
        .collect();
    sink.set_rules(json!({ "rcpt": rules }));
    let run =
        site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url()), ("RUST_LOG", "warn")]).expect_code(1);
    assert!(run.stdout().contains("sent 0, failed 4"), "{}", run.stdout());
    assert!(run.stderr().contains("consecutive delivery failures: pausing the issue"), "{}", run.stderr());
    // The second refusal reached kurier after the sink logged it, and the pause began then: the
    // third RCPT comes at least `pause_seconds` (1 s) after the second, at the sink's clock
    // (less 150 ms: a busy machine can be late to stamp one RCPT and not the next).
    let gaps = rcpt_gaps(&sink);
    assert_eq!(gaps.len(), 3, "{:?}", sink.rcpts());
    assert!(gaps[1] >= 0.85, "no pause after two failures: the RCPTs came {gaps:?} s apart");
}

#[test]
fn rate_per_second_spaces_the_messages() {
    // Four connections could send at once; at two messages a second the k-th RCPT (from 0) cannot
    // reach the sink before k / 2 s after the send began. A busy machine can only stamp an RCPT
    // late, never early, so this bound holds under any load (a bound on the gap between two
    // RCPTs did not: one stamped late makes the next gap short — 0.96 s then 0.04 s, once).
    let site = site_with(&active(6));
    site.replace("kurier.toml", &[("concurrency = 4", "concurrency = 4\nrate_per_second = 2")]);
    let sink = Sink::start();
    let began = support::smtp::sink_clock();
    send(&site, &sink).expect_code(0);
    assert_eq!(sink.count(), 6);
    let mut at: Vec<f64> = sink.rcpts().iter().map(|r| r.at - began).collect();
    at.sort_by(f64::total_cmp);
    assert_eq!(at.len(), 6, "{:?}", sink.rcpts());
    for (k, &after) in at.iter().enumerate() {
        assert!(after >= k as f64 * 0.5, "RCPT {k} came {after:.3} s after the send began, before {k} / 2 s: {at:?}");
    }
}

#[test]
fn two_senders_cannot_share_a_store_but_the_cli_can_use_it_while_one_sends() {
    // On SQLite one sender at a time (send.lock); on PostgreSQL both send, each delivery claimed
    // by one of them (tests/nodes.rs has the daemons): either way each recipient gets one.
    let site = site_with(&active(40));
    let sink = Sink::start();
    sink.set_rules(json!({"data_delay_ms": 50}));
    let mut first = site.spawn(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url())]);
    assert!(sink.wait_for(4, Duration::from_secs(30)));
    let second = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url())]);
    if support::postgres_backend() {
        let second = second.expect_code(0);
        assert!(second.stdout().contains("issue 1"), "the second sender joined issue 1: {}", second.stdout());
    } else {
        let second = second.expect_code(1);
        assert!(second.stderr().contains("another kurier is sending from this store"), "{}", second.stderr());
    }
    // The store stays usable by other commands meanwhile (WAL: readers and a writer at once).
    site.kurier(&["subscribers", "add", "nowy@example.org", "--confirmed"]).expect_code(0);
    site.kurier(&["digest", "status"]).expect_code(0);
    let status = first.wait().unwrap();
    assert!(status.success());
    let counts = per_recipient(&sink.messages());
    assert_eq!(counts.len(), 40, "the issue's recipients were frozen before nowy@ joined");
    assert!(counts.values().all(|&n| n == 1));
}

/// The titles of the posts a digest's text part presents (`== Title ==` headings; related
/// posts are listed without them).
fn posts_in(received: &Received) -> Vec<String> {
    let text = received.parsed().body_text(0).unwrap().into_owned();
    text.lines().filter_map(|l| l.strip_prefix("== ")?.strip_suffix(" ==")).map(str::to_owned).collect()
}

#[test]
fn the_first_issue_covers_only_the_first_window_and_older_posts_are_never_mailed() {
    // product.md: "the first issue ever looks back at most `first_window_days`". A week here;
    // the posts lie a day or more clear of the window's edge, so the run's own minutes do not
    // matter. The fixture's three posts (early 2026) are older than that too.
    let site = site_with(&active(2));
    site.replace("kurier.toml", &[("first_window_days = 36500", "first_window_days = 7")]);
    let now = chrono::Utc::now();
    let post = |file: &str, title: &str, days_ago: i64| {
        let date = (now - chrono::Duration::days(days_ago)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        site.write(
            &format!("content/{file}.md"),
            &format!("+++\ntitle = \"{title}\"\ndate = \"{date}\"\ntags = [\"okno\"]\n+++\nTreść.\n"),
        );
    };
    post("sprzed-miesiaca", "Sprzed miesiąca", 30);
    post("sprzed-osmiu-dni", "Sprzed ośmiu dni", 8);
    post("sprzed-szesciu-dni", "Sprzed sześciu dni", 6);
    post("wczorajszy", "Wczorajszy", 1);
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    let first = sink.messages();
    assert_eq!(first.len(), 2);
    for received in &first {
        assert_eq!(posts_in(received), ["Wczorajszy", "Sprzed sześciu dni"]);
        assert_eq!(received.parsed().subject(), Some("Fixture: Zażółć gęślą jaźń — 2 nowe wpisy"));
    }

    // The posts left out are the baseline: the next issue has only what is new since.
    post("dzisiejszy", "Dzisiejszy", 0);
    send(&site, &sink).expect_code(0);
    let second: Vec<Received> = sink.messages().into_iter().skip(2).collect();
    assert_eq!(second.len(), 2);
    for received in &second {
        assert_eq!(posts_in(received), ["Dzisiejszy"]);
    }
    let run = send(&site, &sink).expect_code(0);
    assert!(run.stdout().contains("nothing new since the last issue"), "{}", run.stdout());
    assert_eq!(sink.count(), 4);
}

#[test]
fn an_sqlite_store_moves_to_postgres_whole_and_the_site_goes_on_there() {
    // Issue 10: `kurier store migrate --to postgres://…`.
    if support::sqlite_only("moving an SQLite store") {
        return;
    }
    let Some(url) = support::test_database("store migrate") else { return };
    let site = site_with(&active(3));
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    site.kurier(&["subscribers", "remove", "reader002@example.org"]).expect_code(0);
    let list = site.kurier(&["subscribers", "list"]).expect_code(0).stdout();
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();

    let run = site.kurier(&["store", "migrate", "--to", &url]).expect_code(0);
    for copied in ["subscribers: 3", "issues: 1", "deliveries: 3", "meta: "] {
        assert!(run.stdout().contains(copied), "{copied}: {}", run.stdout());
    }
    let on_postgres = [("KURIER_STORE_URL", url.as_str())];
    assert_eq!(site.kurier_env(&["subscribers", "list"], &on_postgres).expect_code(0).stdout(), list);
    assert_eq!(site.kurier_env(&["digest", "status"], &on_postgres).expect_code(0).stdout(), status);
    // Once more into the same database: refused, nothing written.
    let again = site.kurier(&["store", "migrate", "--to", &url]).expect_code(1);
    assert!(again.stderr().contains("must be empty"), "{}", again.stderr());
    assert_eq!(site.kurier_env(&["subscribers", "list"], &on_postgres).expect_code(0).stdout(), list);

    // The site goes on there: a new post is issue 2, for the two still subscribed.
    let date = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    site.write("content/nowy.md", &format!("+++\ntitle = \"Nowy\"\ndate = \"{date}\"\n+++\nTreść.\n"));
    let sink_url = sink.url();
    let run = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", sink_url.as_str()), on_postgres[0]]);
    let run = run.expect_code(0);
    assert!(run.stdout().contains("issue 2"), "{}", run.stdout());
    let second: Vec<Received> = sink.messages().into_iter().skip(3).collect();
    let recipients: BTreeSet<String> = per_recipient(&second).into_keys().collect();
    assert_eq!(recipients, BTreeSet::from(["reader001@example.org".to_owned(), "reader003@example.org".to_owned()]));
    assert!(second.iter().all(|m| posts_in(m) == ["Nowy"]), "only the new post");
}

#[test]
fn a_progress_bar_shows_on_a_terminal_and_not_in_a_pipe() {
    let site = site_with(&active(30));
    let sink = Sink::start();
    sink.set_rules(json!({"data_delay_ms": 10}));
    // `script` runs the command on a pseudo-terminal, as an operator's shell would.
    let command = format!("{} --root {} digest send", env!("CARGO_BIN_EXE_kurier"), site.root().display());
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("KURIER_SMTP_URL", sink.url())
        .env("RUST_LOG", "warn")
        .envs(site.store_url().map(|url| ("KURIER_STORE_URL", url)))
        .output()
        .expect("script(1) from util-linux runs");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("/30 messages"), "no progress bar on the terminal: {screen}");
    assert!(screen.contains("sent 30, failed 0"), "{screen}");

    let site = site_with(&active(3));
    let run = send(&site, &sink).expect_code(0);
    assert!(!run.stderr().contains("messages,") && !run.stdout().contains("/3 messages"), "{}", run.stderr());
}

#[test]
fn check_reports_a_template_that_uses_an_unknown_variable() {
    let site = TempSite::fixture("digest");
    site.kurier(&["check"]).expect_code(0);
    site.write("templates/digest.txt", "{{ site.title }}\n{{ nie_ma }}\n");
    let run = site.kurier(&["check"]).expect_code(1);
    assert!(run.stderr().contains("templates/digest.txt: "), "{}", run.stderr());
    assert!(run.stderr().contains("nie_ma"), "{}", run.stderr());
    site.replace("kurier.toml", &[("{{ site.title }} —", "{{ site.title }")]);
    let run = site.kurier(&["check"]).expect_code(1);
    assert!(run.stderr().contains("kurier.toml digest.subject: "), "{}", run.stderr());
}

#[test]
fn starttls_and_implicit_tls_with_a_trusted_ca_deliver_and_an_untrusted_certificate_does_not() {
    for (mode, url) in [("starttls", "smtp://localhost:{port}?tls=required"), ("implicit", "smtps://localhost:{port}")]
    {
        let sink = Sink::with_tls(mode);
        let url = url.replace("{port}", &sink.port.to_string());
        // The test certificate's CA is not one of the web's: without smtp.ca_file nothing goes out
        // (deferred: the operator can still fix the configuration).
        let site = site_with(&active(2));
        let run = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &url)]).expect_code(75);
        assert!(
            run.stdout().contains("sent 0, failed 0, skipped 0, retried 4, deferred 2"),
            "{mode}: {}",
            run.stdout()
        );
        assert_eq!(sink.count(), 0, "{mode}");

        let site = site_with(&active(2));
        std::fs::copy(support::repo().join("tests/fixtures/tls/ca.pem"), site.path("ca.pem")).unwrap();
        site.replace("kurier.toml", &[("concurrency = 4", "concurrency = 4\nca_file = \"ca.pem\"")]);
        let run = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &url)]).expect_code(0);
        assert!(run.stdout().contains("sent 2, failed 0"), "{mode}: {}", run.stdout());
        assert_eq!(sink.count(), 2, "{mode}");
    }
    // tls=required against a server without STARTTLS: refused, not sent in clear.
    let sink = Sink::start();
    let site = site_with(&active(1));
    let url = format!("smtp://127.0.0.1:{}?tls=required", sink.port);
    let run = site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &url)]).expect_code(75);
    assert!(run.stdout().contains("sent 0, failed 0, skipped 0, retried 2, deferred 1"), "{}", run.stdout());
    assert_eq!(sink.count(), 0);
}

#[test]
fn envelope_senders_are_verp_addresses_ehlo_names_the_sender_and_a_new_store_gives_new_message_ids() {
    // Regression: two stores on one domain (a reinstall) produced the same Message-ID for
    // different messages, and bounces could not be matched: the envelope sender was the From.
    let site = site_with(&active(3));
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    let first = sink.messages();
    let store = site.store();
    let verp = kurier::mail::Verp::new(&store.secret().unwrap(), "bounces@digest.example.org").unwrap();
    for message in &first {
        let subscriber = store.subscriber_by_email(message.recipient()).unwrap().unwrap().id;
        assert!(message.mail_from.starts_with("bounces+1-"), "{}", message.mail_from);
        assert_eq!(verp.parse(&message.mail_from), Some(kurier::mail::verp::Tagged { issue: 1, subscriber }));
        assert_eq!(message.helo, "digest.example.org");
    }
    drop(store);
    let ids = |messages: &[Received]| -> BTreeSet<String> {
        messages.iter().map(|m| m.parsed().message_id().unwrap().to_owned()).collect()
    };
    let first_ids = ids(&first);
    assert_eq!(first_ids.len(), 3);

    // A reinstall: a new store, the same list, issue 1 again.
    site.new_store();
    site.kurier(&["subscribers", "import", site.path("list.csv").to_str().unwrap()]).expect_code(0);
    site.replace("kurier.toml", &[("concurrency = 4", "concurrency = 4\nhelo = \"mail.example.net\"")]);
    send(&site, &sink).expect_code(0);
    let second: Vec<Received> = sink.messages().into_iter().skip(3).collect();
    let second_ids = ids(&second);
    assert_eq!(second_ids.len(), 3);
    assert!(second_ids.iter().all(|id| id.starts_with("kurier.1.")), "{second_ids:?}");
    assert!(first_ids.is_disjoint(&second_ids), "{first_ids:?} {second_ids:?}");
    assert!(second.iter().all(|m| m.helo == "mail.example.net"));
}

#[test]
fn a_unicode_domain_is_one_subscriber_mailed_at_its_a_labels_and_a_non_ascii_local_part_needs_smtputf8() {
    // Regression: `user@żółw.pl` was sent as raw UTF-8 and a server without SMTPUTF8 refused it
    // "for now", four runs in a row; `user@xn--w-uga1v8h.pl` was a second subscriber.
    let site = site_with(&["user@żółw.pl,,active".into(), "żółw@example.org,,active".into(), active(1).remove(0)]);
    let again = site.kurier(&["subscribers", "add", "USER@xn--w-uga1v8h.pl"]).expect_code(1);
    assert!(again.stderr().contains("user@żółw.pl is already in the list"), "{}", again.stderr());

    let sink = Sink::without_smtputf8();
    let run = send(&site, &sink).expect_code(1);
    assert!(run.stdout().contains("sent 2, failed 1, skipped 0, retried 0, deferred 0"), "{}", run.stdout());
    let recipients: BTreeSet<String> = sink.messages().iter().map(|m| m.recipient().to_owned()).collect();
    assert!(recipients.contains("user@xn--w-uga1v8h.pl"), "{recipients:?}");
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains("failed żółw@example.org: the address has non-ASCII characters before the @"), "{status}");
    assert!(status.contains("does not offer SMTPUTF8"), "{status}");
    // Permanent: the next send does not try it again.
    send(&site, &sink).expect_code(0);
    assert_eq!(sink.count(), 2);
}

#[test]
fn names_with_links_or_too_long_are_refused_and_long_names_keep_header_lines_short() {
    let site = site_with(&active(1));
    let add = site.kurier(&["subscribers", "add", "x@example.org", "--name", "Nagroda: https://evil.example"]);
    let add = add.expect_code(1);
    assert!(add.stderr().contains("the name cannot be used: it looks like a link or an address"), "{}", add.stderr());
    site.write(
        "long.csv",
        &format!("email,name,status\nok@example.org,Ola,active\nlong@example.org,{},active\n", "a".repeat(101)),
    );
    let import = site.kurier(&["subscribers", "import", site.path("long.csv").to_str().unwrap()]).expect_code(1);
    assert!(
        import.stderr().contains("line 3: name: the name cannot be used: it is longer than 100 characters"),
        "{}",
        import.stderr()
    );

    // The longest name allowed, all of it Polish letters: every header line stays short.
    let longest: String = "Żółć ".repeat(20).trim().to_owned();
    site.kurier(&["subscribers", "add", "dluga@example.org", "--name", &longest, "--confirmed"]).expect_code(0);
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    let message = sink.messages().into_iter().find(|m| m.recipient() == "dluga@example.org").unwrap();
    let raw = String::from_utf8(message.raw.clone()).unwrap();
    let headers = &raw[..raw.find("\r\n\r\n").unwrap()];
    assert!(headers.split("\r\n").all(|line| line.len() <= 998), "{headers}");
    let to = message.parsed().to().unwrap().first().unwrap().name().unwrap().to_owned();
    assert_eq!(to, longest);
}

#[test]
fn a_550_bounces_the_subscriber_at_once_and_only_the_operator_can_reset_it() {
    // Regression: a recipient answered `550 5.1.1 User unknown` stayed active, was mailed again
    // in every issue, and `digest send` exited 1 forever.
    let site = site_with(&active(3));
    let sink = Sink::start();
    let dead = "reader002@example.org";
    sink.set_rules(json!({"rcpt": {dead: {"code": 550, "times": -1, "message": "5.1.1 No such user"}}}));
    send(&site, &sink).expect_code(1);
    let bounced = site.kurier(&["subscribers", "list", "--status", "bounced"]).expect_code(0).stdout();
    assert!(
        bounced.starts_with(dead) && bounced.contains("5.1.1 No such user") && bounced.contains("(issue 1)"),
        "{bounced}"
    );
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains("bounces: permanent 1"), "{status}");

    // The next issue leaves the address out: nothing fails, nothing is tried.
    site.write("content/2026-04-01-czwarty.md", "+++\ntitle = \"Czwarty\"\ndate = 2026-04-01\n+++\nx\n");
    let run = send(&site, &sink).expect_code(0);
    assert!(run.stdout().contains("sent 2, failed 0"), "{}", run.stdout());
    assert_eq!(sink.rcpt_log().iter().filter(|(a, _)| a == dead).count(), 1);

    let reset = site.kurier(&["subscribers", "reset", dead]).expect_code(0);
    assert!(reset.stdout().contains("is active again"), "{}", reset.stdout());
    site.kurier(&["subscribers", "reset", dead]).expect_code(1);
}

#[test]
fn bounces_and_complaints_of_every_common_format_are_classified_matched_and_applied() {
    // Regression: a bounce that came back later (through a relay, as a DSN) could not be matched
    // to a subscriber, and complaints were not read at all.
    let site = site_with(&active(14));
    let store = site.store();
    let verp = kurier::mail::Verp::new(&store.secret().unwrap(), "bounces@digest.example.org").unwrap();
    let id = |n: u32| store.subscriber_by_email(&format!("reader{n:03}@example.org")).unwrap().unwrap().id;
    let placeholder = "bounces+1-2-PLACEHOLDERMAC@digest.example.org";
    // The VERP files come back for reader003's and reader014's messages of issue 1.
    let verp_for = |file: &str| match file {
        "verp-postfix.eml" => Some(verp.address(1, id(3))),
        "verp-arf.eml" => Some(verp.address(1, id(14))),
        _ => None,
    };
    let fixtures = support::repo().join("tests/fixtures/bounces");
    let expected = std::fs::read_to_string(fixtures.join("EXPECTED")).unwrap();
    let mut files = Vec::new();
    let mut wanted = Vec::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let (file, verdict) = line.split_once(": ").unwrap();
        let mut text = std::fs::read_to_string(fixtures.join(file)).unwrap();
        if let Some(address) = verp_for(file) {
            assert!(text.contains(placeholder), "{file}");
            text = text.replace(placeholder, &address);
        }
        let path = site.path(&format!("bounces/{file}"));
        site.write(&format!("bounces/{file}"), &text);
        wanted.push(format!("{}: {}", path.display(), verdict.replace("(verp)", "reader014@example.org")));
        files.push(path.display().to_string());
    }
    drop(store);
    let mut args = vec!["bounces", "ingest"];
    args.extend(files.iter().map(String::as_str));
    let run = site.kurier(&args).expect_code(0);
    let got: Vec<String> = run.stdout().lines().map(str::to_owned).collect();
    assert_eq!(got, wanted);

    let list = |status: &str| -> Vec<String> {
        let out = site.kurier(&["subscribers", "list", "--status", status]).expect_code(0).stdout();
        out.lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect()
    };
    let reader = |ns: &[u32]| -> Vec<String> { ns.iter().map(|n| format!("reader{n:03}@example.org")).collect() };
    assert_eq!(list("bounced"), reader(&[1, 2, 3, 4, 5, 6, 7, 12]));
    assert_eq!(list("complained"), reader(&[9, 14]));
    assert!(list("active").contains(&"reader008@example.org".to_owned()), "one transient bounce is counted, not more");
    let reasons = site.kurier(&["subscribers", "list", "--status", "bounced"]).expect_code(0).stdout();
    assert!(reasons.contains("5.1.1"), "{reasons}");

    // Standard input, as an MTA's pipe transport delivers a message.
    let mut child = site.spawn(&["bounces", "ingest"], &[]);
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&std::fs::read(fixtures.join("vacation.eml")).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "-: ignored");
}

#[test]
fn a_550_after_data_bounces_too_and_a_delivery_deferred_past_retry_hours_is_given_up_and_counted() {
    let site = site_with(&active(3));
    site.replace("kurier.toml", &[("max_attempts = 3", "max_attempts = 1\nretry_hours = 0")]);
    let sink = Sink::start();
    sink.set_rules(json!({
        "data": {"reader001@example.org": {"code": 550, "message": "5.7.1 Message refused"}},
        "rcpt": {"reader002@example.org": {"code": 451, "times": -1, "message": "4.7.1 Try later"}}
    }));
    let run = send(&site, &sink).expect_code(1);
    assert!(run.stdout().contains("sent 1, failed 2, skipped 0, retried 0, deferred 0"), "{}", run.stdout());
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert!(status.contains("failed reader001@example.org: ") && status.contains("5.7.1 Message refused"), "{status}");
    assert!(status.contains("failed reader002@example.org: gave up after 0 h of deferrals"), "{status}");
    assert!(status.contains("bounces: permanent 1, transient 1"), "{status}");
    let bounced = site.kurier(&["subscribers", "list", "--status", "bounced"]).expect_code(0).stdout();
    assert!(bounced.starts_with("reader001@example.org") && bounced.lines().count() == 1, "{bounced}");
}

#[test]
fn prune_deletes_the_deliveries_of_old_issues_and_status_shows_the_same_counts() {
    let site = site_with(&active(3));
    let sink = Sink::start();
    send(&site, &sink).expect_code(0);
    let before = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    let issue_line = |status: &str| status.lines().find(|l| l.starts_with("issue 1 ")).unwrap().to_owned();
    assert!(issue_line(&before).ends_with("sent 3"), "{before}");
    let kept = site.kurier(&["digest", "prune", "--older-than", "30d"]).expect_code(0).stdout();
    assert!(kept.starts_with("pruned 0 deliveries of 0 issues"), "a fresh issue is kept: {kept}");
    let pruned = site.kurier(&["digest", "prune", "--older-than", "0d"]).expect_code(0).stdout();
    assert!(pruned.starts_with("pruned 3 deliveries of 1 issue finished"), "{pruned}");
    let after = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    assert_eq!(issue_line(&after), issue_line(&before));
    let bad = site.kurier(&["digest", "prune", "--older-than", "90"]).expect_code(2);
    assert!(bad.stderr().contains("`90` is not a number of days such as `90d`"), "{}", bad.stderr());
}
