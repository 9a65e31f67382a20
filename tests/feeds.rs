//! Feeds end to end: the real `kurier` binary builds a fixture site, and the feeds are read back by
//! parsers we did not write (feed-rs here, Python's feedparser in the last tests) and checked
//! field by field.

mod support;

use chrono::DateTime;
use feed_rs::model::{Entry, Feed};
use support::{TempSite, snapshot};

const BASE: &str = "https://fixture.example.org/blog/";

/// The fixture site, built; broken posts make the build exit 1.
fn built_fixture() -> TempSite {
    let site = TempSite::fixture("site");
    site.kurier(&["build"]).expect_code(1);
    site
}

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

fn titles(feed: &Feed) -> Vec<String> {
    feed.entries.iter().map(|e| e.title.as_ref().unwrap().content.clone()).collect()
}

fn entry<'a>(feed: &'a Feed, title: &str) -> &'a Entry {
    feed.entries
        .iter()
        .find(|e| e.title.as_ref().is_some_and(|t| t.content == title))
        .unwrap_or_else(|| panic!("no entry {title:?} in {:?}", titles(feed)))
}

fn instant(rfc3339: &str) -> DateTime<chrono::Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

/// Newest first, ties (two posts on 2026-02-10) by id; the draft, the future post, the
/// `feed = false` post and the broken posts are absent; the oldest falls past `limit = 7`.
const EXPECTED_ORDER: [&str; 7] = [
    "Ból i stres: <pętla>, która się napędza",
    "Oś jelitowo-mózgowa",
    "Długi wpis o jelitach",
    "Sen a stres",
    "Ruch na co dzień",
    "Relaksacja Jacobsona",
    "Jak ćwiczyć oddech",
];

