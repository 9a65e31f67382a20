# Sourced by the bench scripts: `wait_until COMMAND SECONDS` waits (at most SECONDS) until the
# shell command COMMAND succeeds, checking every 0.1 s; fails with a message if it never does.
wait_until() {
  local deadline=$((SECONDS + $2))
  until eval "$1"; do
    [ $SECONDS -lt "$deadline" ] || { echo "timed out after $2 s waiting for: $1" >&2; return 1; }
    sleep 0.1
  done
}
