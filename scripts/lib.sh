# Shared by the measuring scripts (sourced, not run): a free port, a private redis-server (persistence off) in a
# temporary folder, and the clean-up that stops it and the service the script started.
#   source scripts/lib.sh; start_redis            -> REDIS_PORT, WORK set; SVC_PID= set it once the service runs
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_redis() {
  REDIS_PORT=$(free_port)
  WORK=$(mktemp -d)
  redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" --daemonize yes \
    --logfile "$WORK/redis.log"
  SVC_PID=
  trap cleanup EXIT
}

cleanup() {
  [ -n "${SVC_PID:-}" ] && kill "$SVC_PID" 2>/dev/null && wait "$SVC_PID" 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
