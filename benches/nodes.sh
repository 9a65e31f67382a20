#!/usr/bin/env bash
# Node scaling (issue 10, point 5): 1, 2 and 3 `kurier run` nodes on one PostgreSQL database send
# one issue of RECIPIENTS (default 4,000) into aiosmtpd (tests/smtp_sink.py) that takes 20 ms per
# message (its `data_delay_ms`: the answer to DATA comes 20 ms late, as from a slow relay), in
# SINK_PROCESSES (default 4) processes on one port: one Python process alone is busy 70-86 % of a
# core at 3 nodes' rate, and its queue, not the nodes, would set the pace. Each
# node is a checkout of its own of tests/fixtures/digest ([smtp] concurrency 4, so N nodes hold
# 4N connections), the release build, named node-1… by KURIER_STORE_NODE. The sink holds every
# message until all N nodes log "sending digest" (so that the first node up does not start
# alone), then lets them go; messages/s = (messages - 1) / (last arrival - first arrival), on the
# sink's clock. A fresh database, sink and checkouts per run; the median of RUNS (default 3) runs
# per configuration, configurations interleaved run by run.
# Uses the PostgreSQL of KURIER_TEST_POSTGRES_URL, or starts the tests' throw-away one
# (tests/postgres.sh); aiosmtpd from target/test-venv (tests/run.sh installs it).
# Usage: benches/nodes.sh [RUNS] [RECIPIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
RECIPIENTS=${2:-4000}
SINK_PROCESSES=${SINK_PROCESSES:-4}
cargo build --release --quiet
KURIER=$PWD/target/release/kurier
PY=$PWD/target/test-venv/bin/python
"$PY" -c 'import aiosmtpd' 2>/dev/null || { echo "run tests/run.sh once first (it installs aiosmtpd into target/test-venv)" >&2; exit 1; }
if [ -z "${KURIER_TEST_POSTGRES_URL:-}" ]; then
  source tests/postgres.sh
fi
psql=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); command: benches/nodes.sh $RUNS $RECIPIENTS; commit $(git rev-parse --short HEAD)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; $("$psql" --version)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); sink: $SINK_PROCESSES process(es)"

"$PY" - "$RECIPIENTS" >"$work/list.csv" <<'PY'
import sys
print("email,name,status")
for i in range(int(sys.argv[1])):
    print(f"reader{i}@example.org,Reader {i},active")
PY

# wait_until COMMAND SECONDS (the run stops if it times out: set -e).
source benches/wait_until.sh

# One run with $1 nodes; prints its messages/s.
one_run() {
  local nodes=$1 run=$2
  local db="kurier_nodes_${nodes}_${run}_$$"
  "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "CREATE DATABASE $db"
  local url="${KURIER_TEST_POSTGRES_URL/\/postgres\?//$db?}"
  local dir="$work/run-$nodes-$run"
  mkdir -p "$dir/sink"
  echo '{"hold_data": true, "data_delay_ms": 20}' >"$dir/rules.json"
  "$PY" tests/smtp_sink.py --dir "$dir/sink" --rules "$dir/rules.json" --processes "$SINK_PROCESSES" >"$dir/sink.out" 2>"$dir/sink.log" &
  local sink=$!
  pids+=("$sink")
  wait_until "grep -q PORT '$dir/sink.out'" 30
  local port
  port=$(awk '/PORT/{print $2}' "$dir/sink.out")
  for i in $(seq "$nodes"); do
    cp -r tests/fixtures/digest "$dir/node-$i"
    sed -i -e 's/^max_posts = 10$/max_posts = 10\nschedule = "0 0 0 * * *"/' \
      -e "s#^url = \"smtp://127.0.0.1:9\"#url = \"smtp://127.0.0.1:$port\"#" \
      -e 's/^timeout_seconds = 5$/timeout_seconds = 120/' "$dir/node-$i/kurier.toml"
    printf '\n[http]\nlisten = "127.0.0.1:0"\n\n[store]\nurl = "%s"\n' "$url" >>"$dir/node-$i/kurier.toml"
  done
  "$KURIER" --root "$dir/node-1" subscribers import "$work/list.csv" >/dev/null
  # The daemons last fired four days ago: each finds the same missed midnight at start.
  "$psql" -q "$url" -c "INSERT INTO meta (key, value) VALUES ('digest_last_run', '$(date -u -d '4 days ago' '+%Y-%m-%dT%H:%M:%S+00:00')')"
  local node_pids=()
  for i in $(seq "$nodes"); do
    KURIER_STORE_NODE="node-$i" KURIER_SECRET=bench RUST_LOG=info "$KURIER" --root "$dir/node-$i" run \
      >"$dir/node-$i.out" 2>"$dir/node-$i.log" &
    node_pids+=("$!")
    pids+=("$!")
  done
  for i in $(seq "$nodes"); do
    wait_until "grep -qs 'sending digest' '$dir/node-$i.log'" 120
  done
  echo '{"data_delay_ms": 20}' >"$dir/rules.json"
  wait_until "[ \"\$('$psql' -Atq '$url' -c 'SELECT status FROM issues WHERE id = 1')\" = sent ]" 900
  for pid in "${node_pids[@]}"; do kill -TERM "$pid"; done
  for pid in "${node_pids[@]}"; do wait "$pid" || true; done
  kill -TERM "$sink"
  wait "$sink" || true
  "$PY" - "$dir/sink" "$RECIPIENTS" <<'PY'
import json, pathlib, sys
arrived = sorted(json.loads(p.read_text())["arrived"] for p in pathlib.Path(sys.argv[1]).glob("*.json"))
expected = int(sys.argv[2])
if len(arrived) < expected:
    sys.exit(f"only {len(arrived)} of {expected} messages arrived")
print(f"{(len(arrived) - 1) / (arrived[-1] - arrived[0]):.1f} {len(arrived)}")
PY
  "$psql" -Atq "$url" -c "SELECT node, COUNT(*) FROM deliveries WHERE state = 'sent' GROUP BY node ORDER BY node" \
    | tr '\n' ' ' >"$dir/shares"
  "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "DROP DATABASE $db"
}

declare -A rates
for run in $(seq "$RUNS"); do
  for nodes in 1 2 3; do
    one_run "$nodes" "$run" >"$work/rate"
    read -r rate messages <"$work/rate"
    shares=$(cat "$work/run-$nodes-$run/shares")
    echo "run $run, $nodes node(s): $rate messages/s ($messages messages; sent per node: $shares)"
    rates[$nodes]="${rates[$nodes]:-} $rate"
    rm -rf "$work/run-$nodes-$run"
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
for nodes in 1 2 3; do
  # shellcheck disable=SC2086
  median=$(printf '%s\n' ${rates[$nodes]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
  echo "median, $nodes node(s): $median messages/s (runs:${rates[$nodes]})"
done
