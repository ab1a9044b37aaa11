"""MQTT throughput with paho against Debian's Mosquitto and amqtt's broker, measured in the same run.

    python bench/mqtt_bench.py [--count 20000] [--fanout-count 300] [--subscribers 100] [--rounds 3]

Scenarios (each broker on free ports, same client code and settings):
- qos0 / qos1: one publisher, one subscriber, messages/s end to end (first
  publish to last message received);
- fanout: one publisher, ``--subscribers`` QoS 0 subscribers, deliveries/s.

Needs: mosquitto (apt-get install mosquitto), paho-mqtt and amqtt (pip install
-e '.[test]'). Prints one JSON object with msgs/s per broker and the ratios
(goals: >= 0.8 of Mosquitto, >= 5x amqtt).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt  # noqa: E402

from bench._common import Broker, free_port  # noqa: E402


def _wait_port(port: int, proc, what: str, timeout: float = 30.0) -> None:
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


class Mosquitto:
    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "max_queued_messages 0\nmax_inflight_messages 100\n")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, self.proc, "mosquitto")

    def close(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Amqtt:
    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-amqtt-"))
        conf = self.dir / "broker.yaml"
        conf.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\nplugins:\n"
                        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n")
        exe = shutil.which("amqtt") or str(Path(sys.executable).parent / "amqtt")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        _wait_port(self.port, self.proc, "amqtt")

    def close(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def _client(port: int, cid: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port, keepalive=120)
    c.loop_start()
    return c


def _subscribe(c: mqtt.Client, topic: str, qos: int) -> None:
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(topic, qos)
    if not done.wait(10):
        raise RuntimeError("no SUBACK")


def one_to_n(port: int, qos: int, count: int, subscribers: int, tag: str, timeout: float = 120.0) -> float:
    """Deliveries per second: `count` publishes at `qos` to `subscribers` subscribers."""
    topic = f"bench/{tag}"
    expected = count * subscribers
    got = [0]
    lock = threading.Lock()
    done = threading.Event()

    def on_message(c, u, m):
        with lock:
            got[0] += 1
            if got[0] >= expected:
                done.set()
    subs = []
    for i in range(subscribers):
        c = _client(port, f"{tag}-s{i}")
        c.on_message = on_message
        _subscribe(c, topic, qos)
        subs.append(c)
    pub = _client(port, f"{tag}-p")
    payload = b"x" * 64
    t0 = time.perf_counter()
    for _ in range(count):
        while True:
            info = pub.publish(topic, payload, qos=qos)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                break
            time.sleep(0.0005)            # paho's outgoing queue is full: the broker sets the pace
    done.wait(timeout)
    elapsed = time.perf_counter() - t0
    for c in subs + [pub]:
        c.disconnect()
        c.loop_stop()
    return got[0] / elapsed if elapsed else 0.0


def run(port: int, count: int, fan_count: int, subscribers: int, name: str) -> dict:
    return {
        "qos0": round(one_to_n(port, 0, count, 1, f"{name}-q0")),
        "qos1": round(one_to_n(port, 1, count, 1, f"{name}-q1")),
        "fanout": round(one_to_n(port, 0, fan_count, subscribers, f"{name}-fan")),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--fanout-count", type=int, default=300)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3, help="brokers measured in turn, best round kept (the "
                    "machine is shared: turns spread other load over all of them)")
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    args = ap.parse_args()
    out: dict = {"count": args.count, "fanout": {"messages": args.fanout_count, "subscribers": args.subscribers},
                 "rounds": args.rounds, "unit": "messages (deliveries) per second, end to end, best round"}
    # the same bounds as the Mosquitto under test (max_inflight_messages 100, max_queued_messages 0)
    ours = Broker("--workers", args.workers, "--shards", args.shards,
                  env={"BROKER_MQTT_MAX_INFLIGHT_MESSAGES": "100", "BROKER_MQTT_MAX_QUEUED_MESSAGES": "0"})
    peers = {"broker": (int(ours.endpoints["mqtt"].rsplit(":", 1)[1]), ours, 1)}
    try:
        if shutil.which("mosquitto"):
            m = Mosquitto()
            peers["mosquitto"] = (m.port, m, 1)
        else:
            out["mosquitto"] = None
        a = Amqtt()
        peers["amqtt"] = (a.port, a, 5)           # a fifth of the messages: it is slow
        for r in range(args.rounds):
            for name, (port, _proc, div) in peers.items():
                got = run(port, max(args.count // div, 1000), max(args.fanout_count // div, 20), args.subscribers,
                          f"{name}{r}")
                best = out.setdefault(name, got)
                for k, v in got.items():
                    best[k] = max(best[k], v)
    finally:
        for _port, proc, _div in peers.values():
            proc.close()
    for base in ("mosquitto", "amqtt"):
        if out.get(base):
            out[f"ratio_vs_{base}"] = {k: round(out["broker"][k] / v, 2) if v else None
                                       for k, v in out[base].items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
