#!/usr/bin/env bash
# Related-post precision@3 of kurier beside plain TF-IDF on every corpus shape of §9, and on real
# prose (not part of CI):  benches/related_grid.sh [SHAPE_FILTER]
# Shapes: 30, 300, 3,000 and 10,000 posts × 5, 12, 50 and 200 topics (those with at least 5 posts a
# topic on average) × tags clean and half random × Polish and English. Each corpus is generated
# (benches/corpus.py, seed 1), measured (benches/related_quality.rs) and deleted. Real prose
# (benches/real_prose.py) needs Debian's python3.11-doc and python-django-doc; a corpus whose
# package is missing is skipped. Lines go to target/bench/related-grid.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$PWD/target/bench
mkdir -p "$OUT"
RESULTS=$OUT/related-grid.txt
cargo bench --no-run --quiet --bench related_quality 2>/dev/null
BENCH=$(ls -t target/release/deps/related_quality-* | grep -v '\.d$' | head -1)
FILTER=${1:-}
for posts in 30 300 3000 10000; do
  for topics in 5 12 50 200; do
    [ $((posts / topics)) -ge 5 ] || continue
    for noise in 0 0.5; do
      for language in pl en; do
        shape="posts=$posts topics=$topics noise=$noise language=$language"
        [ -z "$FILTER" ] || [[ "$shape" == *"$FILTER"* ]] || continue
        dir=$OUT/rq-corpus
        rm -rf "$dir"
        python3 benches/corpus.py --posts "$posts" --topics "$topics" --noise "$noise" --language "$language" --out "$dir" > /dev/null
        echo "$shape | $("$BENCH" "$dir")" | tee -a "$RESULTS"
        rm -rf "$dir"
      done
    done
  done
done
if [ -z "$FILTER" ] || [ "$FILTER" = real ]; then
  for corpus in python:/usr/share/doc/python3.11/html/_sources django:/usr/share/doc/python-django-doc/html; do
    name=${corpus%%:*}
    [ -d "${corpus#*:}" ] || continue
    dir=$OUT/rq-real-$name
    rm -rf "$dir"
    python3 benches/real_prose.py --corpus "$name" --out "$dir" > "$OUT/real-prose-$name-topics.txt"
    echo "real prose: $name (${corpus#*:}) | $("$BENCH" "$dir")" | tee -a "$RESULTS"
  done
fi
