"""Hot-path cost of monitoring: SQS SendMessage rate with telemetry on / off.

"on" is the default configuration (AWS/SQS metrics, AWS/Usage, Prometheus
request counters and latency histograms, CloudTrail management events,
X-Ray for traced calls); "off" is `telemetry.enabled = false`. Each
configuration runs on its own server, both up at once and measured in
alternation `--rounds` times; the median of the per-round on/off ratios is
the figure (it must stay >= 0.95). On a busy machine the rates swing, so
the servers' CPU time per request (all their processes, from /proc) is
reported too: off/on of that is the same ratio, steadier under load. A third
configuration adds a logging trail whose selectors select SQS data events,
so every SendMessage also becomes a CloudTrail record.

With `--side-by-side`, each round loads both servers at the same time (a wrk
each) instead of in turns: they share the machine's cores and whatever else
runs on it at that moment alike, so the ratio of their rates is the ratio of
their costs, much steadier on a busy machine than rates taken seconds apart.

Run: python bench/metrics_bench.py [--seconds 3] [--rounds 6] [--side-by-side] [--workers 1 --shards 1]
Needs: wrk (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from _common import SIGNED_HEADERS, Broker, boto_client, emit, wrk

HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage",
           **SIGNED_HEADERS}


def cpu_seconds(pgid: int) -> float:
    """User + system CPU of every process of a server (its process group), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:                   # field 5 (pgrp), counted after the comm
            total += int(fields[11]) + int(fields[12])   # utime, stime
    return total / tick


def run(broker, body, seconds: float) -> tuple[float, float]:
    """(requests/s, CPU microseconds per request across the server's processes)."""
    cpu0 = cpu_seconds(broker.proc.pid)
    rps = wrk(broker.url, "POST", HEADERS, body, seconds)
    cpu = cpu_seconds(broker.proc.pid) - cpu0
    return rps, cpu / (rps * seconds) * 1e6


def start(args, enabled: bool, trail: bool = False):
    env = {"BROKER_TELEMETRY_ENABLED": "true" if enabled else "false"}
    broker = Broker("--workers", args.workers, "--shards", args.shards, "--durability", args.durability, env=env)
    sqs = boto_client("sqs", broker.url)
    url = sqs.create_queue(QueueName="bench")["QueueUrl"]
    if trail:
        ct = boto_client("cloudtrail", broker.url)
        ct.create_trail(Name="bench-trail", S3BucketName="bench-bucket")
        ct.start_logging(Name="bench-trail")
        ct.put_event_selectors(TrailName="bench-trail", AdvancedEventSelectors=[{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::SQS::Queue"]}]}])
        time.sleep(3)              # gateways poll the data-event selectors every 2 s
    body = json.dumps({"QueueUrl": url, "MessageBody": "hello world, a small benchmark message"})
    wrk(broker.url, "POST", HEADERS, body, 1)          # warm-up
    return broker, body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    ap.add_argument("--durability", default="process")
    ap.add_argument("--side-by-side", action="store_true", help="load both servers at once in each round")
    args = ap.parse_args()
    # Both servers run side by side (an idle one costs nothing) and are measured in alternation,
    # so load from elsewhere on the machine hits both alike.
    on, on_body = start(args, True)
    off, off_body = start(args, False)
    rates = {"on": [], "off": []}
    cpu = {"on": [], "off": []}
    try:
        pool = ThreadPoolExecutor(2)
        for i in range(args.rounds):
            order = [("on", on, on_body), ("off", off, off_body)]
            if args.side_by_side:
                runs = [(name, pool.submit(run, broker, body, args.seconds)) for name, broker, body in order]
                for name, fut in runs:
                    rps, us = fut.result()
                    rates[name].append(rps)
                    cpu[name].append(us)
                continue
            for name, broker, body in (order if i % 2 == 0 else order[::-1]):
                rps, us = run(broker, body, args.seconds)
                rates[name].append(rps)
                cpu[name].append(us)
    finally:
        on.close()
        off.close()
    trail, trail_body = start(args, True, trail=True)
    try:
        with_trail, trail_cpu = run(trail, trail_body, args.seconds)
    finally:
        trail.close()
    ratios = sorted(a / b for a, b in zip(rates["on"], rates["off"]))
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    emit({"config": {"workers": args.workers, "shards": args.shards, "durability": args.durability,
                     "seconds": args.seconds, "rounds": args.rounds,
                     "mode": "side by side" if args.side_by_side else "in turns"},
          "send_message_rps": {"telemetry_on": [round(x) for x in rates["on"]],
                               "telemetry_off": [round(x) for x in rates["off"]],
                               "ratio_on_over_off_median": round(statistics.median(ratios), 3),
                               "ratio_of_sums": round(sum(rates["on"]) / sum(rates["off"]), 3),
                               "target": ">= 0.95"},
          "server_cpu_us_per_request": {"telemetry_on_median": round(cpu_on, 1),
                                        "telemetry_off_median": round(cpu_off, 1),
                                        "ratio_off_over_on": round(cpu_off / cpu_on, 3)},
          "with_sqs_data_event_trail": {"rps": round(with_trail), "cpu_us_per_request": round(trail_cpu, 1),
                                        "ratio_over_off_mean": round(with_trail / statistics.mean(rates["off"]), 3)}})


if __name__ == "__main__":
    main()
