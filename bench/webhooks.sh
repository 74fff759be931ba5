#!/usr/bin/env bash
# Webhook benchmark on loopback: signed GitHub deliveries against the release
# build, with wrk on the same machine (16 connections). Every delivery is
# unique (its own delivery id, deployment id and shas), signed beforehand so
# the load generator does no HMAC. Targets: deployment_status ≥ 5,000/s;
# push of 20 commits ≥ 2,000/s; pull request deliveries (opened, reviewed,
# merged) ≥ 3,000/s (octokit's examples: `npm ci --prefix tests/stack/webhooks`).
#
# usage: bench/webhooks.sh [SECONDS [KIND...]]   (default 5 s per run, every kind)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=16
work=${BENCH_DIR:-target/bench}
port=${BENCH_PORT:-39099}
secret=bench-webhook-secret
mkdir -p "$work"
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/em-metrics

. bench/server.sh
run() { # event, count
  local event=$1 count=$2
  echo "== signing $count $event deliveries"
  python3 bench/webhook_deliveries.py "$event" "$count" 2 "$secret" "$work/deliveries-$event"
  start webhooks EM_METRICS_TOKEN_AUTH=bench EM_METRICS_GITHUB_WEBHOOK_SECRET=$secret
  echo "== POST /webhooks/github, X-GitHub-Event: $event ($conns connections, $secs s)"
  wrk -t2 -c$conns -d${secs}s --latency -s bench/wrk/webhook.lua "http://127.0.0.1:$port" -- \
    "$work/deliveries-$event" | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors|requests in|WARNING'
  echo "   $(rss)"
  python3 - "$work/webhooks.db" "$event" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if sys.argv[2] == "push":
    pushes, commits = db.execute("SELECT count(*), coalesce(sum(json_array_length(commits)), 0) FROM pushes").fetchone()
    print("   stored: %d pushes, %d commits" % (pushes, commits))
elif sys.argv[2] == "pull_request":
    print("   stored: %d pull requests, %d merged, %d reviews" % db.execute(
        "SELECT count(*), count(merged_at), (SELECT count(*) FROM pull_request_reviews) FROM pull_requests").fetchone())
else:
    print("   stored: %d deployed deployments" % db.execute("SELECT count(*) FROM deployments WHERE status = 'deployed'").fetchone())
PY
  stop
  rm -f "$work"/deliveries-"$event".*
}

echo "== machine: $(nproc) cores, $(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2 | xargs); wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
kinds=("${@:2}")
[ ${#kinds[@]} -gt 0 ] || kinds=(deployment_status push pull_request)
for kind in "${kinds[@]}"; do
  case $kind in
    deployment_status) run deployment_status $((secs * 20000)) ;;
    push) run push $((secs * 40000)) ;;
    pull_request) run pull_request $((secs * 15000)) ;;
    *) echo "unknown kind $kind" >&2; exit 2 ;;
  esac
done
