"""Generates a deterministic benchmark corpus that both kurier and Hugo build.

Usage: corpus.py --posts N [--seed S] [--noise P] [--topics T] [--language mixed|pl|en] --out DIR

Writes DIR/kurier.toml, DIR/hugo-full.toml (the full Hugo site with related content; the
minimal RSS-only Hugo reference is ../shared/bench/hugo-minimal.toml, copied in by run.sh), DIR/layouts/ (Hugo's templates for the full site) and
DIR/content/posts/*.md: N posts of 300-1,500 words, half Polish and half English with their
diacritics (`--language pl` or `en`: all posts, and the topics' invented words, in one language), TOML front matter with 1-4 tags, headings, relative links and images.

Posts are grouped in topics (recorded as `[extra] topic = K`): each topic has a vocabulary
(40 words of its own, 20 shared with the next topic; 15% of a post's words) and its own tags, so related-post quality can be judged as the share of related
links that stay within the topic. With --noise P each tag is replaced, with probability P, by a
tag drawn at random from all topics' tags (the issue's "half of the tags replaced at random" is
--noise 0.5). The same seed always gives the same corpus.
"""

import argparse
import datetime
import os
import random

POLISH_COMMON = (
    "i w na z że do to nie się jest jak o co ale tak czy po od dla przez przy już też "
    "bardzo może także jednak który która które tylko gdy kiedy oraz więc bo czas dzień ludzie "
    "życie sposób praca sprawa świat miejsce dobrze często trzeba można każdy wiele ważne nowy "
    "pierwszy ostatni dobry wielki mały ciało głowa ręka serce oczy słowo rzecz część koniec "
    "początek pytanie odpowiedź powód przykład zdanie decyzja zmiana pomoc wiedza pamięć uwaga"
).split()
ENGLISH_COMMON = (
    "the of and to in is that it for on with as was by at be this from or an which but not "
    "are have they one all their has been more when will would there what about out up into "
    "time people way work world place often every many important new first last good great "
    "small body head hand heart eyes word thing part end beginning question answer reason "
    "example sentence decision change help knowledge memory attention life day"
).split()
SYLLABLES_PL = "ża żó ść ął ęc ńs źd ło rzy szcz cie wią dę bą kó gł mię ści łą".split()
SYLLABLES_EN = "ka ro mi ta ne lo vi su pe da ri to ma no ke li fa".split()


