#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for alviz's tests and benchmarks (Debian's packages).
#
#   eval "$(scripts/pg_test_server.sh start)"   # exports ALVIZ_TEST_PG_URL and ALVIZ_TEST_PG_DIR
#   .venv/bin/python -m pytest -q tests/unit/test_store.py
#   scripts/pg_test_server.sh restart           # drops every connection (tests use it for an outage)
#   scripts/pg_test_server.sh stop              # stops it and deletes its data ($ALVIZ_TEST_PG_DIR)
#
# The cluster lives in a fresh temporary folder, listens on a free loopback port (no Unix socket in
# /var/run), and requires a password (scram-sha-256) for its one role, "alviz". Run as root, the server
# runs as the "postgres" user; run as anyone else, as that user. Installs the "postgresql" package with
# apt-get when it is missing and we are root. Messages go to stderr; only the export lines go to stdout.
set -euo pipefail

log() { echo "pg_test_server: $*" >&2; }

pg_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  done
  return 1
}

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

start() {
  local bin
  if ! bin=$(pg_bindir); then
    if [ "$(id -u)" = 0 ]; then
      log "installing postgresql from Debian's packages"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq postgresql >&2
      bin=$(pg_bindir)
    else
      log "PostgreSQL is not installed; run: sudo apt-get install postgresql"
      exit 1
    fi
  fi
  local dir port password
  dir=$(mktemp -d "${TMPDIR:-/tmp}/alviz-pg.XXXXXX")
  port=$(free_port)
  password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
  printf '%s\n' "$password" >"$dir/pwfile"
  chmod 700 "$dir"
  chmod 600 "$dir/pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi

  as_server_user "$bin/initdb" -D "$dir/data" -U alviz --pwfile="$dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { log "initdb failed:"; cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >&2 ||
    { log "server did not start:"; cat "$dir/server.log" >&2; exit 1; }
  PGPASSWORD=$password "$bin/psql" -q -h 127.0.0.1 -p "$port" -U alviz -d postgres \
    -c "CREATE DATABASE alviz_test" >&2
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
  echo "export ALVIZ_TEST_PG_DIR=$dir"
  echo "export ALVIZ_TEST_PG_URL=postgresql+psycopg://alviz:$password@127.0.0.1:$port/alviz_test"
}

stop() {
  local dir=${1:-${ALVIZ_TEST_PG_DIR:-}}
  if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
    log "nothing to stop (give the folder, or set ALVIZ_TEST_PG_DIR)"
    return 0
  fi
  local bin
  bin=$(pg_bindir)
  as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
  log "stopped and removed $dir"
}

restart() {
  # What a database outage looks like to clients: every connection drops, the server is away for a moment.
  local dir=${1:-${ALVIZ_TEST_PG_DIR:-}}
  [ -n "$dir" ] && [ -d "$dir/data" ] || { log "nothing to restart"; exit 1; }
  as_server_user "$(pg_bindir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  restart) restart "${2:-}" ;;
  *) echo "usage: $0 start | stop [DIR] | restart [DIR]" >&2; exit 2 ;;
esac
