"""Memory over a soak of mixed SQS traffic: does the server stay flat after warm-up?

    python bench/soak_bench.py [--minutes 10] [--warmup 5] [--interval 15] [--clients 2] [--skip-moto]
                               [--args "--workers 1"]

Clients (separate processes, boto3) loop over a mix a real application makes:
standard and FIFO queues created and deleted, SendMessage and SendMessageBatch
with attributes, ReceiveMessage with long polls, DeleteMessage(Batch),
ChangeMessageVisibility, a backlog that grows and drains, purges. PSS summed
over the server's processes is sampled every --interval seconds. Prints the
curve and the growth from the end of warm-up (--warmup minutes: SQS keeps FIFO
deduplication records 5 minutes, so state legitimately grows that long) to the end;
moto server under the same traffic for --minutes is the baseline, in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Broker, Moto, boto_client, emit, pss_by_process, pss_mb  # noqa: E402


def _traffic(url: str, tag: int, until: float) -> None:
    sqs = boto_client("sqs", url)
    body = "soak " + "x" * 512
    attrs = {"kind": {"DataType": "String", "StringValue": "order"},
             "n": {"DataType": "Number", "StringValue": "1"}}
    rounds, made, next_queue = 0, 0, 0.0
    live: list[str] = []          # standard queues in use; the oldest is deleted past 10
    fifo = sqs.create_queue(QueueName=f"soak-{tag}.fifo",
                            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    while time.time() < until:
        rounds += 1
        if time.time() >= next_queue:
            # a new queue every 2 s, names cycling over 40: a name comes back 80 s after
            # it was deleted (AWS's 60 s rule), as an application's queues come and go
            live.append(sqs.create_queue(QueueName=f"soak-{tag}-{made % 40}")["QueueUrl"])
            made += 1
            next_queue = time.time() + 2.0
        std = live[-1]
        for i in range(5):
            sqs.send_message_batch(QueueUrl=std, Entries=[
                {"Id": str(j), "MessageBody": f"{body}{rounds}-{i}-{j}", "MessageAttributes": attrs}
                for j in range(10)])
            sqs.send_message(QueueUrl=fifo, MessageBody=f"{body}{rounds}-{i}", MessageGroupId=str(i % 3))
        got = 0
        while got < 40:       # drain most of it, leave a little backlog behind each round
            msgs = sqs.receive_message(QueueUrl=std, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"]).get("Messages", [])
            if not msgs:
                break
            got += len(msgs)
            if len(msgs) > 1:
                sqs.change_message_visibility(QueueUrl=std, ReceiptHandle=msgs[-1]["ReceiptHandle"],
                                              VisibilityTimeout=0)
            sqs.delete_message_batch(QueueUrl=std, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(msgs[:-1])])
        for m in sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=fifo, ReceiptHandle=m["ReceiptHandle"])
        if len(live) > 10:            # the oldest queue goes away with whatever it still holds
            sqs.delete_queue(QueueUrl=live.pop(0))
        if rounds % 7 == 0:
            try:
                sqs.purge_queue(QueueUrl=std)
            except sqs.exceptions.PurgeQueueInProgress:
                pass


def soak(server, minutes: float, interval: float, clients: int, warmup: float) -> dict:
    pgid = server.proc.pid
    start = time.time()
    until = start + minutes * 60
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_traffic, args=(server.url, i, until)) for i in range(clients)]
    for p in procs:
        p.start()
    curve = [(0.0, pss_mb(pgid))]
    at_warmup = None            # where the growth after warm-up is: each process's PSS then and at the end
    while any(p.is_alive() for p in procs):
        time.sleep(min(interval, max(0.5, until - time.time() + 1)))
        curve.append((round(time.time() - start, 1), pss_mb(pgid)))
        if at_warmup is None and curve[-1][0] >= warmup * 60:
            at_warmup = pss_by_process(pgid)
    for p in procs:
        p.join()
    time.sleep(2)
    curve.append((round(time.time() - start, 1), pss_mb(pgid)))
    warm = [mb for t, mb in curve if t >= warmup * 60] or [curve[-1][1]]
    after_warmup, end = warm[0], curve[-1][1]
    return {"curve_s_mb": curve, "after_warmup_mb": after_warmup, "end_mb": end,
            "by_process_after_warmup_mb": at_warmup, "by_process_end_mb": pss_by_process(pgid),
            "max_after_warmup_mb": max(warm), "growth_after_warmup_mb": round(end - after_warmup, 1),
            "growth_ratio": round(end / after_warmup, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes before the level is taken")
    ap.add_argument("--skip-moto", action="store_true")
    ap.add_argument("--args", default="", help="extra `broker serve` flags")
    a = ap.parse_args()
    out = {"bench": "soak", "minutes": a.minutes, "clients": a.clients}
    broker = Broker(*shlex.split(a.args))
    try:
        out["broker"] = soak(broker, a.minutes, a.interval, a.clients, a.warmup)
    finally:
        broker.close()
    if not a.skip_moto:
        moto = Moto()
        try:
            out["moto"] = soak(moto, a.minutes, a.interval, a.clients, a.warmup)
        finally:
            moto.close()
    emit(out)


if __name__ == "__main__":
    main()
