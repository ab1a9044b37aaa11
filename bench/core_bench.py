"""Routing-core micro-benchmarks (pure, no I/O). Prints JSON.

- queue: enqueue ops/s and receive+delete ops/s on a Queue already holding
  1,000 vs 1,000,000 messages; ratio = large / small (target >= 0.8).
- topic: per-message route cost on a topic exchange with 10 vs 100,000
  bindings; ratio = large / small cost (target <= 2).

Usage: python bench/core_bench.py [--big 1000000] [--ops 200000]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time

from broker.core.exchange import ExchangeTable
from broker.core.queue import Queue, QueueConfig


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = fn()
        best = min(best, t)
    return best


def bench_queue(prefill: int, ops: int) -> dict:
    q = Queue("bench", QueueConfig())
    enq = q.enqueue
    for i in range(prefill):
        enq(0, None, 100)
    gc.collect()

    def t_enqueue() -> float:
        t0 = time.perf_counter()
        for _ in range(ops):
            enq(1, None, 100)
        dt = time.perf_counter() - t0
        # keep the queue size at prefill: drop what we added from the head
        r = q.receive(2, ops, 10**12)
        for m in r.messages:
            q.delete(m.seq)
        return dt

    def t_recv_delete() -> float:
        # measured in chunks of at most half the queue, refilled (untimed) in
        # between, so the queue never runs dry and stays near its size
        batch = 10
        chunk = max(batch, min(ops, prefill // 2)) // batch
        recv = q.receive
        delete = q.delete
        dt = 0.0
        done = 0
        while done < ops:
            t0 = time.perf_counter()
            for _ in range(chunk):
                for m in recv(3, batch, 30000).messages:
                    delete(m.seq, m.lease)
            dt += time.perf_counter() - t0
            done += chunk * batch
            for _ in range(chunk * batch):
                enq(4, None, 100)
        return dt * ops / done

    gc.disable()
    try:
        te = _best(t_enqueue)
        tr = _best(t_recv_delete)
    finally:
        gc.enable()
    return {"queued": prefill, "enqueue_ops_s": round(ops / te), "receive_delete_ops_s": round(ops / tr)}


def bench_topic(nbindings: int, nmsgs: int, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    words = [f"w{i}" for i in range(64)]
    t = ExchangeTable()
    ex = t.declare("amq.topic", "topic")
    # a realistic mix: mostly literal 3-4 word keys, some '*' and '#'
    for i in range(nbindings):
        ws = [rnd.choice(words) for _ in range(rnd.choice((3, 4)))]
        r = rnd.random()
        if r < 0.1:
            ws[rnd.randrange(len(ws))] = "*"
        elif r < 0.15:
            ws = ws[: rnd.randrange(1, len(ws))] + ["#"]
        ex.bind(".".join(ws), ("queue", i))
    # the same fixed bindings that every message hits, in both sizes
    ex.bind("orders.*.created", ("queue", "A"))
    ex.bind("orders.#", ("queue", "B"))
    keys = [f"orders.{rnd.choice(words)}.created" for _ in range(1000)]
    route = t.route

    def run() -> float:
        t0 = time.perf_counter()
        for i in range(nmsgs):
            route("amq.topic", keys[i % 1000])
        return time.perf_counter() - t0

    dt = _best(run)
    return {"bindings": nbindings, "ns_per_route": round(dt / nmsgs * 1e9)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--msgs", type=int, default=200_000)
    a = ap.parse_args()
    qs = bench_queue(a.small, a.ops)
    qb = bench_queue(a.big, a.ops)
    ts = bench_topic(10, a.msgs)
    tb = bench_topic(100_000, a.msgs)
    out = {
        "queue": {
            "small": qs, "big": qb,
            "enqueue_ratio": round(qb["enqueue_ops_s"] / qs["enqueue_ops_s"], 3),
            "receive_delete_ratio": round(qb["receive_delete_ops_s"] / qs["receive_delete_ops_s"], 3),
            "target_ratio_min": 0.8,
        },
        "topic": {
            "small": ts, "big": tb,
            "cost_ratio": round(tb["ns_per_route"] / ts["ns_per_route"], 3),
            "target_ratio_max": 2.0,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
