"""A broker's lifecycle: its listeners opened, rebooted and closed.

Listeners are runtime listeners (broker/runtime/listeners.py): opened on
every gateway through the supervisor, durable across restarts, on ports
from ``mq.port_range`` (or ``listeners.port_range``). Which listeners an
engine gets is one table, ``ENGINE_LISTENERS``: (suffix, protocol, tls,
URL scheme). The RabbitMQ engine has AMQPS plus a plain AMQP listener for
local use; the ActiveMQ engine has MQTT+SSL and MQTT over WSS (its other
protocols are not offered).
"""

from __future__ import annotations

import asyncio
import logging

from services.mq.model import broker_key

log = logging.getLogger("broker.mq")

ENGINE_LISTENERS: dict[str, list[tuple[str, str, str, str]]] = {
    "RABBITMQ": [("amqps", "amqp", "always", "amqps"), ("amqp", "amqp", "never", "amqp")],
    # MQTT+SSL and MQTT over secure WebSocket (protocols/mqtt); OpenWire, AMQP 1.0 and STOMP are not offered
    "ACTIVEMQ": [("mqtts", "mqtt", "always", "mqtt+ssl"), ("wss", "mqtt-ws", "always", "wss")],
}
_tasks: set = set()


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


def _spawn(coro) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_done)


def _done(task) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("event=mq_lifecycle_failed error=%r", task.exception())


async def _free_port(gateway, used: set[int]) -> int | None:
    """A port from mq.port_range not used by another runtime listener (None: the runtime picks)."""
    cfg = gateway.config
    text = cfg.get("mq.port_range") or ""
    if not text or cfg.get("listeners.free_ports"):
        return None
    lo, _, hi = text.partition("-")
    taken = {r["port"] for r in await gateway.control.call("listeners", {})} | used
    for port in range(int(lo), int(hi or lo) + 1):
        if port not in taken:
            return port
    from services.mq.catalog import bad_request
    raise bad_request("brokerName", f"No free port left in mq.port_range {text}.")


async def open_listeners(gateway, broker_id: str, engine: str, ports: dict | None = None) -> dict:
    out = {}
    for suffix, proto, tls, scheme in ENGINE_LISTENERS.get(engine, []):
        spec = {"name": listener_name(broker_id, suffix), "protocol": proto, "tls": tls, "scheme": scheme,
                "args": {"broker": broker_id}, "owner": "mq"}
        want = (ports or {}).get(suffix) or await _free_port(gateway, set(out.values()))
        if want:
            spec["port"] = want
        rec = await gateway.control.call("listener.open", spec)
        out[suffix] = rec["port"]
    return out


async def close_listeners(gateway, broker_id: str, engine: str) -> None:
    for suffix, *_ in ENGINE_LISTENERS.get(engine, []):
        try:
            await gateway.control.call("listener.close", {"name": listener_name(broker_id, suffix)})
        except Exception as exc:
            log.warning("event=mq_listener_close_failed broker=%s error=%r", broker_id, exc)


def start(api, ctx, broker_id: str, engine: str) -> None:
    async def run():
        try:
            ports = await open_listeners(api.gateway, broker_id, engine)
        except Exception as exc:
            log.error("event=mq_broker_creation_failed broker=%s error=%r", broker_id, exc)
            await api._patch(ctx, broker_id, {"state": "CREATION_FAILED"})
            return
        await api._patch(ctx, broker_id, {"state": "RUNNING", "listeners": ports},
                         when={"state": "CREATION_IN_PROGRESS"})
    _spawn(run())


async def _record(ctx, broker_id: str) -> dict | None:
    return await ctx.cluster.call(broker_key(broker_id), "mq.Get", {"kind": "mq.broker", "k": broker_key(broker_id)})


def reboot(api, ctx, broker_id: str) -> None:
    async def run():
        rec = await _record(ctx, broker_id)
        if rec is None:
            return
        await close_listeners(api.gateway, broker_id, rec["engine"])
        ports = await open_listeners(api.gateway, broker_id, rec["engine"], rec.get("listeners"))
        await api._patch(ctx, broker_id, {"state": "RUNNING", "listeners": ports},
                         when={"state": "REBOOT_IN_PROGRESS"})
    _spawn(run())


def delete(api, ctx, broker_id: str) -> None:
    async def run():
        rec = await _record(ctx, broker_id)
        if rec is None:
            return
        await close_listeners(api.gateway, broker_id, rec["engine"])
        await ctx.cluster.call_all("core.DropNamespace", {"prefix": f"mq/{broker_id}/"})
        await ctx.cluster.call(broker_key(broker_id), "mq.Delete", {"kind": "mq.broker", "k": broker_key(broker_id)})
    _spawn(run())
