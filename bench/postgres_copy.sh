#!/usr/bin/env bash
# `em-metrics copy` of the 1M-deployment benchmark database (bench/million.sh
# makes it: about 1,000,000 deployments, 5,000,000 changes) into a fresh
# PostgreSQL 15 of its own, on loopback: time, rows, peak RSS of the copy.
# Needs Debian's postgresql (initdb in /usr/lib/postgresql/15/bin or PG_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-target/bench}
mkdir -p "$work"
cargo build --release --quiet
bin=target/release/em-metrics
db=$work/million-changes.db
if [ ! -f "$db" ]; then
  echo "== generating $db"
  started=$(date +%s)
  "$bin" --sqlite-db "$db" demo --days 1095 --teams 10 --projects 50 \
    --deploys-per-day 15.5 --incident-scale 2.5 --seed 1 --no-pull-requests --until "$(date -u +%F)" | head -1
  echo "   generated in $(( $(date +%s) - started )) s"
fi

pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
pgdir=$(mktemp -d)
chmod 755 "$pgdir"
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$pgdir"; as_pg=(runuser -u postgres --); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$pg_bin/initdb" -U postgres -A trust -E UTF8 --no-sync -D "$pgdir/data" >/dev/null
stop() { "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap stop EXIT
# Durable settings (fsync on): the figure is what an operator would see.
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c max_wal_size=4GB" start >/dev/null
"${as_pg[@]}" "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE em" postgres

echo "== copy $(du -h "$db" | cut -f1) into PostgreSQL on 127.0.0.1:$port"
/usr/bin/time -f "   peak RSS %M KiB, %e s wall, %U s user, %S s system" \
  "$bin" --sqlite-db "$db" copy --to "postgres://postgres@127.0.0.1:$port/em"
echo "== PostgreSQL database size: $("${as_pg[@]}" "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT pg_size_pretty(pg_database_size('em'))" postgres)"
