//! The HTTP side of `kurier run` as subscribers and strangers meet it: what the subscription
//! endpoints answer and how fast, what their links still do after the subscriber changed, and
//! what the daemon writes to its log about them. The real binary on a free port, mail into
//! aiosmtpd.

mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::json;
use support::TempSite;
use support::daemon::{Daemon, Reply, SECRET, site};
use support::smtp::Sink;

const FORM: &str = "application/x-www-form-urlencoded";

fn start(site: &TempSite, sink: &Sink, log_level: &str) -> Daemon {
    Daemon::start(site, &[("KURIER_SMTP_URL", &sink.url()), ("KURIER_SECRET", SECRET), ("RUST_LOG", log_level)])
}

fn subscribe(daemon: &Daemon, address: &str) -> Reply {
    daemon.post("/subscribe", "application/json", &json!({ "email": address }).to_string())
}

/// The path of the confirmation link in the latest mail to `address`, waiting for that mail
/// to be the `nth` (from 1) confirmation it got.
fn confirmation_path(sink: &Sink, address: &str, nth: usize) -> String {
    let deadline = Instant::now() + support::PATIENCE;
    loop {
        let mails: Vec<_> = sink.messages().into_iter().filter(|m| m.recipient() == address).collect();
        if mails.len() >= nth {
            let text = mails[nth - 1].parsed().body_text(0).unwrap().into_owned();
            let url = text.split_whitespace().find(|w| w.contains("/confirm/")).expect("a confirm link").to_owned();
            return url.strip_prefix("https://digest.example.org").unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "confirmation {nth} to {address} never came");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status_of(site: &TempSite, address: &str) -> String {
    let list = site.kurier(&["subscribers", "list"]).expect_code(0).stdout();
    list.lines().find(|l| l.starts_with(address)).map(|l| l.split('\t').nth(1).unwrap().to_owned()).unwrap_or_default()
}

/// Panics if `text` shows any of `addresses` in full, in any case.
fn assert_no_address(text: &str, addresses: &[&str]) {
    let lower = text.to_lowercase();
    for address in addresses {
        assert!(!lower.contains(&address.to_lowercase()), "{address} in full in:\n{text}");
    }
}

#[test]
fn subscribe_answers_a_new_address_before_its_confirmation_is_sent_and_as_it_answers_an_active_one() {
    // Regression: the answer waited for the confirmation's SMTP exchange, so a new address took
    // 210 ms and an active one (no mail) 2 ms — which told anyone whether an address was on the
    // list. Here the sink holds every message at the end of DATA until the test lets it go: the
    // answers all come while no confirmation has been sent, so none waits for one (if one did,
    // it would wait for the test, which waits for the answer, and the request would time out).
    // The time the answers take is not measured: that belongs in a benchmark.
    let rounds = 15;
    let site = site(rounds);
    site.replace("kurier.toml", &[("timeout_seconds = 5", "timeout_seconds = 600")]);
    let sink = Sink::start();
    sink.set_rules(json!({ "hold_data": true }));
    let daemon = start(&site, &sink, "info");
    // Every POST comes from its own loopback address: 30 POSTs from one client would meet the
    // per-client rate limit.
    let client = |n: usize| Ipv4Addr::new(127, 0, 1, n as u8 + 1);
    let post = |n: usize, address: &str| {
        let (status, body) = daemon.post_from(client(n), "/subscribe", FORM, &format!("email={address}"));
        assert_eq!(status, 202, "{address}: {}", daemon.logs());
        body
    };
    let first = post(0, "pierwszy%40example.org");
    for i in 1..=rounds {
        assert_eq!(post(2 * i, &format!("nowy{i:03}%40example.org")), first, "the answer tells a new address");
        assert_eq!(post(2 * i + 1, &format!("reader{i:03}%40example.org")), first, "the answer tells an active one");
    }
    // The confirmations are on their way, held by the sink: not one has been sent yet.
    let deadline = Instant::now() + support::PATIENCE;
    while sink.rcpts().is_empty() {
        assert!(Instant::now() < deadline, "no confirmation was begun:\n{}", daemon.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(sink.count(), 0, "a confirmation was sent before all the answers came");

    // Let go, they are all sent, in the background: one per new address, none to an active one.
    sink.set_rules(json!({}));
    assert!(sink.wait_for(rounds + 1, support::PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("confirmation e-mail sent", rounds + 1, support::PATIENCE), "{}", daemon.logs());
    assert!(sink.messages().iter().all(|m| !m.recipient().starts_with("reader")), "an active address got mail");
}

#[test]
fn a_confirmation_link_works_once_and_dies_when_the_subscriber_changes() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "info");
    let ola = "ola@example.org";

    // A second subscription replaces the first link.
    assert_eq!(subscribe(&daemon, ola).status, 202);
    let first = confirmation_path(&sink, ola, 1);
    assert_eq!(subscribe(&daemon, ola).status, 202);
    let second = confirmation_path(&sink, ola, 2);
    assert_eq!(daemon.get(&first).status, 410, "GET of a replaced link");
    assert_eq!(daemon.post(&first, FORM, "").status, 410, "POST of a replaced link");
    assert_eq!(status_of(&site, ola), "pending");

    // The current link confirms once; used again it is gone.
    assert_eq!(daemon.get(&second).status, 200);
    assert_eq!(daemon.post(&second, FORM, "").status, 200);
    assert_eq!(status_of(&site, ola), "active");
    let again = daemon.post(&second, FORM, "");
    assert_eq!(again.status, 410, "a used link");
    assert!(again.text().contains("został już użyty"), "{}", again.text());

    // Regression: after an unsubscribe, someone re-submits the address (it is pending again,
    // with a new link in Ola's mailbox); the old link reactivated it.
    site.kurier(&["subscribers", "remove", ola]).expect_code(0);
    assert_eq!(subscribe(&daemon, ola).status, 202);
    confirmation_path(&sink, ola, 3);
    assert_eq!(daemon.get(&second).status, 410);
    assert_eq!(daemon.post(&second, FORM, "").status, 410);
    assert_eq!(status_of(&site, ola), "pending", "the old link reactivated the address");
}

#[test]
fn a_confirmation_queued_when_the_daemon_stops_is_still_sent() {
    let site = site(0);
    let sink = Sink::start();
    sink.set_rules(json!({ "data_delay_ms": 500 }));
    let daemon = start(&site, &sink, "info");
    assert_eq!(subscribe(&daemon, "ostatni@example.org").status, 202);
    let status = daemon.terminate(support::PATIENCE);
    assert!(status.success(), "{status:?}");
    assert_eq!(sink.count(), 1, "the queued confirmation was dropped at the stop");
}

#[test]
fn a_well_signed_token_for_no_subscriber_is_invalid_not_expired() {
    let site = site(1);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "info");
    let tokens = kurier::mail::Tokens::new(SECRET.as_bytes());
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    for path in
        [format!("/confirm/{}", tokens.confirm(999, 0, tomorrow)), format!("/unsubscribe/{}", tokens.unsubscribe(999))]
    {
        assert_eq!(daemon.get(&path).status, 400, "GET {path}");
        assert_eq!(daemon.post(&path, FORM, "List-Unsubscribe=One-Click").status, 400, "POST {path}");
    }
    // A genuine link of an existing subscriber that is not pending: used or outdated, 410.
    let active = format!("/confirm/{}", tokens.confirm(1, 0, tomorrow));
    assert_eq!(daemon.post(&active, FORM, "").status, 410);
    assert_eq!(status_of(&site, "reader001@example.org"), "active");
}

#[test]
fn addresses_at_an_ip_literal_are_refused_by_the_form_and_the_command_line() {
    // Regression: `a@[127.0.0.1]` was accepted, then answered 500 "could not send".
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "info");
    let form = daemon.post("/subscribe", FORM, "email=a%40%5B127.0.0.1%5D");
    assert_eq!(form.status, 400, "{}", form.text());
    assert!(form.text().contains("nie pod adresem IP"), "{}", form.text());
    let reply = subscribe(&daemon, "b@[10.0.0.1]");
    assert_eq!(reply.status, 400);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap()["error"], "invalid_email");

    let add = site.kurier(&["subscribers", "add", "c@[192.168.0.1]"]).expect_code(1);
    assert_eq!(
        add.stderr().trim(),
        "error: `c@[192.168.0.1]` has an IP address for a domain; kurier mails only addresses at domain names"
    );
    site.write("ip.csv", "email,name\nd@example.org,D\ne@[IPv6:::1],E\n");
    let import = site.kurier(&["subscribers", "import", site.path("ip.csv").to_str().unwrap()]).expect_code(1);
    assert!(import.stderr().contains("line 3: `e@[IPv6:::1]` has an IP address for a domain"), "{}", import.stderr());
    assert_eq!(site.kurier(&["subscribers", "list"]).expect_code(0).stdout(), "");
}

