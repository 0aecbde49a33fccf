-- wrk script: BATCH (default 100) messages of 256 bytes per POST /v1/channels/{channel}/messages/batch
local batch = tonumber(os.getenv("BATCH") or "100")
local payload = string.rep("x", 256)
local msgs = {}
for i = 1, batch do msgs[i] = '{"payload":"' .. payload .. '"}' end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("ROUTER_HTTP_TOKEN") or "bench-token")
wrk.body = '{"messages":[' .. table.concat(msgs, ",") .. ']}'

done = function(summary, latency, requests)
  io.write(string.format("messages/s: %.0f (%d per request)\n", batch * summary.requests / (summary.duration / 1e6),
    batch))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
