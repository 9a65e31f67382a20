#!/usr/bin/env bash
# digest send of two kurier binaries (8 connections, into Postfix's smtp-sink), alternating, with
# the raw client (cargo bench --no-run builds it) after each pair: 5 rounds, messages/s (and, for
# kurier, its CPU time per message in µs: less at the mercy of other load than the rate).
#   benches/send_ab.sh OLD_KURIER NEW_KURIER [N]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/wait_until.sh
OLD=${1:?usage: benches/send_ab.sh OLD_KURIER NEW_KURIER [N]}; NEW=${2:?}
RAW=$(ls -t target/release/deps/raw_smtp-* | grep -v '\.d$' | head -n1)
N=${3:-20000}
OUT=$PWD/target/bench/send-ab; rm -rf $OUT; mkdir -p $OUT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
smtp-sink -u nobody 127.0.0.1:"$PORT" 1024 & SINK=$!
trap 'kill $SINK' EXIT
wait_until '(exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null' 30
mk() { local dir=$1 port=$2
  rm -rf "$dir" && mkdir -p "$dir" && cp -r tests/fixtures/digest/content "$dir/"
  sed '/# The tests point/,$d' tests/fixtures/digest/kurier.toml > "$dir/kurier.toml"
  [ "$port" = file ] || printf '[smtp]\nurl = "smtp://127.0.0.1:%s"\nconcurrency = 8\ntimeout_seconds = 30\n' "$port" >> "$dir/kurier.toml"
  python3 -c "
print('email,name,status')
for i in range($3): print(f'r{i:07d}@example.org,Czytelnik {i},active')" > "$dir/list.csv"
  # The old binary makes the store: the new one migrates a copy of it, never the reverse.
  $OLD --root "$dir" subscribers import "$dir/list.csv" > /dev/null; rm "$dir/list.csv"; }
mk $OUT/base $PORT $N
mk $OUT/one file 1; $NEW --root $OUT/one digest send >/dev/null 2>&1; MSG=$(ls $OUT/one/outbox/*.eml | head -1)
for run in 1 2 3 4 5; do
  for bin in old new; do
    B=$OLD; [ $bin = new ] && B=$NEW
    rm -rf $OUT/d && cp -r $OUT/base $OUT/d
    line=$(/usr/bin/time -f "%U %S" -o $OUT/cpu.txt env RUST_LOG=warn $B --root $OUT/d digest send)
    read -r user sys < $OUT/cpu.txt
    # messages/s, then kurier's CPU time (user + system) per message in µs
    echo "$bin $(echo "$line" | sed 's/.*(\([0-9]*\) messages\/s).*/\1/') $(echo "($user + $sys) * 1000000 / $N" | bc)"
  done
  read -r count seconds < <("$RAW" "$PORT" "$N" 8 "$MSG")
  echo "raw $(echo "scale=1; $count / $seconds" | bc)"
done
