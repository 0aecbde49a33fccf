#!/usr/bin/env bash
# Cold start: time from process start (a plain `java`, no Maven) to /health/ready, then how long a 1,000 msg/s
# HTTP publish + webhook flow takes until its deliveries arrive under 50 ms after publish. Starts its own
# redis-server (persistence off). Prints one line per second of the flow: publishes, deliveries, p50 / max delay.
#   scripts/cold-start.sh [seconds of flow=20] [rate=1000]
#   env: JAVA_OPTS   extra JVM options of the service; ROUTER_WARM_UP=3s (or any service env key) passes through
#        CDS=FILE    start with the AppCDS archive FILE (class data sharing: the classes parsed and verified once);
#                    when FILE is missing, a training run makes it first (the service under the same flow for 8 s,
#                    archived at its exit: -XX:ArchiveClassesAtExit), then the measured run uses it
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_FLOW=${1:-20}
RATE=${2:-1000}
source scripts/lib.sh
start_redis
HTTP_PORT=$(free_port); HOOK_PORT=$(free_port)
mvn -q -B -ntp install -DskipTests
mvn -q -B -ntp -pl service dependency:build-classpath -Dmdep.outputFile="$WORK/cp.txt" >/dev/null
# the service as a jar, not target/classes: class data sharing archives classes from jars only
CP="$(ls service/target/router-service-*[0-9T].jar | head -1):$(cat "$WORK/cp.txt")"
export ROUTER_HTTP_TOKEN=cold-token

# start_service JVM-OPTIONS...: starts the service, waits until it is ready, sets SVC_PID and READY_MS
start_service() {
  local start_ms
  start_ms=$(date +%s%3N)
  ROUTER_REDIS_URI="redis://127.0.0.1:$REDIS_PORT" ROUTER_HTTP_PORT=$HTTP_PORT ROUTER_EMBEDDED_REDIS=false \
    java -Xmx1g ${JAVA_OPTS:-} "$@" -cp "$CP" io.redisrouter.router.service.RouterMain > "$WORK/router.log" 2>&1 &
  SVC_PID=$!
  until curl -sf "http://127.0.0.1:$HTTP_PORT/health/ready" >/dev/null 2>&1; do
    kill -0 "$SVC_PID" 2>/dev/null || { cat "$WORK/router.log"; exit 1; }
    sleep 0.02
  done
  READY_MS=$(( $(date +%s%3N) - start_ms ))
}

CDS_OPTS=()
if [ -n "${CDS:-}" ]; then
  if [ ! -f "$CDS" ]; then
    echo "training run for the AppCDS archive $CDS"
    start_service -XX:ArchiveClassesAtExit="$CDS"
    python3 scripts/cold-start-flow.py "$HTTP_PORT" "$HOOK_PORT" 8 "$RATE" > "$WORK/training.log"
    kill -TERM "$SVC_PID"; wait "$SVC_PID" || true; SVC_PID=
    [ -f "$CDS" ] || { echo "no archive written:"; tail -20 "$WORK/router.log"; exit 1; }
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
  fi
  CDS_OPTS=(-XX:SharedArchiveFile="$CDS")
fi
start_service "${CDS_OPTS[@]}"
echo "process start -> ready: $READY_MS ms${CDS:+ (AppCDS archive $CDS)}"
grep -o 'warm-up done.*' "$WORK/router.log" || true
python3 scripts/cold-start-flow.py "$HTTP_PORT" "$HOOK_PORT" "$SECONDS_OF_FLOW" "$RATE"
