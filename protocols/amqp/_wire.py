"""AMQP 0-9-1 output, and the hot methods read without pamqp.

Everything rare is marshalled by pamqp (``method``). The per-message paths
are encoded here directly: basic.deliver / basic.get-ok / basic.return with
their content (the stored message already holds exchange and routing key as
AMQP short strings and the property bytes as the client sent them), and
basic.publish / basic.ack are decoded without building pamqp objects.
Bodies are split at ``frame_max - 8``.
"""

from __future__ import annotations

import struct

from pamqp import frame as pframe

_HDR = struct.Struct(">BHI")
_Q = struct.Struct(">Q")
_CONTENT = struct.Struct(">HHQ")
_HDR_CONTENT = struct.Struct(">BHIHHQ")      # a content header frame's head and its fixed fields
_END = b"\xce"
HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"

_PUBLISH = b"\x00\x3c\x00\x28"
_ACK = b"\x00\x3c\x00\x50"
_DELIVER = b"\x00\x3c\x00\x3c"
_GET_OK = b"\x00\x3c\x00\x47"
_RETURN = b"\x00\x3c\x00\x32"


class Publish:
    __slots__ = ("exchange", "routing_key", "mandatory", "immediate")
    name = "Basic.Publish"
    synchronous = False

    def __init__(self, exchange, routing_key, mandatory, immediate):
        self.exchange, self.routing_key = exchange, routing_key
        self.mandatory, self.immediate = mandatory, immediate


class Ack:
    __slots__ = ("delivery_tag", "multiple")
    name = "Basic.Ack"
    synchronous = False

    def __init__(self, delivery_tag, multiple):
        self.delivery_tag, self.multiple = delivery_tag, multiple


def decode_fast(payload: bytes):
    """basic.publish / basic.ack read directly; None for every other method."""
    head = payload[:4]
    try:
        if head == _PUBLISH:
            p = 6                           # class, method, reserved ticket
            n = payload[p]
            exchange = payload[p + 1:p + 1 + n].decode()
            p += 1 + n
            n = payload[p]
            rk = payload[p + 1:p + 1 + n].decode()
            p += 1 + n
            bits = payload[p]
            return Publish(exchange, rk, bool(bits & 1), bool(bits & 2))
        if head == _ACK:
            (tag,) = _Q.unpack_from(payload, 4)
            return Ack(tag, bool(payload[12] & 1))
    except (IndexError, struct.error, UnicodeDecodeError):
        from protocols.amqp.errors import SYNTAX_ERROR, AmqpError
        raise AmqpError(SYNTAX_ERROR, "cannot decode method frame") from None
    return None


def method(channel: int, m) -> bytes:
    return pframe.marshal(m, channel)


_ACK_FRAME = struct.Struct(">BHIHHQB")


def ack(channel: int, tag: int, multiple: bool) -> bytes:
    """basic.ack (a publisher confirm) as pamqp marshals it, without building its object."""
    return _ACK_FRAME.pack(1, channel, 13, 60, 80, tag, multiple) + _END


def _shortstr(s: bytes) -> bytes:
    return bytes((len(s),)) + s


def content(out: list, channel: int, props: bytes, body: bytes, frame_max: int) -> None:
    """Append the content header and body frames of one message to ``out``."""
    hdr = _CONTENT.pack(60, 0, len(body)) + props
    out.append(_HDR.pack(2, channel, len(hdr)))
    out.append(hdr)
    out.append(_END)
    if not body:
        return
    step = frame_max - 8
    if len(body) <= step:
        out.append(_HDR.pack(3, channel, len(body)))
        out.append(body)
        out.append(_END)
        return
    mv = memoryview(body)
    for i in range(0, len(body), step):
        chunk = mv[i:i + step]
        out.append(_HDR.pack(3, channel, len(chunk)))
        out.append(bytes(chunk))
        out.append(_END)


def split_payload(payload: bytes) -> tuple[int, int, int]:
    """Offsets in a stored message: (end of exchange+routing key short strings,
    start of properties, start of body)."""
    n = payload[0]
    p = 1 + n
    p += 1 + payload[p]
    (plen,) = struct.unpack_from(">I", payload, p)
    return p, p + 4, p + 4 + plen


def deliver(out: list, channel: int, ctag: bytes, dtag: int, redelivered: bool, payload: bytes,
            frame_max: int) -> None:
    """basic.deliver + content of a stored message (services/mq/amqpmsg.py format)."""
    keys_end, props_at, body_at = split_payload(payload)
    size = len(payload) - body_at
    if 0 < size <= frame_max - 8:       # the usual case: three frames in one piece
        out.append(b"".join((
            _HDR.pack(1, channel, 14 + len(ctag) + keys_end), _DELIVER, bytes((len(ctag),)), ctag,
            _Q.pack(dtag), b"\x01" if redelivered else b"\x00", payload[:keys_end], _END,
            _HDR_CONTENT.pack(2, channel, 12 + body_at - props_at, 60, 0, size), payload[props_at:body_at], _END,
            _HDR.pack(3, channel, size), payload[body_at:], _END)))
        return
    args = b"".join((_DELIVER, _shortstr(ctag), _Q.pack(dtag), b"\x01" if redelivered else b"\x00",
                     payload[:keys_end]))
    out.append(_HDR.pack(1, channel, len(args)))
    out.append(args)
    out.append(_END)
    content(out, channel, payload[props_at:body_at], payload[body_at:], frame_max)


def get_ok(out: list, channel: int, dtag: int, redelivered: bool, payload: bytes, count: int,
           frame_max: int) -> None:
    keys_end, props_at, body_at = split_payload(payload)
    args = b"".join((_GET_OK, _Q.pack(dtag), b"\x01" if redelivered else b"\x00", payload[:keys_end],
                     struct.pack(">I", count)))
    out.append(_HDR.pack(1, channel, len(args)))
    out.append(args)
    out.append(_END)
    content(out, channel, payload[props_at:body_at], payload[body_at:], frame_max)


def basic_return(out: list, channel: int, code: int, text: str, exchange: str, rk: str, props: bytes,
                 body: bytes, frame_max: int) -> None:
    args = b"".join((_RETURN, struct.pack(">H", code), _shortstr(text.encode()), _shortstr(exchange.encode()),
                     _shortstr(rk.encode())))
    out.append(_HDR.pack(1, channel, len(args)))
    out.append(args)
    out.append(_END)
    content(out, channel, props, body, frame_max)
