"""AWS gateway HTTP throughput (not a test).

Prints JSON: requests/s through the real server (supervisor + workers) for

* STS GetCallerIdentity (query protocol; answered in the gateway, no shard hop),
* SQS GetQueueUrl (json protocol; crosses the IPC to the owning shard),

with ``--workers 1 --shards 1`` and ``--workers 2 --shards 1``, beside a null
HTTP server measured in the same run (uvloop + httptools, one process, fixed
200 response, keep-alive) and the ratio of each figure to it.

The load generator is ``wrk`` (with a Lua script for the POST bodies). If wrk
is not installed, the bench says so on stderr (install it with your package
manager, e.g. ``apt-get install wrk``; the bench never installs anything
itself) and falls back to a built-in asyncio raw-HTTP client, which is slower
than wrk, so its absolute figures are lower; the ratios are still
comparable within one run.

    .venv/bin/python bench/gateway_bench.py [--duration 5] [--connections 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATE = "20240501T120000Z"
# Dev mode (no aws.credentials) checks a signature's form, not its value.
AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDBENCHBENCHBENCH0/20240501/us-east-1/{svc}/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64)
QUEUE = "gateway-bench-queue"

WORKLOADS = {
    "sts_get_caller_identity": {
        "method": "POST",
        "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Amz-Date": DATE,
                    "Authorization": AUTH.format(svc="sts")},
        "body": "Action=GetCallerIdentity&Version=2011-06-15",
        "expect": b"<GetCallerIdentityResult>",
    },
    "sqs_get_queue_url": {
        "method": "POST",
        "headers": {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.GetQueueUrl",
                    "X-Amz-Date": DATE, "Authorization": AUTH.format(svc="sqs")},
        "body": json.dumps({"QueueName": QUEUE}),
        "expect": b'"QueueUrl"',
    },
}

NULL_SERVER = r'''
import asyncio, socket, sys
import httptools, uvloop

RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 2\r\n"
        b"Date: Wed, 01 May 2024 12:00:00 GMT\r\nServer: null\r\n\r\nok")

class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t = t
        self.p = httptools.HttpRequestParser(self)
        t.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def data_received(self, d):
        try:
            self.p.feed_data(d)
        except httptools.HttpParserError:
            self.t.close()
    def on_message_complete(self):
        self.t.write(RESP)

async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", 0, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

uvloop.run(main())
'''


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- load generators -------------------------------------------------------------

def _lua(workload: dict) -> str:
    lines = [f'wrk.method = "{workload["method"]}"', f"wrk.body = {json.dumps(workload['body'])}"]
    for k, v in workload["headers"].items():
        lines.append(f'wrk.headers["{k}"] = {json.dumps(v)}')
    return "\n".join(lines) + "\n"


def run_wrk(url: str, workload: dict, args, tmp: Path) -> dict:
    script = tmp / "wl.lua"
    script.write_text(_lua(workload))
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{max(1, round(args.duration))}s", "--latency",
           "-s", str(script), url + "/"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed: {p.stderr or p.stdout}")
    out = p.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    res = {"rps": round(rps, 1), "requests": total, "non_2xx": int(non2xx.group(1)) if non2xx else 0}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            res[f"p{pct}_ms"] = round(float(m.group(1)) * scale, 3)
    if errors:
        res["socket_errors"] = errors.group(1).strip()
    return res


async def _asyncio_load(url: str, workload: dict, connections: int, duration: float) -> dict:
    u = urlsplit(url)
    body = workload["body"].encode()
    head = [f"{workload['method']} / HTTP/1.1", f"Host: {u.netloc}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in workload["headers"].items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    counts = {"ok": 0, "bad": 0}
    lat: list[float] = []
    deadline = time.monotonic() + duration

    async def one():
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        try:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                lat.append(time.perf_counter() - t0)
                counts["ok" if status_line[9:10] == b"2" else "bad"] += 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.monotonic() - t0
    lat.sort()
    total = counts["ok"] + counts["bad"]
    res = {"rps": round(total / elapsed, 1), "requests": total, "non_2xx": counts["bad"]}
    if lat:
        res["p50_ms"] = round(lat[len(lat) // 2] * 1000, 3)
        res["p99_ms"] = round(lat[int(len(lat) * 0.99)] * 1000, 3)
    return res


def run_fallback(url: str, workload: dict, args, tmp: Path) -> dict:
    # The client runs in its own process so it does not share a core's time with this one.
    code = ("import asyncio, json, sys; sys.path.insert(0, %r); import gateway_bench as g; "
            "print(json.dumps(asyncio.run(g._asyncio_load(%r, %r, %d, %f))))"
            % (str(Path(__file__).parent), url, workload, args.connections, args.duration))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=args.duration + 60)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


# -- servers ---------------------------------------------------------------------

def start_null_server() -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen([sys.executable, "-c", NULL_SERVER], stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline())
    return p, f"http://127.0.0.1:{port}"


class Broker:
    def __init__(self, workers: int, shards: int, tmp: Path):
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"w{workers}s{shards}-", dir=tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
        env["BROKER_SERVER_LOG_LEVEL"] = "warning"
        self.log = open(self.data_dir / "broker.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "broker", "serve", "--data-dir", str(self.data_dir), "--free-ports",
             "--workers", str(workers), "--shards", str(shards), "--single-worker", "false", "--durability", "memory"],
            cwd=ROOT, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        path = self.data_dir / "endpoints.json"
        deadline = time.monotonic() + 60
        while not path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("broker did not start:\n"
                                   + (self.data_dir / "broker.log").read_text(errors="replace")[-3000:])
            time.sleep(0.05)
        self.url = json.loads(path.read_text())["http"]

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def check(url: str, workload: dict) -> None:
    req = urllib.request.Request(url + "/", data=workload["body"].encode(), method=workload["method"],
                                 headers=workload["headers"])
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    if r.status != 200 or workload["expect"] not in body:
        raise RuntimeError(f"unexpected answer {r.status}: {body[:300]!r}")


def create_queue(url: str) -> None:
    req = urllib.request.Request(url + "/", data=json.dumps({"QueueName": QUEUE}).encode(), method="POST",
                                 headers={"Content-Type": "application/x-amz-json-1.0",
                                          "X-Amz-Target": "AmazonSQS.CreateQueue"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--configs", default="1x1,2x1", help="WORKERSxSHARDS list (default 1x1,2x1)")
    args = ap.parse_args()

    if shutil.which("wrk"):
        tool, run = "wrk", run_wrk
    else:
        log("gateway_bench: wrk not found; falling back to the built-in asyncio client (lower absolute "
            "figures). For wrk: `apt-get install wrk` (as root), then run again.")
        tool, run = "asyncio", run_fallback

    result: dict = {"bench": "gateway", "tool": tool, "duration_s": args.duration,
                    "connections": args.connections, "cpus": os.cpu_count(), "configs": []}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as td:
        tmp = Path(td)
        null_proc, null_url = start_null_server()
        try:
            null = run(null_url, WORKLOADS["sts_get_caller_identity"], args, tmp)
        finally:
            null_proc.terminate()
            null_proc.wait(10)
        result["null_server"] = null
        log(f"null server: {null['rps']} req/s")
        for spec in args.configs.split(","):
            workers, shards = (int(x) for x in spec.split("x"))
            broker = Broker(workers, shards, tmp)
            try:
                create_queue(broker.url)
                entry: dict = {"workers": workers, "shards": shards}
                for name, wl in WORKLOADS.items():
                    check(broker.url, wl)
                    r = run(broker.url, wl, args, tmp)
                    r["ratio_vs_null"] = round(r["rps"] / null["rps"], 4) if null["rps"] else None
                    entry[name] = r
                    log(f"{workers}x{shards} {name}: {r['rps']} req/s ({r['ratio_vs_null']} of null)")
                result["configs"].append(entry)
            finally:
                broker.close()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
