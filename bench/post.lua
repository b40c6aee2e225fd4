-- wrk script for `make bench`: POST one OpenAI request per call and report machine-readable
-- results.  Environment:
--   BENCH_KEY     bearer token to send (optional)
--   BENCH_PATH    request path (default /v1/chat/completions)
--   BENCH_STREAM  "1" to ask for a streamed (SSE) answer
--   BENCH_BODY    a complete JSON body, overriding the default chat request
local path   = os.getenv("BENCH_PATH") or "/v1/chat/completions"
local stream = os.getenv("BENCH_STREAM") == "1"
local body   = os.getenv("BENCH_BODY")
if body == nil or body == "" then
  if stream then
    body = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'
  else
    body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
  end
end

wrk.method = "POST"
wrk.path   = path
wrk.body   = body
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

-- One line that bench/run.sh parses (by field name); latencies in microseconds. wrk hands
-- done() its histogram after its coordinated-omission correction (a request slower than twice
-- the mean interval per connection adds samples at its latency minus 1, 2, ... intervals), so
-- the percentiles and mean_us are that corrected distribution's.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d mean_us=%.1f\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout, latency.mean))
end
