"""Sans-IO MQTT 3.1.1 codec: our fixed-header framer, amqtt's packet classes.

``Framer`` cuts packets: one control byte, a Remaining Length of at most four
bytes (2.2.3), checked against the size limit *before* the body is buffered.
``next_packet()`` returns ``(type, flags, body)`` or ``NEED_DATA`` and raises
``MqttError`` on bad input; after an error every later call raises it again.

Decoding: the rare packets (CONNECT, SUBSCRIBE, UNSUBSCRIBE) are decoded by
amqtt's packet classes over a ``BufferReader`` (it never suspends there, so
the coroutine is driven by hand, with no event loop and no task). amqtt is
lenient (a bad UTF-8 string comes back as ``str(bytes)``, a short packet as
missing fields), so each decoded packet is encoded again with ``to_bytes``
and must give back exactly the bytes received. The hot packets (PUBLISH and
the acknowledgements) are read and written here directly: they are a
string, a packet id and bytes, and run once per message.
"""

from __future__ import annotations

import struct

from protocols.mqtt.errors import MqttError

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
NAMES = {CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK", PUBREC: "PUBREC",
         PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK",
         UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP",
         DISCONNECT: "DISCONNECT"}
# Fixed-header flags every packet but PUBLISH must carry (2.2.2, Table 2.2)
FIXED_FLAGS = {CONNECT: 0, CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBSCRIBE: 2, SUBACK: 0,
               UNSUBSCRIBE: 2, UNSUBACK: 0, PINGREQ: 0, PINGRESP: 0, DISCONNECT: 0}
MAX_REMAINING = 268435455          # four Remaining Length bytes (2.2.3)
NEED_DATA = object()
PINGRESP_BYTES = b"\xd0\x00"
_PID = struct.Struct(">H")


