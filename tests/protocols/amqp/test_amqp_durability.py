"""Own servers: confirmed publishes survive kill -9 of a shard and of the
whole server; durable entities survive a restart, transient ones do not;
publishers are blocked (connection.blocked) under a resource alarm (disk, memory)
and unblocked when it clears."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from broker.core.partition import partition_of
from broker.runtime.routing import queue_key
from broker.runtime.runinfo import RunInfo
from services.mq.realm import namespace
from tests.helpers.brokerproc import BrokerProcess, wait_for


def _conn(proc) -> pika.BlockingConnection:
    port = int(proc.endpoints["amqp"].rsplit(":", 1)[1])
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0,
                                                             blocked_connection_timeout=30))


def _shard_of(proc, queue: str) -> int:
    run = RunInfo.load(Path(proc.data_dir) / "run" / "run.json")
    return partition_of(queue_key(namespace("default", "/"), queue), run.partitions) % run.shards


def _drain(ch, queue: str) -> list[bytes]:
    """Every body left in the queue (basic.get until empty, acknowledged)."""
    out = []
    while True:
        m = ch.basic_get(queue, auto_ack=True)
        if m[0] is None:
            return out
        out.append(m[2])


def _in_distinct_partitions(run, prefix: str, n: int) -> list[str]:
    """n queue names `<prefix><i>`, each in its own partition."""
    names, parts = [], set()
    for i in range(n * 50):
        p = partition_of(queue_key(namespace("default", "/"), f"{prefix}{i}"), run.partitions)
        if p not in parts:
            parts.add(p)
            names.append(f"{prefix}{i}")
            if len(names) == n:
                return names
    raise AssertionError(f"no {n} queues in distinct partitions")


def test_confirmed_publishes_survive_shard_kill_and_full_restart(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "2") as proc:
        conn = _conn(proc)
        ch = conn.channel()
        ch.exchange_declare("orders-x", "fanout", durable=True)
        ch.queue_declare("orders", durable=True)
        ch.queue_bind("orders", "orders-x")
        ch.queue_declare("scratch", durable=False)
        conn.close()
        confirmed: list[int] = []
        stop = threading.Event()
        errors = []

        def publish():
            try:
                c = _conn(proc)
                pch = c.channel()
                pch.confirm_delivery()
                i = 0
                while not stop.is_set() and i < 600:
                    pch.basic_publish("orders-x", "", b"%d" % i, pika.BasicProperties(delivery_mode=2))
                    confirmed.append(i)
                    i += 1
                c.close()
            except Exception as exc:      # noqa: BLE001 - reported below
                errors.append(exc)
        t = threading.Thread(target=publish)
        t.start()
        wait_for(lambda: len(confirmed) >= 100, 30, what="first confirms")
        proc.kill_worker("shard", _shard_of(proc, "orders"))
        wait_for(lambda: len(confirmed) >= 300 or not t.is_alive(), 60, what="confirms after the shard restart")
        stop.set()
        t.join(60)
        assert not errors, errors
        done = list(confirmed)
        c = _conn(proc)
        tch = c.channel()
        tch.queue_declare("kept-transient", durable=True)
        tch.confirm_delivery()             # unlike RabbitMQ's classic queues, kept (see README)
        tch.basic_publish("", "kept-transient", b"delivery mode 1", pika.BasicProperties(delivery_mode=1))
        c.close()
        proc.kill_all()                    # kill -9 of everything, then a cold start
        proc.restart()
        conn = _conn(proc)
        ch = conn.channel()
        ch.exchange_declare("orders-x", "fanout", passive=True)
        assert ch.queue_declare("orders", passive=True).method.message_count >= len(done)
        seen = set()
        while True:
            m = ch.basic_get("orders", auto_ack=True)
            if m[0] is None:
                break
            seen.add(int(m[2]))
        assert set(done) <= seen
        assert ch.basic_get("kept-transient", auto_ack=True)[2] == b"delivery mode 1"
        with pytest.raises(ChannelClosedByBroker) as exc:
            ch.queue_declare("scratch", passive=True)
        assert exc.value.reply_code == 404
        # the binding survived too
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("orders-x", "", b"after")
        assert ch.basic_get("orders", auto_ack=True)[2] == b"after"
        conn.close()


def test_fsync_confirms_from_queues_in_several_partitions_survive_kill9(tmp_path):
    """At "fsync" a tick touching several partitions commits them and syncs their logs
    together (fdatasyncs run by the kernel, Linux AIO, while the loop goes on; syncfs
    where AIO is missing); confirms wait for that sync, and every confirmed message is
    there after kill -9 of the shard and of everything."""
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", "--single-worker", "false",
                       "--durability", "fsync") as proc:   # the shard is killed alone
        run = RunInfo.load(Path(proc.data_dir) / "run" / "run.json")
        names = _in_distinct_partitions(run, "fs-", 4)
        confirmed = {q: [] for q in names}
        errors, stop = [], threading.Event()

        def publish(q):
            try:
                c = _conn(proc)
                pch = c.channel()
                pch.queue_declare(q, durable=True)
                pch.confirm_delivery()
                i = 0
                while not stop.is_set() and i < 400:
                    try:
                        pch.basic_publish("", q, b"%d" % i, pika.BasicProperties(delivery_mode=2))
                    except Exception:            # noqa: BLE001 - the shard died under it: go on
                        c = _conn(proc)
                        pch = c.channel()
                        pch.confirm_delivery()
                        continue
                    confirmed[q].append(i)
                    i += 1
                c.close()
            except Exception as exc:      # noqa: BLE001 - reported below
                errors.append(exc)
        threads = [threading.Thread(target=publish, args=(q,)) for q in names]
        for t in threads:
            t.start()
        wait_for(lambda: all(len(v) >= 50 for v in confirmed.values()), 60, what="first confirms")
        proc.kill_worker("shard", 0)
        wait_for(lambda: all(len(v) >= 150 or not t.is_alive() for v, t in zip(confirmed.values(), threads)),
                 90, what="confirms after the shard restart")
        stop.set()
        for t in threads:
            t.join(60)
        assert not errors, errors
        done = {q: list(v) for q, v in confirmed.items()}
        proc.kill_all()
        proc.restart()
        conn = _conn(proc)
        ch = conn.channel()
        for q in names:
            assert set(done[q]) <= {int(b) for b in _drain(ch, q)}, q
        conn.close()


def test_publisher_is_blocked_under_a_disk_alarm(tmp_path):
    env = {"BROKER_AMQP_DISK_FREE_LIMIT": str(10**18)}
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", env=env) as proc:
        conn = _conn(proc)
        reasons = []
        conn.add_on_connection_blocked_callback(lambda c, frame: reasons.append(frame.method.reason))
        ch = conn.channel()
        ch.basic_publish("", "nowhere", b"x")
        wait_for(lambda: conn.process_data_events(time_limit=0.05) or reasons, 10)
        assert reasons == ["low on disk"]


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _raw_publisher(port: int, rcvbuf: int = 0):
    """A raw AMQP client that has opened channel 1 (pamqp frames over a socket)."""
    from pamqp import commands as C
    from pamqp import frame as pframe
    s = socket.create_connection(("127.0.0.1", port))
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)

    def send(*frames):
        s.sendall(b"".join(pframe.marshal(f, c) for c, f in frames))
    s.sendall(b"AMQP\x00\x00\x09\x01")
    s.recv(4096)
    send((0, C.Connection.StartOk(client_properties={}, mechanism="PLAIN", response="\x00guest\x00guest",
                                  locale="en_US")))
    s.recv(4096)
    send((0, C.Connection.TuneOk(channel_max=0, frame_max=131072, heartbeat=0)),
         (0, C.Connection.Open(virtual_host="/")), (1, C.Channel.Open()))
    return s, send


def test_publishers_are_blocked_over_the_memory_watermark_and_unblocked_below_it(tmp_path):
    """The watermark sits 32 MB above the gateway's resting memory; a client that
    sends 64 MB of a message's body (held in the gateway until the body is whole)
    crosses it, and closing that client brings the gateway back under it."""
    from pamqp import body as pbody
    from pamqp import commands as C
    from pamqp import header as pheader
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", "--single-worker", "false") as proc:
        resting = _rss(proc.pids("gateway")[0])
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        proc.restart(env={"BROKER_AMQP_MEMORY_HIGH_WATERMARK": repr((resting + (32 << 20)) / total)})
        conn = _conn(proc)
        events = []
        conn.add_on_connection_blocked_callback(lambda c, frame: events.append(frame.method.reason))
        conn.add_on_connection_unblocked_callback(lambda c, frame: events.append("unblocked"))
        ch = conn.channel()
        ch.queue_declare("after-alarm")
        ch.basic_publish("", "after-alarm", b"while under the watermark")      # a publisher now
        observer = _conn(proc).channel()          # never publishes: never blocked
        wait_for(lambda: observer.queue_declare("after-alarm", passive=True).method.message_count == 1, 10)

        port = int(proc.endpoints["amqp"].rsplit(":", 1)[1])
        sock, send = _raw_publisher(port)
        chunk = b"z" * (131072 - 8)

        def hog():
            try:
                send((1, C.Basic.Publish(exchange="", routing_key="nowhere")),
                     (1, pheader.ContentHeader(0, 100 << 20, None)))
                for _ in range((64 << 20) // len(chunk)):
                    send((1, pbody.ContentBody(chunk)))
            except OSError:
                pass               # closed below while its reading is paused
        t = threading.Thread(target=hog, daemon=True)
        t.start()
        wait_for(lambda: conn.process_data_events(time_limit=0.05) or events, 20, what="connection.blocked")
        assert events == ["low on memory"]
        ch.basic_publish("", "after-alarm", b"held while blocked")
        assert observer.queue_declare("after-alarm", passive=True).method.message_count == 1

        sock.close()               # its partial message goes, and the gateway's memory with it
        t.join(10)
        wait_for(lambda: conn.process_data_events(time_limit=0.05) or len(events) == 2, 20,
                 what="connection.unblocked")
        assert events == ["low on memory", "unblocked"]
        wait_for(lambda: observer.queue_declare("after-alarm", passive=True).method.message_count == 2, 10)
        conn.close()


def test_a_client_that_stops_reading_is_not_pushed_everything(tmp_path):
    """No-ack consumer whose socket is never read: the gateway blocks it at the
    shard, so most of a 50 MB backlog stays queued instead of in gateway memory."""
    from pamqp import commands as C
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1") as proc:
        conn = _conn(proc)
        ch = conn.channel()
        ch.queue_declare("backlog")
        body = b"z" * 10000
        for _ in range(5000):
            ch.basic_publish("", "backlog", body)
        wait_for(lambda: ch.queue_declare("backlog", passive=True).method.message_count == 5000, 30)
        port = int(proc.endpoints["amqp"].rsplit(":", 1)[1])
        s, send = _raw_publisher(port, rcvbuf=65536)
        send((1, C.Basic.Consume(queue="backlog", consumer_tag="slow", no_ack=True)))
        # never read again: the server must stop pushing
        def settled():
            a = ch.queue_declare("backlog", passive=True).method.message_count
            time.sleep(0.5)
            b = ch.queue_declare("backlog", passive=True).method.message_count
            return a == b and a
        left = wait_for(settled, 30)
        assert left >= 2500, left
        s.close()
        conn.close()


def test_users_vhosts_and_permissions_from_config(tmp_path):
    import json as _json
    users = [{"name": "guest", "password": "guest", "loopback_only": True},
             {"name": "reader", "password": "r-pass", "vhosts": {"/": {"configure": "^$", "write": "^$",
                                                                        "read": ".*"}}}]
    env = {"BROKER_MQ_USERS": _json.dumps(users), "BROKER_MQ_VHOSTS": _json.dumps(["dev"])}
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", env=env) as proc:
        port = int(proc.endpoints["amqp"].rsplit(":", 1)[1])

        def connect(user, pw, vhost="/"):
            return pika.BlockingConnection(pika.ConnectionParameters(
                "127.0.0.1", port, vhost, pika.PlainCredentials(user, pw), heartbeat=0))
        guest = connect("guest", "guest", "dev")                  # a second vhost, its own namespace
        gch = guest.channel()
        gch.queue_declare("only-in-dev")
        g2 = connect("guest", "guest").channel()
        with pytest.raises(ChannelClosedByBroker):
            g2.queue_declare("only-in-dev", passive=True)
        g2 = connect("guest", "guest").channel()
        g2.queue_declare("shared")
        g2.basic_publish("", "shared", b"for readers")
        reader = connect("reader", "r-pass")
        rch = reader.channel()
        with pytest.raises(ChannelClosedByBroker) as exc:
            rch.queue_declare("mine")
        assert (exc.value.reply_code, exc.value.reply_text) == (
            403, "ACCESS_REFUSED - access to queue 'mine' in vhost '/' refused for user 'reader'")
        rch = reader.channel()
        assert wait_for(lambda: rch.basic_get("shared", auto_ack=True)[2], 10) == b"for readers"
        rch.basic_publish("", "shared", b"nope")
        with pytest.raises(ChannelClosedByBroker) as exc:
            rch.queue_declare("shared", passive=True)
        assert exc.value.reply_text == ("ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused "
                                        "for user 'reader'")
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as exc:
            connect("reader", "r-pass", "dev")
        assert "NOT_ALLOWED - access to vhost 'dev' refused for user 'reader'" in str(exc.value)


def test_sigterm_closes_amqp_clients_with_connection_forced(tmp_path):
    proc = BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1")
    try:
        conn = _conn(proc)
        ch = conn.channel()
        ch.queue_declare("kept", durable=True)
        rc, _seconds = proc.stop()
        assert rc == 0
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
            conn.process_data_events(time_limit=5)
            conn.channel()
        assert exc.value.reply_code == 320
        assert exc.value.reply_text == "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
    finally:
        proc.close()


def test_gateway_kill_requeues_unacked_deliveries_as_redelivered(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", "--single-worker", "false") as proc:
        conn = _conn(proc)
        ch = conn.channel()
        ch.queue_declare("held", durable=True)
        ch.confirm_delivery()
        for i in range(3):
            ch.basic_publish("", "held", b"%d" % i, pika.BasicProperties(delivery_mode=2))
        held = []
        ch.basic_consume("held", lambda c, m, p, b: held.append(b))
        wait_for(lambda: conn.process_data_events(time_limit=0.05) or len(held) == 3, 10)
        proc.kill_worker("gateway", 0)            # kill -9 with three deliveries unacked
        conn2 = wait_for(lambda: _conn(proc), 20)
        ch2 = conn2.channel()
        again = [ch2.basic_get("held", auto_ack=True) for _ in range(3)]
        assert [(m[2], m[0].redelivered) for m in again] == [(b"0", True), (b"1", True), (b"2", True)]
        conn2.close()


def test_fsync_confirms_of_commits_synced_in_the_thread_survive_kill9(tmp_path):
    """A commit of more than 8 requests is synced off the event loop (Linux AIO, or a
    worker thread where it is missing) while the loop writes the next requests,
    whose sync follows (broker/runtime/shard.py):
    three publishers each send to 12 queues (12 partitions) at once and wait for
    the 12 confirms; after the last confirm, kill -9 of everything loses none."""
    import asyncio

    import aio_pika
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", "--durability", "fsync") as proc:
        run = RunInfo.load(Path(proc.data_dir) / "run" / "run.json")
        names = _in_distinct_partitions(run, "ft-", 12)
        url = f"amqp://guest:guest@127.0.0.1:{proc.endpoints['amqp'].rsplit(':', 1)[1]}/"
        rounds = 40

        async def publisher(k: int) -> int:
            conn = await aio_pika.connect(url)
            ch = await conn.channel(publisher_confirms=True)
            for q in names:
                await ch.declare_queue(q, durable=True)
            acked = 0
            for r in range(rounds):
                await asyncio.gather(*(ch.default_exchange.publish(
                    aio_pika.Message(b"%d:%d" % (k, r), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=q) for q in names))
                acked += len(names)
            await conn.close()
            return acked

        async def main():
            return await asyncio.gather(*(publisher(k) for k in range(3)))
        assert asyncio.run(main()) == [rounds * len(names)] * 3
        proc.kill_all()
        proc.restart()
        conn = _conn(proc)
        ch = conn.channel()
        want = {b"%d:%d" % (k, r) for k in range(3) for r in range(rounds)}
        for q in names:
            assert set(_drain(ch, q)) == want, q
        conn.close()
