"""Connection storms against a running server, for docs/benchmarks.md.

Usage: python3 bench/connection-storm.py PORT PID [CONNS GETS STORMS VALUE_BYTES IDLE_S]
(defaults 2000 16 5 65536 15). PID is the server's, for its RSS.

CONNS clients at once, each pipelining GETS GETs of a
VALUE_BYTES value, reading every reply, then disconnecting. Prints RSS
(and INFO memory's used_memory, if present) after each storm and after
an idle wait. Bounded: STORMS storms, each with a deadline."""
import asyncio, sys, time, re

port = int(sys.argv[1]); pid = int(sys.argv[2])
CONNS = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
GETS = int(sys.argv[4]) if len(sys.argv) > 4 else 16
STORMS = int(sys.argv[5]) if len(sys.argv) > 5 else 5
VALUE_BYTES = int(sys.argv[6]) if len(sys.argv) > 6 else 64 * 1024
IDLE_S = float(sys.argv[7]) if len(sys.argv) > 7 else 15

def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

async def info_memory():
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(enc("INFO", "memory")); await w.drain()
    head = await r.readline()
    n = int(head[1:])
    body = await r.readexactly(n + 2)
    w.close()
    m = re.search(rb"used_memory:(\d+)", body)
    return int(m.group(1)) if m else None

async def client(expected):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    keys = [f"big:{i % 8}" for i in range(GETS)]
    w.write(b"".join(enc("GET", k) for k in keys)); await w.drain()
    got = 0
    while got < expected:
        chunk = await r.read(1 << 20)
        if not chunk: break
        got += len(chunk)
    w.close()
    return got

async def main():
    r, w = await asyncio.open_connection("127.0.0.1", port)
    for i in range(8):
        w.write(enc("SET", f"big:{i}", b"x" * VALUE_BYTES))
        await w.drain(); await r.readline()
    w.close()
    reply = len(b"$%d\r\n" % VALUE_BYTES) + VALUE_BYTES + 2
    print(f"start rss={rss_kb()} KiB used={await info_memory()}", flush=True)
    for storm in range(STORMS):
        t = time.time()
        got = await asyncio.wait_for(asyncio.gather(*[client(GETS * reply) for _ in range(CONNS)]), 120)
        print(f"storm {storm}: {CONNS} conns x {GETS} x {VALUE_BYTES} B in {time.time()-t:.1f}s,"
              f" short={sum(1 for g in got if g < GETS*reply)} rss={rss_kb()} KiB used={await info_memory()}", flush=True)
    for s in range(int(IDLE_S // 5)):
        await asyncio.sleep(5)
        print(f"idle {5*(s+1)}s: rss={rss_kb()} KiB used={await info_memory()}", flush=True)

asyncio.run(main())
