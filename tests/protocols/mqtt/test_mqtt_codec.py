"""The sans-IO MQTT codec without sockets: framing whole, byte by byte and with
trailing bytes; exact errors for malformed packets; the fuzz contract."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.mqtt import _codec as C
from protocols.mqtt.errors import MqttError
from tests.protocols.mqtt._helpers import ack_packet, connect_packet, publish_packet, subscribe_packet

CASES = [
    (connect_packet("c1", clean=False, keepalive=30, will=("w/t", b"bye", 1, True), username="u", password="p"),
     C.CONNECT),
    (publish_packet("a/b", b"x" * 300, qos=1, pid=7, retain=True), C.PUBLISH),
    (publish_packet("a", b"", qos=0), C.PUBLISH),
    (subscribe_packet(3, [("a/#", 2), ("+/b", 0)]), C.SUBSCRIBE),
    (ack_packet(C.PUBREL, 9), C.PUBREL),
    (b"\xc0\x00", C.PINGREQ),
    (b"\xe0\x00", C.DISCONNECT),
]


def _all(data: bytes, chunk: int | None = None):
    f = C.Framer()
    out = []
    pieces = [data] if chunk is None else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        f.receive_data(piece)
        while True:
            ev = f.next_packet()
            if ev is C.NEED_DATA:
                break
            out.append(ev)
    return out, f


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_framer_whole_byte_at_a_time_and_pipelined(chunk):
    stream = b"".join(p for p, _ in CASES)
    got, f = _all(stream + b"\x30", chunk)          # trailing byte of an unfinished packet stays buffered
    assert [g[0] for g in got] == [t for _, t in CASES]
    assert f.buffered == 1
    assert b"".join(bytes((g[0] << 4 | g[1],)) + C._remaining(len(g[2])) + g[2] for g in got) == stream


def test_decoders_read_back_what_was_written():
    (_t, flags, body), = _all(CASES[0][0])[0]
    c = C.decode_connect(flags, body)
    assert (c.client_id, c.clean, c.keepalive, c.will, c.username, c.password) == \
        ("c1", False, 30, ("w/t", b"bye", 1, True), "u", "p")
    (_t, flags, body), = _all(CASES[1][0])[0]
    assert C.decode_publish(flags, body) == ("a/b", 7, 1, b"x" * 300)
    (_t, flags, body), = _all(CASES[3][0])[0]
    assert C.decode_subscribe(flags, body) == (3, [("a/#", 2), ("+/b", 0)])
    pub = C.encode_publish(C.encode_topic("t/ü"), b"p" * 200, 2, 513, True, True)
    (t, flags, body), = _all(pub)[0]
    assert (t, flags) == (C.PUBLISH, 0x0D) and C.decode_publish(flags, body) == ("t/ü", 513, 2, b"p" * 200)


@pytest.mark.parametrize("data, text", [
    (b"\x30\xff\xff\xff\xff\x01", "malformed Remaining Length: more than four bytes [MQTT-2.2.3]"),
    (b"\x36\x03\x00\x01a", "PUBLISH with QoS 3 [MQTT-3.3.1-4]"),
    (b"\x60\x02\x00\x01", "PUBREL with fixed-header flags 0x0 [MQTT-2.2.2-2]"),
    (b"\x00\x00", "reserved packet type 0 [MQTT-2.2.1]"),
])
def test_framing_errors_cite_the_spec(data, text):
    f = C.Framer()
    f.receive_data(data)
    with pytest.raises(MqttError) as e:
        f.next_packet()
    assert e.value.text == text
    with pytest.raises(MqttError):          # and stay raised
        f.next_packet()


def test_size_limit_is_checked_before_the_body_arrives():
    f = C.Framer(max_size=100)
    f.receive_data(b"\x30\xc8\x01")         # announces 200 bytes, none sent
    with pytest.raises(MqttError, match="larger than the 100 accepted"):
        f.next_packet()


@pytest.mark.parametrize("flags, body, text", [
    (0x02, b"\x00\x03a/+\x00\x01", "MUST NOT contain wildcard characters [MQTT-3.3.2-2]"),
    (0x00, b"\x00\x00x", "empty topic name [MQTT-4.7.3-1]"),
    (0x00, b"\x00\x02\xc3\x28", "not well-formed UTF-8 [MQTT-1.5.3-1]"),
    (0x00, b"\x00\x02a\x00", "U+0000 [MQTT-1.5.3-2]"),
    (0x02, b"\x00\x01a\x00\x00", "packet identifier 0 [MQTT-2.3.1-1]"),
    (0x00, b"\x00\x09a", "longer than the packet"),
])
def test_publish_errors(flags, body, text):
    with pytest.raises(MqttError, match=text.replace("[", r"\[").replace("+", r"\+")):
        C.decode_publish(flags, body)


@pytest.mark.parametrize("packet, text", [
    (connect_packet("x", proto=b"MQTX"), "is not MQTT [MQTT-3.1.2-1]"),
    (connect_packet("x", password="p"), "Password Flag set without the User Name Flag [MQTT-3.1.2-22]"),
    (connect_packet("x") [:-1], "malformed CONNECT"),
    (connect_packet("x") + b"", None),
])
def test_connect_errors(packet, text):
    # the length prefix of a truncated packet is rewritten so the framer hands it over
    body_start = 2
    body = packet[body_start:]
    if text is None:
        assert C.decode_connect(0, body).client_id == "x"
        return
    with pytest.raises(MqttError, match=text.replace("[", r"\[")):
        C.decode_connect(0, body)


def test_connect_with_unsupported_level_asks_for_connack_1():
    with pytest.raises(MqttError) as e:
        C.decode_connect(0, connect_packet("x", level=5)[2:])
    assert e.value.connack == 0x01


def test_subscribe_errors():
    with pytest.raises(MqttError, match=r"\[MQTT-3.8.3-4\]"):
        C.decode_subscribe(2, subscribe_packet(1, [("a", 3)])[2:])
    with pytest.raises(MqttError, match=r"\[MQTT-3.8.3-3\]"):
        C.decode_subscribe(2, b"\x00\x01")
    with pytest.raises(MqttError, match="malformed SUBSCRIBE"):
        C.decode_subscribe(2, subscribe_packet(1, [("a", 1)])[2:] + b"\x00")


def test_topic_filters():
    for good in ("#", "+", "a/+/b", "a/#", "/", "+/+", "$SYS/#", "a//b"):
        assert C.valid_filter(good), good
    for bad in ("", "a/#/b", "a#", "a+", "#/a", "a/b+"):
        assert not C.valid_filter(bad), bad


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_any_input_parses_or_raises_mqtt_error(data):
    f = C.Framer()
    f.receive_data(data)
    try:
        while True:
            ev = f.next_packet()
            if ev is C.NEED_DATA:
                break
            t, flags, body = ev
            if t == C.CONNECT:
                C.decode_connect(flags, body)
            elif t == C.PUBLISH:
                C.decode_publish(flags, body)
            elif t == C.SUBSCRIBE:
                C.decode_subscribe(flags, body)
            elif t == C.UNSUBSCRIBE:
                C.decode_unsubscribe(flags, body)
            elif t in (C.PUBACK, C.PUBREC, C.PUBREL, C.PUBCOMP):
                C.decode_pid(t, body)
    except MqttError:
        pass
