#!/usr/bin/env bash
# Both stores side by side, in one run, on this machine (issue 22):
#   - new deployments/s at 16 connections (wrk, POST /deployments with
#     deployed_at): SQLite; PostgreSQL with one replica; PostgreSQL with two
#     replicas (two wrk at 8 connections each, one per replica, at once);
#   - /dora over 30 days and over a year on the 1M-deployment, 5M-change
#     database (target/bench/million-changes.db, made by bench/dora.sh):
#     SQLite, and PostgreSQL after `em-metrics copy`;
#   - each server's peak RSS.
# PostgreSQL is a server of this run's own (scripts/with-postgres.sh), on
# loopback, stopped at the end; so are the em-metrics servers.
#
# usage: bench/stores.sh [SECONDS]      (default 10 s per write run)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${EM_METRICS_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-postgres.sh bash "$0" "$@"
fi
secs=${1:-10}
work=${BENCH_DIR:-target/bench}
mkdir -p "$work"
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/em-metrics
server=${EM_METRICS_TEST_DATABASE_URL%/postgres}
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap stop_all EXIT
newdb() { psql -q "$EM_METRICS_TEST_DATABASE_URL" -c "CREATE DATABASE $1" >/dev/null; echo "$server/$1"; }
launch() { # port, store variable=value
  env EM_METRICS_TOKEN_AUTH=bench HOST=127.0.0.1 PORT="$1" "$2" "$bin" >"$work/stores-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.1)" 2>/dev/null && return
    sleep 0.05
  done
  echo "server on $1 did not start: $(tail -3 "$work/stores-$1.log")" >&2; exit 1
}
rss() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
rate() { grep 'Requests/sec' | awk '{print $2}'; }
wrk_on() { # port, connections
  BENCH_TOKEN=bench wrk -t1 -c"$2" -d"${secs}s" -s bench/wrk/new_deployment.lua "http://127.0.0.1:$1" -- deployed
}
echo "== machine: $(nproc) cores, $(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2 | xargs); PostgreSQL $(psql -At "$EM_METRICS_TEST_DATABASE_URL" -c 'SHOW server_version')"

echo "== new deployments/s, 16 connections, $secs s"
rm -f "$work/stores.db"*
launch 39201 SQLITE_DB="$work/stores.db"
echo "   SQLite:                    $(wrk_on 39201 16 | rate)/s (peak RSS $(rss "${pids[0]}"))"
stop_all
launch 39202 DATABASE_URL="$(newdb writes_one)"
echo "   PostgreSQL, one replica:   $(wrk_on 39202 16 | rate)/s (peak RSS $(rss "${pids[0]}"))"
stop_all
url=$(newdb writes_two)
launch 39203 DATABASE_URL="$url"
launch 39204 DATABASE_URL="$url"
wrk_on 39203 8 > "$work/stores-a.txt" &
first=$!
wrk_on 39204 8 > "$work/stores-b.txt"
wait "$first"
a=$(rate < "$work/stores-a.txt"); b=$(rate < "$work/stores-b.txt")
echo "   PostgreSQL, two replicas:  $(python3 -c "print(round($a + $b, 2))")/s ($a + $b; peak RSS $(rss "${pids[0]}"), $(rss "${pids[1]}"))"
stop_all

db=$work/million-changes.db
if [ ! -f "$db" ]; then
  echo "== (no $db: run bench/dora.sh first for the /dora comparison)"
  exit 0
fi
echo "== /dora on $db (sequential requests, first one discarded)"
url=$(newdb million)
started=$(date +%s)
"$bin" --sqlite-db "$db" copy --to "$url" | tail -1
echo "   copied in $(( $(date +%s) - started )) s; ANALYZE"
psql -q "$url" -c "ANALYZE" >/dev/null
now=$(date +%s)
paths=("/dora?from=$((now - 30 * 86400))&to=$now" "/dora?from=$((now - 365 * 86400))&to=$now")
launch 39205 SQLITE_DB="$db"
echo "   SQLite:"
python3 bench/measure.py "http://127.0.0.1:39205" bench "${pids[0]}" 10 "${paths[@]}"
stop_all
launch 39206 DATABASE_URL="$url"
echo "   PostgreSQL:"
python3 bench/measure.py "http://127.0.0.1:39206" bench "${pids[0]}" 10 "${paths[@]}"
stop_all
