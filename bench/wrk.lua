-- wrk.lua: the benchmark's wrk script (scripts/bench.sh).
--
--   wrk ... -s bench/wrk.lua URL -- get
--   wrk ... -s bench/wrk.lua URL -- claim RUNID
--   wrk ... -s bench/wrk.lua URL -- claim RUNID PATH_TEMPLATE N
--
-- "claim" POSTs {"user_id":"u-<runid>-<thread>-<n>"} to the URL's path, so
-- every request is a claim by a user never seen before (ids are unique
-- within a run, and RUNID is random per run). With PATH_TEMPLATE and N,
-- each POST goes to PATH_TEMPLATE with "{u}" replaced by "u<k>", k drawn
-- at random in 1..N (tk-h2bench -U's rule): claims spread over N events,
-- e.g. "/v1/events/m-{u}/claims" 48. "get" sends plain GETs.
-- No response() callback: it would make wrk parse every body and cost the
-- load generator CPU it shares with the gateway. done() prints one line,
--   TKWRK {"requests":..,"seconds":..,"rps":..,"p50_ms":..,"p99_ms":..,
--          "non2xx3xx":..,"errors":..}
-- (non2xx3xx is wrk's count of responses with status > 399).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local mode, runid, prefix, n
local paths, npaths = nil, 0

function init(args)
  mode = args[1] or "get"
  runid = args[2] or tostring(os.time())
  -- tid is the global setup() gave this thread's Lua state
  prefix = '{"user_id":"u-' .. runid .. '-' .. tostring(tid or 0) .. '-'
  n = 0
  if args[3] and tonumber(args[4]) and tonumber(args[4]) >= 1 then
    -- built once here, so that request() only picks one
    npaths = math.floor(tonumber(args[4]))
    paths = {}
    for k = 1, npaths do
      paths[k] = string.gsub(args[3], "{u}", "u" .. k)
    end
    math.randomseed(os.time() + (tid or 0))
  end
end

function request()
  if mode ~= "claim" then
    return wrk.format("GET")
  end
  n = n + 1
  local body = prefix .. n .. '"}'
  local path = nil
  if paths then path = paths[math.random(npaths)] end
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'TKWRK {"requests":%d,"seconds":%.3f,"rps":%.0f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"non2xx3xx":%d,"errors":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
