#!/usr/bin/env bash
# Cold start: time from process start (a plain `java`, no Maven) to /health/ready, then how long a 1,000 msg/s
# HTTP publish + webhook flow takes until its deliveries arrive under 50 ms after publish. Starts its own
# redis-server (persistence off). Prints one line per second of the flow: publishes, deliveries, p50 / max delay.
#   scripts/cold-start.sh [seconds of flow=20] [rate=1000]      env: JAVA_OPTS (extra JVM options of the service)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_FLOW=${1:-20}
RATE=${2:-1000}
source scripts/lib.sh
start_redis
HTTP_PORT=$(free_port); HOOK_PORT=$(free_port)
mvn -q -B -ntp install -DskipTests
mvn -q -B -ntp -pl service dependency:build-classpath -Dmdep.outputFile="$WORK/cp.txt" >/dev/null
CP="service/target/classes:$(cat "$WORK/cp.txt")"
export ROUTER_HTTP_TOKEN=cold-token
start_ms=$(date +%s%3N)
ROUTER_REDIS_URI="redis://127.0.0.1:$REDIS_PORT" ROUTER_HTTP_PORT=$HTTP_PORT ROUTER_EMBEDDED_REDIS=false \
  java -Xmx1g ${JAVA_OPTS:-} -cp "$CP" io.redisrouter.router.service.RouterMain > "$WORK/router.log" 2>&1 &
SVC_PID=$!
until curl -sf "http://127.0.0.1:$HTTP_PORT/health/ready" >/dev/null 2>&1; do
  kill -0 "$SVC_PID" 2>/dev/null || { cat "$WORK/router.log"; exit 1; }
  sleep 0.02
done
ready_ms=$(date +%s%3N)
echo "process start -> ready: $((ready_ms - start_ms)) ms"
python3 scripts/cold-start-flow.py "$HTTP_PORT" "$HOOK_PORT" "$SECONDS_OF_FLOW" "$RATE"
