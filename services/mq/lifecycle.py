"""A broker's lifecycle: its listeners opened, rebooted and closed.

Listeners are runtime listeners (broker/runtime/listeners.py): opened on
every gateway through the supervisor, durable across restarts, on ports
from ``mq.port_range`` (or ``listeners.port_range``). Which listeners an
engine gets is one table, ``ENGINE_LISTENERS``: (suffix, protocol, tls,
URL scheme). The RabbitMQ engine has AMQPS plus a plain AMQP listener for
local use; the ActiveMQ engine has MQTT+SSL and MQTT over WSS (its other
protocols are not offered).

Transitions are driven by the shard that owns the broker's record, not by
the gateway that took the call: CreateBroker, RebootBroker and DeleteBroker
change the state and, in the same group commit, record a durable delivery
of kind ``mq.lifecycle`` (broker/runtime/sinks.py, one at a time per
broker). After the commit the shard runs the step through its control link
to the supervisor, then moves the state on (RUNNING, or the record is
gone). A gateway that dies mid-way changes nothing; a shard that dies runs
the step again after its restart, and every step is idempotent (listeners
are opened and closed by name, the state is checked before it moves).
"""

from __future__ import annotations

import logging

from broker.runtime import sinks
from services.mq.model import broker_key

log = logging.getLogger("broker.mq")

ENGINE_LISTENERS: dict[str, list[tuple[str, str, str, str]]] = {
    "RABBITMQ": [("amqps", "amqp", "always", "amqps"), ("amqp", "amqp", "never", "amqp")],
    # MQTT+SSL and MQTT over secure WebSocket (protocols/mqtt); OpenWire, AMQP 1.0 and STOMP are not offered
    "ACTIVEMQ": [("mqtts", "mqtt", "always", "mqtt+ssl"), ("wss", "mqtt-ws", "always", "wss")],
}
KIND = "mq.lifecycle"
BROKER = "mq.broker"


def listener_name(broker_id: str, suffix: str) -> str:
    return f"mq-{broker_id}-{suffix}"


def endpoints(rec: dict) -> list[str]:
    host = rec.get("host") or "localhost"
    out = []
    for suffix, _proto, _tls, scheme in ENGINE_LISTENERS.get(rec["engine"], []):
        port = (rec.get("listeners") or {}).get(suffix)
        if port:
            out.append(f"{scheme}://{host}:{port}")
    return out


def console_url(rec: dict) -> str:
    return f"{rec.get('console_base', '')}/_broker/mq/brokers/{rec['id']}"


async def _free_port(host, used: set[int]) -> int | None:
    """A port from mq.port_range not used by another runtime listener (None: the runtime picks).
    `host` is the worker (gateway or shard) whose control link asks the supervisor."""
    cfg = host.run.config
    text = cfg.get("mq.port_range") or ""
    if not text or cfg.get("listeners.free_ports"):
        return None
    lo, _, hi = text.partition("-")
    taken = {r["port"] for r in await host.control.call("listeners", {})} | used
    for port in range(int(lo), int(hi or lo) + 1):
        if port not in taken:
            return port
    from services.mq.catalog import bad_request
    raise bad_request("brokerName", f"No free port left in mq.port_range {text}.")


async def open_listeners(host, broker_id: str, engine: str, ports: dict | None = None) -> dict:
    out = {}
    for suffix, proto, tls, scheme in ENGINE_LISTENERS.get(engine, []):
        spec = {"name": listener_name(broker_id, suffix), "protocol": proto, "tls": tls, "scheme": scheme,
                "args": {"broker": broker_id}, "owner": "mq"}
        want = (ports or {}).get(suffix) or await _free_port(host, set(out.values()))
        if want:
            spec["port"] = want
        rec = await host.control.call("listener.open", spec)
        out[suffix] = rec["port"]
    return out


async def close_listeners(host, broker_id: str, engine: str) -> None:
    for suffix, *_ in ENGINE_LISTENERS.get(engine, []):
        try:
            await host.control.call("listener.close", {"name": listener_name(broker_id, suffix)})
        except Exception as exc:
            log.warning("event=mq_listener_close_failed broker=%s error=%r", broker_id, exc)


def submit(part, broker_id: str, action: str) -> None:
    """Record step `action` ("create", "reboot" or "delete") of a broker, in this
    partition's commit; the shard runs it after the commit (`run_step`)."""
    sinks.deliveries(part).submit(KIND, {"id": broker_id, "action": action}, None, order=f"mq/{broker_id}")


def _set(part, key: str, expect: str, fields: dict) -> None:
    rec = part.store.get(BROKER, key)       # read again: the record may have moved on meanwhile
    if rec is not None and rec["state"] == expect:
        part.store.put(BROKER, key, {**rec, **fields})
        part.flush_soon()


async def run_step(d: sinks.Delivery) -> None:
    """Delivery handler of KIND, in the shard owning the broker record."""
    part = d.partition
    host = part.shard
    broker_id, action = d.target["id"], d.target["action"]
    key = broker_key(broker_id)
    rec = part.store.get(BROKER, key)
    if rec is None:
        return
    engine = rec["engine"]
    if action == "create":
        if rec["state"] != "CREATION_IN_PROGRESS":
            return
        try:
            ports = await open_listeners(host, broker_id, engine)
        except Exception as exc:      # no port left, a port that cannot be bound
            log.error("event=mq_broker_creation_failed broker=%s error=%r", broker_id, exc)
            _set(part, key, "CREATION_IN_PROGRESS", {"state": "CREATION_FAILED"})
            return
        _set(part, key, "CREATION_IN_PROGRESS", {"state": "RUNNING", "listeners": ports})
    elif action == "reboot":
        if rec["state"] != "REBOOT_IN_PROGRESS":
            return
        await close_listeners(host, broker_id, engine)
        ports = await open_listeners(host, broker_id, engine, rec.get("listeners"))
        _set(part, key, "REBOOT_IN_PROGRESS", {"state": "RUNNING", "listeners": ports})
    elif action == "delete":
        await close_listeners(host, broker_id, engine)
        await part.call_all("core.DropNamespace", {"prefix": f"mq/{broker_id}/"})
        if part.store.get(BROKER, key) is not None:
            part.store.delete(BROKER, key)
            part.flush_soon()
