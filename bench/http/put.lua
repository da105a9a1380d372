-- PUT a 4 KiB body under a unique key: PREFIX .. run .. "-" .. thread id .. "-" .. counter
local prefix = os.getenv("BENCH_PREFIX") or "/upload/default/p"
local run = os.getenv("BENCH_RUN") or "0"
local body = string.rep("0123456789abcdef", 256)
local threads = {}
local nthreads = 0
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads); table.insert(threads, thread) end
function init(args) non2xx = 0; counter = 0 end
function request()
  counter = counter + 1
  return wrk.format("PUT", prefix .. run .. "-" .. tid .. "-" .. counter, {["Content-Type"] = "application/octet-stream"}, body)
end
function response(status, headers, body) if status < 200 or status > 299 then non2xx = non2xx + 1 end end
function done(summary, latency, requests)
  local t = 0
  for _, th in ipairs(threads) do t = t + th:get("non2xx") end
  io.write(string.format("NON2XX %d\n", t))
end
