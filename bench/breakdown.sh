#!/usr/bin/env bash
# Bounded breakdown (issue "Hardening", point 12): 16 concurrent
# /dora/breakdown?by=project_id requests over 50,000 projects must stay under
# 200 MB RSS. Generates (once) a database with 50,000 projects through the
# demo, starts the release build on 127.0.0.1, fires the requests, and prints
# the server's peak RSS and the answer sizes. Stops by itself.
#
# usage: bench/breakdown.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-target/bench}
db=$work/fifty-thousand-projects.db
port=${BENCH_PORT:-39099}
mkdir -p "$work"
cargo build --release --quiet
bin=target/release/em-metrics
if [ ! -f "$db" ]; then
  echo "== generating $db"
  # Its second line is the team config of 50,000 projects: keep it out of the terminal.
  "$bin" demo --days 3 --teams 12 --projects 50000 --deploys-per-day 1.0 --seed 1 --sqlite-db "$db" >"$work/demo.out"
  head -c 300 "$work/demo.out"; echo
fi
. bench/server.sh
serve "$db" EM_METRICS_TOKEN_AUTH=bench RUST_LOG=warn
python3 - "$port" "$pid" <<'PY'
import http.client, json, sys, threading, time
port, pid = int(sys.argv[1]), sys.argv[2]
def rss(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
now = int(time.time())
for limit in (100, 1000):
    path = f"/dora/breakdown?by=project_id&limit={limit}&from={now - 7 * 86400}&to={now}"
    results = []
    def one():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        started = time.perf_counter()
        c.request("GET", path, headers={"Authorization": "Bearer bench"})
        r = c.getresponse(); body = r.read()
        results.append((r.status, len(body), time.perf_counter() - started, json.loads(body)))
    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads: t.start()
    for t in threads: t.join()
    status = {r[0] for r in results}
    groups, omitted = len(results[0][3]["groups"]), results[0][3]["omitted_groups"]
    print(f"limit={limit}: 16 concurrent, statuses {status}, {groups} groups + {omitted} omitted, "
          f"{results[0][1] / 1024:.0f} KiB each, slowest {max(r[2] for r in results):.2f} s")
print(f"server RSS now {rss('VmRSS'):.1f} MiB, peak {rss('VmHWM'):.1f} MiB")
PY
