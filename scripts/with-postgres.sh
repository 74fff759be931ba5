#!/usr/bin/env bash
# Runs a command with a PostgreSQL server of its own: initdb into a
# temporary folder (as the postgres user when run as root, since initdb
# refuses root), a postmaster on a free loopback port, and
# EM_METRICS_TEST_DATABASE_URL pointing at it. The server is stopped and
# the folder deleted when the command ends, however it ends.
#
# usage: scripts/with-postgres.sh COMMAND [ARGS...]
#   e.g. scripts/with-postgres.sh cargo test --test api    (the API suite on PostgreSQL)
set -euo pipefail
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed ($bin/initdb): apt-get install postgresql" >&2; exit 1; }
dir=$(mktemp -d)
chmod 755 "$dir"
as_postgres=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$dir"
  as_postgres=(runuser -u postgres --)
fi
stop() {
  # The postmaster's own pid (runuser, which started it, is its parent):
  # SIGINT is a fast shutdown; SIGKILL if it lingers.
  local postmaster
  postmaster=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$postmaster" ]; then
    kill -INT "$postmaster" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$postmaster" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$postmaster" 2>/dev/null || true
  fi
  [ -n "${pid:-}" ] && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap stop EXIT
trap "exit 130" INT TERM
"${as_postgres[@]}" "$bin/initdb" -U postgres -E UTF8 --no-sync --auth=trust -D "$dir/data" >/dev/null
mkdir -p "$dir/socket" && chown --reference="$dir/data" "$dir/socket"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_postgres[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir/socket" \
  -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 >"$dir/postgres.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
  sleep 0.1
done
export EM_METRICS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
"$@"