#[test]
fn subscribe_reads_media_types_regardless_of_case_and_names_the_ones_it_takes() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "info");
    // Regression: `Application/JSON` was parsed as a form, and so found no address.
    let json = daemon.post("/subscribe", "Application/JSON; Charset=UTF-8", r#"{"email": "jan@example.org"}"#);
    assert_eq!(json.status, 202, "{}", json.text());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&json.body).unwrap()["status"], "pending");
    let form = daemon.post("/subscribe", "APPLICATION/X-WWW-FORM-URLENCODED", "email=ewa%40example.org");
    assert_eq!(form.status, 202);
    assert_eq!(form.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        (status_of(&site, "jan@example.org"), status_of(&site, "ewa@example.org")),
        ("pending".into(), "pending".into())
    );

    let other = daemon.post("/subscribe", "text/plain", "email=x@example.org");
    assert_eq!(other.status, 415);
    assert_eq!(other.header("accept"), Some("application/x-www-form-urlencoded, application/json"));
    assert!(other.text().contains("not text/plain"), "{}", other.text());
    let broken = daemon.post("/subscribe", "application/json", "{\"email\": ");
    assert_eq!(broken.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&broken.body).unwrap();
    assert_eq!(body["error"], "invalid_json", "{body}");
}

#[test]
fn logs_show_subscribers_by_id_and_masked_address_and_each_cause_once() {
    let site = site(3);
    let sink = Sink::start();
    let rcpt = |code: u16, text: &str| json!({ "code": code, "times": -1, "message": text });
    sink.set_rules(json!({ "rcpt": {
        "reader002@example.org": rcpt(550, "5.1.1 <reader002@example.org>: no such user"),
        "reader003@example.org": rcpt(451, "4.7.1 <reader003@example.org>: greylisted"),
        "odrzucony@example.org": rcpt(550, "5.1.1 <odrzucony@example.org>: no such user"),
    }}));
    let addresses = [
        "reader001@example.org",
        "reader002@example.org",
        "reader003@example.org",
        "odrzucony@example.org",
        "nowa@example.org",
    ];

    // The delivery engine's lines, from `digest send` at debug level: a permanent failure,
    // transient ones retried, and the deferral after the last attempt.
    let env = [("KURIER_SMTP_URL", sink.url()), ("KURIER_SECRET", SECRET.into()), ("RUST_LOG", "debug".into())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let send = site.kurier_env(&["digest", "send"], &env).expect_code(1);
    let logs = send.stderr();
    for line in ["permanent delivery failure", "transient failure, retrying", "delivery deferred"] {
        assert!(logs.contains(line), "no {line:?} in\n{logs}");
    }
    assert!(logs.contains("subscriber=2") && logs.contains("r***@example.org"), "{logs}");
    assert_no_address(&logs, &addresses);
    // The server's reply is recorded and shown once, not "…: no such user: …: no such user".
    let status = site.kurier(&["digest", "status"]).expect_code(0).stdout();
    let failed = status.lines().find(|l| l.contains("failed reader002@example.org")).expect(&status);
    assert_eq!(failed.matches("no such user").count(), 1, "{failed}");

    // The daemon: a confirmation the server refuses, one it takes, a 404 naming an address.
    let daemon = start(&site, &sink, "debug");
    assert_eq!(subscribe(&daemon, "odrzucony@example.org").status, 202);
    assert_eq!(subscribe(&daemon, "nowa@example.org").status, 202);
    assert_eq!(daemon.get("/ludzie/nowa@example.org").status, 404);
    assert!(daemon.wait_for_log("cannot send a confirmation e-mail", 1, support::PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("confirmation e-mail sent", 1, support::PATIENCE), "{}", daemon.logs());
    assert!(daemon.wait_for_log("HTTP client error", 1, support::PATIENCE), "{}", daemon.logs());
    let logs = daemon.logs();
    let refused = logs.lines().find(|l| l.contains("cannot send a confirmation e-mail")).unwrap();
    assert!(refused.contains("subscriber=4") && refused.contains("o***@example.org"), "{refused}");
    assert_eq!(refused.matches("no such user").count(), 1, "{refused}");
    assert!(logs.contains("/ludzie/n***@example.org"), "{logs}");
    assert_no_address(&logs, &addresses);
}

#[test]
fn client_errors_are_logged_with_cut_paths_at_most_ten_a_second_with_a_count_of_the_rest() {
    // Regression: every 404 logged its whole path: 8 KiB paths wrote 16 MB of log in 0.8 s.
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "info");
    let requests = 200;
    let path = format!("/{}", "x".repeat(8 * 1024));
    for _ in 0..requests {
        assert_eq!(daemon.get(&path).status, 404);
    }
    // Every request is accounted for: logged, or counted in a summary (which comes within a
    // second of the first request it leaves out).
    let accounted = |logs: &str| -> u64 {
        let logged = logs.lines().filter(|l| l.contains("HTTP client error")).count() as u64;
        let summarized: u64 = logs
            .lines()
            .filter_map(|l| l.split("suppressed=").nth(1))
            .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse::<u64>().unwrap())
            .sum();
        logged + summarized
    };
    let deadline = Instant::now() + support::PATIENCE;
    while accounted(&daemon.logs()) < requests && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = daemon.logs();
    assert_eq!(accounted(&logs), requests, "{logs}");
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("HTTP client error")).collect();
    // At most ten a second, by the lines' own timestamps: any eleven lines in a row span at
    // least a second (less 200 ms: a line is stamped when written, a moment after its request
    // was counted, and a busy machine can make that moment longer).
    let stamps: Vec<chrono::DateTime<chrono::Utc>> =
        lines.iter().map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect();
    for (first, eleventh) in stamps.iter().zip(stamps.iter().skip(10)) {
        assert!(*eleventh - *first >= chrono::Duration::milliseconds(800), "eleven lines from {first} to {eleventh}");
    }
    for line in &lines {
        assert!(line.len() < 500, "a line of {} bytes: {line}", line.len());
        assert!(line.contains("(8193 bytes)"), "{line}");
    }
    assert!(logs.contains("suppressed"), "{logs}");
    assert!(logs.len() < 40 * 1024, "{} bytes of log for {requests} 404s", logs.len());
}

