-- Like get.lua but without a `response` hook: with one, wrk buffers every body for Lua, which
-- caps 64 MiB objects at ~100-150 MiB/s on the client. Non-2xx comes from wrk's own counter.
local prefix = os.getenv("BENCH_PREFIX") or "/get/default/h"
local n = tonumber(os.getenv("BENCH_KEYS") or "4")
function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000) end
function request() return wrk.format("GET", prefix .. string.format("%04d", math.random(0, n - 1))) end
