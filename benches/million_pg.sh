#!/usr/bin/env bash
# A million subscribers on PostgreSQL: `kurier subscribers import` of a 100,000- and a
# 1,000,000-row CSV (each into a fresh database), then `kurier digest send` with the file
# transport (no [smtp]) until it logs "issue frozen with its recipients" for all of them
# (active) — the send itself is stopped there; then the same list imported into an SQLite
# store and copied into another fresh database by `kurier store migrate --to`. On both stores,
# `kurier subscribers list`, `subscribers export` and `digest preview` (to /dev/null: their
# rows are counted) before the send. With FULL_SEND=1 the send is not stopped: it mails every
# recipient into Postfix's smtp-sink (8 connections) and its wall time and peak RSS are printed.
# Prints wall time, the freeze's ms and each process's peak RSS (GNU time). Uses the PostgreSQL
# of KURIER_TEST_POSTGRES_URL, or starts the tests' throw-away one (tests/postgres.sh).
# Usage: [FULL_SEND=1] benches/million_pg.sh [SIZES…]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/wait_until.sh
sizes=("${@:-100000 1000000}")
read -r -a sizes <<<"${sizes[*]}"
cargo build --release --quiet
KURIER=$PWD/target/release/kurier
if [ -z "${KURIER_TEST_POSTGRES_URL:-}" ]; then
  source tests/postgres.sh
fi
psql=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); kurier $(git rev-parse --short HEAD)"

# list, export and preview of the store of the site in the current folder: wall time, peak
# RSS and the number of lines each wrote. $1 names the store, $2 the list's size.
read_out() {
  local store=$1 n=$2 what
  for what in "subscribers list" "subscribers export" "digest preview"; do
    # shellcheck disable=SC2086
    /usr/bin/time -o "$work/time.txt" -f "%e %M" "$KURIER" $what >"$work/out.txt"
    read -r wall rss <"$work/time.txt"
    echo "$what on $store at $n: $wall s wall, peak RSS $rss KiB, $(wc -l <"$work/out.txt") lines out"
  done
  rm -f "$work/out.txt"
}
if [ "${FULL_SEND:-0}" = 1 ]; then
  sink_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  smtp-sink -u nobody 127.0.0.1:"$sink_port" 1024 &
  sink=$!
  trap 'kill $sink; rm -rf "$work"' EXIT
  wait_until '(exec 3<>/dev/tcp/127.0.0.1/"$sink_port") 2>/dev/null' 30
fi

for n in "${sizes[@]}"; do
  python3 - "$n" >"$work/list-$n.csv" <<'PY'
import sys
print("email,name")
for i in range(int(sys.argv[1])):
    print(f"reader{i}@example.org,Reader {i}")
PY
  db="kurier_million_${n}_$$"
  "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  url="${KURIER_TEST_POSTGRES_URL/\/postgres\?//$db?}"
  site="$work/site-$n"
  mkdir -p "$site"
  cp -r kurier.toml content "$site/"
  printf '\n[store]\nurl = "%s"\n' "$url" >>"$site/kurier.toml"
  if [ "${FULL_SEND:-0}" = 1 ]; then
    printf '[smtp]\nurl = "smtp://127.0.0.1:%s"\nconcurrency = 8\ntimeout_seconds = 30\n' "$sink_port" >>"$site/kurier.toml"
  fi
  (
    cd "$site"
    /usr/bin/time -f "import of $n rows: %e s wall, peak RSS %M KiB" "$KURIER" subscribers import "$work/list-$n.csv"
    read_out PostgreSQL "$n"
    if [ "${FULL_SEND:-0}" = 1 ]; then
      /usr/bin/time -f "digest send of $n into smtp-sink: %e s wall, peak RSS %M KiB" "$KURIER" digest send \
        2>"$work/send-$n.log" | tail -n 3
      grep "issue frozen" "$work/send-$n.log" || true
      tail -n 1 "$work/send-$n.log"
      exit 0
    fi
    # The send, stopped once its recipients are frozen (mailing a million .eml files is not
    # what is measured here).
    /usr/bin/time -f "digest send (stopped after the freeze) at $n: peak RSS %M KiB" \
      "$KURIER" digest send >"$work/send-$n.out" 2>"$work/send-$n.log" &
    timer=$!
    deadline=$((SECONDS + 600))
    while ! grep -q "issue frozen" "$work/send-$n.log" 2>/dev/null; do
      kill -0 "$timer" 2>/dev/null || { cat "$work/send-$n.log" >&2; exit 1; }
      [ $SECONDS -lt $deadline ] || { echo "no frozen issue within 600 s" >&2; kill "$timer"; exit 1; }
      sleep 0.2
    done
    grep "issue frozen" "$work/send-$n.log"
    kill "$(pgrep -P "$timer")" 2>/dev/null || true
    wait "$timer" || true
    tail -n 1 "$work/send-$n.log"
  )
  # The same list in SQLite, then moved to PostgreSQL.
  "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "DROP DATABASE $db" -c "CREATE DATABASE $db"
  lite="$work/lite-$n"
  mkdir -p "$lite"
  cp -r kurier.toml content "$lite/"
  (
    cd "$lite"
    /usr/bin/time -f "import of $n rows into SQLite: %e s wall, peak RSS %M KiB" "$KURIER" subscribers import "$work/list-$n.csv"
    read_out SQLite "$n"
    /usr/bin/time -f "store migrate of $n subscribers: %e s wall, peak RSS %M KiB" "$KURIER" store migrate --to "$url"
  )
  "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "DROP DATABASE $db"
done
