"""Turns a real documentation tree whose folders are its topics into a kurier site, for
benches/related_quality.rs: every document becomes a post with its top-level folder recorded as
`[extra] topic`, while its path, slug, date and tags reveal nothing of it (the posts are
shuffled, numbered and dated in that order, and carry no tags). Documents at the top level have
no topic: they can be linked to, and count as misses, but are not judged.

Usage: real_prose.py [--src DIR] [--seed S] --out DIR
The default source is the reStructuredText of the Python 3.11 documentation as Debian's
`python3.11-doc` ships it (`/usr/share/doc/python3.11/html/_sources/**/*.rst.txt`). The text
goes in as it is, markup and all: both kurier and the baselines see the same words.
"""

import argparse
import datetime
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", default="/usr/share/doc/python3.11/html/_sources")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    documents = []
    for folder, _, files in os.walk(args.src):
        for name in files:
            if name.endswith(".txt"):
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
        date = start + datetime.timedelta(days=i)
        front = ["+++", f"title = {json.dumps(title_of(text.splitlines(), f'Document {i}'))}", f"date = {date}", f'slug = "doc-{i:04d}"']
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
