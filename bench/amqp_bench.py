"""AMQP 0-9-1 throughput with pika against Debian's rabbitmq-server, measured in the same run.

Prints JSON: msgs/s for each scenario, ours and RabbitMQ's, and the ratio (ours / RabbitMQ):
- transient_publish: non-durable queue, delivery_mode 1, no confirms (until all are queued);
- transient_consume: the same messages consumed with manual acks (prefetch 500, multiple acks);
- confirmed_publish: durable queue, delivery_mode 2, publisher confirms (pika's blocking channel
  waits for each confirm: latency-bound, as applications using it are);
- confirmed_publish_pipelined: the same with pika's SelectConnection, 500 confirms outstanding;
- confirmed_publish_8_publishers_1_queue / _8_queues: 8 connections (threads), each a blocking
  channel waiting for each confirm, into one queue or a queue each (the group commit's case:
  many publishers, one fsync for what arrives together; a queue each touches more partitions);
- persistent_consume: the pipelined persistent messages consumed with manual acks.

The servers run side by side and are measured in turns (ours at each --durability, then
RabbitMQ, the order alternating between rounds); the best round of each is kept, since the
shared machine moves single rounds a lot.

Run: python bench/amqp_bench.py [--count 50000] [--confirmed 5000] [--rounds 3]
                                [--workers 1 --shards 1] [--single-worker true|false]
                                [--durability fsync,process]
                                [--only persistent_consume,confirmed_publish_8_publishers_8_queues]
Needs: rabbitmq-server (apt-get install rabbitmq-server); pika (pip install -e '.[test]').
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pika

from _common import ROOT, Broker, emit, free_port

BODY = b"x" * 100


class RabbitMQ:
    """A private rabbitmq-server node on free ports, in a temp dir (nothing shared with a system one)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-rabbit-"))
        self.port = free_port()
        self.epmd = free_port()
        (self.dir / "enabled_plugins").write_text("[].\n")
        env = {**os.environ, "HOME": str(self.dir), "RABBITMQ_NODE_PORT": str(self.port),
               "RABBITMQ_NODENAME": f"bench{self.port}@localhost", "RABBITMQ_DIST_PORT": str(free_port()),
               "ERL_EPMD_PORT": str(self.epmd), "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
               "RABBITMQ_LOG_BASE": str(self.dir / "log"), "RABBITMQ_ENABLED_PLUGINS_FILE":
               str(self.dir / "enabled_plugins"), "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
               "RABBITMQ_PID_FILE": str(self.dir / "pid"),
               "RABBITMQ_FEATURE_FLAGS_FILE": str(self.dir / "feature_flags"),
               "ERL_CRASH_DUMP": str(self.dir / "erl_crash.dump")}
        (self.dir / "rabbitmq.conf").write_text("loopback_users = none\n")
        self.env = env
        self.log = open(self.dir / "server.log", "wb")
        # the Debian wrapper (/usr/sbin) switches to the rabbitmq user; run the server itself
        exe = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not os.path.exists(exe):
            exe = shutil.which("rabbitmq-server")
        self.proc = subprocess.Popen([exe], env=env, stdout=self.log, stderr=self.log, cwd=self.dir,
                                     start_new_session=True)
        deadline = time.time() + 90
        while True:
            try:
                pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", self.port,
                                                                  connection_attempts=1)).close()
                break
            except Exception:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("rabbitmq-server did not start: "
                                       + (self.dir / "server.log").read_text()[-2000:])
                time.sleep(0.5)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except Exception:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except Exception:
                pass
        subprocess.run(["epmd", "-kill"], env=self.env, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _conn(port: int) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))


def _count(ch, queue) -> int:
    return ch.queue_declare(queue, passive=True).method.message_count


def transient_publish(port: int, n: int) -> float:
    conn = _conn(port)
    ch = conn.channel()
    ch.queue_declare("bench-transient", durable=False)
    ch.queue_purge("bench-transient")
    props = pika.BasicProperties(delivery_mode=1)
    t0 = time.perf_counter()
    for _ in range(n):
        ch.basic_publish("", "bench-transient", BODY, props)
    while _count(ch, "bench-transient") < n:
        time.sleep(0.005)
    dt = time.perf_counter() - t0
    conn.close()
    return n / dt


def consume(port: int, queue: str, n: int) -> float:
    conn = _conn(port)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=500)
    got = [0]
    t0 = time.perf_counter()

    def cb(c, method, props, body):
        got[0] += 1
        if got[0] % 100 == 0 or got[0] == n:
            c.basic_ack(method.delivery_tag, multiple=True)
        if got[0] >= n:
            c.stop_consuming()
    ch.basic_consume(queue, cb)
    ch.start_consuming()
    dt = time.perf_counter() - t0
    conn.close()
    return n / dt


def confirmed_publish(port: int, n: int) -> float:
    conn = _conn(port)
    ch = conn.channel()
    ch.queue_declare("bench-durable", durable=True)
    ch.queue_purge("bench-durable")
    ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2)
    t0 = time.perf_counter()
    for _ in range(n):
        ch.basic_publish("", "bench-durable", BODY, props)
    dt = time.perf_counter() - t0
    conn.close()
    return n / dt


