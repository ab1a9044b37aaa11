"""Long-lived connections clean up after themselves (real shard processes).

- a client that vanishes mid long-poll leaves no waiter: the next message is
  not leased to nobody;
- push consumers: tags scoped per gateway connection, re-registered after a
  shard restart, removed (deliveries requeued as redelivered) when their
  gateway is killed, blocked while their gateway cannot keep up;
- deleting a queue removes its bindings everywhere; reset clears the
  gateways' read copies.

The "gateway" holding consumers is the same edge code gateways run
(broker.runtime.edge.EdgeRouter), in this process or in a subprocess that
is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from broker.runtime.cluster import Cluster
from broker.runtime.edge import EdgeRouter
from broker.runtime.routing import queue_key
from broker.runtime.runinfo import RunInfo
from tests.helpers.brokerproc import BrokerProcess, wait_for

NS = "lifecycle"
ROOT = Path(__file__).resolve().parents[2]


def _run_info(proc: BrokerProcess) -> RunInfo:
    return RunInfo.load(Path(proc.data_dir) / "run" / "run.json")


async def _edge(proc: BrokerProcess, owner: str | None = None) -> tuple[Cluster, EdgeRouter]:
    cluster = Cluster(_run_info(proc))
    edge = EdgeRouter(cluster, owner)
    cluster.start()
    await cluster.wait_ready(30)
    return cluster, edge


async def _until(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


@pytest.fixture
def proc(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "2") as p:
        yield p


def test_client_gone_mid_long_poll_leaves_no_waiter(proc):
    sqs = proc.client("sqs")
    url = sqs.create_queue(QueueName="lp-gone", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    host, port = proc.url.split("//")[1].split(":")
    body = f"Action=ReceiveMessage&QueueUrl={url}&WaitTimeSeconds=20&Version=2012-11-05".encode()
    s = socket.create_connection((host, int(port)))
    s.sendall(b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Authorization: AWS4-HMAC-SHA256 Credential=AKIDTESTTESTTESTTEST/20200101/us-east-1/sqs/aws4_request,"
              b" SignedHeaders=host, Signature=00\r\n"
              b"X-Amz-Date: 20200101T000000Z\r\nContent-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body))
    time.sleep(0.5)          # the long poll is parked at the shard
    s.close()                # the client vanishes
    time.sleep(0.3)
    sqs.send_message(QueueUrl=url, MessageBody="for a live receiver")
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["for a live receiver"]


def test_consumer_tags_are_scoped_per_connection(proc):
    async def main():
        c1, e1 = await _edge(proc, "gw-a")
        c2, e2 = await _edge(proc, "gw-b")
        try:
            await e1.declare_queue(NS, "tags")
            got = {"a1": [], "a2": [], "b": []}
            conn_a1, conn_a2 = e1.new_connection_id(), e1.new_connection_id()
            await e1.consume(NS, "tags", "ctag", None, lambda *m: got["a1"].append(m), conn_id=conn_a1)
            await e1.consume(NS, "tags", "ctag", None, lambda *m: got["a2"].append(m), conn_id=conn_a2)
            await e2.consume(NS, "tags", "ctag", None, lambda *m: got["b"].append(m), conn_id=1)
            with pytest.raises(Exception) as exc:
                await e1.consume(NS, "tags", "ctag", None, lambda *m: None, conn_id=conn_a1)
            assert "reuse consumer tag" in str(exc.value)
            key = queue_key(NS, "tags")
            await c1.call(key, "core.Enqueue", {"k": key, "m": [[b"x%d" % i, 2, f"m{i}", {}] for i in range(9)]})
            await _until(lambda: sum(len(v) for v in got.values()) == 9)
            assert all(len(v) == 3 for v in got.values())     # round robin over three consumers
        finally:
            c1.close()
            c2.close()
    asyncio.run(main())


_GATEWAY_STANDIN = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from broker.runtime.cluster import Cluster
    from broker.runtime.edge import EdgeRouter
    from broker.runtime.runinfo import RunInfo

    async def main():
        cluster = Cluster(RunInfo.load({run!r}))
        edge = EdgeRouter(cluster, "doomed")
        cluster.start()
        await cluster.wait_ready(30)
        got = []
        def on_delivery(key, seq, body, redelivered, msg_id):
            got.append(msg_id)
            if len(got) == 5:
                print("holding", ",".join(got), flush=True)
        await edge.consume({ns!r}, "held", "c", 5, on_delivery, conn_id=1)
        await asyncio.sleep(3600)
    asyncio.run(main())
""")


