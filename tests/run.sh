#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the Python test dependencies (feedparser,
# aiosmtpd) into target/test-venv, npm's rss-parser into target/test-npm and, when missing,
# Debian's chromium (the digest's layout is checked in headless Chromium), spamassassin (the
# digest is scored with local tests) and sfeed (another feed reader), starts a throw-away
# PostgreSQL (tests/postgres.sh: the store's tests run on it as well as on SQLite), then runs every
# Rust test (tests/nodes.rs: several daemons on one PostgreSQL database), and the integration
# tests that use the store a second time on PostgreSQL.
# Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
if ! "$venv/bin/python" -c 'import feedparser, aiosmtpd, dkim, jsonschema' 2>/dev/null; then
  echo "installing Python test dependencies into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/spamassassin ] || missing+=(spamassassin)
[ -x /usr/bin/sfeed ] || missing+=(sfeed)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export KURIER_TEST_PYTHON="$PWD/$venv/bin/python"
# npm's rss-parser, a second independent reader of the feeds (it renders descriptions as HTML).
npm_dir=target/test-npm
if [ ! -f "$npm_dir/node_modules/rss-parser/package.json" ]; then
  echo "installing rss-parser into $npm_dir" >&2
  mkdir -p "$npm_dir"
  npm install --silent --no-audit --no-fund --prefix "$npm_dir" rss-parser@3.13.0 >/dev/null
fi
export KURIER_TEST_NODE_PATH="$PWD/$npm_dir/node_modules"

source tests/postgres.sh

cargo test --locked "$@"
# The integration tests that use the store, again on PostgreSQL (each site gets a database of
# its own; tests of the SQLite file itself say they are skipped). Only for the whole suite.
if [ $# -eq 0 ]; then
  echo "the store's integration tests on PostgreSQL" >&2
  KURIER_TEST_BACKEND=postgres cargo test --locked --test daemon --test digest --test faults --test http
fi
