"""Runtime benchmark: IPC round-trips and committed writes, each against a null baseline.

    python bench/runtime_bench.py [--seconds 3] [--connections 32] [--window 256]

Prints one JSON document. What is measured:

ipc
    A client in this process keeps `--window` `shard.ping` requests in flight
    (pipelined, broker.runtime.ipc framing) on one Unix-socket connection to
    shard 0 of a running server (`<run_dir>/shard-0.sock`, run_dir read from
    `<data-dir>/run/run.json`) and counts completed round-trips per second.
    The shard holds replies until its per-tick group commit (nothing dirty
    here), so this is the IPC + shard dispatch cost. Baseline: the same client
    and framing against an in-process echo server (`ipc.serve`, replies at
    once) measured in the same run; `ratio` = shard / baseline.

writes
    For each durability mode (fsync, process, memory) a fresh server
    (1 gateway, 1 shard) is started; `--connections` keep-alive HTTP/1.1
    connections (asyncio, raw requests, unsigned: dev mode) send KMS
    `TagResource` requests back to back, each overwriting one of 40 tag keys of
    one key with a new value. A 200 response means the write was committed at
    that durability level (fsync: fsynced WAL; process: in the OS page cache;
    memory: in memory only). All KMS keys of one account live in one partition,
    so this is the single-partition, single-shard write path. Baseline: the same
    client against a null HTTP server (a separate uvloop process answering every
    request with `200 {}`) in the same run; `ratio` = mode / baseline.

Benchmarks are not tests: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from broker.runtime import ipc

# --------------------------------------------------------------------- server


class Server:
    def __init__(self, durability: str, workers: int = 1, shards: int = 1):
        # a short data dir so the run dir (AF_UNIX sockets) lives in <data-dir>/run
        self.data_dir = Path(tempfile.mkdtemp(prefix="rb-"))
        self.log = open(self.data_dir / "broker.log", "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_") and k != "NOTIFY_SOCKET"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "broker", "serve", "--data-dir", str(self.data_dir), "--free-ports",
             "--workers", str(workers), "--shards", str(shards), "--single-worker", "false",
             "--durability", durability, "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        ep = self.data_dir / "endpoints.json"
        while not ep.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"server did not start: {(self.data_dir / 'broker.log').read_text()[-2000:]}")
            time.sleep(0.02)
        self.endpoints = json.loads(ep.read_text())
        run = json.loads((self.data_dir / "run" / "run.json").read_text())
        self.run_dir = run["run_dir"]
        self.port = int(self.endpoints["http"].rsplit(":", 1)[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# --------------------------------------------------------------------- IPC


async def _ipc_loop(path: str, op: str, args, seconds: float, window: int) -> dict:
    conn = await ipc.connect(path, ipc.Handler())
    conn.peer = "bench"
    for _ in range(100):      # warm-up
        await conn.call(op, args)
    done = 0
    stop_at = time.perf_counter() + seconds
    inflight: set = set()
    t0 = time.perf_counter()
    while True:
        while len(inflight) < window:
            inflight.add(conn.call_nowait(op, args))
        finished, inflight = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        for f in finished:
            f.result()
        done += len(finished)
        if time.perf_counter() >= stop_at:
            break
    await asyncio.gather(*inflight)
    done += len(inflight)
    elapsed = time.perf_counter() - t0
    conn.close()
    return {"round_trips": done, "seconds": round(elapsed, 3), "per_second": round(done / elapsed)}


class _Echo(ipc.Handler):
    def on_request(self, conn, rid, op, args):
        conn.reply(rid, {"index": 0, "pid": 0, "partitions": [0], "requests": 0, "commits": 0, "uptime": 0.0})


async def _ipc_bench(run_dir: str, seconds: float, window: int) -> dict:
    shard = await _ipc_loop(str(Path(run_dir) / "shard-0.sock"), "shard.ping", None, seconds, window)
    tmp = tempfile.mkdtemp(prefix="rbe-")
    try:
        path = os.path.join(tmp, "echo.sock")
        server = await ipc.serve(path, _Echo)
        base = await _ipc_loop(path, "shard.ping", None, seconds, window)
        server.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"what": "pipelined shard.ping round-trips over one Unix socket (broker.runtime.ipc)",
            "window": window, "shard": shard, "baseline_in_process_echo": base,
            "ratio": round(shard["per_second"] / base["per_second"], 3)}


# --------------------------------------------------------------------- HTTP


def _auth(account: str | None) -> bytes:
    """Dev mode accepts any well-formed signature; a 12-digit access key is that account."""
    if account is None:
        return b""
    return (b"X-Amz-Date: 20200101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=" + account.encode()
            + b"/20200101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00\r\n")


def _request(key_id: str, i: int, account: str | None = None) -> bytes:
    body = json.dumps({"KeyId": key_id, "Tags": [{"TagKey": f"k{i % 40}", "TagValue": f"v{i}"}]}).encode()
    return (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: TrentService.TagResource\r\nConnection: keep-alive\r\n" + _auth(account)
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _http_conn(port: int, key_id, stop_at: float, counts: dict, offset: int) -> None:
    """`key_id` is a KMS key id, or (key id, account) to sign as that account."""
    account = None
    if isinstance(key_id, tuple):
        key_id, account = key_id
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            writer.write(_request(key_id, i, account))
            i += 1
            status = await _read_response(reader)
            counts["ok" if status == 200 else "error"] += 1
    finally:
        writer.close()


async def _http_load(port: int, key_id, seconds: float, connections: int) -> dict:
    """`key_id`: one key for every connection, or a list (connection c uses key c % len)."""
    keys = key_id if isinstance(key_id, list) else [key_id]
    counts = {"ok": 0, "error": 0}
    # warm-up: one request per connection path
    await _http_conn(port, keys[0], time.perf_counter() + 0.2, {"ok": 0, "error": 0}, 0)
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    await asyncio.gather(*(_http_conn(port, keys[c % len(keys)], stop_at, counts, c * 1_000_000)
                           for c in range(connections)))
    elapsed = time.perf_counter() - t0
    return {"acknowledged": counts["ok"], "errors": counts["error"], "seconds": round(elapsed, 3),
            "per_second": round(counts["ok"] / elapsed)}


async def _create_key(port: int, account: str | None = None) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"Description":"bench"}'
    writer.write(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\n"
                 b"X-Amz-Target: TrentService.CreateKey\r\n" + _auth(account) + b"Content-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
    doc = json.loads(await reader.readexactly(length))
    writer.close()
    return doc["KeyMetadata"]["KeyId"]


async def _keys_in_every_partition(port: int, partitions: int) -> list:
    from broker.core.partition import partition_of
    from services.kms.api import kms_key
    accounts, seen = [], set()
    n = 100000000000
    while len(seen) < partitions:
        n += 1
        account = str(n)
        p = partition_of(kms_key(account, "us-east-1"), partitions)
        if p not in seen:
            seen.add(p)
            accounts.append(account)
    return [(await _create_key(port, a), a) for a in accounts]


def _null_http_server(port_q) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    class P(asyncio.Protocol):
        def connection_made(self, t):
            self.t, self.buf = t, b""

        def data_received(self, data):
            self.buf += data
            out = []
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = self.buf[:end]
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if len(self.buf) < end + 4 + length:
                    break
                self.buf = self.buf[end + 4 + length:]
                out.append(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                           b"Content-Length: 2\r\n\r\n{}")
            if out:
                self.t.write(b"".join(out))

    async def main():
        server = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


# --------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="measurement time per figure")
    ap.add_argument("--connections", type=int, default=32, help="concurrent HTTP keep-alive connections")
    ap.add_argument("--window", type=int, default=256, help="IPC requests in flight")
    ap.add_argument("--modes", default="fsync,process,memory")
    args = ap.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    out: dict = {"bench": "runtime", "python": platform.python_version(), "cpus": os.cpu_count(),
                 "seconds_per_figure": args.seconds}

    server = Server("process")
    try:
        out["ipc"] = asyncio.run(_ipc_bench(server.run_dir, args.seconds, args.window))
    finally:
        server.close()

    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    null = ctx.Process(target=_null_http_server, args=(q,), daemon=True)
    null.start()
    try:
        null_port = q.get(timeout=30)
        baseline = asyncio.run(_http_load(null_port, "x", args.seconds, args.connections))
    finally:
        null.kill()
        null.join(5)
    writes: dict = {"what": "KMS TagResource (one committed entity write each) over raw HTTP/1.1 keep-alive, "
                            "unsigned; 200 = acknowledged", "connections": args.connections,
                    "baseline_null_http": baseline}
    for mode in args.modes.split(","):
        server = Server(mode)
        try:
            key_id = asyncio.run(_create_key(server.port))
            fig = asyncio.run(_http_load(server.port, key_id, args.seconds, args.connections))
        finally:
            server.close()
        fig["ratio_to_null_http"] = round(fig["per_second"] / max(1, baseline["per_second"]), 4)
        writes[mode] = fig
    out["writes"] = writes
    # The same writes spread over every partition (one account per partition:
    # KMS keys of an account live in its partition), so every tick dirties
    # many partitions: what group commit costs per dirty partition.
    spread: dict = {"what": "as writes, connections spread over one KMS key in each of the 16 partitions",
                    "partitions": 16}
    for mode in [m for m in args.modes.split(",") if m != "memory"]:
        server = Server(mode)
        try:
            keys = asyncio.run(_keys_in_every_partition(server.port, 16))
            fig = asyncio.run(_http_load(server.port, keys, args.seconds, args.connections))
        finally:
            server.close()
        fig["ratio_to_single_partition"] = round(fig["per_second"] / max(1, writes[mode]["per_second"]), 4)
        spread[mode] = fig
    out["writes_spread"] = spread
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
