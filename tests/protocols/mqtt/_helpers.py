"""MQTT test helpers: a paho client wrapper and a raw-socket client (packets written by hand)."""

from __future__ import annotations

import queue
import socket
import struct
import time

import paho.mqtt.client as mqtt
import pika


def port_of(server, name: str = "mqtt") -> int:
    return int(server.endpoints[name].rsplit(":", 1)[1])


def session_queue(server, client_id: str):
    """(messages ready, consumers) of a session's queue, seen from AMQP (the same queue)."""
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port_of(server, "amqp"), heartbeat=0))
    try:
        ok = conn.channel().queue_declare(f"mqtt-subscription-{client_id}", passive=True).method
        return ok.message_count, ok.consumer_count
    finally:
        conn.close()


def session_consumers(server, client_id: str) -> int:
    return session_queue(server, client_id)[1]


class Paho:
    """A paho client with a message queue; `get()` waits for the next message."""

    def __init__(self, port, client_id="", clean=True, transport="tcp", tls_ca=None, **kw):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                             protocol=mqtt.MQTTv311, transport=transport)
        self.messages: queue.Queue = queue.Queue()
        self.connacks: queue.Queue = queue.Queue()
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_connect = lambda c, u, f, rc, p: self.connacks.put((f.session_present, rc.value))
        if tls_ca:
            self.c.tls_set(ca_certs=str(tls_ca))
        if kw.get("username"):
            self.c.username_pw_set(kw["username"], kw.get("password"))
        self.port = port
        self.keepalive = kw.get("keepalive", 60)

    def connect(self, timeout=10):
        self.c.connect("127.0.0.1", self.port, keepalive=self.keepalive)
        self.c.loop_start()
        return self.connacks.get(timeout=timeout)

    def subscribe(self, *subs, timeout=10):
        done: queue.Queue = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, codes, p: done.put([x.value for x in codes])
        self.c.subscribe(list(subs))
        return done.get(timeout=timeout)

    def publish(self, topic, payload, qos=0, retain=False, timeout=10):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(timeout)
            assert info.is_published()
        return info

    def get(self, timeout=10):
        return self.messages.get(timeout=timeout)

    def none(self, wait=0.5):
        """No message within `wait` seconds (a negative check after a positive one has passed)."""
        try:
            m = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message {m.topic} {m.payload!r}")

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


# -- raw packets (written here by hand: independent of the server's codec) -------------------
def _rl(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(text) -> bytes:
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def connect_packet(client_id, clean=True, keepalive=0, will=None, username=None, password=None,
                   proto=b"MQTT", level=4) -> bytes:
    flags = 0x02 if clean else 0
    payload = _s(client_id)
    if will:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _s(topic) + _s(msg)
    if username is not None:
        flags |= 0x80
        payload += _s(username)
    if password is not None:
        flags |= 0x40
        payload += _s(password)
    var = _s(proto) + bytes((level, flags)) + struct.pack(">H", keepalive)
    body = var + payload
    return b"\x10" + _rl(len(body)) + body


def publish_packet(topic, payload, qos=0, pid=0, retain=False, dup=False) -> bytes:
    body = _s(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return bytes((0x30 | (qos << 1) | (1 if retain else 0) | (8 if dup else 0),)) + _rl(len(body)) + body


def subscribe_packet(pid, subs) -> bytes:
    body = struct.pack(">H", pid) + b"".join(_s(f) + bytes((q,)) for f, q in subs)
    return b"\x82" + _rl(len(body)) + body


def ack_packet(ptype, pid) -> bytes:
    return bytes(((ptype << 4) | (2 if ptype == 6 else 0), 2)) + struct.pack(">H", pid)


PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK = 3, 4, 5, 6, 7, 9


def parse_publish(p) -> tuple:
    """(topic, payload, qos, pid, retain, dup) of a PUBLISH packet (type, flags, body)."""
    _ptype, flags, body = p
    n = struct.unpack(">H", body[:2])[0]
    topic = body[2:2 + n].decode()
    qos = (flags >> 1) & 3
    pos = 2 + n
    pid = 0
    if qos:
        pid = struct.unpack(">H", body[pos:pos + 2])[0]
        pos += 2
    return topic, body[pos:], qos, pid, bool(flags & 1), bool(flags & 8)


class Raw:
    """A client on a raw socket: exact packets in, exact packets out."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=10)
        self.buf = b""

    def send(self, data: bytes):
        self.s.sendall(data)

    def _fill(self, deadline) -> bool:
        self.s.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = self.s.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def packet(self, timeout=10):
        """(type, flags, body); None at EOF; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                n, shift, i = 0, 0, 1
                while i < len(self.buf):
                    b = self.buf[i]
                    n |= (b & 0x7F) << shift
                    i += 1
                    if not b & 0x80:
                        break
                    shift += 7
                else:
                    i = None
                if i is not None and len(self.buf) >= i + n:
                    first, body = self.buf[0], self.buf[i:i + n]
                    self.buf = self.buf[i + n:]
                    return first >> 4, first & 0x0F, body
            if time.monotonic() >= deadline:
                raise TimeoutError("no packet")
            if not self._fill(deadline):
                return None

    def connect(self, client_id, **kw):
        self.send(connect_packet(client_id, **kw))
        p = self.packet()
        assert p is not None and p[0] == 2, p
        return p[2][0] & 1, p[2][1]

    def subscribe(self, pid, subs):
        self.send(subscribe_packet(pid, subs))
        while True:
            p = self.packet()
            if p[0] == SUBACK:
                assert struct.unpack(">H", p[2][:2])[0] == pid
                return list(p[2][2:])

    def publish_in(self, timeout=10):
        """The next PUBLISH: (topic, payload, qos, pid, retain, dup)."""
        p = self.packet(timeout)
        assert p is not None and p[0] == PUBLISH, p
        return parse_publish(p)

    def eof(self, timeout=10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._fill(deadline):
                return True
        return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