#[test]
fn broken_posts_are_reported_with_path_and_line_and_the_rest_still_publishes() {
    let site = TempSite::fixture("site");
    let run = site.kurier(&["build"]).expect_code(1);
    let stderr = run.stderr();
    for expected in [
        "content/2026-04-06-zly-typ.md:4: draft: invalid type: string \"tak\", expected a boolean",
        "content/2026-04-07-zla-skladnia.md:5: found unexpected end of stream",
        "content/2026-04-08-zla-data.md:4: date: `wczoraj` is not a date",
        "content/2026-04-09-zly-utf8.md:7: not valid UTF-8",
        "content/2026-04-10-bez-konca.md:1: front matter opened with `+++` is never closed",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert_eq!(stderr.lines().count(), 5, "{stderr}");
    assert!(run.stdout().contains("built 8 posts"), "{}", run.stdout());
    for file in ["rss.xml", "atom.xml", "feed.json"] {
        assert_eq!(titles(&site.feed(&format!("public/{file}"))), EXPECTED_ORDER, "{file}");
    }
}

#[test]
fn rss_channel_and_items_read_back_field_by_field() {
    let site = built_fixture();
    let feed = site.feed("public/rss.xml");
    assert_eq!(feed.title.as_ref().unwrap().content, "Fixture: Ciało i głowa");
    assert_eq!(feed.language.as_deref(), Some("pl"));
    assert_eq!(feed.links.iter().map(|l| l.href.as_str()).collect::<Vec<_>>(), [BASE, &url("rss.xml")]);
    // `lastBuildDate` is the newest item's date, not the time of the build.
    assert_eq!(feed.updated, Some(instant("2026-07-10T18:30:00+02:00")));
    assert_eq!(feed.generator.as_ref().unwrap().content, "kurier 0.1.0");

    let pain = entry(&feed, EXPECTED_ORDER[0]);
    assert_eq!(pain.id, url("2026/07/bol-i-stres/"));
    assert_eq!(pain.links.iter().map(|l| l.href.as_str()).collect::<Vec<_>>(), [url("2026/07/bol-i-stres/")]);
    // A date-time without an offset is read in Europe/Warsaw: CEST in July.
    assert_eq!(pain.published, Some(instant("2026-07-10T18:30:00+02:00")));
    // The description is the HTML excerpt, escaped (not CDATA): readers render it as HTML.
    assert_eq!(
        pain.summary.as_ref().unwrap().content,
        "<p>Jak przewlekły ból i stres <strong>wzmacniają</strong> się nawzajem.</p>"
    );
    let raw = site.read("public/rss.xml");
    assert!(!raw.contains("<![CDATA["), "{raw}");
    assert!(raw.contains("<description>&lt;p&gt;Jak przewlekły ból"), "{raw}");
    assert_eq!(pain.categories.iter().map(|c| c.term.as_str()).collect::<Vec<_>>(), ["ból", "stres", "Wiedza"]);
    assert_eq!(
        pain.authors.iter().map(|a| a.name.as_deref().unwrap_or_default()).collect::<Vec<_>>(),
        ["Jan Kowalski"]
    );
    let content = pain.content.as_ref().unwrap().body.as_deref().unwrap();
    assert!(content.starts_with("<p>Przewlekły ból zwiększa napięcie"), "{content}");
    assert!(content.contains("<h2>Spodobają Ci się także</h2>"), "{content}");

    // An explicit id that is not a URL: guid isPermaLink="false", link still the permalink.
    let sleep = entry(&feed, "Sen a stres");
    assert_eq!(sleep.id, "post-sen-42");
    assert!(site.read("public/rss.xml").contains("<guid isPermaLink=\"false\">post-sen-42</guid>"));
    assert_eq!(sleep.links[0].href, url("2026/03/sen-a-stres/"));

    // RFC 822 dates with a four-digit year and the site's offset; items carry atom:updated.
    let raw = site.read("public/rss.xml");
    assert!(raw.contains("<pubDate>Mon, 2 Mar 2026 07:00:00 +0100</pubDate>"), "{raw}");
    assert!(raw.contains("<atom:updated>2026-04-01T00:00:00+02:00</atom:updated>"), "{raw}");
    // The site author has an e-mail address, so RSS `author` is used for posts without their own.
    assert!(raw.contains("<author>anna@fixture.example.org (Anna Testowa)</author>"), "{raw}");
}

#[test]
fn atom_feed_and_entries_read_back_field_by_field() {
    let site = built_fixture();
    let feed = site.feed("public/atom.xml");
    assert_eq!(feed.id, url("atom.xml"));
    assert_eq!(feed.updated, Some(instant("2026-07-10T18:30:00+02:00")));
    assert_eq!(links_of(&feed, "self"), [url("atom.xml")]);
    assert_eq!(links_of(&feed, "alternate"), [BASE]);
    assert_eq!(feed.authors[0].name.as_deref(), Some("Anna Testowa"));

    let sleep = entry(&feed, "Sen a stres");
    // A non-IRI id becomes a tag: URI (RFC 4151) under the site's host and the post's date.
    assert_eq!(sleep.id, "tag:fixture.example.org,2026-03-02:post-sen-42");
    assert_eq!(sleep.published, Some(instant("2026-03-02T07:00:00+01:00")));
    // updated = 2026-04-01 is a bare date read in Warsaw: already CEST (DST began 2026-03-29).
    assert_eq!(sleep.updated, Some(instant("2026-04-01T00:00:00+02:00")));
    let summary = sleep.summary.as_ref().unwrap().content.as_str();
    assert_eq!(
        summary.trim(),
        "<p>Sen i stres są ze sobą powiązane: <strong>zły sen</strong> zwiększa wrażliwość na stres.</p>"
    );
    let content = sleep.content.as_ref().unwrap();
    assert_eq!(content.content_type.essence().to_string(), "text/html");
    assert!(content.body.as_deref().unwrap().contains("Druga część, której nie ma w skrócie."));

    // Related posts are `link rel="related"` with titles, `feeds.related = 2` of them.
    let related: Vec<_> = sleep.links.iter().filter(|l| l.rel.as_deref() == Some("related")).collect();
    assert_eq!(related.len(), 2, "{related:?}");
    assert!(related.iter().all(|l| l.href.starts_with(BASE) && l.title.is_some()), "{related:?}");
    assert!(!related.iter().any(|l| l.href == url("2026/03/sen-a-stres/")), "a post is not related to itself");

    // RFC 3339 with the offset of the site's zone in the document itself.
    let raw = site.read("public/atom.xml");
    assert!(raw.contains("<published>2026-07-10T18:30:00+02:00</published>"), "{raw}");
    assert!(raw.contains("xml:lang=\"pl\""), "{raw}");
}

fn links_of(feed: &Feed, rel: &str) -> Vec<String> {
    feed.links.iter().filter(|l| l.rel.as_deref() == Some(rel)).map(|l| l.href.clone()).collect()
}

#[test]
fn json_feed_reads_back_and_carries_related_posts_as_data() {
    let site = built_fixture();
    let feed = site.feed("public/feed.json");
    assert_eq!(feed.title.as_ref().unwrap().content, "Fixture: Ciało i głowa");
    assert_eq!(entry(&feed, "Sen a stres").id, "post-sen-42");

    let json = site.json("public/feed.json");
    assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(json["feed_url"], url("feed.json"));
    assert_eq!(json["home_page_url"], BASE);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    let gut = items.iter().find(|i| i["title"] == "Oś jelitowo-mózgowa").unwrap();
    assert_eq!(gut["url"], url("2026/06/os-jelitowo-mozgowa/"));
    assert_eq!(gut["date_published"], "2026-06-01T00:00:00+02:00");
    assert_eq!(gut["image"], url("2026/06/os-jelitowo-mozgowa/schemat.png"));
    assert_eq!(gut["tags"], serde_json::json!(["jelita", "stres"]));
    let related = gut["_kurier"]["related"].as_array().unwrap();
    assert_eq!(related.len(), 2);
    // The long post about the gut shares the tag `jelita` and its topic: it must be among them.
    assert!(related.iter().any(|r| r["url"] == url("2026/05/dlugi-wpis/")), "{related:?}");
    for r in related {
        assert!(r["id"].is_string() && r["title"].is_string() && r["url"].as_str().unwrap().starts_with(BASE));
    }
    // The HTML block at the end of the content lists the same posts, in the same order.
    let html = gut["content_html"].as_str().unwrap();
    let block = &html[html.find("<section class=\"related\">").expect("related block")..];
    let positions: Vec<usize> = related.iter().map(|r| block.find(r["url"].as_str().unwrap()).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{block}");
}

#[test]
fn every_entry_names_its_author_and_a_summary_only_json_feed_stays_valid() {
    // Regression: Atom entries had no <author> (most readers then show none), JSON items had
    // only the 1.1 `authors`, and `content = "summary"` made items with no content at all.
    let site = built_fixture();
    let json = site.json("public/feed.json");
    for item in json["items"].as_array().unwrap() {
        assert!(item["author"]["name"].is_string(), "{item}");
        assert_eq!(item["author"], item["authors"][0], "{item}");
    }
    let atom = site.read("public/atom.xml");
    let entries: Vec<&str> = atom.split("<entry>").skip(1).map(|e| e.split("</entry>").next().unwrap()).collect();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e.contains("<author>")), "an entry without its own author:\n{atom}");

    let config: String =
        site.read("kurier.toml").lines().filter(|l| !l.starts_with("content =")).map(|l| format!("{l}\n")).collect();
    site.write("kurier.toml", &config.replace("[feeds]", "[feeds]\ncontent = \"summary\""));
    // The fixture's deliberately broken posts make the exit code 1; the feeds are written.
    site.kurier(&["build"]).expect_code(1);
    let json = site.json("public/feed.json");
    for item in json["items"].as_array().unwrap() {
        let html = item["content_html"].as_str().unwrap_or_else(|| panic!("no content: {item}"));
        assert!(html.starts_with("<p>") && !html.contains("class=\"related\""), "{html}");
    }
}

