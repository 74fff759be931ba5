# Sourced by bench/dora.sh and bench/ui.sh: builds the release binary, makes
# $db, about 1,000,000 deployments shipping 5,000,000 changes and 100,000
# incidents over 3 years, 50 projects and 10 teams, through the domain code
# (`em-metrics demo`), once (later runs reuse it), and serves it on
# 127.0.0.1:$port with the token `bench` until the script exits ($pid).
# Needs $port.
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
sqlite3_count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$db" "$1"; }
echo "== data: $(sqlite3_count 'SELECT count(*) FROM deployments') deployments, $(sqlite3_count 'SELECT count(*) FROM changes') changes, $(sqlite3_count 'SELECT count(*) FROM incidents') incidents, $(du -h "$db" | cut -f1)"

. bench/server.sh
serve "$db" EM_METRICS_TOKEN_AUTH=bench RUST_LOG=warn
