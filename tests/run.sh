#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the Python test dependencies (feedparser,
# aiosmtpd) into target/test-venv, then runs every Rust test. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
if ! "$venv/bin/python" -c 'import feedparser, aiosmtpd, dkim' 2>/dev/null; then
  echo "installing Python test dependencies into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export KURIER_TEST_PYTHON="$PWD/$venv/bin/python"

cargo test --locked "$@"
