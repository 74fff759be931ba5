#!/usr/bin/env bash
# Dashboard benchmark (issue: /ui for a 30-day window renders in under 100 ms
# median on the server, and the HTML, CSS and JS come to under 150 KB) on the
# 1,000,000-deployment database of bench/dora.sh. /dora over the same window
# is measured beside it, as the floor the page builds on.
#
# usage: bench/ui.sh [RUNS]     (loopback only; stops by itself)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
port=${BENCH_PORT:-39098}
. bench/million.sh  # builds, makes the database once, serves it as $pid

echo "== $(nproc) cores, $(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2 | xargs), sequential requests, first one discarded"
python3 bench/measure.py "http://127.0.0.1:$port" bench "$pid" "$runs" \
  "/dora" \
  "/ui" \
  "/ui?by=project_id" \
  "/ui?days=90" \
  "/ui?days=365"

bytes() { curl -s -H 'Authorization: Bearer bench' "http://127.0.0.1:$port$1" | wc -c; }
html=$(bytes /ui); css=$(bytes /ui/static/app.css); js=$(bytes /ui/static/app.js); icon=$(bytes /ui/static/favicon.svg)
echo "== transferred by /ui: HTML $html + CSS $css + JS $js + icon $icon = $((html + css + js + icon)) bytes (target < 153600)"