def test_gateway_killed_with_consumer_attached_requeues_its_deliveries(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            await edge.declare_queue(NS, "held")
            key = queue_key(NS, "held")
            await cluster.call(key, "core.Enqueue", {"k": key, "m": [[b"b%d" % i, 2, f"h{i}", {}] for i in range(8)]})
            script = _GATEWAY_STANDIN.format(root=str(ROOT), run=str(Path(proc.data_dir) / "run" / "run.json"),
                                             ns=NS)
            child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            try:
                line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 30)
                held = line.split()[1].split(",")
                assert held == [f"h{i}" for i in range(5)]
                counts = await cluster.call(key, "core.Counts", {"k": key})
                assert counts["inflight"] == 5
                os.kill(child.pid, signal.SIGKILL)
            finally:
                child.kill()
                child.wait()

            async def requeued():
                c = await cluster.call(key, "core.Counts", {"k": key})
                return c["inflight"] == 0 and c["visible"] == 8
            await _until(requeued, what="deliveries of the killed gateway requeued")
            got = []
            await edge.consume(NS, "held", "c", None, lambda k, s, b, r, m: got.append((m, r)), conn_id=7)
            await _until(lambda: len(got) == 8)
            # requeued at their original positions, flagged as redelivered
            assert [m for m, _ in got] == [f"h{i}" for i in range(8)]
            assert [r for _, r in got] == [True] * 5 + [False] * 3
        finally:
            cluster.close()
    asyncio.run(main())


def test_consumer_reregistered_after_shard_restart(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            await edge.declare_queue(NS, "survivor")
            key = queue_key(NS, "survivor")
            shard = cluster.partition(key) % cluster.shards
            got = []
            await edge.consume(NS, "survivor", "c", None, lambda k, s, b, r, m: got.append(m), conn_id=1)
            await cluster.call(key, "core.Enqueue", {"k": key, "m": [[b"1", 1, "before", {}]]})
            await _until(lambda: got == ["before"])
            victim = proc.pids("shard")[shard]
            os.kill(victim, signal.SIGKILL)
            await asyncio.to_thread(proc.wait_healthy, 30)
            await cluster.call(key, "core.Enqueue", {"k": key, "m": [[b"2", 1, "after", {}]]})
            # the unacked "before" comes again (requeued by the restart), then "after"
            await _until(lambda: "after" in got, what="delivery after the shard restart")
            assert got[1:] == ["before", "after"]
        finally:
            cluster.close()
    asyncio.run(main())


def test_deleting_a_queue_removes_its_bindings_everywhere(proc):
    async def main():
        cluster, edge = await _edge(proc)
        c2, edge2 = await _edge(proc, "other-gateway")
        try:
            await edge.declare_exchange(NS, "fan-del", "fanout")
            for q in ("keep", "gone"):
                await edge.declare_queue(NS, q)
                await edge.bind(NS, "fan-del", "", ("queue", q))
            cancelled = asyncio.Event()
            await edge2.consume(NS, "gone", "c", None, lambda *a: None, conn_id=1, on_cancel=cancelled.set)
            key = queue_key(NS, "gone")
            await cluster.call(key, "core.QueueDelete", {"k": key})
            await asyncio.wait_for(cancelled.wait(), 5)
            for e in (edge, edge2):     # both read copies lost the binding before the delete answered
                assert e.route(NS, "fan-del") == {("queue", "keep")}
            reached, _ = await edge.publish(NS, "fan-del", "", b"after delete", msg_id="ad")
            assert reached == 1
        finally:
            cluster.close()
            c2.close()
    asyncio.run(main())


def test_slow_gateway_blocks_pushes_instead_of_buffering(proc):
    async def main():
        cluster, edge = await _edge(proc)
        pub, _ = await _edge(proc, "publisher")
        try:
            await edge.declare_queue(NS, "slow")
            key = queue_key(NS, "slow")
            link = cluster.links[cluster.partition(key) % cluster.shards]
            got = []
            await edge.consume(NS, "slow", "c", None, lambda k, s, b, r, m: got.append(s), conn_id=1)
            link.conn.transport.pause_reading()          # this gateway stops reading its shard
            body = b"x" * 4096
            total = 3000                                # 12 MB: far more than socket buffers hold
            for i in range(0, total, 100):
                await pub.call(key, "core.Enqueue", {"k": key, "m": [[body, len(body), f"s{j}", {}]
                                                                      for j in range(i, i + 100)]})
            counts = await pub.call(key, "core.Counts", {"k": key})
            # pushes stopped at the socket's high-water mark; the rest waits in the queue
            assert counts["inflight"] < 1000, counts
            assert counts["visible"] > total - 1000, counts
            link.conn.transport.resume_reading()
            await _until(lambda: len(got) == total, 60, "every message once the gateway reads again")
            assert len(set(got)) == total
        finally:
            cluster.close()
            pub.close()
    asyncio.run(main())


def test_reset_clears_gateway_read_copies(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            await edge.declare_exchange(NS, "rx", "direct")
            await edge.declare_queue(NS, "rq")
            await edge.bind(NS, "rx", "k", ("queue", "rq"))
            assert edge.route(NS, "rx", "k") == {("queue", "rq")}
            import urllib.request
            req = urllib.request.Request(proc.url + "/_broker/reset", method="POST", data=b"")
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 200
            await edge.declare_exchange(NS, "rx", "direct")
            assert edge.route(NS, "rx", "k") == set()
        finally:
            cluster.close()
    asyncio.run(main())
