#!/usr/bin/env bash
# Cycle-time benchmark (issue: /dora/cycle-time over a year under 300 ms and
# over 30 days under 50 ms, with 200,000 pull requests beside the
# 1M-deployment database of bench/million.sh).
#
# The pull requests are written straight into the database by
# bench/pull_requests.py (SQL, not the domain code: 200,000 through the API
# would take longer than the measurement), over the same 3 years, projects
# and teams as the deployments; 85 % merged, 80 % of those shipped.
#
# usage: bench/cycle_time.sh [RUNS]     (loopback only; stops by itself)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
port=${BENCH_PORT:-39098}
. bench/million.sh  # builds, makes the database once, serves it as $pid
# Added once, beside the deployments, while the server runs (it is idle).
python3 bench/pull_requests.py "$db" 200000

now=$(date +%s)
year=$((now - 365 * 86400))
echo "== $(nproc) cores, sequential requests, first one discarded"
python3 bench/measure.py "http://127.0.0.1:$port" bench "$pid" "$runs" \
  "/dora/cycle-time" \
  "/dora/cycle-time?from=$year&to=$now" \
  "/dora/trend?interval=week&from=$year&to=$now" \
  "/pull-requests?state=merged&order=desc&limit=20"
