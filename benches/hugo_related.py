"""Related-content precision of a Hugo site built from benches/corpus.py with hugo-full.toml:
the share of related links (the `<li data-topic>` the layout writes) within the page's topic."""

import pathlib
import re
import sys

links = same = 0
for page in pathlib.Path(sys.argv[1]).rglob("index.html"):
    html = page.read_text(encoding="utf-8")
    article = re.search(r'<article data-topic="(\d+)"', html)
    if not article:
        continue
    for topic in re.findall(r'<li data-topic="(\d+)"', html):
        links += 1
        same += topic == article.group(1)
print(f"related links {links}, within topic {same}, precision {same / max(links, 1):.3f}")