#[test]
fn relative_urls_become_absolute_and_markup_survives_escaping() {
    let site = built_fixture();
    let feed = site.feed("public/tags/oddech/atom.xml");
    let post = entry(&feed, "Jak ćwiczyć oddech");
    let html = post.content.as_ref().unwrap().body.as_deref().unwrap();
    let permalink = url("2026/01/jak-cwiczyc-oddech/");
    for expected in [
        format!("href=\"{}\"", url("2026/07/bol-i-stres/")),
        format!("href=\"{BASE}\""),
        format!("src=\"{permalink}przepona.png\""),
        format!("src=\"{permalink}oddech.png\""),
        format!("srcset=\"{permalink}oddech-2x.png 2x, {}img/oddech-640.png 640w\"", BASE),
    ] {
        assert!(html.contains(&expected), "missing {expected} in {html}");
    }
    assert!(!html.contains("=\"../") && !html.contains("src=\"oddech"), "{html}");
    // `]]>` in a code block survives the CDATA of RSS and the escaping of Atom.
    assert!(html.contains("koniec ]]&gt; tutaj"), "{html}");
    let rss = site.feed("public/tags/oddech/rss.xml");
    let rss_html = entry(&rss, "Jak ćwiczyć oddech").content.as_ref().unwrap().body.clone().unwrap();
    assert!(rss_html.contains("koniec ]]&gt; tutaj"), "{rss_html}");
    // The U+0001 control character in the post is gone, the letters around it are kept.
    assert!(html.contains("Znak sterujący: ab."), "{html}");
}

#[test]
fn excerpts_come_from_summary_marker_or_sixty_words() {
    let site = built_fixture();
    let rss = site.feed("public/rss.xml");
    let text = |html: &str| html.trim().trim_start_matches("<p>").trim_end_matches("</p>").to_owned();
    let long = text(&entry(&rss, "Długi wpis o jelitach").summary.as_ref().unwrap().content);
    assert!(long.ends_with('…'), "{long}");
    assert_eq!(long.trim_end_matches('…').split_whitespace().count(), 60, "{long}");
    let sleep = text(&entry(&rss, "Sen a stres").summary.as_ref().unwrap().content);
    assert_eq!(sleep, "Sen i stres są ze sobą powiązane: <strong>zły sen</strong> zwiększa wrażliwość na stres.");

    let atom = site.feed("public/atom.xml");
    let html = entry(&atom, "Długi wpis o jelitach").summary.as_ref().unwrap().content.clone();
    assert!(html.starts_with("<p>") && html.trim_end().ends_with("…</p>"), "{html}");
}

#[test]
fn invisible_posts_appear_in_no_feed_and_do_not_move_updated() {
    let site = built_fixture();
    for (path, bytes) in snapshot(&site.path("public")) {
        let text = String::from_utf8(bytes).unwrap();
        for hidden in ["Szkic", "Z przyszłości", "Ukryty", "Zły typ", "Zła data", "2999"] {
            assert!(!text.contains(hidden), "{hidden} appears in {path}");
        }
    }
    // Only the future post and the draft were tagged `stres` after July; the tag feed's date is
    // still that of its newest visible post.
    let stres = site.feed("public/tags/stres/atom.xml");
    assert_eq!(stres.updated, Some(instant("2026-07-10T18:30:00+02:00")));
}

