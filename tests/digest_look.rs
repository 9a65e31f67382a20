//! What the subscriber sees: the digest as an inbox, a browser and a spam filter take it.
//! The HTML part is laid out by headless Chromium (Debian's `chromium`) at a phone's and a
//! desktop's width; the message is scored by SpamAssassin (Debian's `spamassassin`, local tests
//! only). `tests/run.sh` installs both; without them these tests fail, never pass unchecked.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::TempSite;
use support::smtp::{Received, Sink};

const CHROMIUM: &str = "/usr/bin/chromium";
const SPAMASSASSIN: &str = "/usr/bin/spamassassin";

/// A post with what breaks layouts and text parts: a wide image, a long link, a heading and
/// inline script.
const AWKWARD_POST: &str = "+++\ntitle = \"Szeroki obraz i długi link\"\ndate = 2026-04-01\n+++\n\
Wstęp z <a href=\"https://digest.example.org/bardzo/dluga/sciezka/ktora/sie/nie/miesci/na/waskim/ekranie/telefonu/wcale\">linkiem</a> \
i skryptem <script>alert('skrypt')</script> w środku.\n\n\
<img src=\"https://digest.example.org/wykres.png\" width=\"1400\" height=\"500\" alt=\"Wykres snu\">\n\n\
Bardzolongiesłowobezspacjiktóremogłobyrozepchnąćkolumnęnawąskimekranieczytnikapocztyaniewolno.\n\n\
## Sekcja\n\nDalsza treść wpisu, która w skrócie się już nie zmieści, bo skrót ma limit słów.\n";

/// A 1400×500 image that needs no network.
const WIDE_IMAGE: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1400' height='500'%3E%3Crect width='1400' height='500' fill='%23a0522d'/%3E%3C/svg%3E";

/// The one message a one-subscriber site sends.
fn one_digest(site: &TempSite, sink: &Sink) -> Received {
    site.write("list.csv", "email,name,status\nanna@example.org,Anna,active\n");
    site.kurier(&["subscribers", "import", site.path("list.csv").to_str().unwrap()]).expect_code(0);
    site.kurier_env(&["digest", "send"], &[("KURIER_SMTP_URL", &sink.url())]).expect_code(0);
    let mut messages = sink.messages();
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

/// Runs `command`, killing it after `limit`; its stdout.
fn run_bounded(mut command: Command, limit: Duration) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} does not start ({e}): run the suite with tests/run.sh"));
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{command:?} failed: {status}");
            return reader.join().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Headless Chromium on `page` at `width` pixels.
fn chromium(page: &Path, width: u32, profile: &Path, extra: &str) -> Command {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: tests/run.sh installs Debian's chromium");
    let mut command = Command::new(CHROMIUM);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command.arg(format!("--window-size={width},2400"));
    command.arg(extra).arg(format!("file://{}", page.display()));
    command
}

