#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the Python test dependencies (feedparser,
# aiosmtpd) into target/test-venv and, when missing, Debian's chromium (the digest's layout is
# checked in headless Chromium) and spamassassin (the digest is scored with local tests), then
# runs every Rust test. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
if ! "$venv/bin/python" -c 'import feedparser, aiosmtpd, dkim' 2>/dev/null; then
  echo "installing Python test dependencies into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/spamassassin ] || missing+=(spamassassin)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export KURIER_TEST_PYTHON="$PWD/$venv/bin/python"

cargo test --locked "$@"
