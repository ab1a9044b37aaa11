"""SQS throughput against moto server (baseline), measured in the same run.

Prints JSON:
- send_server_bound: SendMessage requests/s from wrk (32 connections), ours vs moto;
- boto3_end_to_end: SendMessage/s from 2 boto3 client processes, ours vs moto;
- depth_ratio: our send rate with 1,000,000 messages queued / with 1,000 queued.

Run: python bench/sqs_bench.py [--seconds 5] [--deep 1000000] [--workers 1 --shards 1]
Needs: wrk (apt-get install wrk) and moto[server] (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

from _common import SIGNED_HEADERS, Broker, Moto, boto_client, emit, wrk

HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage",
           **SIGNED_HEADERS}


def send_body(queue_url: str, body: str = "hello world, a small benchmark message") -> str:
    return json.dumps({"QueueUrl": queue_url, "MessageBody": body})


def _boto_worker(url: str, queue_url: str, seconds: float, out) -> None:
    sqs = boto_client("sqs", url)
    n = 0
    end = time.time() + seconds
    while time.time() < end:
        sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
        n += 1
    out.put(n)


def boto3_rate(url: str, queue_url: str, seconds: float, procs: int = 2) -> float:
    q = mp.Queue()
    ps = [mp.Process(target=_boto_worker, args=(url, queue_url, seconds, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return total / seconds


BATCH_HEADERS = {**HEADERS, "X-Amz-Target": "AmazonSQS.SendMessageBatch"}


def depth(sqs, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def fill(url: str, sqs, queue_url: str, n: int) -> None:
    """Enqueue about n messages, server-bound: wrk posting SendMessageBatch of 10 until the depth is reached."""
    if n <= 20000:
        entries = [{"Id": str(i), "MessageBody": "x" * 64} for i in range(10)]
        for _ in range(n // 10):
            sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        return
    body = json.dumps({"QueueUrl": queue_url,
                       "Entries": [{"Id": str(i), "MessageBody": "x" * 64} for i in range(10)]})
    while depth(sqs, queue_url) < n:
        wrk(url, "POST", BATCH_HEADERS, body, 5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--deep", type=int, default=1_000_000)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    ap.add_argument("--durability", default="process")
    args = ap.parse_args()
    result = {"config": {"workers": args.workers, "shards": args.shards, "durability": args.durability,
                         "encryption_at_rest": True, "seconds": args.seconds}}
    broker = Broker("--workers", args.workers, "--shards", args.shards, "--durability", args.durability)
    try:
        moto = Moto()
        try:
            ours_sqs, moto_sqs = boto_client("sqs", broker.url), boto_client("sqs", moto.url)
            ours_q = ours_sqs.create_queue(QueueName="bench")["QueueUrl"]
            moto_q = moto_sqs.create_queue(QueueName="bench")["QueueUrl"]
            ours = wrk(broker.url, "POST", HEADERS, send_body(ours_q), args.seconds)
            base = wrk(moto.url, "POST", HEADERS, send_body(moto_q), args.seconds)
            result["send_server_bound"] = {"ours_rps": round(ours), "moto_rps": round(base),
                                           "ratio": round(ours / base, 2)}
            ours = boto3_rate(broker.url, ours_q, args.seconds)
            base = boto3_rate(moto.url, moto_q, args.seconds)
            result["boto3_end_to_end"] = {"client_processes": 2, "ours_per_s": round(ours),
                                          "moto_per_s": round(base), "ratio": round(ours / base, 2)}
        finally:
            moto.close()
        shallow = ours_sqs.create_queue(QueueName="shallow")["QueueUrl"]
        deep = ours_sqs.create_queue(QueueName="deep")["QueueUrl"]
        fill(broker.url, ours_sqs, shallow, 1000)
        t0 = time.time()
        fill(broker.url, ours_sqs, deep, args.deep)
        fill_s = time.time() - t0
        depths = {"shallow": depth(ours_sqs, shallow), "deep": depth(ours_sqs, deep)}
        r_shallow = wrk(broker.url, "POST", HEADERS, send_body(shallow), args.seconds)
        r_deep = wrk(broker.url, "POST", HEADERS, send_body(deep), args.seconds)
        result["depth_ratio"] = {"queued_shallow": depths["shallow"], "queued_deep": depths["deep"],
                                 "rps_shallow": round(r_shallow), "rps_deep": round(r_deep),
                                 "ratio": round(r_deep / r_shallow, 3), "fill_seconds": round(fill_s, 1),
                                 "fill_msgs_per_s": round(depths["deep"] / fill_s)}
    finally:
        broker.close()
    emit(result)


if __name__ == "__main__":
    main()
