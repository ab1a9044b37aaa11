"""EventBridge PutEvents throughput with 10 and with 10,000 rules on one bus, ours
and moto server's, measured in the same run.

Every rule matches on ``source`` and ``detail-type``; the events published
match exactly one rule, whose target is an SQS queue, so each event is
committed, matched, and delivered. The measure is events/s accepted by
PutEvents (10 entries per request) under wrk (32 connections); the ratio
10,000 / 10 rules shows how matching cost grows with the rule count.

Prints JSON. Run: python bench/events_bench.py [--seconds 5] [--rules 10000]
Needs: wrk (apt-get install wrk) and moto[server] (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

from _common import Broker, Moto, boto_client, emit, wrk

ENTRIES = 10
MATCHED = 7        # the one rule the published events match


def headers() -> dict:
    return {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents",
            "X-Amz-Date": "20261126T000000Z",
            "Authorization": ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/events/aws4_request, "
                              "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64)}


def setup(url: str, rules: int, tag: str) -> tuple[str, float]:
    """A bus with `rules` rules (rule MATCHED targets a queue); returns (bus, seconds taken)."""
    t0 = time.time()
    events = boto_client("events", url)
    sqs = boto_client("sqs", url)
    bus = f"bench-{tag}-{rules}"
    events.create_event_bus(Name=bus)
    qurl = sqs.create_queue(QueueName=f"bench-{tag}-{rules}")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients = [boto_client("events", url) for _ in range(8)]

    def put(i: int) -> None:
        clients[i % len(clients)].put_rule(
            Name=f"r{i}", EventBusName=bus,
            EventPattern=json.dumps({"source": ["bench.app"], "detail-type": [f"type-{i}"]}))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(rules)))
    events.put_targets(Rule=f"r{MATCHED}", EventBusName=bus, Targets=[{"Id": "q", "Arn": qarn}])
    # sanity: one event, delivered
    events.put_events(Entries=[{"Source": "bench.app", "DetailType": f"type-{MATCHED}", "Detail": "{}",
                                "EventBusName": bus}])
    deadline = time.time() + 30
    while time.time() < deadline:
        if sqs.receive_message(QueueUrl=qurl, WaitTimeSeconds=1).get("Messages"):
            break
    else:
        raise RuntimeError(f"{tag}: the matched rule's target never received the event")
    return bus, time.time() - t0


def rate(url: str, bus: str, seconds: float) -> float:
    body = json.dumps({"Entries": [{"Source": "bench.app", "DetailType": f"type-{MATCHED}",
                                    "Detail": json.dumps({"order": i, "total": 12.5}), "EventBusName": bus}
                                   for i in range(ENTRIES)]})
    r = wrk(url, "POST", headers(), body, seconds) * ENTRIES
    if r > 0:
        return r
    # too slow for wrk to see a request finish in the window: time a few in a row instead
    import urllib.request
    n, t0 = 0, time.time()
    while n < 3 and time.time() - t0 < 120:
        req = urllib.request.Request(url + "/", data=body.encode(), headers=headers(), method="POST")
        urllib.request.urlopen(req, timeout=300).read()
        n += 1
    return n * ENTRIES / (time.time() - t0)


def measure(url: str, tag: str, counts: list[int], seconds: float) -> dict:
    out = {}
    for n in counts:
        bus, setup_s = setup(url, n, tag)
        out[f"{n}_rules"] = {"events_per_s": round(rate(url, bus, seconds), 1), "setup_s": round(setup_s, 1)}
    small, big = out[f"{counts[0]}_rules"]["events_per_s"], out[f"{counts[-1]}_rules"]["events_per_s"]
    out["ratio_many_to_few"] = round(big / small, 3) if small else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    ap.add_argument("--durability", default="process")
    ap.add_argument("--no-moto", action="store_true")
    args = ap.parse_args()
    counts = [10, args.rules]
    result = {"config": {"workers": args.workers, "shards": args.shards, "durability": args.durability,
                         "seconds": args.seconds, "entries_per_request": ENTRIES, "wrk_connections": 32}}
    broker = Broker("--workers", args.workers, "--shards", args.shards, "--durability", args.durability,
                    env={"BROKER_EVENTS_MAX_RULES_PER_BUS": str(args.rules + 100)})
    try:
        result["broker"] = measure(broker.url, "broker", counts, args.seconds)
    finally:
        broker.close()
    if not args.no_moto:
        moto = Moto()
        try:
            result["moto"] = measure(moto.url, "moto", counts, args.seconds)
        finally:
            moto.close()
        for n in counts:
            ours, theirs = result["broker"][f"{n}_rules"]["events_per_s"], result["moto"][f"{n}_rules"]["events_per_s"]
            result[f"broker_over_moto_{n}_rules"] = round(ours / theirs, 1) if theirs else None
    emit(result)


if __name__ == "__main__":
    main()
