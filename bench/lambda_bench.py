"""Lambda bench: warm Invoke latency and throughput, cold starts, SQS -> Lambda through
an event-source mapping. Prints JSON.

Baselines measured in the same run (moto and LocalStack run functions in Docker,
which this machine does not have, so there is no peer emulator to run here):
- warm Invoke against an SQS SendMessage on the same server (the gateway -> shard
  round trip every operation pays): the ratio is what running a function adds;
- cold start against spawning the same interpreter with awslambdaric imported and
  nothing else (the floor for any process-per-environment design).

    python bench/lambda_bench.py [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import PY, Broker, boto_client, emit  # noqa: E402

NOOP = "def handler(event, context):\n    return None\n"
ROLE = "arn:aws:iam::000000000000:role/bench"


def _zip(src: str) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("handler.py", src)
    return b.getvalue()


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def _loop(fn, seconds: float, threads: int) -> tuple[list[float], float]:
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        mine = []
        while time.monotonic() < stop:
            t = time.perf_counter()
            fn()
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)
    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, len(lat) / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--colds", type=int, default=20)
    args = ap.parse_args()
    b = Broker("--workers", "1", "--shards", "2", "--durability", "process")
    try:
        lam = boto_client("lambda", b.url)
        sqs = boto_client("sqs", b.url)
        lam.create_function(FunctionName="noop", Runtime="python3.11", Role=ROLE, Handler="handler.handler",
                            Code={"ZipFile": _zip(NOOP)})
        lam.invoke(FunctionName="noop")                       # warm one environment
        serial, _ = _loop(lambda: lam.invoke(FunctionName="noop", Payload=b"{}"), args.seconds, 1)
        _, rate = _loop(lambda: lam.invoke(FunctionName="noop", Payload=b"{}"), args.seconds, args.concurrency)
        q = sqs.create_queue(QueueName="bench-floor")["QueueUrl"]
        floor, _ = _loop(lambda: sqs.send_message(QueueUrl=q, MessageBody="x"), args.seconds, 1)

        colds = []
        for i in range(args.colds):          # a new configuration revision = a new environment
            lam.update_function_configuration(FunctionName="noop", Description=str(i))
            r = lam.invoke(FunctionName="noop", LogType="Tail")
            import base64
            tail = base64.b64decode(r["LogResult"]).decode()
            colds.append(float(tail.split("Init Duration: ")[1].split(" ms")[0]) / 1000)
        spawn = []
        for _ in range(args.colds):
            t = time.perf_counter()
            subprocess.run([PY, "-c", "import awslambdaric.bootstrap"], check=True)
            spawn.append(time.perf_counter() - t)

        src = sqs.create_queue(QueueName="bench-esm")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for i in range(0, args.messages, 10):
            sqs.send_message_batch(QueueUrl=src, Entries=[{"Id": str(j), "MessageBody": json.dumps({"i": i + j})}
                                                          for j in range(10)])
        t0 = time.monotonic()
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="noop", BatchSize=10)
        while True:
            a = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
            if a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0":
                break
            if time.monotonic() - t0 > 300:
                break
            time.sleep(0.05)
        esm_rate = args.messages / (time.monotonic() - t0)
        emit({"bench": "lambda",
              "warm_invoke_p50_ms": round(_p(serial, 0.5), 3), "warm_invoke_p99_ms": round(_p(serial, 0.99), 3),
              "warm_invokes_per_s": round(rate, 1), "concurrency": args.concurrency,
              "baseline_sqs_send_p50_ms": round(_p(floor, 0.5), 3),
              "warm_invoke_vs_sqs_send_p50": round(_p(serial, 0.5) / _p(floor, 0.5), 2),
              "cold_start_init_p50_ms": round(statistics.median(colds) * 1000, 1),
              "baseline_process_spawn_p50_ms": round(statistics.median(spawn) * 1000, 1),
              "cold_start_vs_spawn_p50": round(statistics.median(colds) / statistics.median(spawn), 2),
              "sqs_esm_messages_per_s": round(esm_rate, 1), "esm_messages": args.messages})
    finally:
        b.close()


if __name__ == "__main__":
    main()
