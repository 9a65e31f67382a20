"""Turns a real documentation tree whose folders are its topics into a kurier site, for
benches/related_quality.rs: every document becomes a post with its top-level folder recorded as
`[extra] topic`, while its path, slug, date and tags reveal nothing of it (the posts are
shuffled, numbered and dated in that order, and carry no tags). Documents at the top level have
no topic: they can be linked to, and count as misses, but are not judged.

Usage: real_prose.py [--corpus python|django] [--src DIR] [--seed S] --out DIR
Two corpora, two kinds of text:
- `python` (default): the reStructuredText of the Python 3.11 documentation as Debian's
  `python3.11-doc` ships it (`/usr/share/doc/python3.11/html/_sources/**/*.rst.txt`), as it is,
  markup and all;
- `django`: the HTML of the Django 3.2 documentation as Debian's `python-django-doc` ships it
  (`/usr/share/doc/python-django-doc/html/**/*.html`; no `_sources` there), the main column only
  (no navigation, no sidebar: they name the neighbouring pages of the folder), tags stripped and
  entities decoded; `_modules` (highlighted source code), `_static`, `_images` and Sphinx's
  generated pages (genindex, search, py-modindex) are left out.
Both kurier and the baselines see the same words.
"""

import argparse
import datetime
import html
import json
import os
import random
import re

UNDERLINE = re.compile(r"^([=\-~^*#+\"'`:.])\1{2,}\s*$")


def title_of(lines, fallback):
    """The first section title: a line over an RST underline (=====, -----, ...)."""
    for line, under in zip(lines, lines[1:]):
        if line.strip() and not UNDERLINE.match(line) and UNDERLINE.match(under):
            return line.strip()
    return fallback


HTML_BODY = re.compile(r'<div class="yui-g" id="[^"]*">(.*?)<div class="yui-b" id="sidebar">', re.S)
HTML_H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
HTML_DROP = re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I)
HTML_TAG = re.compile(r"<[^>]+>")
HTML_SKIPPED = {"_modules", "_static", "_images", "_sources"}
HTML_GENERATED = {"genindex.html", "search.html", "py-modindex.html"}
SOURCES = {
    "python": ("/usr/share/doc/python3.11/html/_sources", ".txt"),
    "django": ("/usr/share/doc/python-django-doc/html", ".html"),
}


def strip_html(fragment):
    return html.unescape(HTML_TAG.sub(" ", HTML_DROP.sub(" ", fragment)))


def read_html(text, fallback):
    """(title, text) of a Sphinx page of Django's theme: its main column without the markup."""
    match = HTML_BODY.search(text)
    body = match.group(1) if match else text
    h1 = HTML_H1.search(body)
    title = " ".join(strip_html(h1.group(1)).replace("\u00b6", " ").split()) if h1 else fallback
    lines = (" ".join(line.split()) for line in strip_html(body).replace("\u00b6", " ").splitlines())
    # Markdown of it: paragraphs, no indented code, no raw HTML from decoded `<`.
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip().replace("<", "&lt;")
    return title, text + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=sorted(SOURCES), default="python")
    parser.add_argument("--src")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    src, suffix = SOURCES[args.corpus]
    args.src = args.src or src
    documents = []
    for folder, folders, files in os.walk(args.src):
        folders[:] = [f for f in folders if f not in HTML_SKIPPED or suffix == ".txt"]
        for name in files:
            if name.endswith(suffix) and not (suffix == ".html" and name in HTML_GENERATED):
                path = os.path.join(folder, name)
                documents.append(os.path.relpath(path, args.src))
    documents.sort()
    random.Random(args.seed).shuffle(documents)

    content = os.path.join(args.out, "content", "posts")
    os.makedirs(content, exist_ok=True)
    start = datetime.date(2015, 1, 1)
    topics = {}
    for i, relative in enumerate(documents):
        with open(os.path.join(args.src, relative), encoding="utf-8", errors="replace") as f:
            text = f.read().replace("\r\n", "\n")
        parts = relative.split(os.sep)
        topic = parts[0] if len(parts) > 1 else None
        topics[topic] = topics.get(topic, 0) + 1
        if suffix == ".html":
            title, text = read_html(text, f"Document {i}")
        else:
            title = title_of(text.splitlines(), f"Document {i}")
        date = start + datetime.timedelta(days=i)
        front = ["+++", f"title = {json.dumps(title)}", f"date = {date}", f'slug = "doc-{i:04d}"']
        if topic:
            front += ["[extra]", f"topic = {json.dumps(topic)}"]
        front += ["+++", ""]
        with open(os.path.join(content, f"doc-{i:04d}.md"), "w", encoding="utf-8") as f:
            f.write("\n".join(front) + text)
    with open(os.path.join(args.out, "kurier.toml"), "w", encoding="utf-8") as f:
        f.write(
            'title = "Real prose"\nbase_url = "https://bench.example.org/"\nlanguage = "en"\n'
            'timezone = "UTC"\npermalink = "/posts/{slug}/"\n'
            'author = { name = "Bench", email = "bench@example.org" }\n'
            '[feeds]\nlimit = 20\ncontent = "full"\nrelated = 3\ntags = true\n'
        )
    print(f"{len(documents)} documents; topics: " + ", ".join(f"{t or '(top level)'} {n}" for t, n in sorted(topics.items(), key=lambda x: -x[1])))


main()
