-- wrk script: one 256-byte message per POST /v1/channels/{channel}/messages as a raw body (no JSON)
local payload = string.rep("x", 256)
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("ROUTER_HTTP_TOKEN") or "bench-token")
wrk.body = payload

done = function(summary, latency, requests)
  io.write(string.format("messages/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
