#!/usr/bin/env bash
# kurier's benchmarks, side by side with the references, in one run (not part of CI):
#   benches/run.sh [RUNS]          (default 5 runs of each measurement)
# Needs: Debian's `hugo` (apt-get install hugo; installed here if missing), Python 3 with
# aiosmtpd (tests/run.sh makes target/test-venv), GNU time. Results: target/bench/results.txt
# (raw samples) and a summary on standard output.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
# A second argument runs one section only: builds, related, incremental, digest or memory.
ONLY=${2:-}
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
OUT=$PWD/target/bench
mkdir -p "$OUT"
RESULTS=$OUT/results${ONLY:+-$ONLY}.txt
: > "$RESULTS"
command -v hugo >/dev/null || apt-get install -y hugo >/dev/null
[ -x target/test-venv/bin/python ] || tests/run.sh --no-run >/dev/null
PY=target/test-venv/bin/python
cargo build --release --quiet
cargo bench --no-run --quiet 2>/dev/null
KURIER=$PWD/target/release/kurier
TIME=/usr/bin/time

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; $(hugo version | cut -d' ' -f1-2)" | tee "$OUT/machine.txt"

record() { echo "$1 $2" >> "$RESULTS"; }
# Runs a command under GNU time; records wall seconds, CPU seconds and peak RSS (MiB).
measure() {
  local name=$1; shift
  $TIME -f "%e %U %S %M" -o "$OUT/time.txt" "$@" > /dev/null 2>&1
  read -r wall user sys rss < "$OUT/time.txt"
  record "$name.wall_s" "$wall"
  record "$name.cpu_s" "$(echo "$user + $sys" | bc)"
  record "$name.peak_mib" "$(echo "scale=1; $rss / 1024" | bc)"
}

want builds && for N in 1000 10000; do
  SITE=$OUT/site-$N
  [ -d "$SITE" ] || python3 benches/corpus.py --posts "$N" --out "$SITE" > /dev/null
  for run in $(seq "$RUNS"); do
    rm -rf "$SITE/public"; measure "build.$N.kurier_fresh" "$KURIER" --root "$SITE" build
    measure "build.$N.kurier_unchanged" "$KURIER" --root "$SITE" build
    rm -rf "$SITE/hugo-rss"; measure "build.$N.hugo_rss_only" hugo --quiet --config hugo.toml --source "$SITE" -d "$SITE/hugo-rss"
    rm -rf "$SITE/hugo-full"; measure "build.$N.hugo_full_related" hugo --quiet --config hugo-full.toml --source "$SITE" -d "$SITE/hugo-full"
  done
done

# Related-post precision with half of the tags replaced at random.
NOISE=$OUT/site-10000-noise
if want related; then
[ -d "$NOISE" ] || python3 benches/corpus.py --posts 10000 --noise 0.5 --out "$NOISE" > /dev/null
cargo bench --quiet --bench related_quality -- "$NOISE" | tee "$OUT/related-kurier.txt"
rm -rf "$NOISE/hugo-full"; hugo --quiet --config hugo-full.toml --source "$NOISE" -d "$NOISE/hugo-full" > /dev/null 2>&1
python3 benches/hugo_related.py "$NOISE/hugo-full" | tee "$OUT/related-hugo.txt"
fi

# One post edited on the 10,000-post site: time from the end of the debounce to the feeds on disk
# (the daemon's own measurement, logged with each rebuild).
if want incremental; then
SITE=$OUT/site-10000
[ -d "$SITE" ] || python3 benches/corpus.py --posts 10000 --out "$SITE" > /dev/null
grep -q '^\[http\]' "$SITE/kurier.toml" || printf '[http]\nlisten = "127.0.0.1:0"\n' >> "$SITE/kurier.toml"
RUST_LOG=info,kurier::daemon=debug "$KURIER" --root "$SITE" run > "$OUT/daemon.out" 2> "$OUT/daemon.log" &
DAEMON=$!
until grep -q "kurier is running" "$OUT/daemon.log"; do sleep 0.2; done
POST=$(ls "$SITE/content/posts" | sed -n 5000p)
for run in $(seq $((RUNS + 1))); do
  sed -i "s/^title = \"\(.*\)\"/title = \"\1 e\"/" "$SITE/content/posts/$POST"
  sleep 2
