"""Routing core through the real process model: exchanges owned by shards,
read copies at the edge, publishes routed at the edge into queues on every
shard, push consumers with credit, and crash/restart behaviour.

The edge here runs in the test process with the same code gateways run
(broker.runtime.edge.EdgeRouter over broker.runtime.cluster.Cluster),
talking IPC to the server's real shard processes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import os
import uuid
from pathlib import Path

import pytest

from broker.core.partition import partition_of
from broker.runtime.cluster import Cluster
from broker.runtime.edge import EdgeRouter, NoSuchExchange
from broker.runtime.routing import queue_key
from broker.runtime.runinfo import RunInfo
from tests.helpers.brokerproc import BrokerProcess

NS = "test-vhost"


def _run_info(proc: BrokerProcess) -> RunInfo:
    return RunInfo.load(Path(proc.data_dir) / "run" / "run.json")


async def _edge(proc: BrokerProcess) -> tuple[Cluster, EdgeRouter]:
    cluster = Cluster(_run_info(proc))
    edge = EdgeRouter(cluster)
    cluster.start()
    await cluster.wait_ready(30)
    return cluster, edge


def _queues_on_both_shards(run: RunInfo, n: int, prefix: str) -> list[str]:
    names, shards = [], set()
    i = 0
    while len(names) < n or len(shards) < min(2, run.shards):
        name = f"{prefix}-{i}"
        i += 1
        names.append(name)
        shards.add(partition_of(queue_key(NS, name), run.partitions) % run.shards)
    return names


async def _drain(cluster: Cluster, name: str) -> list[str]:
    key = queue_key(NS, name)
    ids = []
    while True:
        rows = await cluster.call(key, "core.Receive", {"k": key, "max": 500, "lease_ms": 60000})
        if not rows:
            return ids
        for seq, lease, payload, rc, msg_id in rows:
            ids.append(msg_id)
            await cluster.call(key, "core.Delete", {"k": key, "seq": seq})


@pytest.fixture
def proc(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "2") as p:
        yield p


def test_fanout_and_topic_routing_across_shards(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            run = _run_info(proc)
            queues = _queues_on_both_shards(run, 6, "fq")
            await edge.declare_exchange(NS, "fan", "fanout")
            await edge.declare_exchange(NS, "top", "topic")
            for q in queues:
                await edge.declare_queue(NS, q)
                assert await edge.bind(NS, "fan", "", ("queue", q)) is True
            assert await edge.bind(NS, "fan", "", ("queue", queues[0])) is False   # idempotent
            await edge.bind(NS, "top", "orders.*", ("queue", queues[0]))
            await edge.bind(NS, "top", "orders.#", ("queue", queues[1]))
            await edge.bind(NS, "top", "#.eu", ("queue", queues[2]))
            n, _ = await edge.publish(NS, "fan", "", b"hello", msg_id="m1")
            assert n == len(queues)
            n, _ = await edge.publish(NS, "top", "orders.new.eu", b"x", msg_id="m2")
            assert n == 2   # orders.# and #.eu, not orders.*
            for i, q in enumerate(queues):
                got = await _drain(cluster, q)
                expected = ["m1"] + (["m2"] if i in (1, 2) else [])
                assert sorted(got) == sorted(expected), q
            with pytest.raises(NoSuchExchange):
                edge.route(NS, "missing")
        finally:
            cluster.close()
    asyncio.run(main())


def test_binding_visible_at_every_edge_before_confirmed(proc):
    async def main():
        c1, e1 = await _edge(proc)
        c2, e2 = await _edge(proc)     # a second edge: another gateway's read copy
        try:
            await e1.declare_exchange(NS, "direct-x", "direct")
            await e1.declare_queue(NS, "dq")
            for i in range(50):
                await e1.bind(NS, "direct-x", f"k{i}", ("queue", "dq"))
                # no await between the confirmation and the check: already applied
                assert ("queue", "dq") in e2.route(NS, "direct-x", f"k{i}")
                assert ("queue", "dq") in e1.route(NS, "direct-x", f"k{i}")
            await e2.unbind(NS, "direct-x", "k0", ("queue", "dq"))
            assert e1.route(NS, "direct-x", "k0") == set()
            # the gateway process's copy routes too (its own subscription)
        finally:
            c1.close()
            c2.close()
    asyncio.run(main())


def test_exchange_to_exchange_cycle_and_headers(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            await edge.declare_exchange(NS, "a", "fanout")
            await edge.declare_exchange(NS, "b", "fanout")
            await edge.declare_exchange(NS, "h", "headers")
            await edge.bind(NS, "a", "", ("exchange", "b"))
            await edge.bind(NS, "b", "", ("exchange", "a"))       # a cycle
            await edge.bind(NS, "b", "", ("queue", "cyc"))
            await edge.declare_queue(NS, "cyc")
            await edge.declare_queue(NS, "hq")
            await edge.bind(NS, "h", {"x-match": "all", "type": "report", "format": "pdf"}, ("queue", "hq"))
            n, _ = await edge.publish(NS, "a", "", b"once", msg_id="c1")
            assert n == 1
            assert await _drain(cluster, "cyc") == ["c1"]
            assert edge.route(NS, "h", "", {"type": "report", "format": "pdf", "x": 1}) == {("queue", "hq")}
            assert edge.route(NS, "h", "", {"type": "report"}) == set()
        finally:
            cluster.close()
    asyncio.run(main())


def test_push_consumer_with_credit_and_requeue(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            await edge.declare_exchange(NS, "px", "direct")
            await edge.declare_queue(NS, "pq")
            await edge.bind(NS, "px", "k", ("queue", "pq"))
            got: list = []
            arrived = asyncio.Event()

            def on_delivery(key, seq, body, redelivered, msg_id):
                got.append((seq, body, redelivered))
                arrived.set()
            await edge.consume(NS, "pq", "ctag", 2, on_delivery)
            for i in range(5):
                await edge.publish(NS, "px", "k", b"m%d" % i, msg_id=f"p{i}")

            async def wait_count(n):
                while len(got) < n:
                    arrived.clear()
                    await asyncio.wait_for(arrived.wait(), 5)
            await wait_count(2)
            await asyncio.sleep(0.2)
            assert len(got) == 2            # credit 2: no more until acked
            key = queue_key(NS, "pq")
            await cluster.call(key, "core.Ack", {"k": key, "seq": got[0][0]})
            await wait_count(3)
            # nack with requeue: redelivered flag set on the next delivery
            await cluster.call(key, "core.Nack", {"k": key, "seq": got[1][0], "requeue": True})
            await wait_count(4)
            assert got[3][1] == got[1][1] and got[3][2] is True
            counts = await cluster.call(key, "core.Counts", {"k": key})
            assert counts["inflight"] == 2
        finally:
            cluster.close()
    asyncio.run(main())


def test_acknowledged_publishes_survive_shard_kill_mid_stream(proc):
    """kill -9 a shard while publishing: every acknowledged publish is in every queue."""
    async def main():
        cluster, edge = await _edge(proc)
        try:
            run = _run_info(proc)
            queues = _queues_on_both_shards(run, 4, "kq")
            await edge.declare_exchange(NS, "kill-fan", "fanout")
            for q in queues:
                await edge.declare_queue(NS, q)
                await edge.bind(NS, "kill-fan", "", ("queue", q))
            acked: list[str] = []

            async def publisher():
                for i in range(600):
                    mid = f"k{i}"
                    await edge.publish(NS, "kill-fan", "", b"payload-%d" % i, msg_id=mid)
                    acked.append(mid)

            task = asyncio.create_task(publisher())
            while len(acked) < 150:
                await asyncio.sleep(0.005)
            victim = proc.pids("shard")[1]
            os.kill(victim, signal.SIGKILL)
            await asyncio.wait_for(task, 60)
            assert len(acked) == 600
            shard1 = next(p for p in proc.health()["processes"] if p["role"] == "shard" and p["index"] == 1)
            assert shard1["restarts"] >= 1 and shard1["pid"] != victim
            for q in queues:
                ids = set(await _drain(cluster, q))
                missing = [m for m in acked if m not in ids]
                assert not missing, (q, missing[:5])
        finally:
            cluster.close()
    asyncio.run(main())


def test_bindings_and_messages_survive_full_restart(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "2") as proc:
        async def setup():
            cluster, edge = await _edge(proc)
            try:
                await edge.declare_exchange(NS, "persist", "topic")
                await edge.declare_queue(NS, "pq1", {"lease_ms": 500})
                await edge.bind(NS, "persist", "a.*", ("queue", "pq1"))
                await edge.publish(NS, "persist", "a.b", b"one", msg_id="r1")
                await edge.publish(NS, "persist", "a.c", b"two", msg_id="r2")
                key = queue_key(NS, "pq1")
                rows = await cluster.call(key, "core.Receive", {"k": key, "max": 1, "lease_ms": 1500})
                assert [r[4] for r in rows] == ["r1"]   # leased across the restart
            finally:
                cluster.close()
        asyncio.run(setup())
        pgid = proc.pgid
        os.killpg(pgid, signal.SIGKILL)
        proc.proc.wait()
        proc.restart("--shards", "1")          # another K: partitions move, data stays

        async def check():
            cluster, edge = await _edge(proc)
            try:
                assert edge.route(NS, "persist", "a.z") == {("queue", "pq1")}
                key = queue_key(NS, "pq1")
                counts = await cluster.call(key, "core.Counts", {"k": key})
                assert counts["visible"] + counts["inflight"] == 2
                # the lease still holds, then expires: late, never lost
                ids = set()
                deadline = asyncio.get_running_loop().time() + 10
                while len(ids) < 2 and asyncio.get_running_loop().time() < deadline:
                    for r in await cluster.call(key, "core.Receive", {"k": key, "max": 10, "lease_ms": 60000}):
                        ids.add(r[4])
                    await asyncio.sleep(0.05)
                assert ids == {"r1", "r2"}
            finally:
                cluster.close()
        asyncio.run(check())


def test_durable_timer_fires_after_restart_late_never_lost(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "2") as proc:
        async def setup():
            cluster, edge = await _edge(proc)
            try:
                await edge.declare_queue(NS, "timed")
                key = queue_key(NS, "timed")
                import time as _t
                due = int(_t.time() * 1000) + 1500
                # the timer lives in another key's partition than the queue, on purpose
                await cluster.call("timer-owner", "core.TimerSchedule", {
                    "id": "t1", "due": due, "kind": "core.enqueue",
                    "data": {"k": key, "m": [[b"scheduled", 9, "sched-1", {}]]}})
            finally:
                cluster.close()
        asyncio.run(setup())
        os.killpg(proc.pgid, signal.SIGKILL)      # down before it is due
        proc.proc.wait()
        import time as _t
        _t.sleep(2.0)                            # the due time passes while down (the subject of the test)
        proc.restart()

        async def check():
            cluster, _edge_ = await _edge(proc)
            try:
                deadline = asyncio.get_running_loop().time() + 10
                ids = []
                while not ids and asyncio.get_running_loop().time() < deadline:
                    ids = await _drain(cluster, "timed")
                    await asyncio.sleep(0.05)
                assert ids == ["sched-1"]
            finally:
                cluster.close()
        asyncio.run(check())


def test_namespaces_isolate_entities_completely(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            for ns in ("broker-a/vhost", "broker-b/vhost"):
                await edge.declare_exchange(ns, "same", "direct")
                await edge.declare_queue(ns, "same-q")
            await edge.bind("broker-a/vhost", "same", "k", ("queue", "same-q"))
            assert edge.route("broker-b/vhost", "same", "k") == set()
            n, _ = await edge.publish("broker-a/vhost", "same", "k", b"only-a", msg_id="a1")
            assert n == 1
            for ns, expected in (("broker-a/vhost", 1), ("broker-b/vhost", 0)):
                key = queue_key(ns, "same-q")
                counts = await cluster.call(key, "core.Counts", {"k": key})
                assert counts["visible"] == expected
            # a different kind under the same name in another namespace is fine
            await edge.declare_exchange("broker-c/vhost", "same", "fanout")
        finally:
            cluster.close()
    asyncio.run(main())


def _other_partition_name(run: RunInfo, base_key: str, prefix: str) -> str:
    p0 = partition_of(base_key, run.partitions)
    i = 0
    while partition_of(queue_key(NS, f"{prefix}-{i}"), run.partitions) == p0:
        i += 1
    return f"{prefix}-{i}"


def test_dead_lettering_after_n_receives_reject_and_ttl(proc):
    async def main():
        cluster, edge = await _edge(proc)
        try:
            run = _run_info(proc)
            src = "dl-src"
            dlq = _other_partition_name(run, queue_key(NS, src), "dl-target")   # cross-partition DLQ
            await edge.declare_queue(NS, dlq)
            await edge.declare_queue(NS, src, {"max_receives": 2, "dlq": dlq})
            key = queue_key(NS, src)
            await cluster.call(key, "core.Enqueue", {"k": key, "m": [[b"poison", 6, "d1", None]]})
            for _ in range(2):   # received twice, lease expires at once each time
                rows = await cluster.call(key, "core.Receive", {"k": key, "max": 1, "lease_ms": 0})
                assert [r[4] for r in rows] == ["d1"]
            # the third receive finds it over the limit: moved, not delivered
            assert await cluster.call(key, "core.Receive", {"k": key, "max": 1, "lease_ms": 0}) == []

            async def dlq_ids():
                deadline = asyncio.get_running_loop().time() + 10
                while asyncio.get_running_loop().time() < deadline:
                    ids = await _drain(cluster, dlq)
                    if ids:
                        return ids
                    await asyncio.sleep(0.05)
                return []
            assert await dlq_ids() == ["d1"]
            # a push consumer's reject without requeue also dead-letters
            await edge.declare_queue(NS, "rej-src", {"dlq": dlq})
            rkey = queue_key(NS, "rej-src")
            got = asyncio.get_running_loop().create_future()
            await edge.consume(NS, "rej-src", "c1", 1,
                               lambda k, seq, body, red, mid: got.done() or got.set_result(seq))
            await cluster.call(rkey, "core.Enqueue", {"k": rkey, "m": [[b"bad", 3, "r1", None]]})
            seq = await asyncio.wait_for(got, 5)
            await cluster.call(rkey, "core.Nack", {"k": rkey, "seq": seq, "requeue": False})
            assert await dlq_ids() == ["r1"]
            # TTL expiry dead-letters too (AMQP x-message-ttl with a DLX)
            await edge.declare_queue(NS, "ttl-src", {"retention_ms": 200, "dlq": dlq})
            tkey = queue_key(NS, "ttl-src")
            await cluster.call(tkey, "core.Enqueue", {"k": tkey, "m": [[b"old", 3, "t1", None]]})
            assert await dlq_ids() == ["t1"]
        finally:
            cluster.close()
    asyncio.run(main())


def test_fifo_groups_dedup_window_and_leases_survive_restart(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "2") as proc:
        key = queue_key(NS, "fifo-r")

        async def setup():
            cluster, edge = await _edge(proc)
            try:
                await edge.declare_queue(NS, "fifo-r", {"fifo": True, "dedup_window_ms": 300000})
                msgs = [[b"a1", 2, "a1", {"group": "A", "dedup": "x1"}],
                        [b"a2", 2, "a2", {"group": "A", "dedup": "x2"}],
                        [b"b1", 2, "b1", {"group": "B", "dedup": "x3"}]]
                assert await cluster.call(key, "core.Enqueue", {"k": key, "m": msgs}) == ["ok"] * 3
                rows = await cluster.call(key, "core.Receive", {"k": key, "max": 1, "lease_ms": 60000})
                assert [r[4] for r in rows] == ["a1"]        # group A now locked by a lease
            finally:
                cluster.close()
        asyncio.run(setup())
        os.killpg(proc.pgid, signal.SIGKILL)
        proc.proc.wait()
        proc.restart()

        async def check():
            cluster, edge = await _edge(proc)
            try:
                again = await cluster.call(key, "core.Enqueue", {"k": key, "m": [[b"dup", 3, "d", {"group": "A",
                                                                                               "dedup": "x1"}]]})
                assert again == ["duplicate"]                 # the dedup window survived
                counts = await cluster.call(key, "core.Counts", {"k": key})
                assert (counts["visible"], counts["inflight"]) == (2, 1)
                rows = await cluster.call(key, "core.Receive", {"k": key, "max": 10, "lease_ms": 60000})
                assert [r[4] for r in rows] == ["b1"]         # A is still locked by a1's lease
            finally:
                cluster.close()
        asyncio.run(check())


def test_queue_options_through_the_shard(proc):
    """Delay, priority, max length (reject-publish and drop-head), purge and counts,
    sink destinations, all through IPC to a real shard."""
    async def main():
        cluster, edge = await _edge(proc)
        try:
            def q(name):
                return queue_key(NS, name)

            async def enqueue(name, *entries):
                return await cluster.call(q(name), "core.Enqueue", {"k": q(name), "m": list(entries)})

            async def counts(name):
                return await cluster.call(q(name), "core.Counts", {"k": q(name)})
            # delay: counted as delayed, then visible
            await edge.declare_queue(NS, "opt-delay")
            await enqueue("opt-delay", [b"later", 5, "l1", {"delay_ms": 300}], [b"now", 3, "n1", None])
            c = await counts("opt-delay")
            assert (c["visible"], c["delayed"]) == (1, 1)
            deadline = asyncio.get_running_loop().time() + 5
            while (await counts("opt-delay"))["delayed"] and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            assert sorted(await _drain(cluster, "opt-delay")) == ["l1", "n1"]
            # priority: higher first, then publication order
            await edge.declare_queue(NS, "opt-prio", {"max_priority": 9})
            await enqueue("opt-prio", [b"a", 1, "low", {"priority": 1}], [b"b", 1, "high", {"priority": 9}],
                          [b"c", 1, "mid", {"priority": 5}])
            rows = await cluster.call(q("opt-prio"), "core.Receive", {"k": q("opt-prio"), "max": 3})
            assert [r[4] for r in rows] == ["high", "mid", "low"]
            # max length, reject-publish
            await edge.declare_queue(NS, "opt-rej", {"max_length": 2, "overflow": "reject-publish"})
            assert await enqueue("opt-rej", [b"1", 1, "r1", None], [b"2", 1, "r2", None],
                                 [b"3", 1, "r3", None]) == ["ok", "ok", "rejected"]
            # max length, drop-head (the dropped head goes to the dead-letter queue)
            await edge.declare_queue(NS, "opt-dropped")
            await edge.declare_queue(NS, "opt-head", {"max_length": 2, "dlq": "opt-dropped"})
            await enqueue("opt-head", [b"1", 1, "h1", None], [b"2", 1, "h2", None], [b"3", 1, "h3", None])
            assert sorted(await _drain(cluster, "opt-head")) == ["h2", "h3"]
            assert await _drain(cluster, "opt-dropped") == ["h1"]
            # purge keeps in-flight messages unless asked
            await edge.declare_queue(NS, "opt-purge")
            await enqueue("opt-purge", *[[b"x", 1, f"p{i}", None] for i in range(4)])
            await cluster.call(q("opt-purge"), "core.Receive", {"k": q("opt-purge"), "max": 1, "lease_ms": 60000})
            assert await cluster.call(q("opt-purge"), "core.Purge", {"k": q("opt-purge")}) == 3
            c = await counts("opt-purge")
            assert (c["visible"], c["inflight"], c["delayed"]) == (0, 1, 0)
            # a binding to a sink: the publish names it for the caller to deliver
            await edge.declare_exchange(NS, "sinky", "fanout")
            await edge.bind(NS, "sinky", "", ("sink", "http-endpoint-1"))
            await edge.bind(NS, "sinky", "", ("queue", "opt-purge"))
            n, sinks = await edge.publish(NS, "sinky", "", b"s", msg_id="s1")
            assert n == 1 and sinks == [("sink", "http-endpoint-1")]
        finally:
            cluster.close()
    asyncio.run(main())
