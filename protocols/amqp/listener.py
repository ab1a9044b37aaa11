"""The AMQP 0-9-1 listeners this package offers the runtime (a FRONTENDS module).

- ``amqp`` on ``listeners.amqp_port`` (5672) and ``amqps`` on
  ``listeners.amqps_port`` (5671, TLS): the default broker;
- runtime listeners of protocol "amqp" (opened by the MQ service for a broker
  made with CreateBroker, ``args = {"broker": id}``): that broker's users and
  namespaces.

One ``AmqpServer`` per (gateway, broker) holds what its connections share:
the edge router, the realm, negotiated limits, the resource alarm.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

from broker.runtime import telemetry
from broker.runtime.config import Key
from broker.runtime.plugins import ListenerSpec
from services.mq.realm import DEFAULT_BROKER, Realm

log = logging.getLogger("broker.amqp")

# Modules its listeners import when they open: the zygote imports them once for
# every gateway (broker/cli.py), instead of each gateway after it was forked.
PRELOAD = ("protocols.amqp.connection",)


CONFIG_KEYS = (
    Key("listeners", "amqp_port", int, 5672, "AMQP 0-9-1 port of the default broker."),
    Key("listeners", "amqps_port", int, 5671, "AMQP 0-9-1 over TLS port of the default broker."),
    Key("amqp", "heartbeat", int, 60, "Heartbeat interval (seconds) the server proposes (0: off)."),
    Key("amqp", "frame_max", int, 131072, "Largest frame (bytes) the server accepts and proposes."),
    Key("amqp", "channel_max", int, 2047, "Most channels per connection."),
    Key("amqp", "max_message_size", int, 134217728, "Largest message body (bytes) a publish may carry."),
    Key("amqp", "disk_free_limit", int, 50000000,
        "Free bytes on the data directory's disk below which publishers are blocked (connection.blocked)."),
    Key("amqp", "memory_high_watermark", float, 0.4,
        "Fraction of RAM a gateway may use before its publishers are blocked (0: off)."),
)

VERSION = "3.13.7"
CAPABILITIES = {
    "publisher_confirms": True, "exchange_exchange_bindings": True, "basic.nack": True,
    "consumer_cancel_notify": True, "connection.blocked": True,
    "authentication_failure_close": True, "per_consumer_qos": True, "direct_reply_to": True,
}
DEFAULT_EXCHANGES = (("", "direct"), ("amq.direct", "direct"), ("amq.fanout", "fanout"),
                     ("amq.topic", "topic"), ("amq.headers", "headers"), ("amq.match", "headers"))
ALARM_SECONDS = 1.0


class AmqpServer:
    def __init__(self, gateway, broker: str, realm: Realm):
        cfg = gateway.config
        self.gateway = gateway
        self.edge = gateway.edge
        self.broker = broker
        self.realm = realm
        self.frame_max = int(cfg.get("amqp.frame_max", 131072))
        self.channel_max = int(cfg.get("amqp.channel_max", 2047))
        self.heartbeat = int(cfg.get("amqp.heartbeat", 60))
        self.max_message_size = int(cfg.get("amqp.max_message_size", 134217728))
        self.consumer_timeout = 1800000        # RabbitMQ's default: 30 minutes
        self.connections: set = set()
        self.alarm: str | None = None
        self.server_properties = {
            "capabilities": dict(CAPABILITIES), "cluster_name": f"broker@{os.uname().nodename}",
            "copyright": "Copyright (c) the broker authors", "information": "Licensed under the Apache License 2.0",
            "platform": "Python/asyncio", "product": "RabbitMQ", "version": VERSION,
        }
        self._ready_ns: set = set()
        self.counts = [0, 0, 0]          # publishes, acks, confirms since the last metrics tick
        self.meta: dict | None = None    # {"name", "account", "region"} for AWS/AmazonMQ metrics

    async def ensure_vhost(self, ns: str) -> None:
        """The default and amq.* exchanges of a vhost exist (idempotent, once per gateway)."""
        table = self.edge.tables.get(ns)
        if table is not None and all(name in table for name, _ in DEFAULT_EXCHANGES):
            return
        await asyncio.gather(*(self.edge.declare_exchange(ns, name, kind, {"durable": True, "auto_delete": False,
                                                                             "internal": False, "args": {}})
                               for name, kind in DEFAULT_EXCHANGES))

    async def settings(self) -> dict:
        """A CreateBroker broker's settings from its configuration (consumer_timeout,
        default_queue_type, heartbeat, channel_max); the default broker has none."""
        if self.broker == DEFAULT_BROKER:
            return {}
        info = await self.realm.broker_info(self.broker)
        if info and self.meta is None:
            self.meta = {k: info.get(k) for k in ("name", "account", "region")}
        return (info or {}).get("settings") or {}

    def emit_metrics(self) -> None:
        """AWS/AmazonMQ metrics of this broker as seen from this gateway (per second)."""
        meta = self.meta
        if meta is None:
            cfg = self.gateway.config
            meta = self.meta = {"name": self.broker, "account": cfg.get("aws.default_account", "000000000000"),
                                "region": cfg.get("aws.default_region", "us-east-1")} \
                if self.broker == DEFAULT_BROKER else None
        if meta is None or not meta.get("name"):
            return
        conns = [c for c in self.connections if c.state == 4]
        channels = sum(len(c.channels) for c in conns)
        consumers = sum(len(ch.consumers) for c in conns for ch in c.channels.values())
        pub, ack, conf = self.counts
        self.counts = [0, 0, 0]
        dims = {"Broker": meta["name"]}
        where = {"account": meta["account"], "region": meta["region"]}
        for name, value, unit in (("ConnectionCount", len(conns), "Count"), ("ChannelCount", channels, "Count"),
                                  ("ConsumerCount", consumers, "Count"), ("PublishRate", pub, "Count/Second"),
                                  ("AckRate", ack, "Count/Second"), ("ConfirmRate", conf, "Count/Second")):
            telemetry.metric("AWS/AmazonMQ", name, dims, value, unit, **where)

    def factory(self):
        from protocols.amqp.connection import AmqpConnection

        def make():
            conn = AmqpConnection(self)
            self.gateway.connections.add(conn)
            return conn
        return make

    def set_alarm(self, reason: str | None) -> None:
        if reason == self.alarm:
            return
        self.alarm = reason
        log.warning("event=amqp_resource_alarm reason=%s", reason or "cleared")
        for conn in list(self.connections):
            if conn.state == 4:     # OPEN
                conn.send_blocked(reason)


class _Alarms:
    """One resource check per gateway: disk free under the data dir, gateway RSS."""

    def __init__(self, gateway):
        cfg = gateway.config
        self.gateway = gateway
        self.disk_limit = int(cfg.get("amqp.disk_free_limit", 50000000))
        self.mem_fraction = float(cfg.get("amqp.memory_high_watermark", 0.4))
        self.data_dir = gateway.run.data_dir
        self.servers: list[AmqpServer] = []
        try:
            self.total_ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            self.total_ram = 0
        self._handle = None

    def start(self) -> None:
        self._check()

    def _check(self) -> None:
        for s in self.servers:          # paused connections whose client has gone: let them go
            for conn in [c for c in s.connections if c.pause_reasons and c.hung_up()]:
                log.info("event=amqp_paused_peer_gone peer=%s", conn.peer)
                conn.abort()
        reason = None
        try:
            if self.disk_limit and shutil.disk_usage(self.data_dir).free < self.disk_limit:
                reason = "low on disk"
            elif self.mem_fraction and self.total_ram and _rss() > self.mem_fraction * self.total_ram:
                # freed memory the allocator still holds (a large body's chunks, gone with its
                # connection) is not in use: hand it back before deciding
                if _trim() and _rss() <= self.mem_fraction * self.total_ram:
                    reason = None
                else:
                    reason = "low on memory"
        except OSError:
            pass
        for s in self.servers:
            s.set_alarm(reason)
            if s.connections or any(s.counts):
                try:
                    s.emit_metrics()
                except Exception:
                    log.exception("event=amqp_metrics_failed")
        self._handle = asyncio.get_running_loop().call_later(ALARM_SECONDS, self._check)


_libc = None


def _trim() -> bool:
    """glibc's malloc_trim(0): return free heap pages to the OS (False where there is none)."""
    global _libc
    if _libc is None:
        try:
            import ctypes
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def server_for(gateway, broker: str) -> AmqpServer:
    servers = gateway.amqp_servers
    s = servers.get(broker)
    if s is None:
        s = servers[broker] = AmqpServer(gateway, broker, gateway.mq_realm)
        gateway.amqp_alarms.servers.append(s)
    return s


def _factory(gateway, ssl_ctx):
    return server_for(gateway, DEFAULT_BROKER).factory()


def _runtime_factory(gateway, ssl_ctx, args):
    return server_for(gateway, args.get("broker", DEFAULT_BROKER)).factory()


PROTOCOLS = {"amqp": _runtime_factory}


def listeners() -> list[ListenerSpec]:
    return [
        ListenerSpec("amqp", "listeners.amqp_port", "amqp", "never", _factory),
        ListenerSpec("amqps", "listeners.amqps_port", "amqps", "always", _factory),
    ]


def gateway_setup(gateway) -> None:
    gateway.mq_realm = Realm(gateway)
    gateway.amqp_servers = {}
    gateway.amqp_alarms = _Alarms(gateway)
    gateway.amqp_alarms.start()
