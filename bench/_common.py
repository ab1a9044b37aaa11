"""Shared bench plumbing: start our server or a peer, run wrk, print JSON."""

from __future__ import annotations

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, *args: str, env: dict | None = None):
        if "--single-worker" not in args:
            # throughput rows are quoted for separate gateway and shard processes; at
            # --workers 1 --shards 1 the server would otherwise run both in one
            args = (*args, "--single-worker", "false")
        self.dir = Path(tempfile.mkdtemp(prefix="bench-broker-"))
        self.log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen([PY, "-m", "broker", "serve", "--data-dir", str(self.dir / "data"),
                                      "--free-ports", *args], stdout=self.log, stderr=self.log,
                                     env={**os.environ, **(env or {})}, start_new_session=True, cwd=ROOT)
        ep = self.dir / "data" / "endpoints.json"
        deadline = time.time() + 60
        while not ep.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("broker did not start: " + (self.dir / "server.log").read_text()[-2000:])
            time.sleep(0.05)
        self.endpoints = json.loads(ep.read_text())
        self.url = self.endpoints["http"]

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except Exception:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Moto:
    """moto's server, the baseline emulator (pip install 'moto[server]')."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([PY, "-m", "moto.server", "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("moto server did not start (pip install 'moto[server]')")
                time.sleep(0.1)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except Exception:
            pass


def boto_client(service: str, url: str):
    import boto3
    from botocore.config import Config
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))


SIGNED_HEADERS = {
    "X-Amz-Date": "20261126T000000Z",
    "Authorization": ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/sqs/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64),
}


def wrk(url: str, method: str, headers: dict, body: str, seconds: float = 5, connections: int = 32,
        threads: int = 1) -> float:
    """Requests/s from wrk (server-bound load); the Lua script sets method, headers and body."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found: apt-get install wrk")
    lua = ["wrk.method = %s" % json.dumps(method)]
    for k, v in headers.items():
        lua.append("wrk.headers[%s] = %s" % (json.dumps(k), json.dumps(v)))
    lua.append("wrk.body = %s" % json.dumps(body))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("\n".join(lua) + "\n")
        script = f.name
    try:
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "-s", script, url + "/"],
                             capture_output=True, text=True, timeout=seconds + 30).stdout
    finally:
        os.unlink(script)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m is None:
        raise RuntimeError("wrk failed: " + out)
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} error responses: " + out)
    return float(m.group(1))


def emit(doc: dict) -> None:
    print(json.dumps(doc, indent=2))


# -- memory: PSS summed over a process group (Linux) ----------------------------------------------
def group_pids(pgid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    return out


def pss_by_process(pgid: int) -> dict[str, float]:
    """PSS in MB of each process of the group, by its title (broker-shard-0, ...) or pid."""
    out: dict[str, float] = {}
    for pid in group_pids(pgid):
        try:
            kb = sum(int(line.split()[1]) for line in open(f"/proc/{pid}/smaps_rollup") if line.startswith("Pss:"))
            name = open(f"/proc/{pid}/comm").read().strip() or str(pid)
        except OSError:
            continue
        if name in out:
            name = f"{name}[{pid}]"
        out[name] = round(kb / 1024, 1)
    return out


def pss_mb(pgid: int) -> float:
    return round(sum(pss_by_process(pgid).values()), 1)