done
kill -TERM $DAEMON; wait $DAEMON || true
# The fast stage puts the edited post's feeds on disk; the full rebuild after it settles the
# related posts of the whole site.
grep "edit published" "$OUT/daemon.log" | tail -n "$RUNS" | sed 's/.*ms="\([0-9.]*\)".*/incremental.10000.event_to_disk_ms \1/' >> "$RESULTS"
grep "rebuilt changed=\"content" "$OUT/daemon.log" | tail -n "$RUNS" | sed 's/.*ms="\([0-9.]*\)".*/incremental.10000.related_settled_ms \1/' >> "$RESULTS"
grep "rebuild phases" "$OUT/daemon.log" | tail -n "$RUNS" > "$OUT/incremental-phases.txt"
fi

# Digest to 5,000 subscribers into a loopback aiosmtpd sink, beside smtplib on as many
# connections with the same messages, alternating.
if want digest; then
DIGEST=$OUT/digest
rm -rf "$DIGEST" "$DIGEST.base" "$OUT/sink" "$OUT/messages" && mkdir -p "$DIGEST"
cp -r tests/fixtures/digest/content "$DIGEST/"
sed '/# The tests point/,$d' tests/fixtures/digest/kurier.toml > "$DIGEST/kurier.toml"
python3 -c "
print('email,name,status')
for i in range(5000): print(f'r{i:06d}@example.org,Czytelnik {i},active')" > "$DIGEST/list.csv"
"$KURIER" --root "$DIGEST" subscribers import "$DIGEST/list.csv" > /dev/null
cp -r "$DIGEST" "$DIGEST.base"
"$KURIER" --root "$DIGEST" digest send > /dev/null 2>&1   # the outbox: the plain client's messages
mv "$DIGEST/outbox" "$OUT/messages"
$PY tests/smtp_sink.py --dir "$OUT/sink" > "$OUT/sink.port" &
SINK=$!
until [ -s "$OUT/sink.port" ]; do sleep 0.1; done
PORT=$(cut -d' ' -f2 "$OUT/sink.port")
for run in $(seq "$RUNS"); do
  rm -rf "$DIGEST" && cp -r "$DIGEST.base" "$DIGEST"
  line=$(KURIER_SMTP_URL="smtp://127.0.0.1:$PORT" RUST_LOG=warn "$KURIER" --root "$DIGEST" digest send)
  echo "$line" | sed 's/.*(\([0-9]*\) messages\/s).*/digest.5000.kurier_msgs_per_s \1/' >> "$RESULTS"
  read -r count seconds < <($PY benches/plain_smtp.py "$PORT" "$OUT/messages" 4)
  record digest.5000.smtplib_msgs_per_s "$(echo "scale=1; $count / $seconds" | bc)"
done
kill $SINK
fi

# Memory while sending to 10,000 and 100,000 subscribers through the file transport.
want memory && for N in 10000 100000; do
  MEM=$OUT/memory-$N
  rm -rf "$MEM" && mkdir -p "$MEM" && cp -r tests/fixtures/digest/content "$MEM/"
  sed '/# The tests point/,$d' tests/fixtures/digest/kurier.toml > "$MEM/kurier.toml"
  python3 -c "
print('email,name,status')
for i in range($N): print(f'r{i:06d}@example.org,Czytelnik {i},active')" > "$MEM/list.csv"
  "$KURIER" --root "$MEM" subscribers import "$MEM/list.csv" > /dev/null
  cp -r "$MEM" "$MEM.base"
  for run in $(seq "$RUNS"); do
    rm -rf "$MEM" && cp -r "$MEM.base" "$MEM"
    measure "digest_file.$N.kurier" "$KURIER" --root "$MEM" digest send
  done
  rm -rf "$MEM" "$MEM.base"
done

python3 benches/stats.py "$RESULTS" | tee "$OUT/summary${ONLY:+-$ONLY}.txt"