#[test]
fn tag_feeds_exist_for_every_tag_with_their_own_self_links() {
    let site = built_fixture();
    let tags: Vec<String> = std::fs::read_dir(site.path("public/tags"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(tags, ["archiwum", "bol", "jelita", "oddech", "relaksacja", "ruch", "sen", "stres"]);
    let pain = site.feed("public/tags/bol/rss.xml");
    assert_eq!(pain.title.as_ref().unwrap().content, "Fixture: Ciało i głowa – ból");
    assert!(pain.links.iter().any(|l| l.href == url("tags/bol/rss.xml")), "{:?}", pain.links);
    assert_eq!(titles(&pain), ["Ból i stres: <pętla>, która się napędza"]);
    let atom = site.feed("public/tags/stres/atom.xml");
    assert_eq!(links_of(&atom, "self"), [url("tags/stres/atom.xml")]);
    // The old post is past the main feed's limit but in its tag's feed.
    assert_eq!(titles(&site.feed("public/tags/archiwum/feed.json")), ["Stary wpis"]);
    assert_eq!(site.json("public/tags/sen/feed.json")["feed_url"], url("tags/sen/feed.json"));
}

#[test]
fn two_builds_of_unchanged_content_are_byte_identical() {
    let first = built_fixture();
    let second = built_fixture();
    let (a, b) = (snapshot(&first.path("public")), snapshot(&second.path("public")));
    assert_eq!(a.len(), 27);
    assert!(a == b, "two builds differ");
    // Building again in place rewrites nothing.
    let again = first.kurier(&["build"]).expect_code(1);
    assert!(again.stdout().contains("0 feed files written, 27 unchanged"), "{}", again.stdout());
    assert!(snapshot(&first.path("public")) == a);
}

#[test]
fn check_reports_errors_and_writes_nothing() {
    let site = TempSite::fixture("site");
    let run = site.kurier(&["check"]).expect_code(1);
    assert!(run.stderr().contains("content/2026-04-09-zly-utf8.md:7: not valid UTF-8"), "{}", run.stderr());
    assert!(!site.path("public").exists());
    for broken in ["06-zly-typ", "07-zla-skladnia", "08-zla-data", "09-zly-utf8", "10-bez-konca"] {
        site.remove(&format!("content/2026-04-{broken}.md"));
    }
    let run = site.kurier(&["check"]).expect_code(0);
    assert!(
        run.stdout().contains("checked 8 posts, 27 feed files, the templates and the mail settings: 0 errors"),
        "{}",
        run.stdout()
    );
    assert!(!site.path("public").exists());
    site.kurier(&["build"]).expect_code(0);
}

#[test]
fn a_build_that_fails_keeps_the_last_good_feeds() {
    let site = built_fixture();
    let good = snapshot(&site.path("public"));
    site.replace("kurier.toml", &[("timezone = \"Europe/Warsaw\"", "timezone = \"Europe/Warsw\"")]);
    site.write("content/2026-08-01-nowy.md", "+++\ntitle = \"Nowy\"\ndate = 2026-08-01\n+++\nNowy.\n");
    let run = site.kurier(&["build"]).expect_code(1);
    assert!(run.stderr().contains("kurier.toml:5: timezone: unknown time zone `Europe/Warsw`"), "{}", run.stderr());
    assert!(snapshot(&site.path("public")) == good, "a failed build changed the feeds");
}

#[test]
fn a_tag_that_disappears_loses_its_feeds() {
    let site = built_fixture();
    assert!(site.path("public/tags/ruch/rss.xml").exists());
    site.remove("content/2026-02-10-ruch.md");
    site.kurier(&["build"]).expect_code(1);
    assert!(!site.path("public/tags/ruch").exists());
    assert!(!titles(&site.feed("public/rss.xml")).contains(&"Ruch na co dzień".to_owned()));
}

#[test]
fn feedparser_accepts_every_feed_of_the_fixture_and_the_sample_site() {
    let fixture = built_fixture();
    run_feedparser(&fixture.path("public"), BASE);

    let sample = TempSite::sample();
    let run = sample.kurier(&["build"]).expect_code(0);
    assert!(run.stderr().is_empty(), "the sample site has broken posts:\n{}", run.stderr());
    run_feedparser(&sample.path("public"), "https://psychosomatyka.example.org/");
}

fn run_feedparser(dir: &std::path::Path, base: &str) {
    let output = std::process::Command::new(support::python())
        .arg(support::repo().join("tests/feedparser_check.py"))
        .arg(dir)
        .arg(base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "feedparser:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().filter(|l| l.starts_with("ok ")).count() >= 3, "{stdout}");
}

#[test]
fn init_writes_a_site_that_builds_and_refuses_to_overwrite_it() {
    let dir = TempSite::empty();
    let site_dir = dir.path("nowa");
    let run = |args: &[&str]| {
        support::Run(std::process::Command::new(env!("CARGO_BIN_EXE_kurier")).args(args).output().unwrap())
    };
    let target = site_dir.to_str().unwrap();
    run(&["init", target, "--title", "Nowa strona", "--base-url", "https://nowa.example.org/"]).expect_code(0);
    for path in ["kurier.toml", "content", "templates", "subscribers"] {
        assert!(site_dir.join(path).exists(), "{path}");
    }
    run(&["--root", target, "build"]).expect_code(0);
    let feed = dir.feed("nowa/public/atom.xml");
    assert_eq!(feed.title.unwrap().content, "Nowa strona");
    assert_eq!(feed.entries.len(), 1);
    assert_eq!(feed.entries[0].title.as_ref().unwrap().content, "Witaj");
    let again = run(&["init", target]).expect_code(1);
    assert!(again.stderr().contains("already exists"), "{}", again.stderr());
    let bad = run(&["init", dir.path("inna").to_str().unwrap(), "--timezone", "Mars/Olympus"]).expect_code(1);
    assert!(bad.stderr().contains("timezone: unknown time zone `Mars/Olympus`"), "{}", bad.stderr());
    assert!(!dir.path("inna/kurier.toml").exists());
}

#[test]
fn an_rss_description_read_as_html_shows_exactly_the_excerpt() {
    // Regression: the description was plain text in CDATA, which readers treat as HTML: an
    // excerpt with `<img src=x onerror=alert(1)>` in inline code became a live image in
    // rss-parser, feed-extractor and newsboat, "R&D < 5" lost its text, and several `]]>` split
    // the CDATA so that gofeed lost text.
    let site = TempSite::fixture("site");
    site.write(
        "content/2026-08-01-kod.md",
        "+++\ntitle = \"Kod w zajawce\"\ndate = 2026-08-01\n+++\nUwaga na `<img src=x onerror=alert(1)>` oraz R&D < 5, a także ]]> ]]> ]]> w tekście.\n",
    );
    site.kurier(&["build"]).expect_code(1);
    let raw = site.read("public/rss.xml");
    assert!(!raw.contains("<![CDATA["), "no CDATA anywhere");
    // An XML parser gives the description's text; an HTML parser then reads it as a reader does.
    let script = r#"
import sys, xml.etree.ElementTree as ET
from html.parser import HTMLParser
class Reader(HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = []; self.text = ""
    def handle_starttag(self, tag, attrs): self.tags.append(tag)
    def handle_data(self, data): self.text += data
for item in ET.parse(sys.argv[1]).getroot().iter("item"):
    if item.findtext("title") == "Kod w zajawce":
        reader = Reader(); reader.feed(item.findtext("description")); reader.close()
        print(",".join(reader.tags)); print(reader.text.strip())
"#;
    let out = std::process::Command::new(support::python())
        .args(["-c", script])
        .arg(site.path("public/rss.xml"))
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let (tags, text) = out.split_once('\n').unwrap();
    assert_eq!(tags, "p,code", "only the excerpt's own markup: {out}");
    assert_eq!(text.trim(), "Uwaga na <img src=x onerror=alert(1)> oraz R&D < 5, a także ]]> ]]> ]]> w tekście.");
}

#[test]
fn check_validates_what_run_needs_to_send_mail() {
    let site = TempSite::empty();
    site.kurier(&["init", site.root().to_str().unwrap(), "--from", "Blog <ja@blog.example>"]).expect_code(0);
    site.kurier(&["check"]).expect_code(0);
    let config = site.read("kurier.toml");
    site.write(
        "kurier.toml",
        &format!(
            "{config}\n[smtp]\nurl = \"smtp://relay.example:25\"\nca_file = \"ca.pem\"\n\n[dkim]\ndomain = \"blog.example\"\nselector = \"k\"\nkey_file = \"dkim.key\"\n"
        ),
    );
    let check = site.kurier(&["check"]).expect_code(1);
    let stderr = check.stderr();
    assert!(stderr.contains("smtp.ca_file") && stderr.contains("ca.pem"), "{stderr}");
    assert!(stderr.contains("dkim.key_file") && stderr.contains("dkim.key"), "{stderr}");
    let bad_url = site.kurier_env(&["check"], &[("KURIER_SMTP_URL", "smtq://relay.example")]).expect_code(1);
    assert!(bad_url.stderr().contains("smtp.url `smtq://relay.example`"), "{}", bad_url.stderr());
}

/// Whitespace collapsed, for comparing text that readers reflow.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn rss_parser_and_sfeed_read_every_item_field_by_field() {
    // Two readers nobody here wrote: npm's rss-parser (renders the description as HTML, as web
    // readers do) and Debian's sfeed (a C parser that prints TSV). Each item is checked against
    // what kurier's own JSON Feed says of the same post.
    let site = built_fixture();
    let json = site.json("public/feed.json");
    let by_url: std::collections::BTreeMap<String, &serde_json::Value> =
        json["items"].as_array().unwrap().iter().map(|i| (i["url"].as_str().unwrap().to_owned(), i)).collect();

    let node_path = std::env::var("KURIER_TEST_NODE_PATH").expect("tests/run.sh sets KURIER_TEST_NODE_PATH");
    let out = std::process::Command::new("node")
        .arg(support::repo().join("tests/rss_parser_check.js"))
        .arg(site.path("public/rss.xml"))
        .env("NODE_PATH", node_path)
        .output()
        .expect("node runs");
    assert!(out.status.success(), "rss-parser: {}", String::from_utf8_lossy(&out.stderr));
    let items: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(items.len(), by_url.len());
    for item in &items {
        let ours = by_url[item["link"].as_str().unwrap()];
        assert_eq!(item["title"], ours["title"]);
        assert_eq!(item["guid"], ours["id"]);
        let published = chrono::DateTime::parse_from_rfc3339(ours["date_published"].as_str().unwrap()).unwrap();
        let read = chrono::DateTime::parse_from_rfc3339(item["isoDate"].as_str().unwrap()).unwrap();
        assert_eq!(read, published, "{item}");
        assert_eq!(item["categories"], ours["tags"], "{item}");
        // The description read as HTML says what the plain-text summary says.
        assert_eq!(words(item["contentSnippet"].as_str().unwrap()), words(ours["summary"].as_str().unwrap()), "{item}");
    }

    let out =
        std::process::Command::new("sfeed").stdin(std::fs::File::open(site.path("public/rss.xml")).unwrap()).output();
    let out = out.expect("sfeed runs (tests/run.sh installs it)");
    let lines = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = lines.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), by_url.len());
    for row in rows {
        // timestamp, title, link, content, content-type, id, author, enclosure, categories
        let ours = by_url[row[2]];
        let published = chrono::DateTime::parse_from_rfc3339(ours["date_published"].as_str().unwrap()).unwrap();
        assert_eq!(row[0].parse::<i64>().unwrap(), published.timestamp(), "{row:?}");
        assert_eq!(row[1], ours["title"].as_str().unwrap());
        assert_eq!(row[4], "html");
        assert_eq!(row[5], ours["id"].as_str().unwrap());
        // sfeed escapes newlines in content as `\n` and trims it; the full HTML is the JSON item's.
        let content = row[3].replace("\\n", "\n").replace("\\\\", "\\");
        assert_eq!(content.trim(), ours["content_html"].as_str().unwrap().trim());
        let tags: Vec<&str> = ours["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(row[8], tags.join("|"), "{row:?}");
    }
}

#[test]
fn json_feeds_validate_against_the_json_feed_schema_in_both_content_modes() {
    // Regression: `content = "summary"` made items with neither content_html nor content_text.
    let site = built_fixture();
    let schema = support::repo().join("tests/fixtures/jsonfeed-1.1.schema.json");
    let validate = |feed: &str| {
        let script = "import json, sys, jsonschema\n\
            schema = json.load(open(sys.argv[1]))\n\
            jsonschema.validate(json.load(open(sys.argv[2])), schema, format_checker=jsonschema.FormatChecker())\n";
        let out = std::process::Command::new(support::python())
            .args(["-c", script])
            .arg(&schema)
            .arg(site.path(feed))
            .output()
            .unwrap();
        assert!(out.status.success(), "{feed}: {}", String::from_utf8_lossy(&out.stderr));
    };
    validate("public/feed.json");
    validate("public/tags/stres/feed.json");
    let config: String =
        site.read("kurier.toml").lines().filter(|l| !l.starts_with("content =")).map(|l| format!("{l}\n")).collect();
    site.write("kurier.toml", &config.replace("[feeds]", "[feeds]\ncontent = \"summary\""));
    site.kurier(&["build"]).expect_code(1);
    validate("public/feed.json");
}

// Existing sites (§13): Hugo, Zola and Jekyll trees as those tools lay them out, with their own
// configuration files (ignored) and a kurier.toml added, built end to end.

/// An existing site's fixture, built: warnings are not errors, so the build exits 0.
fn built_existing(name: &str) -> (TempSite, String) {
    let site = TempSite::fixture(name);
    let run = site.kurier(&["build"]).expect_code(0);
    (site, run.stderr())
}

/// Each feed of the site (main and per tag, every format) read by feed-rs, by path.
fn every_feed(site: &TempSite) -> Vec<(String, Feed)> {
    snapshot(&site.path("public"))
        .into_iter()
        .map(|(path, _)| (path.clone(), site.feed(&format!("public/{path}"))))
        .collect()
}

/// Raw shortcode or Liquid text in HTML outside `<code>` (code keeps its braces by design).
fn raw_shortcodes(html: &str) -> Vec<String> {
    let mut outside = String::new();
    let mut rest = html;
    while let Some(open) = rest.find("<code") {
        outside.push_str(&rest[..open]);
        rest = rest[open..].find("</code>").map_or("", |close| &rest[open + close..]);
    }
    outside.push_str(rest);
    let mut found = Vec::new();
    for marker in ["{{<", "{{&lt;", "{{%", "{%"] {
        found.extend(outside.match_indices(marker).map(|(i, _)| outside[i..].chars().take(30).collect::<String>()));
    }
    // `{{ name(` — a Zola shortcode call.
    for (i, _) in outside.match_indices("{{") {
        let after = outside[i + 2..].trim_start();
        let name_len = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('(') {
            found.push(outside[i..].chars().take(30).collect());
        }
    }
    found
}

#[test]
fn the_raw_shortcode_check_finds_each_form_outside_code_only() {
    for raw in ["{{&lt; x &gt;}}", "{{% x %}}", "{% x %}", "{{ youtube(id=\"a\") }}"] {
        assert!(!raw_shortcodes(&format!("<p>a {raw}</p>")).is_empty(), "{raw}");
        assert!(raw_shortcodes(&format!("<pre><code class=\"x\">{raw}</code></pre>")).is_empty(), "{raw}");
    }
    assert!(raw_shortcodes("<p>{{ page.title }} {x}</p>").is_empty());
}

/// Every item of every feed: no raw shortcode in its content or summary.
fn assert_no_raw_shortcodes(site: &TempSite) {
    for (path, feed) in every_feed(site) {
        for item in &feed.entries {
            let content = item.content.as_ref().and_then(|c| c.body.clone()).unwrap_or_default();
            let summary = item.summary.as_ref().map(|s| s.content.clone()).unwrap_or_default();
            for html in [content, summary] {
                assert!(raw_shortcodes(&html).is_empty(), "{path}: {:?} in {html}", raw_shortcodes(&html));
            }
        }
    }
}

fn content_of(feed: &Feed, title: &str) -> String {
    entry(feed, title).content.as_ref().unwrap().body.clone().unwrap()
}

fn tags_of(entry: &Entry) -> Vec<&str> {
    entry.categories.iter().map(|c| c.term.as_str()).collect()
}

#[test]
fn a_hugo_site_publishes_its_posts_and_skips_section_files_and_pages() {
    // Regression: every `_index.md` was a broken post and the build exited 1; a post with
    // `summary` and `description` was an error; shortcodes reached the feeds as raw text.
    let (site, stderr) = built_existing("hugo-site");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "warning: content/posts/drugi-wpis/index.md:8: shortcode `{{< gist >}}`: not supported by kurier; removed",
            "warning: content/posts/pierwszy-wpis.md:27: shortcode `{{% note %}}`: not supported by kurier; removed",
        ]
    );
    for file in ["rss.xml", "atom.xml", "feed.json"] {
        // `publishDate` in 2999 hides "Zapowiedź"; `expiryDate` in 2020 hides "Wygasły".
        assert_eq!(
            titles(&site.feed(&format!("public/{file}"))),
            ["Drugi wpis (page bundle)", "Ważny do 2999", "Pierwszy wpis z Hugo"],
            "{file}"
        );
    }
    let atom = site.feed("public/atom.xml");
    let first = entry(&atom, "Pierwszy wpis z Hugo");
    // Front matter after a byte-order mark and blank lines; `lastmod` is the updated date.
    assert_eq!(first.published, Some(instant("2026-03-01T10:00:00+01:00")));
    assert_eq!(first.updated, Some(instant("2026-03-04T12:30:00+01:00")));
    assert_eq!(tags_of(first), ["hugo", "wideo", "Wiedza"]);
    assert_eq!(first.summary.as_ref().unwrap().content.trim(), "<p>Krótkie streszczenie z pola summary.</p>");
    let html = content_of(&atom, "Pierwszy wpis z Hugo");
    for expected in [
        "<figure><img src=\"https://hugo.example.org/img/wykres.png\" alt=\"Wykres snu\"><figcaption>Rys. 1: sen i stres</figcaption></figure>",
        "href=\"https://www.youtube.com/watch?v=dQw4w9WgXcQ\"",
        "src=\"https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg\"",
        // `ref` to a page bundle and `relref` to a page: the folder-and-slug permalink.
        "<a href=\"https://hugo.example.org/posts/drugi-wpis/\" rel=\"noopener noreferrer\">drugi wpis</a>",
        "href=\"https://hugo.example.org/docs/instalacja/\"",
        // `highlight`: a code block whose braces stay as written.
        "<pre><code>func main() { fmt.Println(\"{{&lt; nie-shortcode &gt;}}\") }\n</code></pre>",
        // The body of the unknown `{{% note %}}` stays.
        "<p>Ważna <em>uwaga</em> w nieznanym shortcodzie.</p>",
        "<code>{{&lt; figure src=\"x.png\" &gt;}}</code>",
        "<pre><code>{{&lt; gist spf13 7896402 &gt;}}\n</code></pre>",
    ] {
        assert!(html.contains(expected), "missing {expected} in {html}");
    }
    let bundle = content_of(&atom, "Drugi wpis (page bundle)");
    assert!(
        bundle.contains("<a href=\"https://vimeo.com/146022717\" rel=\"noopener noreferrer\">Wykład o śnie</a>"),
        "{bundle}"
    );
    assert!(bundle.contains("href=\"https://hugo.example.org/posts/pierwszy-wpis/#sekcja\""), "{bundle}");
    assert!(!bundle.contains("gist"), "{bundle}");
    assert_no_raw_shortcodes(&site);
    for (path, bytes) in snapshot(&site.path("public")) {
        let text = String::from_utf8(bytes).unwrap();
        for hidden in ["Strona główna", "Wpisy", "O nas", "Dokumentacja", "Instalacja\"", "Zapowiedź", "Wygasły"] {
            assert!(!text.contains(hidden), "{hidden} appears in {path}");
        }
    }
    // Hugo's `<!--more-->` ends the excerpt of a post without `summary`.
    site.replace("content/posts/pierwszy-wpis.md", &[("summary: \"Krótkie streszczenie z pola summary.\"\n", "")]);
    site.kurier(&["build"]).expect_code(0);
    let rss = site.feed("public/rss.xml");
    // Without `summary`, `description` is the summary.
    assert_eq!(
        entry(&rss, "Pierwszy wpis z Hugo").summary.as_ref().unwrap().content,
        "<p>Opis dla wyszukiwarek: summary ma pierwszeństwo.</p>"
    );
    site.replace(
        "content/posts/pierwszy-wpis.md",
        &[("description: \"Opis dla wyszukiwarek: summary ma pierwszeństwo.\"\n", "")],
    );
    site.kurier(&["build"]).expect_code(0);
    let rss = site.feed("public/rss.xml");
    assert_eq!(
        entry(&rss, "Pierwszy wpis z Hugo").summary.as_ref().unwrap().content,
        "<p>Wstęp do pierwszego wpisu.</p>"
    );
}

