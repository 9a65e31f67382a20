"""Parses every feed below a folder with Python's feedparser and fails on any problem.

Usage: feedparser_check.py OUTPUT_DIR BASE_URL

Checks, for every rss.xml, atom.xml and feed.json: no bozo flag (feedparser's "this feed is
not well-formed"), a title, a self link, and for every entry a title, an id, an absolute link under
BASE_URL, a published date and a summary. Prints one line per feed; exits 1 on the first problem.
"""

import json
import pathlib
import sys

import feedparser


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
    return len(parsed.entries)


def check_json(path, base_url):
    feed = json.loads(path.read_text(encoding="utf-8"))
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        fail(f"{path}: version {feed.get('version')!r}")
    for item in feed["items"]:
        if not item["url"].startswith(base_url):
            fail(f"{path}: item url {item['url']} is not under {base_url}")
    return len(feed["items"])


def main():
    out_dir, base_url = pathlib.Path(sys.argv[1]), sys.argv[2]
    checked = 0
    for path in sorted(out_dir.rglob("*")):
        if path.name in ("rss.xml", "atom.xml"):
            count = check_xml(path, base_url)
        elif path.name == "feed.json":
            count = check_json(path, base_url)
        else:
            continue
        checked += 1
        print(f"ok {path.relative_to(out_dir)}: {count} entries")
    if checked == 0:
        fail(f"no feeds below {out_dir}")


main()
