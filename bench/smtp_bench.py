"""SES SMTP submission throughput: smtplib over STARTTLS + AUTH, 1 and 8
connections, against a bare aiosmtpd sink measured in the same run.

Our server answers ``250 Ok <MessageId>`` only after the mail is in the
mailbox (group-committed SQLite, AES-256-GCM encrypted at rest), with the
send checks, statistics and event deliveries SES does; the sink is aiosmtpd
with the same STARTTLS/AUTH handshake and a DATA hook that stores nothing.

Prints JSON. Run: python bench/smtp_bench.py [--seconds 5] [--workers 1 --shards 1] [--size 2048]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import smtplib
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from _common import Broker, boto_client, emit, free_port

SENDER = "bench@bench.example.com"


def message(size: int) -> bytes:
    head = f"From: {SENDER}\r\nTo: user@example.org\r\nSubject: bench\r\nMIME-Version: 1.0\r\n\r\n"
    line = "x" * 76 + "\r\n"
    return (head + line * max(1, size // len(line))).encode()


def _client(host: str, port: int, cafile: str, seconds: float, msg: bytes, out, start) -> None:
    ctx = ssl.create_default_context(cafile=cafile)
    s = smtplib.SMTP(host, port, timeout=30)
    s.starttls(context=ctx)
    s.login("AKIDBENCH", "bench-password")
    start.wait()
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendmail(SENDER, ["user@example.org"], msg)
        n += 1
    s.quit()
    out.put(n)


def rate(host: str, port: int, cafile: str, seconds: float, conns: int, msg: bytes) -> float:
    q, start = mp.Queue(), mp.Event()
    ps = [mp.Process(target=_client, args=(host, port, cafile, seconds, msg, q, start)) for _ in range(conns)]
    for p in ps:
        p.start()
    time.sleep(0.5)            # let every client finish its TLS handshake and AUTH first
    start.set()
    total = sum(q.get(timeout=seconds + 60) for _ in ps)
    for p in ps:
        p.join()
    return total / seconds


def _sink(port: int, cert: str, key: str, ready) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    c = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                   authenticator=lambda *a: AuthResult(success=True), auth_require_tls=True,
                   data_size_limit=50 * 1024 * 1024)
    c.start()
    ready.set()
    while True:
        time.sleep(3600)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    ap.add_argument("--size", type=int, default=2048, help="approximate message size in bytes")
    a = ap.parse_args()
    msg = message(a.size)
    broker = Broker("--workers", a.workers, "--shards", a.shards)
    sink = None
    try:
        boto_client("ses", broker.url).verify_email_identity(EmailAddress=SENDER)
        tls = Path(broker.dir) / "data" / "tls"
        cafile = str(tls / "ca.pem")
        u = urlsplit(broker.endpoints["smtp"])
        port = free_port()
        ready = mp.Event()
        sink = mp.Process(target=_sink, args=(port, str(tls / "server.pem"), str(tls / "server-key.pem"), ready),
                          daemon=True)
        sink.start()
        if not ready.wait(30):
            raise RuntimeError("the aiosmtpd sink did not start")
        results = {}
        for conns in (1, 8):
            ours = rate(u.hostname, u.port, cafile, a.seconds, conns, msg)
            base = rate("127.0.0.1", port, cafile, a.seconds, conns, msg)
            results[f"{conns}_connection{'s' if conns > 1 else ''}"] = {
                "broker_msgs_per_s": round(ours, 1), "aiosmtpd_sink_msgs_per_s": round(base, 1),
                "ratio": round(ours / base, 3) if base else None}
        emit({"bench": "smtp_submission_starttls", "seconds": a.seconds, "message_bytes": len(msg),
              "workers": a.workers, "shards": a.shards, "durability": "process", **results,
              "note": "broker: each 250 after the mail is group-committed to the partition store, encrypted "
                      "(AES-256-GCM), with SES's checks, statistics and events; sink: aiosmtpd answering 250 "
                      "and storing nothing"})
    finally:
        if sink is not None:
            sink.kill()
        broker.close()


if __name__ == "__main__":
    main()