#[test]
fn inside_the_sections_a_post_without_a_date_is_still_an_error() {
    let site = TempSite::fixture("hugo-site");
    site.write("content/posts/bez-daty.md", "---\ntitle: Bez daty\n---\nTekst.\n");
    site.write("content/about.md", "---\ntitle: O nas\n---\nStrona bez daty: nie błąd.\n");
    let stderr = site.kurier(&["build"]).expect_code(1).stderr();
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("warning:")).collect();
    assert_eq!(errors, ["content/posts/bez-daty.md:1: date: missing (set `date` or name the file YYYY-MM-DD-slug.md)"]);
    // Without `[content] sections` every folder holds posts, and the undated pages are errors.
    site.replace("kurier.toml", &[("[content]\nsections = [\"posts\"]\n", "")]);
    let run = site.kurier(&["build"]).expect_code(1);
    let stderr = run.stderr();
    assert!(stderr.contains("content/about.md:1: date: missing"), "{stderr}");
    assert!(stderr.contains("content/docs/instalacja.md:1: date: missing"), "{stderr}");
    assert!(!stderr.contains("_index.md"), "section files are never posts:\n{stderr}");
}

#[test]
fn a_zola_site_publishes_its_posts_with_taxonomies_and_shortcodes() {
    let (site, stderr) = built_existing("zola-site");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "warning: content/blog/2026-02-10-z-data-w-nazwie.md:8: shortcode `{{ resize_image(…) }}`: not supported by kurier; removed",
            "warning: content/blog/pierwszy.md:21: shortcode `{% note(…) %}`: not supported by kurier; removed",
        ]
    );
    let atom = site.feed("public/atom.xml");
    assert_eq!(titles(&atom), ["Data z nazwy pliku", "Pierwszy wpis z Zoli"]);
    // Front matter after a blank line; `updated`; `[taxonomies]` tags and categories.
    let first = entry(&atom, "Pierwszy wpis z Zoli");
    assert_eq!(first.published, Some(instant("2026-02-01T09:00:00+01:00")));
    assert_eq!(first.updated, Some(instant("2026-02-03T18:00:00+01:00")));
    assert_eq!(tags_of(first), ["zola", "wideo", "Porady"]);
    assert_eq!(first.links[0].href, "https://zola.example.org/blog/pierwszy/");
    let html = content_of(&atom, "Pierwszy wpis z Zoli");
    for expected in [
        "<a href=\"https://www.youtube.com/watch?v=M7lc1UVf-VE\" rel=\"noopener noreferrer\"><img src=\"https://img.youtube.com/vi/M7lc1UVf-VE/hqdefault.jpg\" alt=\"YouTube video\"></a>",
        "<p>Treść <strong>notatki</strong> zostaje.</p>",
        "<code>{{ youtube(id=\"w-kodzie\") }}</code>",
        "<pre><code>{{ vimeo(id=\"wcięty\") }}\n</code></pre>",
    ] {
        assert!(html.contains(expected), "missing {expected} in {html}");
    }
    let dated = entry(&atom, "Data z nazwy pliku");
    assert_eq!(dated.published, Some(instant("2026-02-10T00:00:00+01:00")));
    let html = content_of(&atom, "Data z nazwy pliku");
    assert!(
        html.contains("<a href=\"https://vimeo.com/124313553\" rel=\"noopener noreferrer\">Vimeo video</a>"),
        "{html}"
    );
    assert_eq!(titles(&site.feed("public/tags/wideo/feed.json")), ["Pierwszy wpis z Zoli"]);
    assert_no_raw_shortcodes(&site);
}

