"""Lifecycle: SIGTERM/SIGINT drain and exit 0 promptly (even with slow clients
holding connections), and the sd_notify protocol towards systemd."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
import urllib.parse

import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for


def _http_port(b: BrokerProcess) -> int:
    return urllib.parse.urlsplit(b.url).port


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.parametrize("sig,to_group", [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGTERM-supervisor", "SIGINT-process-group"])
def test_signal_drains_and_exits_0_with_slow_clients(tmp_path, sig, to_group):
    with BrokerProcess(tmp_path / "d", "--workers", "2", "--shards", "1") as b:
        port = _http_port(b)
        # an idle keep-alive connection after a completed request
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"GET /_broker/info HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        assert _read_response(idle).startswith(b"HTTP/1.1 200")
        # a slow client that sent half a request and stalls
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        # a connection that never sent a byte
        mute = socket.create_connection(("127.0.0.1", port), timeout=10)
        kms = b.client("kms")
        kms.create_key(Description="before shutdown")
        b.client("sqs").create_queue(QueueName="before-shutdown")   # SQS's gateway half drains with the shards
        t0 = time.monotonic()
        if to_group:
            os.killpg(b.pgid, sig)   # what Ctrl-C in a terminal does
        else:
            os.kill(b.pid, sig)      # what systemd does (KillMode=mixed)
        rc = b.wait_exit(12)
        elapsed = time.monotonic() - t0
        assert rc == 0, b.log_text()
        assert elapsed < 10, f"drain took {elapsed:.1f}s"
        assert not (b.data_dir / "endpoints.json").exists(), "endpoints.json removed on clean stop"
        for s in (idle, slow, mute):   # the server closed them (EOF or reset), it did not hang
            s.settimeout(5)
            try:
                assert s.recv(65536) is not None
            except ConnectionResetError:
                pass
            s.close()
        wait_for(lambda: not b._group_alive(), 5, what="every worker to exit")
        assert "Traceback" not in b.log_text(100000)


def test_sd_notify_ready_status_watchdog_stopping(tmp_path):
    short = tempfile.mkdtemp(prefix="ntf-")   # AF_UNIX paths are limited to ~107 bytes
    try:
        path = os.path.join(short, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.2)
        received: list[tuple[float, dict[str, str]]] = []
        data_dir = tmp_path / "d"

        def pump() -> None:
            try:
                while True:
                    msg = sock.recv(4096).decode()
                    fields = dict(line.split("=", 1) for line in msg.splitlines() if "=" in line)
                    fields["_endpoints_exists"] = str((data_dir / "endpoints.json").exists())
                    received.append((time.monotonic(), fields))
            except (TimeoutError, socket.timeout, BlockingIOError):
                pass

        def seen(key: str, value: str | None = None) -> list[dict]:
            pump()
            return [f for _, f in received if key in f and (value is None or f[key] == value)]

        with BrokerProcess(data_dir, "--workers", "1", "--shards", "1", wait=False,
                           env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}) as b:
            ready = wait_for(lambda: seen("READY", "1"), 30, what="READY=1")
            assert ready[0]["_endpoints_exists"] == "True", "READY=1 sent before endpoints.json existed"
            b.wait_ready(5)
            assert seen("STATUS"), "no STATUS= message"
            assert any(f.get("STATUS", "").startswith("ready") for f in seen("STATUS"))
            # WATCHDOG_USEC=2s: pings every ~1s, repeatedly
            wait_for(lambda: len(seen("WATCHDOG", "1")) >= 3, 10, what="three WATCHDOG=1 pings")
            times = [t for t, f in received if f.get("WATCHDOG") == "1"]
            gaps = [b2 - a for a, b2 in zip(times, times[1:])]
            assert all(g < 2.0 for g in gaps), f"watchdog gaps {gaps} exceed WATCHDOG_USEC"
            assert not seen("STOPPING")
            rc, elapsed = b.stop(signal.SIGTERM)
            assert rc == 0 and elapsed < 10
            wait_for(lambda: seen("STOPPING", "1"), 5, what="STOPPING=1")
            order = [k for _, f in received for k in ("READY", "STOPPING") if k in f]
            assert order.index("READY") < order.index("STOPPING")
        sock.close()
    finally:
        shutil.rmtree(short, ignore_errors=True)
