# Sourced by the bench scripts: starts the release server on 127.0.0.1:$port,
# waits until it accepts connections, and stops it on exit. `start NAME`
# uses a fresh database $work/NAME.db; `serve FILE` an existing one. Extra
# VAR=value arguments become its environment. Needs $work, $port and $bin.
pid=
start() { # name, VAR=value...
  local name=$1; shift
  rm -f "$work/$name.db" "$work/$name.db-wal" "$work/$name.db-shm"
  launch "$work/$name.db" "$work/$name.log" "$@"
}
serve() { # database file, VAR=value...
  local db=$1; shift
  launch "$db" "$work/serve.log" "$@"
}
launch() { # database file, log file, VAR=value...
  local db=$1 log=$2; shift 2
  env "$@" HOST=127.0.0.1 PORT=$port SQLITE_DB="$db" "$bin" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1)" 2>/dev/null && return
    sleep 0.02
  done
  echo "server did not start (log: $log)" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT
rss() { grep -E 'VmHWM' /proc/$pid/status | awk '{printf "peak RSS %.1f MiB", $2/1024}'; }
