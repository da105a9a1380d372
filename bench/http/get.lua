-- GET a random key out of N: path = PREFIX .. index (zero-padded to 4 digits)
local prefix = os.getenv("BENCH_PREFIX") or "/get/default/s"
local n = tonumber(os.getenv("BENCH_KEYS") or "1000")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0; math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000) end
function request() return wrk.format("GET", prefix .. string.format("%04d", math.random(0, n - 1))) end
function response(status, headers, body) if status < 200 or status > 299 then non2xx = non2xx + 1 end end
function done(summary, latency, requests)
  local t = 0
  for _, th in ipairs(threads) do t = t + th:get("non2xx") end
  io.write(string.format("NON2XX %d\n", t))
end
