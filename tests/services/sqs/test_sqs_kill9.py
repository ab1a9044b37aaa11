"""Nothing acknowledged is lost: kill -9 every worker while client threads send, receive and
delete, then account for every message.

After recovery, every message whose SendMessage returned 200 was deleted (200), or had a
delete whose outcome the client could not know (the connection died), or is still queued.
A message whose delete returned 200 never comes back. Run at durability process and fsync;
the long form (more rounds) is marked slow.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
from botocore.config import Config

from tests.helpers.brokerproc import BrokerProcess, wait_for

VISIBILITY = 10        # > connect + read timeout of a receive plus a delete, so an acked delete beat the lease
CLIENT = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=3)


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent: set[str] = set()
        self.deleted_at: dict[str, float] = {}     # body -> when its delete returned 200
        self.delete_unknown: set[str] = set()
        self.received: dict[str, list[float]] = {}  # body -> start times of the receives that got it

    def got(self, body: str, started: float) -> None:
        with self.lock:
            self.received.setdefault(body, []).append(started)


def _sender(client, url, ledger: Ledger, stop: threading.Event, tag: str) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        body = f"{tag}-{n}-{uuid.uuid4().hex[:6]}"
        try:
            client.send_message(QueueUrl=url, MessageBody=body)
        except Exception:
            time.sleep(0.05)
            continue
        with ledger.lock:
            ledger.sent.add(body)


def _consume_once(client, url, ledger: Ledger, wait: int) -> int:
    started = time.monotonic()
    resp = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                  VisibilityTimeout=VISIBILITY)
    msgs = resp.get("Messages", [])
    for m in msgs:
        ledger.got(m["Body"], started)
    if not msgs:
        return 0
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
    try:
        out = client.delete_message_batch(QueueUrl=url, Entries=entries)
    except Exception:
        with ledger.lock:
            ledger.delete_unknown.update(m["Body"] for m in msgs)
        return len(msgs)
    now = time.monotonic()
    ok = {e["Id"] for e in out.get("Successful", [])}
    with ledger.lock:
        for i, m in enumerate(msgs):
            if str(i) in ok:
                ledger.deleted_at[m["Body"]] = now
            else:
                ledger.delete_unknown.add(m["Body"])
    return len(msgs)


def _receiver(client, url, ledger: Ledger, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            _consume_once(client, url, ledger, 1)
        except Exception:
            time.sleep(0.05)


def _kill_every_worker(b: BrokerProcess) -> None:
    old = {(p["role"], p["index"]): p["pid"] for p in b.processes() if p["role"] in ("gateway", "shard")}
    for pid in old.values():
        os.kill(pid, signal.SIGKILL)

    def all_replaced():
        doc = b.health(timeout=2.0)
        now = {(p["role"], p["index"]): p["pid"] for p in doc["processes"] if p["role"] in ("gateway", "shard")}
        return doc["status"] == "ok" and all(now.get(k) not in (None, pid) for k, pid in old.items())
    wait_for(all_replaced, 30, what=f"every worker restarted\n{b.log_text(2000)}")


def _run(tmp_path, durability: str, rounds: int, traffic_between: float) -> None:
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--durability", durability) as b:
        url = b.client("sqs").create_queue(QueueName="kill9")["QueueUrl"]
        ledger, stop = Ledger(), threading.Event()
        threads = [threading.Thread(target=_sender, args=(b.client("sqs", config=CLIENT), url, ledger, stop, f"s{i}"))
                   for i in range(2)]
        threads += [threading.Thread(target=_receiver, args=(b.client("sqs", config=CLIENT), url, ledger, stop))
                    for _ in range(2)]
        for t in threads:
            t.start()
        try:
            for _ in range(rounds):
                wait_for(lambda: len(ledger.sent) > 0, 20, what="traffic")
                deadline = time.monotonic() + traffic_between
                while time.monotonic() < deadline:
                    time.sleep(0.1)   # let the clients run (not synchronisation: the kill timing is arbitrary)
                _kill_every_worker(b)
            before = len(ledger.sent)
            wait_for(lambda: len(ledger.sent) > before, 20, what="traffic after the last restart")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        # drain: leases lost with a killed gateway come back after VISIBILITY seconds
        c = b.client("sqs")

        def drained():
            while _consume_once(c, url, ledger, 1):
                pass
            a = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
                    a["ApproximateNumberOfMessagesDelayed"]) == ("0", "0", "0")
        wait_for(drained, VISIBILITY + 20, interval=0.5, what="queue drained")

    assert len(ledger.sent) > 20, "too little traffic to say anything"
    lost = [s for s in ledger.sent if s not in ledger.deleted_at and s not in ledger.delete_unknown]
    assert not lost, f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
    came_back = [b for b, at in ledger.deleted_at.items() if any(t > at for t in ledger.received.get(b, ()))]
    assert not came_back, f"deleted messages delivered again: {came_back[:5]}"
    never_received = [s for s in ledger.sent if s not in ledger.received]
    assert not never_received


@pytest.mark.parametrize("durability", ["process", "fsync"])
def test_kill9_every_worker_loses_nothing_acknowledged(tmp_path, durability):
    _run(tmp_path, durability, rounds=2, traffic_between=2.0)


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["process", "fsync"])
def test_kill9_every_worker_soak(tmp_path, durability):
    _run(tmp_path, durability, rounds=10, traffic_between=4.0)
