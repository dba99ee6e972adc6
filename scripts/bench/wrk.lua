-- wrk script for `make bench`: one bearer token per request, status counts.
--   BENCH_METHOD  GET or POST
--   BENCH_PATH    request path
--   BENCH_TOKENS  file with one access token per line
--   BENCH_MODE    "once": each token used once, tokens split between threads
--                 "cycle": tokens reused round-robin
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/api/v1/me"
local mode = os.getenv("BENCH_MODE") or "cycle"
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  tokens[#tokens + 1] = line
end

local threads = {}
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "2")
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  exhausted = 0
  -- thread `id` takes tokens id+1, id+1+n, id+1+2n, ...
  cursor = id + 1
end

function request()
  local token = tokens[cursor]
  if token == nil then
    -- Out of tokens: wrap around. In "once" mode that is a failed run (reported).
    if mode == "once" then
      exhausted = exhausted + 1
    end
    cursor = id + 1
    token = tokens[cursor]
  end
  cursor = cursor + thread_count
  return wrk.format(method, path, {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  local exhausted_total = 0
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do
      totals[status] = (totals[status] or 0) + n
    end
    exhausted_total = exhausted_total + thread:get("exhausted")
  end
  io.write("BENCH_RESULT")
  io.write(string.format(" requests=%d", summary.requests))
  io.write(string.format(" duration_us=%d", summary.duration))
  io.write(string.format(" p50_us=%d p99_us=%d", latency:percentile(50), latency:percentile(99)))
  io.write(string.format(" socket_errors=%d", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  io.write(string.format(" exhausted=%d", exhausted_total))
  for status, n in pairs(totals) do
    io.write(string.format(" status_%d=%d", status, n))
  end
  io.write("\n")
end
