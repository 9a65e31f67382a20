#!/usr/bin/env bash
# kurier's benchmarks, side by side with their references, in one run (not part of CI):
#   benches/run.sh [RUNS] [SECTIONS]   (default 5 runs; sections builds,digest,memory)
# SECTIONS is a comma-separated list of: builds, startup, hundredk, digest, memory, related,
# incremental, latency.
# Needs Debian's hugo and postfix (for smtp-sink; both installed here if missing), GNU time,
# Python 3 (aiosmtpd's venv from tests/run.sh for the related section). Results:
# target/bench/results.txt (raw samples), target/bench/summary.txt (medians, then one line per
# target: measured, reference, ratio, PASS/FAIL).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SECTIONS=${2:-builds,digest,memory}
want() { [[ ",$SECTIONS," == *",$1,"* ]]; }
OUT=$PWD/target/bench
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: > "$RESULTS"
command -v hugo >/dev/null || apt-get install -y hugo >/dev/null
command -v smtp-sink >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >/dev/null
cargo build --release --quiet
cargo bench --no-run --quiet 2>/dev/null
# The bench binaries (floor, raw_smtp, ...): the newest of each name.
bench_bin() { ls -t target/release/deps/"$1"-* | grep -v '\.d$' | head -n1; }
FLOOR=$(bench_bin floor)
RAW_SMTP=$(bench_bin raw_smtp)
KURIER=$PWD/target/release/kurier
TIME=/usr/bin/time

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: benches/run.sh $RUNS $SECTIONS; commit $(git rev-parse --short HEAD)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; $(hugo version | cut -d' ' -f1-2)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

record() { echo "$1 $2" >> "$RESULTS"; }
# wait_until COMMAND SECONDS (the run stops if it times out: set -e).
source benches/wait_until.sh
# Runs a command under GNU time; records wall seconds, CPU seconds and peak RSS (MiB).
measure() {
  local name=$1; shift
  $TIME -f "%e %U %S %M" -o "$OUT/time.txt" "$@" > /dev/null 2>&1
  read -r wall user sys rss < "$OUT/time.txt"
  record "$name.wall_s" "$wall"
  record "$name.cpu_s" "$(echo "$user + $sys" | bc)"
  record "$name.peak_mib" "$(echo "scale=1; $rss / 1024" | bc)"
}

