-- S3 video seek mix on one object: 80% random 1 MiB windows, 10% `bytes=0-1` (Safari's
-- probe), 5% suffix `bytes=-65536`, 5% a 1 MiB window with a matching `If-Range`.
-- Env: BENCH_PATH (URL path), BENCH_SIZE (object bytes), BENCH_ETAG (the object's ETag).
-- No `response` hook (it would copy every body into Lua); non-2xx from wrk's own counter.
local path = os.getenv("BENCH_PATH") or "/get/default/v0000"
local size = tonumber(os.getenv("BENCH_SIZE") or "268435456")
local etag = os.getenv("BENCH_ETAG") or ""
local W = 1048576
function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000) end
local function window()
  local s = math.floor(math.random() * (size - W))
  return string.format("bytes=%d-%d", s, s + W - 1)
end
function request()
  local r = math.random()
  if r < 0.80 then return wrk.format("GET", path, {["Range"] = window()}) end
  if r < 0.90 then return wrk.format("GET", path, {["Range"] = "bytes=0-1"}) end
  if r < 0.95 then return wrk.format("GET", path, {["Range"] = "bytes=-65536"}) end
  return wrk.format("GET", path, {["Range"] = window(), ["If-Range"] = etag})
end
