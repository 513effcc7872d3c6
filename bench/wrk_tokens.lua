-- wrk script for bench/webhooks.py: POST a different signed webhook (one line of a tokens file) on
-- every request, optionally at a steady total rate, and print machine-readable results.
--
-- Configured by environment variables, read when wrk loads the script (before it decides whether the
-- script has a delay() function):
--   BENCH_TOKENS  path of the tokens file, one token a line
--   BENCH_SLICES  "offset:count,offset:count,...": one slice of the file per wrk thread (byte offset of
--                 its first line, number of lines), so no two threads send the same token
--   BENCH_RATE    requests per second over all threads; 0 or unset: as fast as the server answers
--
-- A thread that reaches the end of its slice starts it again and counts a wrap (for the receiver that
-- would mean duplicates, so bench/webhooks.py sizes the file to avoid it and reports any wrap).

local ffi = require("ffi")

local tokens_path = os.getenv("BENCH_TOKENS")
local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0

local slices = {}
for offset, count in string.gmatch(os.getenv("BENCH_SLICES") or "", "(%d+):(%d+)") do
   slices[#slices + 1] = { offset = tonumber(offset), count = tonumber(count) }
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"

-- Per-thread state (every wrk thread has its own Lua state; `id` is set by setup()).
local file = nil
local slice = nil
local sent_in_slice = 0
wraps = 0

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   threads[#threads + 1] = thread
   next_id = next_id + 1
end

function init(args)
   slice = slices[id]
   if slice == nil then
      error("BENCH_SLICES has no slice for thread " .. tostring(id))
   end
   file = assert(io.open(tokens_path, "rb"))
   file:seek("set", slice.offset)
end

local function next_token()
   if sent_in_slice >= slice.count then
      file:seek("set", slice.offset)
      sent_in_slice = 0
      wraps = wraps + 1
   end
   sent_in_slice = sent_in_slice + 1
   return file:read("*l")
end

function request()
   if file == nil then
      -- wrk calls request() once in its main Lua state to check the script: no tokens there.
      return wrk.format(nil, nil, nil, "placeholder")
   end
   return wrk.format(nil, nil, nil, next_token())
end

if rate > 0 then
   ffi.cdef([[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clock_id, bench_timespec *tp);
   ]])
   local CLOCK_MONOTONIC = 1
   local now_ts = ffi.new("bench_timespec")
   local function now_ms()
      ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
      return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
   end

   -- Each thread hands out send slots `interval` ms apart to whichever of its connections asks next:
   -- a steady schedule as long as a connection is free. When every connection is busy past its slot,
   -- the schedule restarts from now (no catch-up burst), so a server that cannot keep up shows as an
   -- achieved rate below the target. wrk's latency starts when the request is written, after the delay.
   local interval = 1000 * #slices / rate
   local next_slot = nil

   function delay()
      local now = now_ms()
      if next_slot == nil or next_slot < now then
         next_slot = now
      end
      local wait = next_slot - now
      next_slot = next_slot + interval
      return math.floor(wait + 0.5)
   end
end

function done(summary, latency, requests)
   local total_wraps = 0
   for _, thread in ipairs(threads) do
      total_wraps = total_wraps + (thread:get("wraps") or 0)
   end
   local errors = summary.errors
   local lines = {
      { "requests", summary.requests },
      { "duration_us", summary.duration },
      { "bytes", summary.bytes },
      { "errors_connect", errors.connect },
      { "errors_read", errors.read },
      { "errors_write", errors.write },
      { "errors_status", errors.status },
      { "errors_timeout", errors.timeout },
      { "latency_mean_us", latency.mean },
      { "latency_max_us", latency.max },
      { "latency_p50_us", latency:percentile(50) },
      { "latency_p90_us", latency:percentile(90) },
      { "latency_p99_us", latency:percentile(99) },
      { "latency_p999_us", latency:percentile(99.9) },
      { "wraps", total_wraps },
   }
   for _, line in ipairs(lines) do
      io.write(string.format("BENCH %s %.17g\n", line[1], line[2]))
   end
end
