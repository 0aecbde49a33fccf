#!/usr/bin/env bash
# HTTP publish throughput: starts its own redis-server (persistence off) and the router service, then drives
# single-message and batch publishes with wrk (Debian package "wrk"). Prints messages/s and latency per run.
#   scripts/http-publish-bench.sh [duration=10s] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNS=${2:-64}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
HTTP_PORT=$(free_port)
WORK=$(mktemp -d)
redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" --daemonize yes --logfile "$WORK/redis.log"
SVC_PID=
cleanup() {
  [ -n "$SVC_PID" ] && kill "$SVC_PID" 2>/dev/null && wait "$SVC_PID" 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mvn -q -B -ntp install -DskipTests
export ROUTER_HTTP_TOKEN=bench-token
ROUTER_REDIS_URI="redis://127.0.0.1:$REDIS_PORT" ROUTER_HTTP_PORT=$HTTP_PORT ROUTER_EMBEDDED_REDIS=false \
  MAVEN_OPTS="-Xmx1g" mvn -q -B -ntp -pl service exec:java > "$WORK/router.log" 2>&1 &
SVC_PID=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$HTTP_PORT/health/ready" >/dev/null || { cat "$WORK/router.log"; exit 1; }
URL="http://127.0.0.1:$HTTP_PORT/v1/channels/bench/messages"
echo "warm-up (5s)"
wrk -t2 -c"$CONNS" -d5s -s scripts/wrk/publish-one.lua "$URL" >/dev/null
echo "== single-message publish: wrk -t2 -c$CONNS -d$DURATION, 256-byte payloads"
wrk -t2 -c"$CONNS" -d"$DURATION" -s scripts/wrk/publish-one.lua "$URL" | grep -E "messages/s|latency p50|Non-2xx|Socket errors" || true
echo "== batch publish (100 per request): wrk -t2 -c16 -d$DURATION"
wrk -t2 -c16 -d"$DURATION" -s scripts/wrk/publish-batch.lua "$URL/batch" | grep -E "messages/s|latency p50|Non-2xx|Socket errors" || true
echo "stream length: $(redis-cli -p "$REDIS_PORT" xlen 'rr:{bench}:stream')"
# the floor: a bare Pekko HTTP route on the same path that answers 202 without touching Redis
kill "$SVC_PID" 2>/dev/null && wait "$SVC_PID" 2>/dev/null || true
BARE_PORT=$(free_port)
MAVEN_OPTS="-Xmx1g" mvn -q -B -ntp -pl bench exec:java -Dexec.mainClass=io.redisrouter.bench.BareHttp \
  -Dexec.args="$BARE_PORT" > "$WORK/bare.log" 2>&1 &
SVC_PID=$!
for _ in $(seq 1 120); do
  grep -q "answering 202" "$WORK/bare.log" 2>/dev/null && break
  sleep 0.5
done
BARE="http://127.0.0.1:$BARE_PORT/v1/channels/bench/messages"
wrk -t2 -c"$CONNS" -d5s -s scripts/wrk/publish-one.lua "$BARE" >/dev/null
echo "== bare Pekko HTTP route answering 202 (no Redis): wrk -t2 -c$CONNS -d$DURATION"
wrk -t2 -c"$CONNS" -d"$DURATION" -s scripts/wrk/publish-one.lua "$BARE" | grep -E "messages/s|latency p50|Non-2xx|Socket errors" || true
