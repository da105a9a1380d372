#!/usr/bin/env python3
"""S6 abuse load: idle keep-alive connections and slowloris header dribblers.

  abuse.py idle HOST PORT N SECONDS      N connections, one GET /ping each, then idle;
                                         a connection the server closes is reopened
  abuse.py slowloris HOST PORT N SECONDS N connections sending one header line a second

Prints one JSON line of counts when SECONDS have passed: connections held at the end,
reopens (idle) or the seconds each dribbler lasted before the server closed it.
"""
import asyncio
import json
import sys
import time


async def idle_conn(host, port, stats, stop):
    while not stop.is_set():
        try:
            r, w = await asyncio.open_connection(host, port)
            w.write(b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n")
            await w.drain()
            head = await r.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await r.readexactly(length)
            stats["ok"] += 1
            stats["open"] += 1
            try:
                closed = asyncio.ensure_future(r.read(1))
                done, _ = await asyncio.wait([closed, asyncio.ensure_future(stop.wait())],
                                             return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    stats["closed_by_server"] += 1
            finally:
                stats["open"] -= 1
            w.close()
        except (OSError, asyncio.IncompleteReadError):
            stats["errors"] += 1
            await asyncio.sleep(0.5)


async def slowloris_conn(host, port, stats, stop):
    try:
        r, w = await asyncio.open_connection(host, port)
    except OSError:
        stats["errors"] += 1
        return
    start = time.monotonic()
    stats["open"] += 1
    try:
        w.write(b"GET /ping HTTP/1.1\r\nHost: bench\r\n")
        await w.drain()
        i = 0
        while not stop.is_set():
            await asyncio.sleep(1)
            i += 1
            w.write(b"X-Dribble-%d: x\r\n" % i)
            await w.drain()
            try:
                data = await asyncio.wait_for(r.read(4096), 0.01)
                if data == b"" or data:
                    raise ConnectionResetError
            except asyncio.TimeoutError:
                pass
    except (OSError, ConnectionResetError):
        stats["lasted"].append(round(time.monotonic() - start, 1))
    finally:
        stats["open"] -= 1


async def main():
    mode, host, port, n, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    stats = {"ok": 0, "open": 0, "closed_by_server": 0, "errors": 0, "lasted": []}
    stop = asyncio.Event()
    conn = idle_conn if mode == "idle" else slowloris_conn
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.ensure_future(conn(host, port, stats, stop)))
        await asyncio.sleep(0.001)
    await asyncio.sleep(secs)
    held = stats["open"]
    stop.set()
    await asyncio.wait(tasks, timeout=3)
    lasted = sorted(stats["lasted"])
    out = {"mode": mode, "n": n, "held_at_end": held, "requests_ok": stats["ok"],
           "closed_by_server": stats["closed_by_server"], "errors": stats["errors"]}
    if mode == "slowloris":
        out["closed"] = len(lasted)
        out["lasted_s_min_med_max"] = [lasted[0], lasted[len(lasted) // 2], lasted[-1]] if lasted else []
    print(json.dumps(out), flush=True)


asyncio.run(main())