#[test]
fn an_error_names_its_cause_once() {
    // Regression: "cannot create …/subscribers: File exists (os error 17): File exists (os error 17)".
    if support::sqlite_only("a damaged SQLite file") {
        return;
    }
    let site = site(0);
    site.write("subscribers/kurier.sqlite", "not a database\n");
    let list = site.kurier(&["subscribers", "list"]).expect_code(1);
    assert_eq!(list.stderr().matches("file is not a database").count(), 1, "{}", list.stderr());
    std::fs::remove_dir_all(site.path("subscribers")).unwrap();
    site.write("subscribers", "a file where the folder should be\n");
    let list = site.kurier(&["subscribers", "list"]).expect_code(1);
    assert_eq!(list.stderr().matches("File exists").count(), 1, "{}", list.stderr());
}

#[test]
fn the_subscribe_form_cannot_carry_a_strangers_text_to_a_victims_inbox() {
    // Regression: the name went into the confirmation mail's `To:` ("Wygrałeś iPhone…
    // https://evil.example" to any address), and a 9,000-character name gave an SMTP `500 Line
    // too long` and an HTTP 503.
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "info");
    for name in ["Wygrałeś iPhone! Odbierz: https://evil.example", "evil.example", &"x".repeat(9000)] {
        let body = json!({ "email": "ofiara@example.org", "name": name }).to_string();
        let reply = daemon.post("/subscribe", "application/json", &body);
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(reply.text().contains("invalid_name"), "{}", reply.text());
        let form = format!(
            "email=ofiara%40example.org&name={}",
            name.replace(' ', "+").replace(':', "%3A").replace('/', "%2F")
        );
        assert_eq!(daemon.post("/subscribe", FORM, &form).status, 400);
    }
    assert_eq!(status_of(&site, "ofiara@example.org"), "", "nothing was stored");

    // A plain name is kept, but the confirmation greets nobody by it and leaves it out of `To:`.
    let body = json!({ "email": "anna@example.org", "name": "Anna Nowak" }).to_string();
    assert_eq!(daemon.post("/subscribe", "application/json", &body).status, 202);
    assert!(sink.wait_for(1, support::PATIENCE));
    let mail = sink.messages().remove(0);
    let raw = String::from_utf8(mail.raw.clone()).unwrap();
    assert!(raw.contains("\r\nTo: anna@example.org\r\n"), "{raw}");
    assert!(!raw.contains("Anna"), "{raw}");
    assert!(raw.split("\r\n").all(|line| line.len() <= 998));
}

