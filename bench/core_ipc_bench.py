"""Routing-core operations through the IPC path, against a real server.

Prints JSON: enqueue, receive (dequeue) and ack (delete) ops/s, issued by a
client using the gateways' own code (broker.runtime.cluster) to a real shard
process (K=1, durability=process, encryption on), with 1,000 and with
1,000,000 messages already queued (ratio, target >= 0.8), beside a null
baseline: the same IPC framing against an in-process echo server.

Run: python bench/core_ipc_bench.py [--deep 1000000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Broker, emit  # noqa: E402

from broker.runtime import ipc  # noqa: E402
from broker.runtime.cluster import Cluster  # noqa: E402
from broker.runtime.routing import queue_key  # noqa: E402
from broker.runtime.runinfo import RunInfo  # noqa: E402

NS = "bench"
CONCURRENCY = 64


async def rate(fn, seconds: float) -> float:
    """Run `fn()` coroutines with CONCURRENCY in flight for `seconds`; ops/s."""
    n = 0
    end = time.perf_counter() + seconds

    async def worker():
        nonlocal n
        while time.perf_counter() < end:
            done = await fn()      # not `n += await fn()`: that reads n before the await
            n += done
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return n / (time.perf_counter() - t0)


async def fill(cluster, key: str, n: int) -> None:
    """Enqueue n messages in batches of up to 500 from 16 concurrent callers."""
    batches = [min(500, n - i) for i in range(0, n, 500)]

    async def one(mine):
        for size in mine:
            await cluster.call(key, "core.Enqueue", {"k": key, "m": [[b"x" * 64, 64, "", None]] * size})
    await asyncio.gather(*(one(batches[w::16]) for w in range(16)))


async def measure(cluster, name: str, seconds: float) -> dict:
    key = queue_key(NS, name)
    msg = [[b"y" * 64, 64, "", None]]

    async def enqueue():
        await cluster.call(key, "core.Enqueue", {"k": key, "m": msg})
        return 1
    held = []

    async def receive():
        rows = await cluster.call(key, "core.Receive", {"k": key, "max": 1, "lease_ms": 600000})
        held.extend(r[0] for r in rows)
        return len(rows)

    async def ack():
        if not held:
            return 0
        seq = held.pop()
        await cluster.call(key, "core.Delete", {"k": key, "seq": seq})
        return 1
    out = {"enqueue_ops": round(await rate(enqueue, seconds))}
    out["receive_ops"] = round(await rate(receive, seconds))
    t0 = time.perf_counter()
    n = len(held)
    await asyncio.gather(*(ack() for _ in range(n)))
    out["ack_ops"] = round(n / (time.perf_counter() - t0)) if n else 0
    return out


async def null_baseline(seconds: float) -> float:
    class Echo(ipc.Handler):
        def on_request(self, conn, rid, op, args):
            conn.reply(rid, 1)
    path = tempfile.mktemp(prefix="bench-ipc-", suffix=".sock")
    server = await ipc.serve(path, Echo)
    conn = await ipc.connect(path, ipc.Handler())

    async def one():
        await conn.call("x", {"k": "q", "m": [[b"y" * 64, 64, "", None]]})
        return 1
    r = await rate(one, seconds)
    conn.close()
    server.close()
    return r


async def main_async(args) -> dict:
    broker = Broker("--workers", "1", "--shards", "1", "--durability", "process")
    try:
        run = RunInfo.load(Path(broker.dir) / "data" / "run" / "run.json")
        cluster = Cluster(run)
        cluster.start()
        await cluster.wait_ready()
        for name in ("shallow", "deep"):
            key = queue_key(NS, name)
            await cluster.call(key, "core.QueueDeclare", {"k": key, "ns": NS, "name": name, "config": {}})
        await fill(cluster, queue_key(NS, "shallow"), 1000)
        t0 = time.perf_counter()
        await fill(cluster, queue_key(NS, "deep"), args.deep)
        fill_s = time.perf_counter() - t0
        counts = {}
        for name in ("shallow", "deep"):
            key = queue_key(NS, name)
            counts[name] = await cluster.call(key, "core.Counts", {"k": key})
        shallow = await measure(cluster, "shallow", args.seconds)
        deep = await measure(cluster, "deep", args.seconds)
        cluster.close()
    finally:
        broker.close()
    base = await null_baseline(args.seconds)
    return {
        "path": "client -> IPC (msgpack over Unix socket) -> shard (K=1), durability=process, encrypted",
        "null_ipc_echo_ops": round(base),
        "queued": {"shallow": counts["shallow"]["visible"], "deep": counts["deep"]["visible"]},
        "shallow": shallow, "deep": deep,
        "ratio_deep_vs_shallow": {k: round(deep[k] / shallow[k], 3) if shallow[k] else None for k in shallow},
        "enqueue_vs_null_ipc": round(shallow["enqueue_ops"] / base, 3),
        "fill_msgs_per_s": round(args.deep / fill_s) if fill_s else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deep", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=3)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    emit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
