"""Connection-level behaviour over a raw socket driven with pamqp: the
handshake and RabbitMQ's server properties, AMQPLAIN, negotiated limits,
heartbeats, and malformed input answered with connection.close (the server
stays healthy for everyone else)."""

from __future__ import annotations

import socket
import time

import pika
import pytest
from pamqp import commands as C
from pamqp import encode as penc
from pamqp import frame as pframe
from pamqp import heartbeat as phb

from tests.protocols.amqp.conftest import amqp_port

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


class Raw:
    def __init__(self, server):
        self.sock = socket.create_connection(("127.0.0.1", amqp_port(server)), timeout=10)
        self.buf = b""

    def send(self, *frames) -> None:
        self.sock.sendall(b"".join(f if isinstance(f, bytes) else pframe.marshal(f[1], f[0]) for f in frames))

    def recv(self, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 8:
                try:
                    n, ch, f = pframe.unmarshal(self.buf)
                    self.buf = self.buf[n:]
                    return ch, f
                except Exception:
                    pass
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data

    def handshake(self, *, heartbeat=0, frame_max=131072, channel_max=0, mechanism="PLAIN", response=None):
        self.send(AMQP_HEADER)
        _, start = self.recv()
        assert start.name == "Connection.Start"
        resp = (response if response is not None else b"\x00guest\x00guest").decode("latin-1")
        self.send((0, C.Connection.StartOk(client_properties={"capabilities": {
            "authentication_failure_close": True, "consumer_cancel_notify": True}}, mechanism=mechanism,
            response=resp, locale="en_US")))
        _, tune = self.recv()
        assert tune.name == "Connection.Tune", tune
        self.send((0, C.Connection.TuneOk(channel_max=channel_max, frame_max=frame_max, heartbeat=heartbeat)),
                  (0, C.Connection.Open(virtual_host="/")))
        _, ok = self.recv()
        assert ok.name == "Connection.OpenOk"
        return start, tune

    def close(self):
        self.sock.close()


def test_server_properties_and_capabilities_as_rabbitmq(server):
    raw = Raw(server)
    start, tune = raw.handshake()
    props = start.server_properties
    assert props["product"] == "RabbitMQ"
    caps = props["capabilities"]
    for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
                "connection.blocked", "authentication_failure_close", "per_consumer_qos", "direct_reply_to"):
        assert caps[cap] is True, cap
    assert set(start.mechanisms.split()) == {"PLAIN", "AMQPLAIN"}
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (2047, 131072, 60)
    raw.close()


def test_amqplain_login_and_refused_login(server):
    table = penc.field_table({"LOGIN": "guest", "PASSWORD": "guest"})[4:]
    raw = Raw(server)
    raw.handshake(mechanism="AMQPLAIN", response=table)
    raw.close()
    raw = Raw(server)
    raw.send(AMQP_HEADER)
    raw.recv()
    raw.send((0, C.Connection.StartOk(client_properties={"capabilities": {"authentication_failure_close": True}},
                                      mechanism="AMQPLAIN", response=penc.field_table(
                                          {"LOGIN": "guest", "PASSWORD": "nope"})[4:].decode("latin-1"),
                                      locale="en_US")))
    _, close = raw.recv()
    assert (close.name, close.reply_code, close.reply_text) == (
        "Connection.Close", 403, "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. "
                                 "For details see the broker logfile.")
    raw.close()


def test_heartbeats_are_sent_and_a_silent_client_is_dropped(server):
    raw = Raw(server)
    raw.handshake(heartbeat=1)
    _, f = raw.recv(timeout=5)
    assert isinstance(f, phb.Heartbeat)
    deadline = time.monotonic() + 10
    closed = False
    while time.monotonic() < deadline:          # we never send anything: dropped after 2 intervals
        r = raw.recv(timeout=deadline - time.monotonic())
        if r is None:
            closed = True
            break
    assert closed
    raw.close()


def test_channel_max_and_unopened_channel_are_connection_errors(server):
    raw = Raw(server)
    raw.handshake(channel_max=2)
    raw.send((3, C.Channel.Open()))
    _, close = raw.recv()
    assert (close.name, close.reply_code) == ("Connection.Close", 530)
    raw.close()
    raw = Raw(server)
    raw.handshake()
    raw.send((5, C.Queue.Declare(queue="x")))
    _, close = raw.recv()
    assert (close.reply_code, close.reply_text) == (504, "CHANNEL_ERROR - expected 'channel.open'")
    raw.close()


def test_malformed_frames_close_the_connection_and_others_are_unaffected(server):
    bystander = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp_port(server), heartbeat=0))
    bch = bystander.channel()
    raw = Raw(server)
    raw.handshake(frame_max=4096)
    raw.send(b"\x01\x00\x01\x00\x01\x00\x00" + b"\x00" * 16)       # 64 KiB frame announced > frame_max
    _, close = raw.recv()
    assert (close.name, close.reply_code) == ("Connection.Close", 501)
    raw.close()
    raw = Raw(server)
    raw.handshake()
    raw.send((0, C.Channel.Open()) if False else b"\x01\x00\x01\x00\x00\x00\x05\x00\x14\x00\x0a\x01\xce")
    _, close = raw.recv()                                           # truncated channel.open args
    assert close.name in ("Connection.Close", "Channel.OpenOk")
    raw.close()
    raw = Raw(server)
    raw.send(b"HTTP/1.1 200 OK\r\n\r\n")
    assert raw.sock.recv(8) == AMQP_HEADER                          # protocol mismatch: our header, then close
    raw.close()
    bch.queue_declare("", exclusive=True)                           # the bystander is fine
    bystander.close()


def test_prefetch_size_is_not_implemented_as_in_rabbitmq(connect):
    ch = connect().channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
        ch.basic_qos(prefetch_size=10)
    assert (exc.value.reply_code, exc.value.reply_text) == (540, "NOT_IMPLEMENTED - prefetch_size!=0 (10)")


def test_pipelined_confirms_come_as_multiple_acks(server):
    raw = Raw(server)
    raw.handshake()
    from pamqp import body as pbody
    from pamqp import header as pheader
    raw.send((1, C.Channel.Open()))
    raw.recv()
    raw.send((1, C.Confirm.Select()))
    raw.recv()
    frames = []
    for i in range(50):
        frames += [(1, C.Basic.Publish(exchange="amq.fanout", routing_key="")),
                   (1, pheader.ContentHeader(0, 1, C.Basic.Properties())), (1, pbody.ContentBody(b"x"))]
    raw.send(*frames)
    acked, acks = 0, 0
    while acked < 50:
        _, f = raw.recv()
        assert f.name == "Basic.Ack"
        acks += 1
        assert f.delivery_tag > acked and (f.multiple or f.delivery_tag == acked + 1)
        acked = f.delivery_tag
    assert acks < 50          # runs of confirms went out as multiple acks
    raw.close()