#[test]
fn the_form_cannot_re_arm_a_bounced_or_complained_address() {
    let site = site(0);
    site.write("list.csv", "email,name,status\nodbity@example.org,,bounced\n");
    site.kurier(&["subscribers", "import", site.path("list.csv").to_str().unwrap()]).expect_code(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "info");
    assert_eq!(subscribe(&daemon, "odbity@example.org").status, 202);
    // Confirmations go out in order: once the next one is there, none went to the bounced one.
    assert_eq!(subscribe(&daemon, "nowy@example.org").status, 202);
    assert!(sink.wait_for(1, support::PATIENCE));
    let to: Vec<String> = sink.messages().iter().map(|m| m.recipient().to_owned()).collect();
    assert_eq!(to, ["nowy@example.org"]);
    assert_eq!(status_of(&site, "odbity@example.org"), "bounced");
}

#[test]
fn the_subscribe_rate_limit_is_kept_in_the_store_and_holds_across_a_restart() {
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "warn");
    let statuses: Vec<u16> = (0..4).map(|_| subscribe(&daemon, "target@example.org").status).collect();
    assert_eq!(statuses, [202, 202, 202, 429], "three confirmations an hour to one address");
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let daemon = start(&site, &sink, "warn");
    assert_eq!(subscribe(&daemon, "target@example.org").status, 429, "a restart does not reset the limit");
    assert_eq!(subscribe(&daemon, "other@example.org").status, 202, "other addresses are not held back");
}

