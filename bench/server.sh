# Sourced by the bench scripts: starts the release server on 127.0.0.1:$port
# with a fresh database $work/$1.db (and any extra VAR=value arguments as its
# environment), waits until it accepts connections, and stops it on exit.
# Needs $work, $port and $bin.
pid=
start() { # name, VAR=value...
  local name=$1; shift
  rm -f "$work/$name.db" "$work/$name.db-wal" "$work/$name.db-shm"
  env "$@" HOST=127.0.0.1 PORT=$port SQLITE_DB="$work/$name.db" "$bin" >"$work/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1)" 2>/dev/null && return
    sleep 0.02
  done
  echo "server did not start" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT
rss() { grep -E 'VmHWM' /proc/$pid/status | awk '{printf "peak RSS %.1f MiB", $2/1024}'; }
