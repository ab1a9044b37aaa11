"""The sans-IO framer and wire helpers, without sockets: every case whole, byte
at a time and with trailing bytes; frame_max enforced before buffering; any
input either parses or raises AmqpError (never anything else)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as C
from pamqp import frame as pframe
from pamqp import header as pheader
from pamqp import body as pbody

from protocols.amqp import _wire
from protocols.amqp._framer import (
    AMQP_HEADER, BODY, HEADER, HEARTBEAT, METHOD, NEED_DATA, PROTOCOL_HEADER, Framer,
)
from protocols.amqp.errors import AmqpError
from services.mq import amqpmsg

PROPS = C.Basic.Properties(content_type="text/plain", headers={"a": 1, "b": "x"}, delivery_mode=2, priority=4,
                           expiration="1000", reply_to="r", user_id="guest", message_id="m")
STREAM = b"".join([
    AMQP_HEADER,
    pframe.marshal(C.Channel.Open(), 1),
    pframe.marshal(C.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True), 1),
    pframe.marshal(pheader.ContentHeader(0, 5, PROPS), 1),
    pframe.marshal(pbody.ContentBody(b"hel"), 1),
    pframe.marshal(pbody.ContentBody(b"lo"), 1),
    _wire.HEARTBEAT,
    pframe.marshal(C.Basic.Ack(delivery_tag=7, multiple=True), 1),
    pframe.marshal(C.Queue.Declare(queue="q", durable=True, arguments={"x-max-length": 3}), 2),
])


def _drain(fr: Framer) -> list:
    out = []
    while True:
        ev = fr.next_frame()
        if ev is NEED_DATA:
            return out
        out.append(ev)


def _summary(events) -> list:
    out = []
    for kind, ch, p in events:
        if kind == METHOD:
            attrs = {k: getattr(p, k) for k in ("exchange", "routing_key", "mandatory", "delivery_tag", "multiple",
                                                "queue", "durable", "arguments") if hasattr(p, k)}
            out.append((kind, ch, p.name, attrs))
        elif kind == HEADER:
            out.append((kind, ch, p[0], bytes(p[1])))
        else:
            out.append((kind, ch, p))
    return out


EXPECTED = None


def test_whole_byte_at_a_time_and_with_trailing_bytes():
    fr = Framer()
    fr.receive_data(STREAM)
    whole = _summary(_drain(fr))
    assert [e[0] for e in whole] == [PROTOCOL_HEADER, METHOD, METHOD, HEADER, BODY, BODY, HEARTBEAT, METHOD, METHOD]
    assert whole[2][3] == {"exchange": "ex", "routing_key": "rk", "mandatory": True}
    assert whole[7][3] == {"delivery_tag": 7, "multiple": True}
    assert whole[8][3]["arguments"] == {"x-max-length": 3}
    assert whole[3][2] == 5
    fr = Framer()
    events = []
    for i in range(len(STREAM)):
        fr.receive_data(STREAM[i:i + 1])
        events.extend(_drain(fr))
    assert _summary(events) == whole
    fr = Framer()
    fr.receive_data(STREAM + STREAM[8:20])        # a partial frame trails
    assert _summary(_drain(fr)) == whole
    assert fr.buffered == 12


def test_stored_properties_are_the_client_bytes_and_read_props_reads_them():
    fr = Framer()
    fr.receive_data(STREAM)
    raw = next(p for k, _c, p in _drain(fr) if k == HEADER)[1]
    props = amqpmsg.read_props(raw)
    assert (props.delivery_mode, props.priority, props.expiration, props.reply_to, props.user_id) == \
        (2, 4, "1000", "r", "guest")
    assert props.headers == {"a": 1, "b": "x"}
    assert amqpmsg.full_props(raw) == PROPS
    payload = amqpmsg.encode("ex", "rk", raw, b"hello")
    assert amqpmsg.decode_payload(payload) == ("ex", "rk", raw, b"hello")


@pytest.mark.parametrize("size", [0, 1, 100, 4096 - 8, 4096 - 7, 25600])
def test_deliver_encoding_round_trips_through_pamqp_and_splits_bodies(size):
    raw = PROPS.marshal()
    body = (bytes(range(256)) * 101)[:size]
    out = []
    _wire.deliver(out, 3, b"ctag", 42, True, amqpmsg.encode("ex", "rk", raw, body), 4096)
    data = b"".join(out)
    frames = []
    while data:
        n, ch, f = pframe.unmarshal(data)
        frames.append((ch, f))
        data = data[n:]
    ch, m = frames[0]
    assert ch == 3 and m.name == "Basic.Deliver"
    assert (m.consumer_tag, m.delivery_tag, m.redelivered, m.exchange, m.routing_key) == ("ctag", 42, True, "ex", "rk")
    assert frames[1][1].body_size == len(body) and frames[1][1].properties == PROPS
    chunks = [f.value for _c, f in frames[2:]]
    assert all(len(c) <= 4096 - 8 for c in chunks) and b"".join(chunks) == body


def test_frame_larger_than_frame_max_is_refused_before_buffering():
    fr = Framer(frame_max=4096)
    fr.receive_data(AMQP_HEADER + b"\x01\x00\x01\x00\x10\x00\x00")     # announces 1 MiB
    _drain_header = fr.next_frame()
    assert _drain_header[0] == PROTOCOL_HEADER
    with pytest.raises(AmqpError) as exc:
        fr.next_frame()
    assert exc.value.code == 501 and exc.value.hard
    with pytest.raises(AmqpError):
        fr.next_frame()                 # stays in error


def test_bad_frame_end_and_bad_protocol_header():
    good = pframe.marshal(C.Channel.Open(), 1)
    fr = Framer()
    fr.receive_data(AMQP_HEADER + good[:-1] + b"\x00")
    fr.next_frame()
    with pytest.raises(AmqpError) as exc:
        fr.next_frame()
    assert exc.value.code == 501
    fr = Framer()
    fr.receive_data(b"GET / HTTP/1.1\r\n")
    kind, _ch, got = fr.next_frame()
    assert kind == PROTOCOL_HEADER and got != AMQP_HEADER


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=50))
def test_fuzz_contract_parses_or_raises_amqp_error(noise, cut):
    data = AMQP_HEADER + STREAM[8:8 + cut] + noise
    fr = Framer(frame_max=4096)
    fr.receive_data(data)
    try:
        _drain(fr)
    except AmqpError:
        pass


def test_mutated_streams_never_raise_anything_else():
    rng = random.Random(7)
    for _ in range(500):
        b = bytearray(STREAM)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(8, len(b))] = rng.randrange(256)
        fr = Framer(frame_max=131072)
        fr.receive_data(bytes(b))
        try:
            for kind, _ch, p in _drain(fr):
                if kind == HEADER:
                    try:
                        amqpmsg.read_props(p[1]).headers
                    except ValueError:
                        pass
        except AmqpError:
            pass


@given(st.integers(1, 65535), st.integers(1, 2 ** 63 - 1), st.booleans())      # pamqp encodes signed
def test_confirm_encoding_is_pamqp_s(channel, tag, multiple):
    assert _wire.ack(channel, tag, multiple) == pframe.marshal(C.Basic.Ack(delivery_tag=tag, multiple=multiple),
                                                               channel)
