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
import itertools
import logging
import os
from typing import Callable

from broker.core.errors import OpError
from broker.core.exchange import QUEUE, ExchangeTable
from broker.core.partition import partition_of
from broker.runtime import ipc
from broker.runtime.cluster import RETRYABLE
from broker.runtime.routing import exchange_key, queue_key

log = logging.getLogger("broker.edge")


class NoSuchExchange(Exception):
    pass


class EdgeConsumer:
    """A push consumer held by a client connection in this gateway."""
    __slots__ = ("ns", "queue", "key", "core_tag", "tag", "conn_id", "credit", "on_delivery", "on_cancel",
                 "opts")

    def __init__(self, ns, queue, key, core_tag, tag, conn_id, credit, on_delivery, on_cancel, opts=None):
        self.ns, self.queue, self.key, self.core_tag = ns, queue, key, core_tag
        self.tag, self.conn_id, self.credit = tag, conn_id, credit
        self.on_delivery, self.on_cancel = on_delivery, on_cancel
        self.opts = opts or {}       # autoack, exclusive, owner (sent again on re-registration)


class EdgeRouter:
    def __init__(self, cluster, owner: str | None = None):
        self.cluster = cluster
        self.owner = owner or f"g{os.getpid()}"     # namespaces consumer tags per gateway
        self.tables: dict[str, ExchangeTable] = {}
        self.origin: dict[tuple[str, str], int] = {}        # (ns, exchange) -> owning shard
        self.version = 0         # bumped whenever the tables change: front-ends may cache routes by it
        self.consumers: dict[tuple[str, str], EdgeConsumer] = {}   # (queue key, core tag) -> consumer
        self._conn_ids = itertools.count(1)
        self._enq: dict[str, list] = {}        # queue key -> [entry...] sent at the end of this tick
        self._enq_cbs: dict[str, list] = {}    # queue key -> [callback(result)...]
        self._settle: dict[tuple, list] = {}   # (queue key, op, requeue) -> [seq...]
        self._flush_scheduled = False
        cluster.request_handlers["edge.apply"] = self._apply
        cluster.push_handlers["core.deliver"] = self._deliver
        cluster.push_handlers["core.cancel"] = self._cancelled
        cluster.on_connect.append(self._resubscribe)

    def new_connection_id(self) -> int:
        """A fresh id for one client connection (its consumers' tags are scoped by it)."""
        return next(self._conn_ids)

    def table(self, ns: str) -> ExchangeTable:
        t = self.tables.get(ns)
        if t is None:
            t = self.tables[ns] = ExchangeTable()
        return t

    # -- replication ----------------------------------------------------------
    async def _resubscribe(self, link) -> None:
        """(Re)load the exchanges owned by one shard: on start and after it restarts."""
        rows = await link.conn.call("core.Subscribe", {"p": -1})
        self.version += 1
        for (ns, name), k in list(self.origin.items()):
            if k == link.index:
                t = self.tables.get(ns)
                if t is not None:
                    t.delete(name, unbind_sources=False)
                del self.origin[(ns, name)]
        for _p, exchanges in rows:
            for ns, name, kind, bindings, props in exchanges:
                t = self.table(ns)
                t.delete(name, unbind_sources=False)
                t.declare(name, kind, props=props).load_bindings(bindings)
                self.origin[(ns, name)] = link.index
        # consumers on queues of that shard: register again (a restarted shard
        # requeued what they had unacked; it is redelivered to them)
        for c in list(self.consumers.values()):
            if self._shard_of(c.key) == link.index:
                try:
                    await link.conn.call("core.Consume", {**c.opts, "k": c.key, "tag": c.core_tag,
                                                          "credit": c.credit,
                                                          "p": partition_of(c.key, self.cluster.partitions)})
                except Exception as exc:   # the queue is gone (or the tag is live): the consumer ends
                    log.info("event=consumer_not_restored queue=%s error=%s", c.key, exc)
                    self._forget(c, notify=True)

    def _apply(self, conn, update: dict):
        op, ns, name = update["op"], update.get("ns", ""), update.get("x", "")
        self.version += 1
        t = self.table(ns)
        if op == "declare":
            t.declare(name, update["kind"], props=update.get("props"))
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
        elif op == "unbind_dest":
            ex = t.get(name)
            if ex is not None:
                ex.unbind_dest(tuple(update["dest"]))
        elif op == "reset":      # the shard wiped its state (admin reset)
            for (xns, xname), k in list(self.origin.items()):
                if k == update["shard"]:
                    tx = self.tables.get(xns)
                    if tx is not None:
                        tx.delete(xname, unbind_sources=False)
                    del self.origin[(xns, xname)]
        return True

    def _shard_of(self, key: str) -> int:
        return partition_of(key, self.cluster.partitions) % self.cluster.shards

    # -- declarations (go to the owner) -----------------------------------------
    async def declare_exchange(self, ns: str, name: str, kind: str, props: dict | None = None) -> dict:
        key = exchange_key(ns, name)
        return await self.cluster.call(key, "core.ExchangeDeclare", {"k": key, "ns": ns, "name": name, "kind": kind,
                                                                     "props": props or {}})

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
        reached = len(calls)
        if calls:
            for r in await asyncio.gather(*calls, return_exceptions=True):
                if isinstance(r, BaseException):
                    if getattr(r, "code", None) == "NotFound":
                        reached -= 1      # deleted while its bindings were being removed
                    else:
                        raise r
        return reached, sinks

    # -- push consumers ------------------------------------------------------------
    def _core_tag(self, conn_id, tag) -> str:
        return f"{self.owner}/{conn_id}/{tag}"

    async def consume(self, ns: str, queue: str, tag, credit: int | None, on_delivery: Callable,
                      conn_id=0, on_cancel: Callable | None = None, **opts) -> EdgeConsumer:
        """Register a push consumer for a client connection (`conn_id` from
        new_connection_id). on_delivery(key, seq, body, redelivered, msg_id);
        on_cancel() when the server cancels it (queue deleted). `opts`: autoack,
        exclusive, owner (see broker/runtime/_routing_consumers.py)."""
        key = queue_key(ns, queue)
        core_tag = self._core_tag(conn_id, tag)
        c = EdgeConsumer(ns, queue, key, core_tag, tag, conn_id, credit, on_delivery, on_cancel, opts)
        if (key, core_tag) in self.consumers:
            raise OpError(f"NOT_ALLOWED - attempt to reuse consumer tag '{tag}'", code="ConsumerTagInUse",
                          status=530)
        self.consumers[(key, core_tag)] = c
        self.flush()
        try:
            await self.cluster.call(key, "core.Consume", {**opts, "k": key, "tag": core_tag, "credit": credit})
        except BaseException:
            self.consumers.pop((key, core_tag), None)
            raise
        return c

    async def cancel(self, c: EdgeConsumer, requeue: bool = True) -> None:
        if self.consumers.pop((c.key, c.core_tag), None) is None:
            return
        try:
            await self.cluster.call(c.key, "core.Cancel", {"k": c.key, "tag": c.core_tag, "keep": not requeue})
        except Exception as exc:
            if getattr(exc, "code", None) != "NotFound":
                raise

    async def cancel_connection(self, conn_id) -> None:
        """A client connection closed: its consumers go, their deliveries are requeued."""
        mine = [c for c in self.consumers.values() if c.conn_id == conn_id]
        await asyncio.gather(*(self.cancel(c) for c in mine), return_exceptions=True)

    async def credit(self, c: EdgeConsumer, n: int) -> None:
        await self.cluster.call(c.key, "core.Credit", {"k": c.key, "tag": c.core_tag, "n": n})

    async def block(self, c: EdgeConsumer, blocked: bool) -> None:
        await self.cluster.call(c.key, "core.Block", {"k": c.key, "tag": c.core_tag, "blocked": blocked})

    def _deliver(self, conn, topic, payload) -> None:
        key, runs = payload        # [[consumer tag, [[seq, body, redelivered(, msg_id)]...]]...]
        consumers = self.consumers
        for tag, entries in runs:
            c = consumers.get((key, tag))
            if c is None:        # cancelled while these were on their way: back to the queue, in place
                self.settle_many(key, [e[0] for e in entries], True)
                continue
            deliver = c.on_delivery
            for e in entries:
                deliver(key, e[0], e[1], e[2], e[3] if len(e) > 3 else "")

    def _cancelled(self, conn, topic, payload) -> None:
        c = self.consumers.get((payload[0], payload[1]))
        if c is not None:
            self._forget(c, notify=True)

    def _forget(self, c: EdgeConsumer, notify: bool) -> None:
        self.consumers.pop((c.key, c.core_tag), None)
        if notify and c.on_cancel is not None:
            try:
                c.on_cancel()
            except Exception:
                log.exception("event=consumer_cancel_callback_failed")

    async def ack(self, ns: str, queue: str, seq: int) -> bool:
        key = queue_key(ns, queue)
        return await self.cluster.call(key, "core.Ack", {"k": key, "seq": seq})

    # -- batched traffic: one call per queue per loop tick ---------------------------
    def call_soon(self, key: str, op: str, args: dict) -> asyncio.Future:
        """Send `op` to the owner of `key` now (in order with every call made before
        it on this process's link), without a task per call; a call cut by a shard
        restart is retried (at-least-once)."""
        out = asyncio.get_running_loop().create_future()

        def settle(result, exc):
            if out.done():
                return
            if exc is None:
                out.set_result(result)
            elif isinstance(exc, asyncio.CancelledError):
                out.cancel()
            else:
                out.set_exception(exc)
        self.call_cb(key, op, args, settle)
        return out

    def call_cb(self, key: str, op: str, args: dict, cb: Callable) -> None:
        """call_soon with the outcome handed to ``cb(result, exc)`` as the reply is
        read: no future, no loop turns (the per-tick batches)."""
        p = partition_of(key, self.cluster.partitions)
        args["p"] = p
        link = self.cluster.links[p % self.cluster.shards]
        conn = link.conn

        def retry():
            asyncio.ensure_future(link._call_retrying(op, args)).add_done_callback(lambda f: _answer(f, cb))

        if conn is None or conn.closed:
            retry()
            return

        def done(result, exc):
            if exc is None:
                cb(result, None)
            elif isinstance(exc, ipc.ConnectionLost) or (isinstance(exc, ipc.RemoteError)
                                                         and exc.code in RETRYABLE):
                retry()
            else:
                cb(None, exc)
        conn.call_cb(op, args, done)

    def enqueue(self, key: str, entry: list, callback: Callable) -> None:
        """Queue one [payload, size, msg_id, opts] for `key`; sent with the others of
        this tick in one core.Enqueue. callback(result): "ok", "rejected",
        "duplicate", "gone" (the queue no longer exists) or "error"."""
        entries = self._enq.get(key)
        if entries is None:
            self._enq[key] = [entry]
            self._enq_cbs[key] = [callback]
        else:
            entries.append(entry)
            self._enq_cbs[key].append(callback)
        self._schedule()

    def settle(self, key: str, seq: int, requeue: bool | None = None, relaxed: bool = False) -> None:
        """Ack (requeue None) or nack a delivery, batched per queue and tick. A
        `relaxed` settlement (AMQP's: no client waits for it) is committed without
        an fsync of its own, as RabbitMQ does with acks (broker/core/store.py)."""
        k = (key, requeue, relaxed)
        seqs = self._settle.get(k)
        if seqs is None:
            self._settle[k] = [seq]
        else:
            seqs.append(seq)
        self._schedule()

    def settle_many(self, key: str, seqs: list, requeue: bool | None = None, relaxed: bool = False) -> None:
        """settle() for several deliveries of one queue (a `multiple` ack): the list
        joins this tick's batch for the queue whole, not one delivery at a time."""
        k = (key, requeue, relaxed)
        have = self._settle.get(k)
        if have is None:
            self._settle[k] = seqs
        else:
            have.extend(seqs)
        self._schedule()

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what this tick batched. Front-ends call it before any other call
        that must be ordered after those publishes and acks."""
        self._flush_scheduled = False
        if self._enq:
            enq, cbs = self._enq, self._enq_cbs
            self._enq, self._enq_cbs = {}, {}
            for key, entries in enq.items():
                self.call_cb(key, "core.Enqueue", {"k": key, "m": entries},
                             lambda r, exc, c=cbs[key]: _enqueued(r, exc, c))
        if self._settle:
            settle, self._settle = self._settle, {}
            for (key, requeue, relaxed), seqs in settle.items():
                if requeue is None:
                    args = {"k": key, "seqs": seqs}
                    op = "core.Ack"
                else:
                    args = {"k": key, "seqs": seqs, "requeue": requeue}
                    op = "core.Nack"
                if relaxed:
                    args["relaxed"] = True
                self.call_cb(key, op, args, _log_failure)


def _answer(fut, cb) -> None:
    if fut.cancelled():
        cb(None, asyncio.CancelledError())
    elif fut.exception() is not None:
        cb(None, fut.exception())
    else:
        cb(fut.result(), None)


def _enqueued(results, exc, callbacks) -> None:
    if exc is not None:
        code = getattr(exc, "code", None)
        if code != "NotFound":
            log.warning("event=enqueue_failed error=%s", exc)
        results = ["gone" if code == "NotFound" else "error"] * len(callbacks)
    for cb, r in zip(callbacks, results):
        try:
            cb(r)
        except Exception:
            log.exception("event=enqueue_callback_failed")


def _log_failure(_result, exc) -> None:
    if exc is not None and getattr(exc, "code", None) != "NotFound":
        log.warning("event=settle_failed error=%s", exc)