#[test]
fn each_coding_of_a_feed_has_its_own_etag_weak_for_gzip_and_a_304_answers_for_either() {
    use std::io::Read;
    let site = site(0);
    let sink = Sink::start();
    let daemon = start(&site, &sink, "warn");
    let gzip = [("Accept-Encoding", "gzip")];
    let plain = daemon.request("GET", "/rss.xml", &[], None);
    let packed = daemon.request("GET", "/rss.xml", &gzip, None);
    let (plain_tag, packed_tag) = (plain.header("etag").unwrap(), packed.header("etag").unwrap());
    assert_eq!(packed.header("content-encoding"), Some("gzip"));
    assert_eq!(plain.header("content-encoding"), None);
    assert_ne!(plain_tag, packed_tag, "each coding has its own tag");
    // The plain bytes are the file's: a strong tag. The gzip bytes are compressed as they stream
    // and may differ from one answer to the next: a weak one (RFC 9110 §8.8.1).
    assert!(!plain_tag.starts_with("W/"), "{plain_tag}");
    assert_eq!(packed_tag, format!("W/{}-gzip\"", plain_tag.trim_end_matches('"')));
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed.body[..]).read_to_end(&mut unpacked).unwrap();
    assert_eq!(unpacked, plain.body);

    // Each client revalidates with the tag it holds, and is told the same tag again.
    let again = daemon.request("GET", "/rss.xml", &[("Accept-Encoding", "gzip"), ("If-None-Match", packed_tag)], None);
    assert_eq!((again.status, again.header("etag"), again.body.len()), (304, Some(packed_tag), 0));
    let again = daemon.request("GET", "/rss.xml", &[("If-None-Match", plain_tag)], None);
    assert_eq!((again.status, again.header("etag")), (304, Some(plain_tag)));
    // A tag of the other coding does not match: the client gets the bytes it asked for.
    let other = daemon.request("GET", "/rss.xml", &[("If-None-Match", packed_tag)], None);
    assert_eq!((other.status, other.header("etag")), (200, Some(plain_tag)));
    let last_modified = plain.header("last-modified").unwrap();
    let since =
        daemon.request("GET", "/rss.xml", &[("Accept-Encoding", "gzip"), ("If-Modified-Since", last_modified)], None);
    assert_eq!((since.status, since.header("etag")), (304, Some(packed_tag)));
    // gzip refused with q=0: the plain bytes.
    let refused = daemon.request("GET", "/rss.xml", &[("Accept-Encoding", "gzip;q=0")], None);
    assert_eq!((refused.header("content-encoding"), refused.header("etag")), (None, Some(plain_tag)));
}