def confirmed_pipelined(port: int, n: int, window: int = 500) -> float:
    """SelectConnection: publish with up to `window` confirms outstanding."""
    state = {"sent": 0, "acked": 0, "t0": 0.0, "t1": 0.0}
    params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0)
    props = pika.BasicProperties(delivery_mode=2)

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(ch):
        state["ch"] = ch
        ch.queue_declare("bench-durable-2", durable=True, callback=lambda f: ch.queue_purge(
            "bench-durable-2", callback=lambda f2: ch.confirm_delivery(on_confirm, callback=lambda f3: start())))

    def start():
        state["t0"] = time.perf_counter()
        pump()

    def pump():
        ch = state["ch"]
        while state["sent"] < n and state["sent"] - state["acked"] < window:
            ch.basic_publish("", "bench-durable-2", BODY, props)
            state["sent"] += 1

    def on_confirm(frame):
        m = frame.method
        state["acked"] = m.delivery_tag if m.multiple else max(state["acked"], m.delivery_tag)
        if state["acked"] >= n:
            state["t1"] = time.perf_counter()
            state["conn"].close()
        else:
            pump()

    conn = pika.SelectConnection(params, on_open_callback=on_open,
                                 on_close_callback=lambda c, reason: c.ioloop.stop())
    state["conn"] = conn
    conn.ioloop.start()
    return n / (state["t1"] - state["t0"])


def confirmed_concurrent(port: int, n: int, publishers: int = 8, one_queue: bool = False) -> float:
    """`publishers` blocking connections in threads, each waiting for each confirm,
    into one queue or a queue each."""
    names = [f"bench-durable-c{0 if one_queue else i}" for i in range(publishers)]
    conns = [_conn(port) for _ in range(publishers)]
    chans = []
    for c, q in zip(conns, names):
        ch = c.channel()
        ch.queue_declare(q, durable=True)
        ch.queue_purge(q)
        ch.confirm_delivery()
        chans.append(ch)
    props = pika.BasicProperties(delivery_mode=2)
    each = n // publishers
    start = threading.Barrier(publishers + 1)

    def work(i):
        start.wait()
        ch, q = chans[i], names[i]
        for _ in range(each):
            ch.basic_publish("", q, BODY, props)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(publishers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    for q in sorted(set(names)):
        chans[0].queue_delete(q)
    for c in conns:
        c.close()
    return each * publishers / dt


SCENARIOS = {   # name -> (needs, measure(port, count, confirmed)); a consume reads what its publish queued
    "transient_publish": ((), lambda p, n, c: transient_publish(p, n)),
    "transient_consume": (("transient_publish",), lambda p, n, c: consume(p, "bench-transient", n)),
    "confirmed_publish": ((), lambda p, n, c: confirmed_publish(p, c)),
    "confirmed_publish_pipelined": ((), lambda p, n, c: confirmed_pipelined(p, c * 4)),
    "confirmed_publish_8_publishers_1_queue": ((), lambda p, n, c: confirmed_concurrent(p, c * 2, one_queue=True)),
    "confirmed_publish_8_publishers_8_queues": ((), lambda p, n, c: confirmed_concurrent(p, c * 2)),
    "persistent_consume": (("confirmed_publish_pipelined",),
                           lambda p, n, c: consume(p, "bench-durable-2", c * 4)),
}


def run(port: int, count: int, confirmed: int, only: set[str]) -> dict:
    wanted = {need for name in only for need in SCENARIOS[name][0]} | only
    return {name: measure(port, count, confirmed)
            for name, (_needs, measure) in SCENARIOS.items() if name in wanted}


def _single_worker_default() -> str:
    """The server's own default for server.single_worker (the tree under test)."""
    import sys
    sys.path.insert(0, str(ROOT))
    from broker.runtime.config import KEYS
    return "true" if KEYS["server.single_worker"].default else "false"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50000)
    ap.add_argument("--confirmed", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3, help="servers measured in turn, best round kept")
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    ap.add_argument("--single-worker", choices=("true", "false"), default=None,
                    help="with 1 worker and 1 shard, the gateway and the shard in one process "
                         "(default: the server's default, server.single_worker)")
    ap.add_argument("--durability", default="fsync,process",
                    help="ours, comma-separated: fsync (survives power loss, as RabbitMQ's confirms), process, "
                         "memory")
    ap.add_argument("--only", default="", help="comma-separated scenarios (and what they read), default all: "
                    + ", ".join(SCENARIOS))
    args = ap.parse_args()
    only = set(filter(None, args.only.split(","))) or set(SCENARIOS)
    if only - set(SCENARIOS):
        ap.error(f"unknown scenario(s): {', '.join(sorted(only - set(SCENARIOS)))}")
    levels = [d for d in args.durability.split(",") if d]
    single = args.single_worker or _single_worker_default()
    servers: dict[str, tuple[int, object]] = {}
    try:
        for d in levels:
            b = Broker("--workers", args.workers, "--shards", args.shards, "--single-worker", single,
                       "--durability", d)
            servers[f"broker_{d}"] = (int(b.endpoints["amqp"].rsplit(":", 1)[1]), b)
        if shutil.which("rabbitmq-server") is not None:
            rabbit = RabbitMQ()
            servers["rabbitmq"] = (rabbit.port, rabbit)
        best: dict[str, dict] = {}
        names = list(servers)
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                got = run(servers[name][0], args.count, args.confirmed, only)
                b = best.setdefault(name, got)
                for k, v in got.items():
                    b[k] = max(b[k], v)
    finally:
        for _port, s in servers.values():
            s.close()
    doc = {name: {k: round(v) for k, v in res.items()} for name, res in best.items()}
    theirs = best.get("rabbitmq")
    if theirs is None:
        doc["note"] = "rabbitmq-server not installed"
    else:
        doc["ratio"] = {name: {k: round(res[k] / theirs[k], 2) for k in res}
                        for name, res in best.items() if name != "rabbitmq"}
    doc["setup"] = {"workers": args.workers, "shards": args.shards, "single_worker": single, "durability": levels, "rounds": args.rounds,
                    "count": args.count, "confirmed": args.confirmed, "body_bytes": len(BODY),
                    "client": f"pika {pika.__version__}", "unit": "messages per second, best round"}
    emit(doc)


if __name__ == "__main__":
    main()
