-- wrk script for bench_peer.py: the same ticket texts to the router, the bare echo or MLServer.
-- wrk -s peer.lua URL -- MODE PREFIX TOKEN TEXTS_FILE [PAUSE_MS]
--   MODE: router (POST /v1/tickets, a new ticket id each time), router-full (the same with
--   ?explain=full), echo (the same body as router), mlserver
--   (POST /v2/models/intent/infer, V2 protocol, one string). TEXTS_FILE holds one JSON string a line.
-- Prints one RESULT line: requests, duration, non-2xx answers, socket errors, p50 and p99 in us.

local threads = {}
local texts = {}
local counter = 0
local mode, prefix, token, pause = "router", "x", "", 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode, prefix, token = args[1], args[2], args[3]
  pause = tonumber(args[5] or "0")
  for line in io.lines(args[4]) do
    texts[#texts + 1] = line
  end
  counter = tid * 997 -- each thread starts elsewhere in the mix
  bad = 0
end

function delay()
  return pause
end

local json = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  local text = texts[(counter % #texts) + 1]
  if mode == "mlserver" then
    local body = '{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":[' .. text ..
      '],"parameters":{"content_type":"str"}}],"outputs":[{"name":"predict"}]}'
    return wrk.format("POST", "/v2/models/intent/infer", json, body)
  end
  local body = string.format('{"id":"%s-%d-%d","subject":"","body":%s}', prefix, tid, counter, text)
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  local path = mode == "router-full" and "/v1/tickets?explain=full" or "/v1/tickets"
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do
    non2xx = non2xx + (t:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, non2xx, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