class Framer:
    __slots__ = ("buf", "pos", "max_size", "error")

    def __init__(self, max_size: int = MAX_REMAINING) -> None:
        self.buf = bytearray()
        self.pos = 0
        self.max_size = max_size
        self.error: MqttError | None = None

    def receive_data(self, data: bytes) -> None:
        if self.pos and self.pos > len(self.buf) // 2:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    @property
    def buffered(self) -> int:
        return len(self.buf) - self.pos

    def next_packet(self):
        if self.error is not None:
            raise self.error
        try:
            return self._next()
        except MqttError as exc:
            self.error = exc
            raise

    def _next(self):
        buf, pos = self.buf, self.pos
        end = len(buf)
        if end - pos < 2:
            return NEED_DATA
        first = buf[pos]
        # Remaining Length: 7 bits a byte, continuation in the high bit, four bytes at most
        length = 0
        shift = 0
        i = pos + 1
        while True:
            if i >= end:
                return NEED_DATA
            b = buf[i]
            length |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                break
            shift += 7
            if shift >= 28:
                raise MqttError("malformed Remaining Length: more than four bytes [MQTT-2.2.3]")
        if length > self.max_size:
            raise MqttError(f"packet of {length} bytes is larger than the {self.max_size} accepted")
        if end - i < length:
            return NEED_DATA
        self.pos = i + length
        ptype = first >> 4
        flags = first & 0x0F
        if ptype == PUBLISH:
            if flags & 0x06 == 0x06:
                raise MqttError("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
        else:
            want = FIXED_FLAGS.get(ptype)
            if want is None:
                raise MqttError(f"reserved packet type {ptype} [MQTT-2.2.1]")
            if flags != want:
                raise MqttError(f"{NAMES[ptype]} with fixed-header flags {flags:#x} [MQTT-2.2.2-2]")
        return ptype, flags, bytes(buf[i:self.pos])


# -- strings ------------------------------------------------------------------------
def check_string(s: str, what: str) -> str:
    """An MQTT UTF-8 string must not hold U+0000 [MQTT-1.5.3-2]."""
    if "\x00" in s:
        raise MqttError(f"{what} contains U+0000 [MQTT-1.5.3-2]")
    return s


def _utf8(b: bytes, what: str) -> str:
    try:
        return check_string(b.decode("utf-8"), what)
    except UnicodeDecodeError:
        raise MqttError(f"{what} is not well-formed UTF-8 [MQTT-1.5.3-1]") from None


# -- hot packets, read directly ---------------------------------------------------------
TOPIC_CACHE = 4096                 # topic-name bytes already validated -> str (publishers reuse topics)
_topics: dict[bytes, str] = {}


def _topic_name(raw: bytes) -> str:
    topic = _topics.get(raw)
    if topic is None:
        topic = _utf8(raw, "topic name")
        if not topic:
            raise MqttError("PUBLISH with an empty topic name [MQTT-4.7.3-1]")
        if "+" in topic or "#" in topic:
            raise MqttError("Topic name in the PUBLISH Packet MUST NOT contain wildcard characters [MQTT-3.3.2-2]")
        if len(_topics) >= TOPIC_CACHE:
            _topics.clear()
        _topics[raw] = topic
    return topic


def decode_publish(flags: int, body: bytes) -> tuple[str, int, int, bytes]:
    """(topic, packet id or 0, QoS, payload); topic validated as a Topic Name."""
    if len(body) < 2:
        raise MqttError("PUBLISH without a topic name [MQTT-3.3.2-1]")
    p = 2 + ((body[0] << 8) | body[1])
    if len(body) < p:
        raise MqttError("PUBLISH topic name longer than the packet [MQTT-3.3.2-1]")
    topic = _topic_name(body[2:p])
    qos = (flags >> 1) & 3
    if not qos:
        return topic, 0, 0, body[p:]
    if len(body) < p + 2:
        raise MqttError("PUBLISH without its packet identifier [MQTT-2.3.1-1]")
    pid = (body[p] << 8) | body[p + 1]
    if not pid:
        raise MqttError("PUBLISH with packet identifier 0 [MQTT-2.3.1-1]")
    return topic, pid, qos, body[p + 2:]


def decode_pid(ptype: int, body: bytes) -> int:
    if len(body) != 2:
        raise MqttError(f"{NAMES[ptype]} must carry exactly a packet identifier [MQTT-2.3.1]")
    return (body[0] << 8) | body[1]


def _remaining(n: int) -> bytes:
    if n < 128:
        return bytes((n,))
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_topic(topic: str) -> bytes:
    t = topic.encode()
    return _PID.pack(len(t)) + t


_FIRST = [bytes((0x30 | f,)) for f in range(16)]          # PUBLISH first byte by flags


def encode_publish(topic_b: bytes, payload: bytes, qos: int, pid: int, retain: bool, dup: bool) -> bytes:
    """PUBLISH from an encoded topic (``encode_topic``), as bytes ready to write."""
    first = _FIRST[(qos << 1) | (1 if retain else 0) | (8 if dup else 0)]
    if qos:
        n = len(topic_b) + 2 + len(payload)
        return b"".join((first, bytes((n,)) if n < 128 else _remaining(n), topic_b,
                         bytes((pid >> 8, pid & 0xFF)), payload))
    n = len(topic_b) + len(payload)
    return b"".join((first, bytes((n,)) if n < 128 else _remaining(n), topic_b, payload))


def encode_ack(ptype: int, pid: int) -> bytes:
    """PUBACK, PUBREC, PUBREL (flags 0b0010) or PUBCOMP."""
    return bytes(((ptype << 4) | FIXED_FLAGS[ptype], 2, pid >> 8, pid & 0xFF))


# -- rare packets, through amqtt ----------------------------------------------------------
def _drive(coro):
    """Run an amqtt decoder that reads only from a BufferReader (never suspends)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise MqttError("truncated packet")


def _amqtt(ptype: int, flags: int, body: bytes):
    from amqtt.adapters import BufferReader
    from amqtt.mqtt import packet_dict
    from amqtt.mqtt.packet import MQTTFixedHeader
    cls = packet_dict[ptype]
    fixed = MQTTFixedHeader(ptype, flags, len(body))
    try:
        return _drive(cls.from_stream(BufferReader(body), fixed_header=fixed))
    except MqttError:
        raise
    except Exception as exc:         # amqtt raises several types for short or bad input
        raise MqttError(f"malformed {NAMES[ptype]}: {exc}") from None


def _same_bytes(pkt, body: bytes, ptype: int) -> None:
    vh = pkt.variable_header
    got = (vh.to_bytes() if vh is not None else b"") + \
        (pkt.payload.to_bytes(pkt.fixed_header, vh) if pkt.payload is not None else b"")
    if bytes(got) != body:
        raise MqttError(f"malformed {NAMES[ptype]}: bad UTF-8 string, bad length or trailing bytes [MQTT-1.5.3-1]")


class Connect:
    """A decoded CONNECT (3.1), plain values."""
    __slots__ = ("proto_name", "level", "clean", "keepalive", "client_id", "will", "username", "password")

    def __init__(self, proto_name, level, clean, keepalive, client_id, will, username, password):
        self.proto_name, self.level, self.clean, self.keepalive = proto_name, level, clean, keepalive
        self.client_id, self.will, self.username, self.password = client_id, will, username, password


def decode_connect(flags: int, body: bytes) -> Connect:
    """Raises MqttError; ``connack`` is set when a CONNACK is due first (3.1.4)."""
    pkt = _amqtt(CONNECT, flags, body)
    vh, pl = pkt.variable_header, pkt.payload
    if vh is None or pl is None:
        raise MqttError("malformed CONNECT")
    if (vh.proto_name, vh.proto_level) not in (("MQTT", 4), ("MQIsdp", 3)):
        if vh.proto_name in ("MQTT", "MQIsdp"):
            raise MqttError(f"unsupported protocol level {vh.proto_level} [MQTT-3.1.2-2]",
                            connack=0x01)
        raise MqttError(f"protocol name {vh.proto_name!r} is not MQTT [MQTT-3.1.2-1]")
    f = vh.flags
    if f & 0x01:
        raise MqttError("CONNECT reserved flag is set [MQTT-3.1.2-3]")
    will_flag = bool(f & 0x04)
    will_qos = (f >> 3) & 3
    if not will_flag and (will_qos or f & 0x20):
        raise MqttError("Will QoS/Retain set without the Will Flag [MQTT-3.1.2-13] [MQTT-3.1.2-15]")
    if will_qos == 3:
        raise MqttError("Will QoS 3 [MQTT-3.1.2-14]")
    if f & 0x40 and not f & 0x80:
        raise MqttError("Password Flag set without the User Name Flag [MQTT-3.1.2-22]")
    random_id = pl.client_id_is_random
    if random_id:
        pl.client_id = ""
    _same_bytes(pkt, body, CONNECT)
    client_id = check_string(pl.client_id, "client identifier")
    will = None
    if will_flag:
        topic = check_string(pl.will_topic or "", "will topic")
        if not topic or "+" in topic or "#" in topic:
            raise MqttError(f"invalid will topic {topic!r} [MQTT-3.1.2-9]")
        will = (topic, bytes(pl.will_message or b""), will_qos, bool(f & 0x20))
    username = check_string(pl.username, "user name") if f & 0x80 else None
    password = pl.password if f & 0x40 else None
    return Connect(vh.proto_name, vh.proto_level, bool(f & 0x02), vh.keep_alive, client_id, will, username,
                   password)


def decode_subscribe(flags: int, body: bytes) -> tuple[int, list[tuple[str, int]]]:
    pkt = _amqtt(SUBSCRIBE, flags, body)
    if pkt.variable_header is None or pkt.payload is None:
        raise MqttError("malformed SUBSCRIBE")
    _same_bytes(pkt, body, SUBSCRIBE)
    topics = pkt.payload.topics
    if not topics:
        raise MqttError("SUBSCRIBE with no topic filter [MQTT-3.8.3-3]")
    for flt, qos in topics:
        check_string(flt, "topic filter")
        if qos > 2:
            raise MqttError(f"SUBSCRIBE requested QoS {qos:#x} [MQTT-3.8.3-4]")
    return pkt.variable_header.packet_id, topics


def decode_unsubscribe(flags: int, body: bytes) -> tuple[int, list[str]]:
    pkt = _amqtt(UNSUBSCRIBE, flags, body)
    if pkt.variable_header is None or pkt.payload is None:
        raise MqttError("malformed UNSUBSCRIBE")
    _same_bytes(pkt, body, UNSUBSCRIBE)
    if not pkt.payload.topics:
        raise MqttError("UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2]")
    for flt in pkt.payload.topics:
        check_string(flt, "topic filter")
    return pkt.variable_header.packet_id, pkt.payload.topics


def encode_connack(session_present: bool, code: int) -> bytes:
    from amqtt.mqtt.connack import ConnackPacket
    return ConnackPacket.build(1 if session_present else 0, code).to_bytes()


def encode_suback(pid: int, codes: list[int]) -> bytes:
    from amqtt.mqtt.suback import SubackPacket
    return SubackPacket.build(pid, codes).to_bytes()


def encode_unsuback(pid: int) -> bytes:
    from amqtt.mqtt.unsuback import UnsubackPacket
    return UnsubackPacket.build(pid).to_bytes()


def valid_filter(flt: str) -> bool:
    """A Topic Filter (4.7.1): '#' alone and last in its level, '+' alone in its level, not empty."""
    if not flt:
        return False
    levels = flt.split("/")
    for i, lv in enumerate(levels):
        if "#" in lv and (lv != "#" or i != len(levels) - 1):
            return False
        if "+" in lv and lv != "+":
            return False
    return True
