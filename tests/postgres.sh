#!/usr/bin/env bash
# Sourced by tests/run.sh: a throw-away PostgreSQL for the tests. Installs Debian's `postgresql`
# when missing, makes a fresh cluster in target/test-postgres (initdb, trust auth, 127.0.0.1 only,
# a free port, TLS with a throw-away certificate authority), starts it as an unprivileged user
# (the package's `postgres` user when run as root), exports KURIER_TEST_POSTGRES_URL and
# KURIER_TEST_POSTGRES_CA, and stops the server when the calling shell exits.
# fsync is off: the data is thrown away after the run.

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "installing postgresql (Debian package)" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

pg_dir="$PWD/target/test-postgres"
pg_data="$pg_dir/data"
# As root, the server runs as the package's `postgres` user (or `nobody`), which owns only
# target/test-postgres; as anyone else, as that user.
if [ "$(id -u)" = 0 ]; then
  pg_user=postgres
  id -u "$pg_user" >/dev/null 2>&1 || pg_user=nobody
  as_pg_user() { runuser -u "$pg_user" -- "$@"; }
else
  as_pg_user() { "$@"; }
fi
if [ -f "$pg_data/postmaster.pid" ]; then
  # A run that was killed left its server behind: stop it before its data is thrown away.
  as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
fi
rm -rf "$pg_dir"
mkdir -p "$pg_dir"
[ "$(id -u)" = 0 ] && chown "$pg_user" "$pg_dir"

# TLS: a throw-away certificate authority and a server certificate for 127.0.0.1 and
# localhost, so that the store's TLS (rustls, `[store] ca_file`) is tested against a real server.
command -v openssl >/dev/null || {
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
}
pg_tls="$pg_dir/tls"
mkdir -p "$pg_tls"
(
  cd "$pg_tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=kurier test CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
    -out server.pem 2>/dev/null
  chmod 600 server.key
)
[ "$(id -u)" = 0 ] && chown -R "$pg_user" "$pg_tls"

pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg_user "$pg_bin/initdb" --pgdata="$pg_data" --username=kurier --auth=trust --encoding=UTF8 \
  --locale=C.UTF-8 --no-sync >"$pg_dir/initdb.log" 2>&1 \
  || { cat "$pg_dir/initdb.log" >&2; exit 1; }
# Trust for every user but one, who logs in with a password (scram-sha-256): the tests of
# KURIER_STORE_PASSWORD make that user.
as_pg_user sed -i '1i host all kurier_password 127.0.0.1/32 scram-sha-256' "$pg_data/pg_hba.conf"
stop_test_postgres() {
  as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
}
trap stop_test_postgres EXIT
# max_connections: each test opens a few connections, and tests run in parallel.
as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_dir/server.log" -w -t 60 \
  -o "-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$pg_tls/server.pem -c ssl_key_file=$pg_tls/server.key" \
  start >/dev/null \
  || { cat "$pg_dir/server.log" >&2; exit 1; }
# Without TLS, but for the tests of TLS (which ask for it and trust KURIER_TEST_POSTGRES_CA):
# kurier checks a server's certificate whenever it uses TLS, and this one's CA is no system root.
export KURIER_TEST_POSTGRES_URL="postgres://kurier@127.0.0.1:$pg_port/postgres?sslmode=disable"
# The authority that signed the server's certificate (the TLS tests' `[store] ca_file`).
export KURIER_TEST_POSTGRES_CA="$pg_tls/ca.pem"
# Under this script a test that needs PostgreSQL fails instead of being skipped.
export KURIER_TEST_POSTGRES_REQUIRED=1
echo "test PostgreSQL ($("$pg_bin/postgres" --version)) on 127.0.0.1:$pg_port" >&2