#[test]
fn the_html_part_fits_375_and_1200_pixel_wide_screens_in_chromium() {
    let site = TempSite::fixture("digest");
    site.write("content/2026-04-01-szeroki.md", AWKWARD_POST);
    let sink = Sink::start();
    let html = one_digest(&site, &sink).parsed().body_html(0).unwrap().into_owned();

    let work = tempfile::tempdir().unwrap();
    let shots = support::repo().join("target/digest-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for width in [375, 1200] {
        // Headless Chromium keeps its window at least 500px wide, so the digest is laid out in
        // an iframe of exactly `width` pixels (its own viewport), and a script outside it writes
        // what it measured into the DOM. The message itself carries no script.
        // The test has no network: the copy gets the image inline, at its real 1400×500, so a
        // missing `max-width` would show (a broken image may shrink to its alt text).
        let offline = html.replace("https://digest.example.org/wykres.png", WIDE_IMAGE);
        let escaped = offline.replace('&', "&amp;").replace('"', "&quot;");
        let page = work.path().join(format!("digest-{width}.html"));
        std::fs::write(
            &page,
            format!(
                "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"d\" style=\"width:{width}px;height:2400px;border:0\" \
                 srcdoc=\"{escaped}\"></iframe><script>document.getElementById('d').addEventListener('load', e => {{ \
                 const w = e.target.contentWindow; \
                 document.body.setAttribute('data-overflow', `${{w.document.documentElement.scrollWidth}}/${{w.innerWidth}}`); }});\
                 </script></body></html>"
            ),
        )
        .unwrap();
        let profile = work.path().join(format!("profile-{width}"));
        let dom = run_bounded(chromium(&page, width.max(500), &profile, "--dump-dom"), Duration::from_secs(90));
        let measured = dom.split("data-overflow=\"").nth(1).and_then(|r| r.split('"').next());
        let Some((scroll, inner)) = measured.and_then(|m| m.split_once('/')) else {
            panic!("Chromium did not run the probe at {width}px:\n{dom}")
        };
        let (scroll, inner): (u32, u32) = (scroll.parse().unwrap(), inner.parse().unwrap());
        assert_eq!(inner, width, "the digest's viewport is {inner}px, not {width}px");
        assert!(scroll <= inner, "at {width}px the digest is {scroll}px wide: it scrolls sideways");

        let shot: PathBuf = shots.join(format!("digest-{width}.png"));
        let _ = std::fs::remove_file(&shot);
        let flag = format!("--screenshot={}", shot.display());
        run_bounded(chromium(&page, width.max(500), &profile, &flag), Duration::from_secs(90));
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0), "no screenshot at {}", shot.display());
    }
    // The image is inside the column, and has its alt text.
    assert!(html.contains("alt=\"Wykres snu\""), "{html}");
    assert!(html.contains("max-width: 100%") || html.contains("max-width:100%"), "{html}");
}

#[test]
fn the_text_part_is_wrapped_lists_its_links_and_has_no_script_text() {
    let site = TempSite::fixture("digest");
    site.write("content/2026-04-01-szeroki.md", AWKWARD_POST);
    let sink = Sink::start();
    let message = one_digest(&site, &sink);
    let text = message.parsed().body_text(0).unwrap().into_owned();
    for line in text.lines() {
        let one_word = !line.trim().contains(' ') || line.starts_with('[') || line.ends_with("/");
        assert!(line.chars().count() <= 78 || one_word, "a line over 78 columns: {line:?}");
    }
    assert!(!text.contains("alert") && !text.contains("skrypt'"), "{text}");
    assert!(text.contains("linkiem [1]"), "{text}");
    assert!(text.contains("\n[1] https://digest.example.org/bardzo/dluga/"), "{text}");
}

#[test]
fn spamassassin_scores_a_digest_of_the_sample_site_below_one() {
    assert!(Path::new(SPAMASSASSIN).exists(), "{SPAMASSASSIN} is missing: tests/run.sh installs Debian's spamassassin");
    let site = TempSite::sample();
    let sink = Sink::start();
    let message = one_digest(&site, &sink);
    let work = tempfile::tempdir().unwrap();
    let eml = work.path().join("digest.eml");
    std::fs::write(&eml, &message.raw).unwrap();
    let mut command = Command::new(SPAMASSASSIN);
    // -L: local tests only (no DNS, no network); -t: test mode, the report is appended.
    command.args(["-L", "-t"]).stdin(std::fs::File::open(&eml).unwrap());
    command.env("HOME", work.path());
    let report = run_bounded(command, Duration::from_secs(180));
    let status = report.lines().find(|l| l.starts_with("X-Spam-Status:")).unwrap_or_else(|| panic!("{report}"));
    let score: f64 = status
        .split("score=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{status}"));
    let hits = report.split("Content analysis details:").nth(1).unwrap_or(&report);
    println!("SpamAssassin score {score}:\n{hits}");
    assert!(score < 1.0, "SpamAssassin scores the digest {score}:\n{hits}");
}
