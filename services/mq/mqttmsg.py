"""How an MQTT message is stored in a core queue, so AMQP sees it too.

As RabbitMQ's MQTT plugin does, an MQTT PUBLISH to topic ``a/b/c`` is an
AMQP message published to ``amq.topic`` with routing key ``a.b.c``
(broker/core/topic.py maps the two), stored in the AMQP layout of
services/mq/amqpmsg.py: an AMQP consumer bound to ``amq.topic`` receives it
unchanged. Its QoS travels in the header ``x-mqtt-publish-qos`` (delivery
mode 2 from QoS 1 up); a retained message handed to a new subscription also
carries ``x-mqtt-retained`` (the RETAIN flag it is delivered with). The few
property lists MQTT writes are built once, and recognised by their bytes
when read back; an AMQP publisher's message gets QoS 1 if it is persistent
(delivery mode 2), else 0, unless it names ``x-mqtt-publish-qos`` itself.
"""

from __future__ import annotations

from pamqp import commands

from services.mq import amqpmsg

EXCHANGE = "amq.topic"


def _props(qos: int, retained: bool) -> bytes:
    headers = {"x-mqtt-publish-qos": qos}
    if retained:
        headers["x-mqtt-retained"] = True
    return commands.Basic.Properties(headers=headers, delivery_mode=2 if qos else 1).marshal()


PROPS = {(q, r): _props(q, r) for q in (0, 1, 2) for r in (False, True)}
_KNOWN = {raw: key for key, raw in PROPS.items()}


def encode(routing_key: str, qos: int, body: bytes, retained: bool = False) -> bytes:
    return amqpmsg.encode(EXCHANGE, routing_key, PROPS[(qos, retained)], body)


def decode(payload: bytes) -> tuple[str, int, bool, bytes]:
    """(routing key, QoS, retained, body) of a stored message, whoever published it."""
    _ex, rk, raw, body = amqpmsg.decode_payload(payload)
    known = _KNOWN.get(raw)
    if known is not None:
        return rk, known[0], known[1], body
    try:
        props = amqpmsg.read_props(raw)
        headers = props.headers if props._hspan is not None else None
    except ValueError:
        return rk, 0, False, body
    q = (headers or {}).get("x-mqtt-publish-qos")
    if isinstance(q, int) and not isinstance(q, bool) and 0 <= q <= 2:
        return rk, q, False, body
    return rk, 1 if props.delivery_mode == 2 else 0, False, body