#[test]
fn a_zola_sites_own_templates_leave_kuriers_pages_working_and_kurier_can_have_its_own() {
    let site = TempSite::fixture("zola-site");
    let config = site.read("kurier.toml");
    site.write(
        "kurier.toml",
        &format!("{config}\n[digest]\nfrom = \"Zola <news@zola.example.org>\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    );
    let check = site.kurier(&["check"]).expect_code(0);
    assert!(check.stderr().contains("warning: templates/page.html cannot render kurier's pages"), "{}", check.stderr());
    assert!(check.stderr().contains("templates/kurier/"), "the warning says what to do: {}", check.stderr());
    let daemon = Daemon::start(&site, &[("KURIER_SECRET", SECRET)]);
    let form = daemon.get("/subscribe");
    assert_eq!(form.status, 200, "{}", form.text());
    assert!(form.text().contains("name=\"email\""), "kurier's built-in subscribe form: {}", form.text());
    let warning = "templates/page.html cannot render kurier's pages";
    assert!(daemon.wait_for_log(warning, 1, support::PATIENCE), "{}", daemon.logs());

    // kurier's own folder: its page is used, and nothing else of templates/ is read.
    site.write(
        "templates/kurier/page.html",
        "<main><h1>{{ page.title }}</h1>kurier-own{% if page.action %}<form method=\"post\" action=\"{{ page.action }}\">\
         {% if page.ask_email %}<input name=\"email\">{% endif %}<button>{{ page.button }}</button></form>{% endif %}</main>",
    );
    let own = daemon.wait_for_body("/subscribe", "kurier-own", Duration::from_secs(30));
    assert!(own.is_some(), "the page of templates/kurier/ was not used: {}", daemon.logs());
    let check = site.kurier(&["check"]).expect_code(0);
    assert!(!check.stderr().contains("warning: templates"), "{}", check.stderr());
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_subscribe_limit() {
    let site = site(0);
    let config = site.read("kurier.toml");
    site.write(
        "kurier.toml",
        &config.replace("[http]\n", "[http]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n"),
    );
    assert!(site.read("kurier.toml").contains("trusted_proxies"), "the fixture has an [http] section");
    let sink = Sink::start();
    let daemon = start(&site, &sink, "warn");
    let from = |client: &str, i: usize| {
        let body = format!("email=c{i}%40example.org");
        let headers = [("Content-Type", FORM), ("X-Forwarded-For", client)];
        daemon.request("POST", "/subscribe", &headers, Some(body.as_bytes())).status
    };
    // Twelve clients behind the proxy, one subscription each: none is held back by the others.
    let statuses: Vec<u16> = (0..12).map(|i| from(&format!("198.51.100.{i}, 10.0.0.1"), i)).collect();
    assert!(statuses.iter().all(|&s| s == 202), "{statuses:?}");
    // One client: ten in ten minutes, then 429 — a forged address left of the real one changes nothing.
    let statuses: Vec<u16> = (0..11).map(|i| from(&format!("6.6.6.{i}, 203.0.113.9"), 100 + i)).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 1, "{statuses:?}");
    assert_eq!(statuses[10], 429);
}
