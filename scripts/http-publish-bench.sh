#!/usr/bin/env bash
# HTTP publish throughput and latency: starts its own redis-server (persistence off) and the router service, then
# drives single-message and batch publishes with wrk (Debian package "wrk"); then a bare Pekko HTTP route answering 202
# on the same path, the floor. Both get the same warm-up (the JIT needs about 30 s of load before figures settle: a
# 5 s warm-up measured the router at half its warm rate), every figure is the median of RUNS runs, and idle latency is
# one keep-alive connection sending one request at a time.
#   scripts/http-publish-bench.sh [duration=10s] [connections=64]     env: WARMUP=30s RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNS=${2:-64}
WARMUP=${WARMUP:-30s}
RUNS=${RUNS:-3}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
source scripts/lib.sh
start_redis
HTTP_PORT=$(free_port)
# median of the "messages/s: N" lines of RUNS runs of: wrk ARGS...; prints "median (min-max)" and the p50 of the
# median run; the raw lines go to $WORK/runs.log
median_of() {
  local label=$1; shift
  : > "$WORK/one.log"
  for _ in $(seq 1 "$RUNS"); do
    wrk "$@" | grep -E "messages/s|latency p50" | paste -sd' ' >> "$WORK/one.log"
  done
  cat "$WORK/one.log" >> "$WORK/runs.log"
  python3 - "$label" "$WORK/one.log" <<'PY'
import re, sys
label, path = sys.argv[1], sys.argv[2]
runs = []
for line in open(path):
    m = re.search(r"messages/s: (\d+).*latency p50 ([\d.]+) ms, p99 ([\d.]+) ms", line)
    if m: runs.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
runs.sort()
if not runs:
    print(f"{label}: no result"); sys.exit(0)
mid = runs[len(runs) // 2]
print(f"{label}: {mid[0]} msg/s median of {len(runs)} ({runs[0][0]}-{runs[-1][0]}), p50 {mid[1]} ms, p99 {mid[2]} ms")
PY
}
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
echo "warm-up ($WARMUP of single publishes, 5 s of batches, 10 s of raw-body publishes)"
wrk -t2 -c"$CONNS" -d"$WARMUP" -s scripts/wrk/publish-one.lua "$URL" >/dev/null
wrk -t2 -c16 -d5s -s scripts/wrk/publish-batch.lua "$URL/batch" >/dev/null
wrk -t2 -c"$CONNS" -d10s -s scripts/wrk/publish-raw.lua "$URL" >/dev/null
median_of "router single publish (wrk -t2 -c$CONNS -d$DURATION, 256 B)" -t2 -c"$CONNS" -d"$DURATION" \
  -s scripts/wrk/publish-one.lua "$URL" | tee "$WORK/single.txt"
median_of "router single publish, raw body (text/plain, no JSON; wrk -t2 -c$CONNS -d$DURATION, 256 B)" -t2 \
  -c"$CONNS" -d"$DURATION" -s scripts/wrk/publish-raw.lua "$URL"
median_of "router batch publish (100 per request, wrk -t2 -c16 -d$DURATION)" -t2 -c16 -d"$DURATION" \
  -s scripts/wrk/publish-batch.lua "$URL/batch"
median_of "router single publish, idle (1 connection, one request at a time)" -t1 -c1 -d5s \
  -s scripts/wrk/publish-one.lua "$URL" | tee "$WORK/idle.txt"
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
wrk -t2 -c"$CONNS" -d"$WARMUP" -s scripts/wrk/publish-one.lua "$BARE" >/dev/null
median_of "bare Pekko HTTP route answering 202, no Redis (wrk -t2 -c$CONNS -d$DURATION)" -t2 -c"$CONNS" \
  -d"$DURATION" -s scripts/wrk/publish-one.lua "$BARE" | tee "$WORK/bare.txt"
median_of "bare route, idle (1 connection)" -t1 -c1 -d5s -s scripts/wrk/publish-one.lua "$BARE" \
  | tee "$WORK/bare-idle.txt"
python3 - "$WORK" <<'PY'
import re, sys
w = sys.argv[1]
def fig(name):
    m = re.search(r": (\d+) msg/s .* p50 ([\d.]+) ms", open(f"{w}/{name}.txt").read())
    return (int(m.group(1)), float(m.group(2))) if m else None
single, bare, idle, bare_idle = fig("single"), fig("bare"), fig("idle"), fig("bare-idle")
if single and bare:
    print(f"single publish / bare route: {single[0] / bare[0]:.2f}x")
if idle and bare_idle:
    print(f"idle p50: publish {idle[1]} ms, bare route {bare_idle[1]} ms (+{idle[1] - bare_idle[1]:.2f} ms)")
PY