# Two 10,000-post corpora: 200 topics with clean tags, and 12 topics (5-20 % of the posts each,
# as on a real blog) with half of the tags random. Each run measures, interleaved: the floor,
# kurier with its output up to date (with its build cache, then without it), kurier into an
# empty output folder, Hugo's minimal RSS-only build and Hugo's full site (a second reference).
if want builds; then
for CORPUS in t200:"" t12:"--topics 12 --noise 0.5"; do
  NAME=${CORPUS%%:*}; ARGS=${CORPUS#*:}
  SITE=$OUT/site-10000-$NAME
  # shellcheck disable=SC2086
  [ -d "$SITE" ] || python3 benches/corpus.py --posts 10000 $ARGS --out "$SITE" > /dev/null
  cp ../shared/bench/hugo-minimal.toml "$SITE/hugo-minimal.toml"
  rm -f "$SITE/hugo.toml"   # the old "RSS-only" config, which still rendered every page
  "$KURIER" --root "$SITE" build > /dev/null; "$FLOOR" "$SITE" > /dev/null   # warm the page cache
  for run in $(seq "$RUNS"); do
    measure "build.$NAME.floor" "$FLOOR" "$SITE"
    measure "build.$NAME.kurier_up_to_date" "$KURIER" --root "$SITE" build
    rm -f "$SITE/.kurier-build-cache"
    measure "build.$NAME.kurier_up_to_date_no_cache" "$KURIER" --root "$SITE" build
    rm -rf "$SITE/public"; sync
    measure "build.$NAME.kurier_empty_output" "$KURIER" --root "$SITE" build
    # The write floor: the same files copied from the page cache into an empty folder and
    # flushed (the hardware's part of an empty-output build, which no feed builder avoids).
    rm -rf "$SITE/public-copy"; sync
    measure "build.$NAME.write_floor" sh -c "cp -r '$SITE/public' '$SITE/public-copy' && sync -f '$SITE/public-copy'"
    rm -rf "$SITE/public-copy"
    rm -rf "$SITE/hugo-min"
    measure "build.$NAME.hugo_minimal" hugo --quiet --config hugo-minimal.toml --source "$SITE" -d "$SITE/hugo-min"
    rm -rf "$SITE/hugo-full"
    measure "build.$NAME.hugo_full_site" hugo --quiet --config hugo-full.toml --source "$SITE" -d "$SITE/hugo-full"
  done
  cargo bench --quiet --bench phases -- "$SITE" 3 > "$OUT/phases-$NAME.txt"
done
fi

# `kurier run` on the unchanged 10,000-post site: from spawning it to correct feeds served
# (benches/startup.py; the daemon's first run records its build, then it is started RUNS times).
if want startup; then
SITE=$OUT/site-10000-t200
[ -d "$SITE" ] || python3 benches/corpus.py --posts 10000 --out "$SITE" > /dev/null
grep -q '^\[http\]' "$SITE/kurier.toml" || printf '[http]\nlisten = "127.0.0.1:18411"\n' >> "$SITE/kurier.toml"
python3 benches/startup.py "$KURIER" "$SITE" "$RUNS" | tee "$OUT/startup.txt"
sed -n 's/^run [0-9]*: correct feeds served after \([0-9]*\) ms; posts read after \([0-9]*\) ms$/startup.10000.feeds_ms \1\nstartup.10000.posts_read_ms \2/p' "$OUT/startup.txt" >> "$RESULTS"
fi

# 100,000 posts (200 topics, so as many tag feeds as the 10k corpus): the build without a cache
# (output up to date) and into an empty folder, beside the 10k t200 corpus in the same run;
# then the growth of the related-posts step, 1k -> 10k -> 100k (`phases`, one run each).
if want hundredk; then
for POSTS in 1000 10000 100000; do
  SITE=$OUT/site-$POSTS-t200
  [ -d "$SITE" ] || python3 benches/corpus.py --posts "$POSTS" --topics 200 --out "$SITE" > /dev/null
  "$KURIER" --root "$SITE" build > /dev/null
done
for run in $(seq "$RUNS"); do
  for POSTS in 10000 100000; do
    SITE=$OUT/site-$POSTS-t200
    rm -f "$SITE/.kurier-build-cache"
    measure "scale.$POSTS.up_to_date_no_cache" "$KURIER" --root "$SITE" build
    rm -rf "$SITE/public" "$SITE/.kurier-build-cache"; sync
    measure "scale.$POSTS.empty_output" "$KURIER" --root "$SITE" build
  done
done
for POSTS in 1000 10000 100000; do
  cargo bench --quiet --bench phases -- "$OUT/site-$POSTS-t200" 1 > "$OUT/phases-scale-$POSTS.txt"
  sed -n "s/^run 1: related alone \([0-9]*\) ms$/scale.$POSTS.related_ms \1/p" "$OUT/phases-scale-$POSTS.txt" >> "$RESULTS"
done
fi

# A digest site with N active subscribers and its own [smtp] (8 connections) pointing at PORT.
digest_site() {
  local dir=$1 n=$2 port=$3
  rm -rf "$dir" && mkdir -p "$dir" && cp -r tests/fixtures/digest/content "$dir/"
  sed '/# The tests point/,$d' tests/fixtures/digest/kurier.toml > "$dir/kurier.toml"
  if [ "$port" != file ]; then
    printf '[smtp]\nurl = "smtp://127.0.0.1:%s"\nconcurrency = 8\ntimeout_seconds = 30\n' "$port" >> "$dir/kurier.toml"
  fi
  python3 -c "
print('email,name,status')
for i in range($n): print(f'r{i:07d}@example.org,Czytelnik {i},active')" > "$dir/list.csv"
  "$KURIER" --root "$dir" subscribers import "$dir/list.csv" > /dev/null
  rm "$dir/list.csv"
}
# Postfix's smtp-sink: one process, accepts and discards every message.
start_sink() {
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  smtp-sink -u nobody 127.0.0.1:"$PORT" 1024 &
  SINK=$!
  wait_until '(exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null' 30
}

# kurier's digest send, 8 connections, into smtp-sink, beside the raw client sending one
# pre-built message (one kurier wrote for the same issue) on 8 connections, alternating.
if want digest; then
N=${DIGEST_N:-20000}
start_sink
DIGEST=$OUT/digest
digest_site "$DIGEST.base" "$N" "$PORT"
digest_site "$OUT/digest-one" 1 file
"$KURIER" --root "$OUT/digest-one" digest send > /dev/null 2>&1
MESSAGE=$(ls "$OUT/digest-one/outbox/"*.eml | head -n1)
for run in $(seq "$RUNS"); do
  rm -rf "$DIGEST" && cp -r "$DIGEST.base" "$DIGEST"
  line=$(RUST_LOG=warn "$KURIER" --root "$DIGEST" digest send)
  echo "$line" | sed 's/.*(\([0-9]*\) messages\/s).*/digest.smtp.kurier_msgs_per_s \1/' >> "$RESULTS"
  read -r count seconds < <("$RAW_SMTP" "$PORT" "$N" 8 "$MESSAGE")
  record digest.smtp.raw_client_msgs_per_s "$(echo "scale=1; $count / $seconds" | bc)"
done
kill "$SINK"; wait "$SINK" 2>/dev/null || true
fi

# Peak memory sending to 10,000 and 1,000,000 subscribers (file transport and SMTP into
# smtp-sink), and the time to freeze an issue's recipients (kurier's own log line).
if want memory; then
start_sink
for N in ${MEM_NS:-10000 100000 1000000}; do
  for TRANSPORT in file smtp; do
    [ "$N" = 100000 ] && [ "$TRANSPORT" = file ] && continue   # 100,000: the freeze time only
    MEM=$OUT/memory
    digest_site "$MEM" "$N" "$([ "$TRANSPORT" = file ] && echo file || echo "$PORT")"
    $TIME -f "%e %U %S %M" -o "$OUT/time.txt" env RUST_LOG=info "$KURIER" --root "$MEM" digest send > /dev/null 2> "$OUT/memory.log"
    read -r wall _ _ rss < "$OUT/time.txt"
    record "digest_$TRANSPORT.$N.peak_mib" "$(echo "scale=1; $rss / 1024" | bc)"
    record "digest_$TRANSPORT.$N.wall_s" "$wall"
    sed -n 's/.*issue frozen.* ms=\([0-9.]*\).*/\1/p' "$OUT/memory.log" | head -n1 |
      sed "s/^/digest_$TRANSPORT.$N.freeze_ms /" >> "$RESULTS"
    rm -rf "$MEM"
  done
done
kill "$SINK"; wait "$SINK" 2>/dev/null || true
fi

# Related-post precision with half of the tags random (issue 9), beside Hugo's related content.
NOISE=$OUT/site-10000-noise
if want related; then
[ -x target/test-venv/bin/python ] || tests/run.sh --no-run >/dev/null
[ -d "$NOISE" ] || python3 benches/corpus.py --posts 10000 --noise 0.5 --out "$NOISE" > /dev/null
cargo bench --quiet --bench related_quality -- "$NOISE" | tee "$OUT/related-kurier.txt"
rm -rf "$NOISE/hugo-full"; hugo --quiet --config hugo-full.toml --source "$NOISE" -d "$NOISE/hugo-full" > /dev/null 2>&1
python3 benches/hugo_related.py "$NOISE/hugo-full" | tee "$OUT/related-hugo.txt"
fi

# One post edited on the 10,000- and the 100,000-post site, three kinds of edit in turn: its title
# gains a word too short to be a term (the terms of every post stay as they were: related lists
# are kept), its text gains a sentence of words no other post has (related posts are updated step
# by step), and its text gains common words of the other language, which thousands of posts have
# (their weights change: related posts are linked from nothing). For each: the time from the end
# of the debounce to the edited post's feeds on disk and to the related posts of the whole site
# settled (the daemon's own measurements, logged per stage).
if want incremental; then
for POSTS in 10000 100000; do
  SITE=$OUT/site-$POSTS-t200
  [ -d "$SITE" ] || python3 benches/corpus.py --posts "$POSTS" --topics 200 --out "$SITE" > /dev/null
  grep -q '^\[http\]' "$SITE/kurier.toml" || printf '[http]\nlisten = "127.0.0.1:0"\n' >> "$SITE/kurier.toml"
  RUST_LOG=info,kurier::daemon=debug "$KURIER" --root "$SITE" run > "$OUT/daemon.out" 2> "$OUT/daemon.log" &
  DAEMON=$!
  wait_until 'grep -q "kurier is running" "$OUT/daemon.log" && grep -q "rebuilt\|kept as they are" "$OUT/daemon.log"' 600
  POST=$SITE/content/posts/$(ls "$SITE/content/posts" | sed -n "$((POSTS / 2))p")
  # The post is put back as it was at the end (also at the start, after a run that was cut short),
  # so that every run edits the same post with words new to it.
  [ -f "$OUT/edited-post-$POSTS" ] && cp "$OUT/edited-post-$POSTS" "$POST"
  cp "$POST" "$OUT/edited-post-$POSTS"
  for run in $(seq "$RUNS"); do
    for KIND in title text common; do
      before=$(grep -c "rebuilt changed=\"content" "$OUT/daemon.log" || true)
      if [ "$KIND" = title ]; then
        sed -i "s/^title = \"\(.*\)\"/title = \"\1 e\"/" "$POST"
      elif [ "$KIND" = text ]; then
        # Stems are a word's first six characters: a letter in front makes them new each run.
        L=$(printf "\\$(printf '%03o' $((96 + run)))")
        echo "Zdanie nowe numer $run: ${L}kalibracja, ${L}rekalibracja." >> "$POST"
      else
        # Words of benches/corpus.py's common lists: each in about half the posts (those of its
        # language). Two new ones a run for ten runs; after that the lists come round again.
        PL=(ciało głowa ręka serce oczy słowo rzecz część koniec początek pytanie odpowiedź powód przykład
            zdanie decyzja zmiana pomoc wiedza pamięć)
        EN=(body head hand heart eyes word thing part end beginning question answer reason example
            sentence decision change help knowledge memory)
        a=$(((2 * run - 2) % 20)); b=$(((2 * run - 1) % 20))
        echo "${PL[a]}, ${PL[b]}; ${EN[a]}, ${EN[b]}." >> "$POST"
      fi
      wait_until '[ "$(grep -c "rebuilt changed=\"content" "$OUT/daemon.log" || true)" -gt "$before" ]' 300
      grep "edit published" "$OUT/daemon.log" | tail -n 1 | sed "s/.*ms=\"\([0-9.]*\)\".*/incremental.$POSTS.$KIND.event_to_disk_ms \1/" >> "$RESULTS"
      grep "rebuilt changed=\"content" "$OUT/daemon.log" | tail -n 1 | sed "s/.*ms=\"\([0-9.]*\)\".*/incremental.$POSTS.$KIND.related_settled_ms \1/" >> "$RESULTS"
    done
  done
  kill -TERM $DAEMON; wait $DAEMON || true
  cp "$OUT/edited-post-$POSTS" "$POST" && rm "$OUT/edited-post-$POSTS"
done
fi

# HTTP latency of one `kurier run` node while it creates and sends a 100,000-recipient issue into
# smtp-sink and rebuilds the 10,000-post site over and over (benches/latency.py): on PostgreSQL
# (the throw-away server of tests/postgres.sh unless KURIER_TEST_POSTGRES_URL is set), then on
# SQLite. Open-loop client, LATENCY_RATE requests/s per endpoint (default 25).
if want latency; then
SITE=$OUT/site-10000-t200
[ -d "$SITE" ] || python3 benches/corpus.py --posts 10000 --topics 200 --out "$SITE" > /dev/null
if [ -z "${KURIER_TEST_POSTGRES_URL:-}" ]; then
  # shellcheck source=/dev/null
  source tests/postgres.sh
fi
for BACKEND in postgres sqlite; do
  python3 benches/latency.py "$KURIER" "$SITE" "$BACKEND" --rate "${LATENCY_RATE:-25}" \
    --results "$RESULTS" | tee "$OUT/latency-$BACKEND.txt"
done
fi

{ cat "$OUT/machine.txt"; echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"; python3 benches/stats.py "$RESULTS"; } | tee "$OUT/summary.txt"
