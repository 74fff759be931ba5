#!/usr/bin/env bash
# HTTP API benchmark on loopback against the release build, with wrk
# (Debian package) as the load generator on the same machine. Prints every
# figure; bench/RESULTS.md records them. Each server is started here, on
# 127.0.0.1, and stopped at the end.
#
# usage: bench/api.sh [SECONDS]      (default 10 s per run)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=16
work=${BENCH_DIR:-target/bench}
port=${BENCH_PORT:-39098}
mkdir -p "$work"
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
cargo build --release --quiet --example sqlite_ceiling
bin=target/release/em-metrics
export BENCH_TOKEN=bench

. bench/server.sh
load() { # name, script, args...
  local name=$1 script=$2; shift 2
  echo "== $name ($conns connections, $secs s)"
  wrk -t2 -c$conns -d${secs}s --latency -s "bench/wrk/$script" "http://127.0.0.1:$port" -- "$@" \
    | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors|requests in'
  echo "   $(rss)"
}

echo "== machine: $(nproc) cores, $(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2 | xargs), $(free -g | awk '/Mem/ {print $2}') GiB; wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
echo "   server logs at the default level (info, one line per request) to a file"

start api EM_METRICS_TOKEN_AUTH=$BENCH_TOKEN; load "POST /deployments, new deployment each" new_deployment.lua; stop
start api EM_METRICS_TOKEN_AUTH=$BENCH_TOKEN; load "POST /deployments with deployed_at (single call)" new_deployment.lua deployed; stop
start api EM_METRICS_TOKEN_AUTH=$BENCH_TOKEN; load "start, then /deployed (pairs)" start_then_deployed.lua; stop
start api EM_METRICS_TOKEN_AUTH=$BENCH_TOKEN; load "POST /deployments carrying 20 commits each" new_deployment_commits.lua; stop
start api EM_METRICS_TOKEN_AUTH=$BENCH_TOKEN; load "POST /deployments carrying 20 commits, deployed in the same call" new_deployment_commits.lua deployed; stop

start api EM_METRICS_TOKEN_AUTH=$BENCH_TOKEN
echo "== seeding 10000 deployments r-0 .. r-9999 for the reads"
python3 - "$port" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for n in range(10000):
    c.request("POST", "/deployments", body='{"id":"r-%d","project_id":"api","first_commit_at":1714550400,"deployed_at":1714557600}' % n,
              headers={"Authorization": "Bearer bench"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY
load "GET /deployments/{id}" get_deployment.lua 10000
load "GET /deployments?limit=50" get_path.lua "/deployments?limit=50"
load "GET /health (the HTTP stack alone)" get_path.lua /health
stop

echo "== the same inserts straight through rusqlite, one transaction each (one connection)"
target/release/examples/sqlite_ceiling 200000

echo "== start to ready"
rm -f "$work/empty.db"*
python3 bench/startup.py "$bin" "$work/empty.db" 10
if [ -f "$work/million-changes.db" ]; then
  python3 bench/startup.py "$bin" "$work/million-changes.db" 10
else
  echo "   (no $work/million-changes.db: run bench/dora.sh first for the 1M-deployment start)"
fi
