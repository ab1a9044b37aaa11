"""Step Functions against moto server (baseline, with moto's state machine
execution switched on), measured in the same run.

Prints JSON:
- pass10: executions/s of a 10-state Pass machine (N executions started by 32
  concurrent HTTP clients; counted until every one has SUCCEEDED);
- map1000: seconds for one execution of an inline Map over 1,000 items;
- map1000_distributed: the same items through a distributed Map (1,000 Standard child executions,
  MaxConcurrency 0; moto: null, it has no distributed Map);
- sync_p50: p50/p90 latency of StartSyncExecution on a small Express machine
  (one client, keep-alive); moto has no StartSyncExecution (null).

Run: python bench/sfn_bench.py [--n 2000] [--moto-n 200] [--sync 300] [--workers 1 --shards 1]
Needs moto[server] (pip install -e '.[bench]') and aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from _common import Broker, Moto, emit

ROLE = "arn:aws:iam::000000000000:role/bench"
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0", "X-Amz-Date": "20261126T000000Z",
    "Authorization": ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/states/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64),
}
PASS10 = {"StartAt": "S0", "States": {f"S{i}": ({"Type": "Pass", "Next": f"S{i + 1}"} if i < 9 else
                                                {"Type": "Pass", "End": True}) for i in range(10)}}
MAP = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
    "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}, "End": True}}}
DMAP = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}, "End": True}}}
SMALL = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"ok": True}, "ResultPath": "$.r", "Next": "B"},
                                    "B": {"Type": "Pass", "End": True}}}


async def call(session, url: str, op: str, body: dict):
    async with session.post(url + "/", data=json.dumps(body),
                            headers={**HEADERS, "X-Amz-Target": f"AWSStepFunctions.{op}"}) as r:
        data = await r.read()
        if r.status != 200:
            raise RuntimeError(f"{op}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else {}


async def create(session, url: str, name: str, definition: dict, sm_type: str = "STANDARD") -> str:
    out = await call(session, url, "CreateStateMachine", {"name": name, "definition": json.dumps(definition),
                                                          "roleArn": ROLE, "type": sm_type})
    return out["stateMachineArn"]


async def succeeded(session, url: str, arn: str) -> int:
    n, token = 0, None
    while True:
        body = {"stateMachineArn": arn, "statusFilter": "SUCCEEDED", "maxResults": 1000}
        if token:
            body["nextToken"] = token
        page = await call(session, url, "ListExecutions", body)
        n += len(page.get("executions", []))
        token = page.get("nextToken")
        if not token:
            return n


async def pass10(session, url: str, n: int, tag: str) -> dict:
    arn = await create(session, url, f"pass10-{tag}", PASS10)
    t0 = time.perf_counter()
    queue = iter(range(n))

    async def starter():
        for i in queue:
            await call(session, url, "StartExecution", {"stateMachineArn": arn, "name": f"e{i}",
                                                        "input": '{"k": 1}'})
    await asyncio.gather(*(starter() for _ in range(32)))
    t_started = time.perf_counter()
    deadline = t0 + 600
    while await succeeded(session, url, arn) < n:
        if time.perf_counter() > deadline:
            raise RuntimeError("pass10 did not finish")
        await asyncio.sleep(0.05)
    t1 = time.perf_counter()
    return {"executions": n, "seconds": round(t1 - t0, 3), "executions_per_s": round(n / (t1 - t0), 1),
            "starts_per_s": round(n / (t_started - t0), 1)}


async def map1000(session, url: str, items: int, tag: str, definition: dict = MAP) -> dict:
    arn = await create(session, url, f"map-{tag}", definition)
    t0 = time.perf_counter()
    ex = (await call(session, url, "StartExecution", {"stateMachineArn": arn, "name": "map-run",
                                                      "input": json.dumps({"items": list(range(items))})}))
    while True:
        d = await call(session, url, "DescribeExecution", {"executionArn": ex["executionArn"]})
        if d["status"] != "RUNNING":
            break
        if time.perf_counter() - t0 > 600:
            raise RuntimeError("map did not finish")
        await asyncio.sleep(0.02)
    t1 = time.perf_counter()
    assert d["status"] == "SUCCEEDED", d
    assert len(json.loads(d["output"])) == items
    return {"items": items, "seconds": round(t1 - t0, 3)}


async def sync_latency(session, url: str, calls: int, tag: str) -> dict:
    arn = await create(session, url, f"sync-{tag}", SMALL, "EXPRESS")
    lat = []
    for _ in range(calls):
        t0 = time.perf_counter()
        out = await call(session, url, "StartSyncExecution", {"stateMachineArn": arn, "input": '{"a": 1}'})
        lat.append(time.perf_counter() - t0)
        assert out["status"] == "SUCCEEDED", out
    lat.sort()
    return {"calls": calls, "p50_ms": round(statistics.median(lat) * 1000, 3),
            "p90_ms": round(lat[int(len(lat) * 0.9)] * 1000, 3)}


async def measure(url: str, n: int, items: int, sync_calls: int, tag: str, has_sync: bool) -> dict:
    import aiohttp
    conn = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=conn) as session:
        out = {"pass10": await pass10(session, url, n, tag), "map1000": await map1000(session, url, items, tag)}
        out["map1000_distributed"] = await map1000(session, url, items, tag + "d", DMAP) if has_sync else None
        out["sync"] = await sync_latency(session, url, sync_calls, tag) if has_sync else None
        return out


def enable_moto_execution(url: str) -> None:
    import urllib.request
    req = urllib.request.Request(url + "/moto-api/config", data=json.dumps(
        {"stepfunctions": {"execute_state_machine": True}}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--moto-n", type=int, default=200)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--sync", type=int, default=300)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    ap.add_argument("--durability", default="process")
    ap.add_argument("--no-moto", action="store_true")
    args = ap.parse_args()
    result = {"config": {"workers": args.workers, "shards": args.shards, "durability": args.durability,
                         "n": args.n, "moto_n": args.moto_n, "items": args.items, "sync_calls": args.sync}}
    broker = Broker("--workers", args.workers, "--shards", args.shards, "--durability", args.durability)
    try:
        result["broker"] = asyncio.run(measure(broker.url, args.n, args.items, args.sync, "b", True))
    finally:
        broker.close()
    if not args.no_moto:
        moto = Moto()
        try:
            enable_moto_execution(moto.url)
            result["moto"] = asyncio.run(measure(moto.url, args.moto_n, args.items, 0, "m", False))
        finally:
            moto.close()
        b, m = result["broker"], result["moto"]
        result["ratios"] = {
            "pass10_executions_per_s": round(b["pass10"]["executions_per_s"] / m["pass10"]["executions_per_s"], 1),
            "map1000_speedup": round(m["map1000"]["seconds"] / b["map1000"]["seconds"], 1),
        }
    emit(result)


if __name__ == "__main__":
    main()