#[test]
fn a_jekyll_site_publishes_its_underscore_posts_with_liquid_tags_rendered() {
    let (site, stderr) = built_existing("jekyll-site");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "warning: content/_posts/2026-03-01-welcome-to-jekyll.markdown:22: Liquid tag `{% include %}`: kurier does not render included files; removed",
            "warning: content/_posts/2026-03-01-welcome-to-jekyll.markdown:23: Liquid tag `{% include %}`: kurier does not render included files; removed",
            "warning: content/_posts/2026-03-05-second-post.md:6: Liquid tag `{% if %}`: not supported by kurier; removed",
            "warning: content/_posts/2026-03-05-second-post.md:6: Liquid tag `{% endif %}`: not supported by kurier; removed",
        ]
    );
    let rss = site.feed("public/rss.xml");
    assert_eq!(titles(&rss), ["Second post", "Welcome to Jekyll!"]);
    let welcome = entry(&rss, "Welcome to Jekyll!");
    // `2026-03-01 10:20:30 +0100` and `2026-03-05 08:00:00 -0500`: seconds and numeric zones.
    assert_eq!(welcome.published, Some(instant("2026-03-01T10:20:30+01:00")));
    assert_eq!(entry(&rss, "Second post").published, Some(instant("2026-03-05T14:00:00+01:00")));
    assert_eq!(welcome.links[0].href, "https://jekyll.example.org/blog/2026/03/01/welcome-to-jekyll.html");
    assert_eq!(tags_of(welcome), ["jekyll", "liquid", "jekyll update"]);
    // `excerpt_separator: <!--cut-->` ends the excerpt.
    assert_eq!(
        welcome.summary.as_ref().unwrap().content,
        "<p>You'll find this post in your <code>_posts</code> directory.</p>"
    );
    // `_config.yml`'s `excerpt_separator: <!--more-->` ends the excerpt of a post that sets none.
    let summary = &entry(&rss, "Second post").summary.as_ref().unwrap().content;
    assert!(summary.ends_with("Liquid shown as text: {{ page.title }}</p>"), "{summary}");
    assert!(content_of(&rss, "Second post").contains("After the site's excerpt separator"));
    let html = content_of(&rss, "Welcome to Jekyll!");
    let second = "https://jekyll.example.org/blog/2026/03/05/second-post.html";
    for expected in [
        "<pre><code class=\"language-ruby\">def print_hi(name)\n  puts \"Hi, #{name}\" # {% not a tag %}\nend\n</code></pre>".to_owned(),
        format!("<a href=\"{second}\">the second post</a>"),
        format!("<a href=\"{second}\">same post by path</a>"),
        "<a href=\"https://jekyll.example.org/blog/about/\">the about page</a>".to_owned(),
    ] {
        assert!(html.contains(&expected), "missing {expected} in {html}");
    }
    assert!(!html.contains("include") && !html.contains("aside"), "includes are removed: {html}");
    // Pages, drafts, layouts and the README outside `_posts` are not posts, hence no errors.
    assert_eq!(rss.entries.len(), 2);
    assert_no_raw_shortcodes(&site);
}
