"""Step Functions memory on a long run: shard RSS while thousands of executions come and go.

Runs R rounds of N executions of a 10-state Pass machine (each round waits until all have
SUCCEEDED, then reads the shard's RSS from /proc) on:
- the broker with the default retention (90 days: every closed execution is kept; its history
  and data are on disk, a slim record stays in memory);
- the broker with a short retention (closed executions expire: memory should level off);
- moto server (baseline, executions on), which keeps every execution in memory.

Prints JSON: RSS after each round (MB) and growth per 1,000 executions.
Run: python bench/sfn_memory_bench.py [--rounds 4] [--n 1000] [--retention 20] [--moto-rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request

from _common import Broker, Moto, emit
from sfn_bench import PASS10, call, create, enable_moto_execution, succeeded


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    return 0.0


def shard_pid(url: str) -> int:
    with urllib.request.urlopen(url + "/_broker/health", timeout=5) as r:
        doc = json.loads(r.read())
    return next(p["pid"] for p in doc["processes"] if p["role"] == "shard")


async def rounds(url: str, rounds_n: int, n: int, tag: str, pid: int, settle: float) -> list[float]:
    import aiohttp
    out = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        arn = await create(session, url, f"mem-{tag}", PASS10)
        for r in range(rounds_n):
            names = iter(range(r * n, (r + 1) * n))

            async def starter():
                for i in names:
                    await call(session, url, "StartExecution", {"stateMachineArn": arn, "name": f"e{i}",
                                                                "input": json.dumps({"k": "v" * 200})})
            await asyncio.gather(*(starter() for _ in range(32)))
            deadline = time.time() + 600
            while await running(session, url, arn):
                if time.time() > deadline:
                    raise RuntimeError("round did not finish")
                await asyncio.sleep(0.2)
            if settle:
                await asyncio.sleep(settle)        # short retention: let the closed ones expire
            else:
                assert await succeeded(session, url, arn) == (r + 1) * n
            out.append(rss_mb(pid))
    return out


async def running(session, url: str, arn: str) -> int:
    page = await call(session, url, "ListExecutions", {"stateMachineArn": arn, "statusFilter": "RUNNING",
                                                       "maxResults": 1000})
    return len(page.get("executions", []))


def growth(series: list[float], n: int) -> float:
    if len(series) < 2:
        return 0.0
    return round((series[-1] - series[0]) / ((len(series) - 1) * n / 1000.0), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--retention", type=float, default=20.0)
    ap.add_argument("--moto-rounds", type=int, default=2)
    ap.add_argument("--no-moto", action="store_true")
    args = ap.parse_args()
    result = {"config": {"rounds": args.rounds, "n": args.n, "short_retention_s": args.retention}}
    for label, env, settle in (("broker_90d", {}, 0),
                               ("broker_short", {"BROKER_STEPFUNCTIONS_HISTORY_RETENTION": str(args.retention)},
                                args.retention + 5)):
        broker = Broker("--workers", "1", "--shards", "1", env=env)
        try:
            pid = shard_pid(broker.url)
            series = asyncio.run(rounds(broker.url, args.rounds, args.n, label, pid, settle))
            result[label] = {"rss_mb": series, "mb_per_1000": growth(series, args.n)}
        finally:
            broker.close()
    if not args.no_moto:
        moto = Moto()
        try:
            enable_moto_execution(moto.url)
            series = asyncio.run(rounds(moto.url, args.moto_rounds, args.n, "moto", moto.proc.pid, 0))
            result["moto"] = {"rss_mb": series, "mb_per_1000": growth(series, args.n)}
        finally:
            moto.close()
        if result["moto"]["mb_per_1000"] > 0:
            result["ratios"] = {"growth_vs_moto": round(result["broker_90d"]["mb_per_1000"] /
                                                        result["moto"]["mb_per_1000"], 2)}
    emit(result)


if __name__ == "__main__":
    main()
