#!/usr/bin/env bash
# Memory of a node while it sends (issue 10, point 3: at most 150 MiB): one `kurier run` serves a
# site while its digest schedule sends one issue to N active subscribers into Postfix's smtp-sink
# (8 connections). The daemon's VmRSS is read from /proc every 2 s, from its start until it logs
# "digest run done" (or MAX_SECONDS pass), and its VmHWM (the kernel's peak RSS of the process)
# at the end; then it is stopped.
# Usage: benches/node_memory.sh SITE BACKEND N [MAX_SECONDS]
#   SITE     a folder with kurier.toml and content/: `.` (the sample site) or a corpus made by
#            benches/corpus.py (it is copied: its public/ and subscribers/ are left alone)
#   BACKEND  postgres (a fresh database on KURIER_TEST_POSTGRES_URL, else on the tests'
#            throw-away server, tests/postgres.sh) or sqlite
#   N        active subscribers, imported first as benches/million_pg.sh does
# Prints one line per sample to $OUT/memory-*.samples and a summary; KURIER=… picks the binary
# (default target/release/kurier, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/wait_until.sh
SITE=$(cd "${1:?usage: benches/node_memory.sh SITE BACKEND N [MAX_SECONDS]}" && pwd)
BACKEND=${2:?}
N=${3:?}
MAX_SECONDS=${4:-3600}
if [ -z "${KURIER:-}" ]; then
  cargo build --release --quiet
  KURIER=$PWD/target/release/kurier
fi
OUT=$PWD/target/bench
mkdir -p "$OUT"
command -v smtp-sink >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >/dev/null
work=$(mktemp -d "$OUT/node-memory-XXXXXX")
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null || true
  [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
  [ -n "${db:-}" ] && "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

store=""
if [ "$BACKEND" = postgres ]; then
  [ -n "${KURIER_TEST_POSTGRES_URL:-}" ] || source tests/postgres.sh
  psql=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql
  db="kurier_memory_$$"
  "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  store="${KURIER_TEST_POSTGRES_URL/\/postgres\?//$db?}"
fi

sink_port=$(free_port)
smtp-sink -u nobody 127.0.0.1:"$sink_port" 1024 &
sink=$!
wait_until '(exec 3<>/dev/tcp/127.0.0.1/"$sink_port") 2>/dev/null' 30

site="$work/site"
mkdir -p "$site"
cp -r "$SITE/kurier.toml" "$SITE/content" "$site/"
[ -d "$SITE/templates" ] && cp -r "$SITE/templates" "$site/"
# The site's config with the bench's listener, sink, store and (once the list is in) a
# schedule that fires 20 s after the daemon starts. $1: the fire time (or none).
configure() {
  python3 - "$SITE/kurier.toml" "$site/kurier.toml" "$(free_port)" "$sink_port" "$store" "$1" <<'PY'
import datetime, re, sys, zoneinfo
source, target, http_port, sink_port, store, fire = sys.argv[1:]
text = open(source, encoding="utf-8").read()
for table in ("http", "smtp", "store"):
    text = re.sub(rf"(?ms)^\[{table}\]\n.*?(?=^\[|\Z)", "", text)
text = re.sub(r"(?m)^schedule = .*\n", "", text)
if fire:
    zone = re.search(r'(?m)^timezone = "([^"]+)"', text)
    zone = zoneinfo.ZoneInfo(zone.group(1) if zone else "UTC")
    at = datetime.datetime.now(zone) + datetime.timedelta(seconds=int(fire))
    text = text.replace("[digest]\n", f'[digest]\nschedule = "{at.second} {at.minute} {at.hour} * * *"\n', 1)
text += f'\n[http]\nlisten = "127.0.0.1:{http_port}"\n'
text += f'[smtp]\nurl = "smtp://127.0.0.1:{sink_port}"\nconcurrency = 8\ntimeout_seconds = 30\n'
if store:
    text += f'[store]\nurl = "{store}"\n'
open(target, "w", encoding="utf-8").write(text)
PY
}
configure ""
python3 - "$N" >"$work/list.csv" <<'PY'
import sys
print("email,name")
for i in range(int(sys.argv[1])):
    print(f"reader{i}@example.org,Reader {i}")
PY
"$KURIER" --root "$site" subscribers import "$work/list.csv" >/dev/null
rm "$work/list.csv"
configure 20

posts=$(find "$site/content" -name '*.md' | wc -l)
name=$(basename "$SITE")
[ "$SITE" = "$PWD" ] && name=sample
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
samples="$OUT/memory-$name-$BACKEND-$N.samples"
: >"$samples"
RUST_LOG=info "$KURIER" --root "$site" run >"$work/daemon.out" 2>"$work/daemon.log" &
daemon=$!
start=$SECONDS
peak_sample=0
hwm=0
while kill -0 "$daemon" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$daemon/status" 2>/dev/null || echo 0)
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$daemon/status" 2>/dev/null || echo "$hwm")
  echo "$((SECONDS - start)) $rss" >>"$samples"
  [ "${rss:-0}" -gt "$peak_sample" ] && peak_sample=$rss
  grep -q "digest run done" "$work/daemon.log" && break
  [ $((SECONDS - start)) -lt "$MAX_SECONDS" ] || break
  sleep 2
done
kill -0 "$daemon" 2>/dev/null || { echo "kurier run ended by itself:" >&2; tail -n 20 "$work/daemon.log" >&2; exit 1; }
done_line=$(grep -m1 "digest run done" "$work/daemon.log" || true)
frozen=$(grep -m1 "issue frozen" "$work/daemon.log" || true)
# The issue's deliveries by state when the window closed (the daemon is still sending).
status=$("$KURIER" --root "$site" digest status 2>&1 | grep -m1 -i "issue 1\b" || true)
kill -TERM "$daemon"
wait "$daemon" || true
daemon=""
echo "site $name ($posts posts), $BACKEND, $N recipients; kurier $(git rev-parse --short HEAD)"
echo "load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "window: $((SECONDS - start)) s ($([ -n "$done_line" ] && echo "until the digest run was done" || echo "cut at $MAX_SECONDS s"))"
echo "freeze: ${frozen:-none logged}"
echo "digest: ${done_line:-not done in the window}"
echo "digest status at the end of the window: ${status:-?}"
echo "kurier run: VmHWM (peak RSS) $hwm KiB; highest VmRSS sampled $peak_sample KiB; $(wc -l <"$samples") samples in $samples"
