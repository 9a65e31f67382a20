#!/usr/bin/env bash
# A million subscribers on PostgreSQL: `kurier subscribers import` of a 100,000- and a
# 1,000,000-row CSV (each into a fresh database), then `kurier digest send` with the file
# transport (no [smtp]) until it logs "issue frozen with its recipients" for all of them
# (active) — the send itself is stopped there; then the same list imported into an SQLite
# store and copied into another fresh database by `kurier store migrate --to`. Prints wall
# time, the freeze's ms and each process's peak RSS (GNU time). Uses the PostgreSQL of KURIER_TEST_POSTGRES_URL, or
# starts the tests' throw-away one (tests/postgres.sh). Usage: benches/million_pg.sh [SIZES…]
set -euo pipefail
cd "$(dirname "$0")/.."
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
  (
    cd "$site"
    /usr/bin/time -f "import of $n rows: %e s wall, peak RSS %M KiB" "$KURIER" subscribers import "$work/list-$n.csv"
    # The send, stopped once its recipients are frozen (mailing a million .eml files is not
    # what is measured here).
    /usr/bin/time -f "digest send (stopped after the freeze) at $n: peak RSS %M KiB" \
      "$KURIER" digest send >"$work/send-$n.out" 2>"$work/send-$n.log" &
    timer=$!
    while ! grep -q "issue frozen" "$work/send-$n.log" 2>/dev/null; do
      kill -0 "$timer" 2>/dev/null || { cat "$work/send-$n.log" >&2; exit 1; }
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
    /usr/bin/time -f "store migrate of $n subscribers: %e s wall, peak RSS %M KiB" "$KURIER" store migrate --to "$url"
  )
  "$psql" -q "$KURIER_TEST_POSTGRES_URL" -c "DROP DATABASE $db"
done
