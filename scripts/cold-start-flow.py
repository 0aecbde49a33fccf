#!/usr/bin/env python3
"""The flow of scripts/cold-start.sh: a webhook receiver on HOOK_PORT, a subscription pushing to it, then RATE
publishes/s over keep-alive HTTP for SECONDS; prints per second the deliveries' delay (publish -> received) and
when it first stays under 50 ms. CLI tool (stdout is its output)."""
import http.client, http.server, json, statistics, sys, threading, time

http_port, hook_port, seconds, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
token = {"Authorization": "Bearer cold-token", "Content-Type": "application/json"}
delays = []  # (second of the flow, delay ms)
lock = threading.Lock()
t0 = None


class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sent = float(json.loads(body)["headers"]["sent"])
        now = time.time()
        with lock:
            delays.append((int(now - t0), (now - sent) * 1000))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
c = http.client.HTTPConnection("127.0.0.1", http_port)
c.request("POST", "/v1/subscriptions", json.dumps({"name": "cold", "channel": "cold", "webhook": {
    "url": f"http://127.0.0.1:{hook_port}/hook", "parallelism": 16}}), token)
r = c.getresponse(); r.read()
assert r.status in (200, 201), r.status
published = [0] * 4


def publisher(i, lanes=4):
    """One keep-alive connection publishing rate / lanes messages per second, paced from t0."""
    conn = http.client.HTTPConnection("127.0.0.1", http_port)
    k = 0
    while True:
        due = t0 + (k * lanes + i) / rate
        if due - t0 >= seconds:
            break
        if due > time.time():
            time.sleep(due - time.time())
        conn.request("POST", "/v1/channels/cold/messages", json.dumps({"payload": "x" * 200,
            "headers": {"sent": repr(time.time())}}), token)
        resp = conn.getresponse(); resp.read()
        k += 1
        published[i] = k


t0 = time.time()
lanes = [threading.Thread(target=publisher, args=(i,)) for i in range(4)]
for t in lanes:
    t.start()
for t in lanes:
    t.join()
n = sum(published)
elapsed = time.time() - t0
time.sleep(2)
with lock:
    by_second = {}
    for s, d in delays:
        by_second.setdefault(s, []).append(d)
print(f"published {n} in {elapsed:.1f} s ({n / elapsed:.0f}/s; {rate}/s offered, the client falls behind while"
      f" publishes are slow); delivered {len(delays)}")
settled = None
for s in sorted(by_second):
    ds = by_second[s]
    p50, mx = statistics.median(ds), max(ds)
    print(f"  second {s:3d}: {len(ds):5d} delivered, delay p50 {p50:7.1f} ms, max {mx:7.1f} ms")
    if mx < 50 and settled is None:
        settled = s
    elif mx >= 50:
        settled = None
print("deliveries under 50 ms from second", settled, "of the flow on" if settled is not None else "(never settled)")
