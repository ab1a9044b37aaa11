"""How an AMQP message is stored in a core queue, and how it is dead-lettered.

The routing core keeps payloads opaque. An Amazon MQ (RabbitMQ engine)
message is stored as the exchange and routing key it was published with,
the content-header property bytes exactly as the client sent them, and the
body::

    u8 len(exchange) | exchange | u8 len(routing key) | routing key |
    u32 len(properties) | properties | body

so a delivery writes the property bytes back out unchanged (every basic
property round-trips) and nothing is decoded on the hot path except the few
properties routing needs (``read_props``).

Dead-lettering (``dead_letter``, registered with the core as codec "amqp")
adds RabbitMQ's ``x-death`` header: one entry per (queue, reason) with a
count, most recent first, plus ``x-first-death-*`` and ``x-last-death-*``;
a per-message ``expiration`` moves to the entry's ``original-expiration``.
"""

from __future__ import annotations

import datetime
import struct

from pamqp import commands, decode

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")

# property flag bits, in wire order, with their codec type
_FIELDS = (
    ("content_type", 0x8000, "s"), ("content_encoding", 0x4000, "s"), ("headers", 0x2000, "F"),
    ("delivery_mode", 0x1000, "o"), ("priority", 0x0800, "o"), ("correlation_id", 0x0400, "s"),
    ("reply_to", 0x0200, "s"), ("expiration", 0x0100, "s"), ("message_id", 0x0080, "s"),
    ("timestamp", 0x0040, "T"), ("message_type", 0x0020, "s"), ("user_id", 0x0010, "s"),
    ("app_id", 0x0008, "s"), ("cluster_id", 0x0004, "s"),
)


def encode(exchange: str, routing_key: str, props: bytes, body: bytes) -> bytes:
    ex = exchange.encode()
    rk = routing_key.encode()
    return b"".join((bytes((len(ex),)), ex, bytes((len(rk),)), rk, _U32.pack(len(props)), props, body))


def decode_payload(payload: bytes) -> tuple[str, str, bytes, bytes]:
    """(exchange, routing key, property bytes, body)."""
    n = payload[0]
    ex = payload[1:1 + n].decode()
    p = 1 + n
    m = payload[p]
    rk = payload[p + 1:p + 1 + m].decode()
    p += 1 + m
    (plen,) = _U32.unpack_from(payload, p)
    p += 4
    return ex, rk, payload[p:p + plen], payload[p + plen:]


class Props:
    """The properties routing and policy look at, read without decoding the rest."""
    __slots__ = ("delivery_mode", "priority", "expiration", "reply_to", "user_id", "_raw", "_hspan", "_headers")

    def __init__(self) -> None:
        self.delivery_mode = None
        self.priority = None
        self.expiration = None
        self.reply_to = None
        self.user_id = None
        self._raw = b""
        self._hspan = None
        self._headers = None

    @property
    def headers(self) -> dict | None:
        if self._headers is None and self._hspan is not None:
            a, b = self._hspan
            try:
                self._headers = decode.field_table(self._raw[a:b])[1]
            except Exception as exc:      # pamqp raises several types for bad tables
                raise ValueError(f"malformed headers table: {exc}") from None
        return self._headers


def read_props(raw: bytes) -> Props:
    """Parse a content header's property list (flags + values); ValueError if malformed."""
    out = Props()
    out._raw = raw
    if not raw:
        return out
    try:
        flags = 0
        pos = 0
        shift = 0
        while True:
            (word,) = _U16.unpack_from(raw, pos)
            pos += 2
            flags |= (word & 0xFFFE) << shift
            if not word & 1:
                break
            shift += 16
        if not flags:
            return out
        for name, bit, kind in _FIELDS:
            if not flags & bit:
                continue
            if kind == "s":
                n = raw[pos]
                if name in ("expiration", "reply_to", "user_id"):
                    setattr(out, name, raw[pos + 1:pos + 1 + n].decode())
                pos += 1 + n
            elif kind == "o":
                setattr(out, name, raw[pos])
                pos += 1
            elif kind == "F":
                (n,) = _U32.unpack_from(raw, pos)
                out._hspan = (pos, pos + 4 + n)
                pos += 4 + n
            else:      # timestamp
                pos += 8
            if pos > len(raw):
                raise ValueError("content header properties are truncated")
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed content header properties: {exc}") from None
    return out


def full_props(raw: bytes) -> commands.Basic.Properties:
    """Every property decoded (pamqp), for the rare paths that rewrite them."""
    props = commands.Basic.Properties()
    if raw:
        (word,) = _U16.unpack_from(raw, 0)
        props.unmarshal(word & 0xFFFE, raw[2:])
    return props


def marshal_props(props: commands.Basic.Properties) -> bytes:
    return props.marshal()


def with_reply_to(raw: bytes, reply_to: str) -> bytes:
    props = full_props(raw)
    props.reply_to = reply_to
    return props.marshal()


def ttl_of(props: Props) -> int | None:
    """Per-message TTL in ms from ``expiration`` (None if absent); ValueError if invalid."""
    e = props.expiration
    if e is None:
        return None
    if not e.isdigit():
        raise ValueError(e)
    return int(e)


def dead_letter(payload: bytes, reason: str, queue: str, now_ms: int, dlx: dict):
    """Core dead-letter codec "amqp": (payload, size, routing keys, headers, opts)."""
    exchange, rk, raw, body = decode_payload(payload)
    props = full_props(raw)
    headers = dict(props.headers or {})
    deaths = list(headers.get("x-death") or [])
    entry = None
    for i, d in enumerate(deaths):
        if isinstance(d, dict) and d.get("queue") == queue and d.get("reason") == reason:
            entry = deaths.pop(i)
            entry["count"] = int(entry.get("count", 1)) + 1
            entry["time"] = datetime.datetime.fromtimestamp(now_ms // 1000, datetime.UTC)
            break
    if entry is None:
        keys = [rk] + [k for k in _list(headers.get("CC"))]
        entry = {"count": 1, "reason": reason, "queue": queue,
                 "time": datetime.datetime.fromtimestamp(now_ms // 1000, datetime.UTC),
                 "exchange": exchange, "routing-keys": keys}
        if props.expiration:
            entry["original-expiration"] = props.expiration
    deaths.insert(0, entry)
    headers["x-death"] = deaths
    if "x-first-death-reason" not in headers:
        headers["x-first-death-reason"] = reason
        headers["x-first-death-queue"] = queue
        headers["x-first-death-exchange"] = exchange
    headers["x-last-death-reason"] = reason
    headers["x-last-death-queue"] = queue
    headers["x-last-death-exchange"] = exchange
    props.headers = headers
    props.expiration = None
    new_rk = dlx.get("rk")
    rks = [new_rk] if new_rk is not None else [rk] + list(_list(headers.get("CC")))
    out = encode(dlx["x"], rks[0], props.marshal(), body)
    opts = {"priority": props.priority} if props.priority else {}
    return out, len(body), rks, headers, opts


def _list(v) -> list:
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else str(x) for x in v]
    return []
