"""Parses every feed below a folder with Python's feedparser and fails on any problem.

Usage: feedparser_check.py OUTPUT_DIR BASE_URL

Checks, for every rss.xml and atom.xml: no bozo flag (feedparser's "this feed is not
well-formed"), a title, a self link, and for every entry a title, an id, an absolute link under
BASE_URL, a published date and a summary.

Checks, for every feed.json (JSON Feed 1.1, which this feedparser does not read, so it is read as
JSON and held against the spec): the version, a title, home_page_url, feed_url, and for every
item, field by field: a unique id, an absolute url under BASE_URL, a title, date_published and
date_modified in RFC 3339 with an offset (modified not before published), a summary,
content_html or content_text, authors (each with a name; the 1.0 `author` the same as the
first), tags (non-empty, unique strings). Then every item is held against the entry with the
same id in the atom.xml beside it (an id that is no IRI is a `tag:` URI there), as feedparser read
that: the same order of ids, and the same
link, title, published and updated instants, author names, tags, summary text and content.

Prints one line per feed; exits 1 on the first problem.
"""

import calendar
import datetime
import html
import json
import pathlib
import re
import sys

import feedparser

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)


def check_xml(path, base_url):
    parsed = feedparser.parse(path.read_bytes())
    if parsed.bozo:
        fail(f"{path}: bozo: {parsed.bozo_exception!r}")
    feed = parsed.feed
    if not feed.get("title"):
        fail(f"{path}: no title")
    if not any(link.get("rel") == "self" for link in feed.get("links", [])):
        fail(f"{path}: no self link")
    if not parsed.entries:
        fail(f"{path}: no entries")
    for entry in parsed.entries:
        for key in ("title", "id", "link", "summary", "published_parsed"):
            if not entry.get(key):
                fail(f"{path}: entry {entry.get('id')!r} has no {key}")
        if not entry.link.startswith(base_url):
            fail(f"{path}: entry link {entry.link} is not under {base_url}")
    return parsed


def rfc3339(path, item, key):
    """The instant of an RFC 3339 date-time field, which must carry its offset."""
    value = item.get(key)
    if not isinstance(value, str) or not re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value
    ):
        fail(f"{path}: item {item.get('id')!r}: {key} {value!r} is not an RFC 3339 date-time")
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def text_of(markup):
    """The characters of an HTML fragment's text, without tags and whitespace (where markup and
    plain text put their spaces differs, around a link or between paragraphs)."""
    return "".join(html.unescape(re.sub(r"<[^>]*>", "", markup)).split())


def check_json_item(path, item, base_url):
    where = f"{path}: item {item.get('id')!r}"
    for key in ("id", "url", "title", "summary"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            fail(f"{where}: no {key}")
    if not item["url"].startswith(base_url):
        fail(f"{where}: url {item['url']} is not under {base_url}")
    published = rfc3339(path, item, "date_published")
    modified = rfc3339(path, item, "date_modified")
    if modified < published:
        fail(f"{where}: date_modified {modified} is before date_published {published}")
    if not any(isinstance(item.get(k), str) and item[k].strip() for k in ("content_html", "content_text")):
        fail(f"{where}: neither content_html nor content_text (JSON Feed 1.1 needs one)")
    authors = item.get("authors", [])
    if not isinstance(authors, list) or not all(isinstance(a, dict) and a.get("name") for a in authors):
        fail(f"{where}: authors {authors!r} are not objects with a name")
    if authors and item.get("author") != authors[0]:
        fail(f"{where}: the 1.0 author {item.get('author')!r} is not the first of {authors!r}")
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        fail(f"{where}: tags {tags!r} are not non-empty strings")
    if len(set(tags)) != len(tags):
        fail(f"{where}: tags {tags!r} repeat")
    return published, modified


def instant(struct):
    return datetime.datetime.fromtimestamp(calendar.timegm(struct), datetime.timezone.utc)


def same_as_atom(path, item, published, modified, entry):
    """Holds a JSON item against the Atom entry of the same id."""
    where = f"{path}: item {item['id']!r} vs atom.xml"
    expected = {
        "link": (item["url"], entry.get("link")),
        "title": (item["title"], entry.get("title")),
        "published": (published, instant(entry.published_parsed)),
        "updated": (modified, instant(entry.updated_parsed)),
        "authors": ([a["name"] for a in item.get("authors", [])], [a.get("name") for a in entry.get("authors", [])]),
        "tags": (item.get("tags", []), [t["term"] for t in entry.get("tags", [])]),
        "summary": ("".join(item["summary"].split()), text_of(entry.get("summary", ""))),
    }
    content = [c["value"] for c in entry.get("content", [])]
    if content:
        expected["content"] = (text_of(item.get("content_html", "")), text_of(content[0]))
    for field, (json_value, atom_value) in expected.items():
        if json_value != atom_value:
            fail(f"{where}: {field} {json_value!r} != {atom_value!r}")


def same_id(json_id, atom_id):
    """Whether the Atom id is the JSON id: the same, or (an id that is no IRI, RFC 4287 §4.2.6)
    the `tag:` URI made of it, `tag:HOST,DATE:ID`."""
    return atom_id == json_id or (
        atom_id is not None and re.fullmatch(r"tag:[^,]+,\d{4}-\d\d-\d\d:" + re.escape(json_id), atom_id) is not None
    )


def check_json(path, base_url):
    feed = json.loads(path.read_text(encoding="utf-8"))
    if feed.get("version") != JSON_FEED_VERSION:
        fail(f"{path}: version {feed.get('version')!r}")
    for key in ("title", "home_page_url", "feed_url"):
        if not isinstance(feed.get(key), str) or not feed[key].strip():
            fail(f"{path}: no {key}")
    if not feed["feed_url"].startswith(base_url) or not feed["feed_url"].endswith("feed.json"):
        fail(f"{path}: feed_url {feed['feed_url']} is not this feed under {base_url}")
    items = feed.get("items")
    if not isinstance(items, list) or not items:
        fail(f"{path}: no items")
    dates = {}
    for item in items:
        dates[item.get("id")] = check_json_item(path, item, base_url)
    if len(dates) != len(items):
        fail(f"{path}: item ids repeat")

    atom_path = path.with_name("atom.xml")
    if not atom_path.exists():
        fail(f"{path}: no atom.xml beside it to compare with")
    atom = feedparser.parse(atom_path.read_bytes())
    json_ids = [i["id"] for i in items]
    atom_ids = [e.get("id") for e in atom.entries]
    if len(atom_ids) != len(json_ids) or not all(map(same_id, json_ids, atom_ids)):
        fail(f"{path}: ids {json_ids} differ from atom.xml's {atom_ids}")
    for item, entry in zip(items, atom.entries):
        same_as_atom(path, item, *dates[item["id"]], entry)
    return len(items)


def main():
    out_dir, base_url = pathlib.Path(sys.argv[1]), sys.argv[2]
    checked = 0
    for path in sorted(out_dir.rglob("*")):
        if path.name in ("rss.xml", "atom.xml"):
            count = len(check_xml(path, base_url).entries)
        elif path.name == "feed.json":
            count = check_json(path, base_url)
        else:
            continue
        checked += 1
        print(f"ok {path.relative_to(out_dir)}: {count} entries")
    if checked == 0:
        fail(f"no feeds below {out_dir}")


main()