def topic_words(rng, count, language):
    """A topic's vocabulary: invented words (with Polish letters unless `en`), distinct per topic."""
    words = set()
    while len(words) < count:
        polish = rng.random() < 0.6
        if language != "mixed":
            polish = language == "pl"
        syllables = SYLLABLES_PL if polish else SYLLABLES_EN
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def slug(i):
    return f"wpis-{i:05d}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--topics", type=int, default=0, help="default: one per 50 posts, at least 10")
    parser.add_argument("--language", choices=["mixed", "pl", "en"], default="mixed")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    topics = args.topics or max(10, args.posts // 50)
    # Each topic has 40 words of its own and shares 20 with the next topic, and topic words are
    # only 15% of the text: related posts must be found, not read off.
    own = [topic_words(rng, 40, args.language) for _ in range(topics)]
    vocab = [own[t] + own[(t + 1) % topics][:20] for t in range(topics)]
    tags = [[f"temat-{t}-{k}" for k in range(4)] for t in range(topics)]
    all_tags = [tag for group in tags for tag in group]

    content = os.path.join(args.out, "content", "posts")
    os.makedirs(content, exist_ok=True)
    start = datetime.date(2021, 1, 1)
    for i in range(args.posts):
        topic = rng.randrange(topics)
        polish = i % 2 == 0 if args.language == "mixed" else args.language == "pl"
        common = POLISH_COMMON if polish else ENGLISH_COMMON
        date = start + datetime.timedelta(days=i * 1825 // max(1, args.posts), hours=0)
        post_tags = rng.sample(tags[topic], rng.randint(1, 4))
        post_tags = [rng.choice(all_tags) if rng.random() < args.noise else t for t in post_tags]
        post_tags = sorted(set(post_tags))
        words = rng.randint(300, 1500)
        title_words = [rng.choice(vocab[topic]) for _ in range(3)] + [rng.choice(common) for _ in range(2)]
        title = " ".join(title_words).capitalize()
        body = []
        written = 0
        section = 0
        while written < words:
            section += 1
            heading = " ".join(rng.choice(vocab[topic]) for _ in range(2))
            body.append(f"## {heading.capitalize()} {section}\n")
            for _ in range(rng.randint(2, 4)):
                n = rng.randint(40, 90)
                sentence = [rng.choice(vocab[topic]) if rng.random() < 0.15 else rng.choice(common) for _ in range(n)]
                other = rng.randrange(args.posts)
                paragraph = " ".join(sentence).capitalize() + "."
                paragraph += f" Zobacz [{rng.choice(vocab[topic])}](../{slug(other)}/)."
                body.append(paragraph + "\n")
                written += n
            if rng.random() < 0.5:
                body.append(f"![{rng.choice(vocab[topic])}](obraz-{i}-{section}.png)\n")
        front = [
            "+++",
            f'title = "{title}"',
            f"date = {date.isoformat()}",
            f'slug = "{slug(i)}"',
            "tags = [" + ", ".join(f'"{t}"' for t in post_tags) + "]",
            "[extra]",
            f"topic = {topic}",
            "+++",
            "",
        ]
        with open(os.path.join(content, f"{date.isoformat()}-{slug(i)}.md"), "w", encoding="utf-8") as f:
            f.write("\n".join(front) + "\n".join(body))

    with open(os.path.join(args.out, "kurier.toml"), "w", encoding="utf-8") as f:
        f.write(
            'title = "Benchmark"\nbase_url = "https://bench.example.org/"\nlanguage = "pl"\n'
            'timezone = "Europe/Warsaw"\npermalink = "/posts/{slug}/"\n'
            'author = { name = "Bench", email = "bench@example.org" }\n'
            '[feeds]\nlimit = 20\ncontent = "full"\nrelated = 3\ntags = true\n'
            '[digest]\nfrom = "Bench <bench@example.org>"\nfirst_window_days = 36500\n'
        )
    hugo_common = (
        'baseURL = "https://bench.example.org/"\ntitle = "Benchmark"\nlanguageCode = "pl"\n'
        'disableHugoGeneratorInject = true\n'
    )
    permalinks = '[permalinks]\nposts = "/posts/:slug/"\n'
    # No "RSS-only" hugo.toml any more: its `[outputs] page = []` still rendered every page. The
    # minimal Hugo reference is ../shared/bench/hugo-minimal.toml, copied in by benches/run.sh.
    with open(os.path.join(args.out, "hugo-full.toml"), "w", encoding="utf-8") as f:
        f.write(
            hugo_common
            + '[services.rss]\nlimit = 20\n[related]\nincludeNewer = true\nthreshold = 20\ntoLower = true\n'
            + '[[related.indices]]\nname = "tags"\nweight = 100\n'
            + permalinks
        )
    layouts = os.path.join(args.out, "layouts", "_default")
    os.makedirs(layouts, exist_ok=True)
    with open(os.path.join(layouts, "single.html"), "w", encoding="utf-8") as f:
        f.write(
            '<!DOCTYPE html><html><head><title>{{ .Title }}</title></head><body>'
            '<article data-topic="{{ .Params.extra.topic }}"><h1>{{ .Title }}</h1>{{ .Content }}</article>'
            '<ul class="related">{{ range first 3 (.Site.RegularPages.Related .) }}'
            '<li data-topic="{{ .Params.extra.topic }}"><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>'
            "{{ end }}</ul></body></html>\n"
        )
    with open(os.path.join(layouts, "list.html"), "w", encoding="utf-8") as f:
        f.write('<!DOCTYPE html><html><body><ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul></body></html>\n')


main()
