"""Footprint and start-up, the way users compare emulators, one server at a time.

    python bench/footprint_bench.py [--wrk-seconds 8] [--skip-moto]

For each server: time until ready on an existing data directory
(endpoints.json written / port accepting), the first call's latency, PSS
summed over all of the server's processes (Linux /proc/<pid>/smaps_rollup)
when idle, and again after an SQS load: 2 boto3 client processes each doing
1,000 send + receive + delete, then wrk SendMessage for --wrk-seconds; for the
broker, again after a restart holding that backlog (ready, the first receive, PSS).
Servers: broker at its defaults (workers = shards = CPUs), broker's small
profile (--workers 1 --shards 1: one worker process by default, what `broker run`
and the pytest plugin start, recommended for test suites), the same two roles in two worker
processes (--workers 1 --shards 1 --single-worker false), and moto
server as the baseline, measured in the same run. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PY, ROOT, SIGNED_HEADERS, boto_client, emit, free_port, group_pids, pss_mb, wrk  # noqa: E402


def settle(pgid: int, seconds: float = 2.0) -> float:
    time.sleep(seconds)
    return pss_mb(pgid)


class Server:
    def __init__(self, kind: str, args: list[str], data: Path | None = None):
        self.kind, self.args = kind, args
        self.data = data
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> float:
        t0 = time.perf_counter()
        if self.kind == "moto":
            port = free_port()
            self.proc = subprocess.Popen([PY, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
            self.url = f"http://127.0.0.1:{port}"
            import socket
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.01)
            return time.perf_counter() - t0
        ep = self.data / "endpoints.json"
        log = open(self.data.parent / f"{self.data.name}.log", "ab")
        self.proc = subprocess.Popen([PY, "-m", "broker", "serve", "--data-dir", str(self.data), "--free-ports",
                                      *self.args], stdout=log, stderr=log, start_new_session=True, cwd=ROOT)
        while not ep.exists():
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited")
            time.sleep(0.005)
        elapsed = time.perf_counter() - t0
        self.url = json.loads(ep.read_text())["http"]
        return elapsed

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except Exception:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None


def _client_load(url: str, n: int, tag: int) -> None:
    sqs = boto_client("sqs", url)
    q = sqs.create_queue(QueueName=f"footprint-{tag}")["QueueUrl"]
    for i in range(n):
        sqs.send_message(QueueUrl=q, MessageBody=f"message {i} " + "x" * 200)
        for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1).get("Messages", []):
            sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])


def measure(server: Server, wrk_seconds: float, n: int) -> dict:
    if server.kind == "broker":      # ready is measured on an existing data directory
        server.start()
        server.stop()
    ready = server.start()
    sqs = boto_client("sqs", server.url)
    t0 = time.perf_counter()
    sqs.list_queues()
    first = time.perf_counter() - t0
    pgid = server.proc.pid
    idle = settle(pgid)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_client_load, args=(server.url, n, i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    q = sqs.create_queue(QueueName="footprint-wrk")["QueueUrl"]
    body = json.dumps({"QueueUrl": q, "MessageBody": "hello from wrk"})
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage",
               **SIGNED_HEADERS}
    rate = wrk(server.url, "POST", headers, body, seconds=wrk_seconds, connections=32)
    loaded = settle(pgid)
    out = {"ready_s": round(ready, 3), "first_call_ms": round(first * 1000, 1), "idle_pss_mb": idle,
           "loaded_pss_mb": loaded, "wrk_send_per_s": round(rate), "processes": len(group_pids(pgid))}
    if server.kind == "broker":
        # a restart holding the backlog: ready, then the queue's count and its first message
        backlog = int(sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])
                      ["Attributes"]["ApproximateNumberOfMessages"])
        server.stop()
        out["backlog_messages"] = backlog
        out["ready_with_backlog_s"] = round(server.start(), 3)
        sqs = boto_client("sqs", server.url)
        t0 = time.perf_counter()
        again = int(sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])
                    ["Attributes"]["ApproximateNumberOfMessages"])
        first_msg = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1)["Messages"][0]["Body"]
        out["backlog_first_receive_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        out["backlog_kept"] = again == backlog and first_msg == "hello from wrk"
        out["restarted_pss_mb"] = settle(server.proc.pid)
    server.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wrk-seconds", type=float, default=8)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--skip-moto", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fp-"))
    doc: dict = {"bench": "footprint", "cpus": os.cpu_count()}
    try:
        doc["broker_defaults"] = measure(Server("broker", [], tmp / "d1"), args.wrk_seconds, args.messages)
        # the small profile, as `broker run` and the pytest plugin start it: one worker process
        doc["broker_small"] = measure(Server("broker", ["--workers", "1", "--shards", "1"],
                                             tmp / "d2"), args.wrk_seconds, args.messages)
        doc["broker_1_1_two_workers"] = measure(Server("broker", ["--workers", "1", "--shards", "1", "--single-worker", "false"], tmp / "d3"),
                                                args.wrk_seconds, args.messages)
        if not args.skip_moto:
            doc["moto"] = measure(Server("moto", []), args.wrk_seconds, args.messages)
            for k in ("broker_defaults", "broker_small", "broker_1_1_two_workers"):
                doc[k]["idle_pss_vs_moto"] = round(doc[k]["idle_pss_mb"] / doc["moto"]["idle_pss_mb"], 2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
