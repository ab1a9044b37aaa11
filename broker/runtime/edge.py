"""Edge routing: a gateway's read copy of every exchange, and publish.

The owner shard of an exchange holds its authoritative bindings; every
gateway subscribes to every shard (``core.Subscribe``) and applies the
updates the owners send (``edge.apply``) before they confirm a bind. A
publish is routed here, at the edge, and sent straight to the shards that
own the target queues; it is acknowledged only when every one of them has
committed (at-least-once: a shard that dies mid-way is retried once it is
back, so a message may be enqueued twice, never lost).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from broker.core.exchange import QUEUE, ExchangeTable
from broker.core.partition import partition_of
from broker.runtime.routing import exchange_key, queue_key

log = logging.getLogger("broker.edge")


class NoSuchExchange(Exception):
    pass


class EdgeRouter:
    def __init__(self, cluster):
        self.cluster = cluster
        self.tables: dict[str, ExchangeTable] = {}
        self.origin: dict[tuple[str, str], int] = {}        # (ns, exchange) -> owning shard
        self.consumers: dict[tuple[str, Any], Callable] = {}  # (queue key, tag) -> on_delivery
        cluster.request_handlers["edge.apply"] = self._apply
        cluster.push_handlers["core.deliver"] = self._deliver
        cluster.on_connect.append(self._resubscribe)

    def table(self, ns: str) -> ExchangeTable:
        t = self.tables.get(ns)
        if t is None:
            t = self.tables[ns] = ExchangeTable()
        return t

    # -- replication ----------------------------------------------------------
    async def _resubscribe(self, link) -> None:
        """(Re)load the exchanges owned by one shard: on start and after it restarts."""
        rows = await link.conn.call("core.Subscribe", {"p": -1})
        for (ns, name), k in list(self.origin.items()):
            if k == link.index:
                t = self.tables.get(ns)
                if t is not None:
                    t.delete(name, unbind_sources=False)
                del self.origin[(ns, name)]
        for _p, exchanges in rows:
            for ns, name, kind, bindings in exchanges:
                t = self.table(ns)
                t.delete(name, unbind_sources=False)
                t.declare(name, kind).load_bindings(bindings)
                self.origin[(ns, name)] = link.index

    def _apply(self, conn, update: dict):
        op, ns, name = update["op"], update["ns"], update["x"]
        t = self.table(ns)
        if op == "declare":
            t.declare(name, update["kind"])
            self.origin[(ns, name)] = self._shard_of(exchange_key(ns, name))
        elif op == "delete":
            t.delete(name, unbind_sources=False)
            self.origin.pop((ns, name), None)
        elif op == "bind":
            ex = t.get(name)
            if ex is not None:
                ex.bind(update["key"], tuple(update["dest"]))
        elif op == "unbind":
            ex = t.get(name)
            if ex is not None:
                ex.unbind(update["key"], tuple(update["dest"]))
        return True

    def _shard_of(self, key: str) -> int:
        return partition_of(key, self.cluster.partitions) % self.cluster.shards

    # -- declarations (go to the owner) -----------------------------------------
    async def declare_exchange(self, ns: str, name: str, kind: str) -> dict:
        key = exchange_key(ns, name)
        return await self.cluster.call(key, "core.ExchangeDeclare", {"k": key, "ns": ns, "name": name, "kind": kind})

    async def delete_exchange(self, ns: str, name: str):
        key = exchange_key(ns, name)
        return await self.cluster.call(key, "core.ExchangeDelete", {"k": key})

    async def bind(self, ns: str, exchange: str, binding_key, dest) -> bool:
        key = exchange_key(ns, exchange)
        return await self.cluster.call(key, "core.Bind", {"k": key, "key": binding_key, "dest": list(dest)})

    async def unbind(self, ns: str, exchange: str, binding_key, dest) -> bool:
        key = exchange_key(ns, exchange)
        return await self.cluster.call(key, "core.Unbind", {"k": key, "key": binding_key, "dest": list(dest)})

    async def declare_queue(self, ns: str, name: str, config: dict | None = None) -> dict:
        key = queue_key(ns, name)
        return await self.cluster.call(key, "core.QueueDeclare", {"k": key, "ns": ns, "name": name,
                                                                  "config": config or {}})

    # -- publish ----------------------------------------------------------------
    def route(self, ns: str, exchange: str, routing_key: str = "", headers=None, message=None) -> set:
        t = self.tables.get(ns)
        if t is None or exchange not in t:
            raise NoSuchExchange(f"NOT_FOUND - no exchange '{exchange}'")
        return t.route(exchange, routing_key, headers, message)

    async def publish(self, ns: str, exchange: str, routing_key: str, payload: bytes, *, headers=None,
                      msg_id: str = "", opts: dict | None = None, message=None) -> tuple[int, list]:
        """Enqueue into every matching queue; returns (queues reached, sink destinations)."""
        dests = self.route(ns, exchange, routing_key, headers, message)
        by_part: dict[int, list[str]] = {}
        sinks = []
        for d in dests:
            if d[0] == QUEUE:
                key = queue_key(ns, d[1])
                by_part.setdefault(partition_of(key, self.cluster.partitions), []).append(key)
            else:
                sinks.append(d)
        entry = [payload, len(payload), msg_id, opts or {}]
        calls = []
        for p, keys in by_part.items():
            for key in keys:
                calls.append(self.cluster.call_partition(p, "core.Enqueue", {"k": key, "m": [entry]}))
        if calls:
            await asyncio.gather(*calls)
        return len(calls), sinks

    # -- push consumers ------------------------------------------------------------
    async def consume(self, ns: str, queue: str, tag, credit: int | None, on_delivery: Callable) -> None:
        key = queue_key(ns, queue)
        self.consumers[(key, tag)] = on_delivery
        await self.cluster.call(key, "core.Consume", {"k": key, "tag": tag, "credit": credit})

    def _deliver(self, conn, topic, payload) -> None:
        key, tag, seq, body, redelivered, msg_id = payload
        cb = self.consumers.get((key, tag))
        if cb is not None:
            cb(key, seq, body, redelivered, msg_id)

    async def ack(self, ns: str, queue: str, seq: int) -> bool:
        key = queue_key(ns, queue)
        return await self.cluster.call(key, "core.Ack", {"k": key, "seq": seq})
