"""The routing core in a shard: core queues, exchanges, bindings, consumers.

Protocol front-ends (AMQP, MQTT, SNS fan-out) map onto these ops:

    core.QueueDeclare / QueueDelete / Enqueue / Receive / Delete / ChangeLease / Purge / Counts
    core.Consume / Credit / Cancel / Ack / Nack     push with credit, on the calling connection
    core.ExchangeDeclare / ExchangeDelete / Bind / Unbind / Subscribe

Queues and exchanges each live in the partition of their key
(``cq/<ns>/<name>``, ``cx/<ns>/<name>``). The exchange's owner holds the
authoritative bindings (one durable record per binding) and replicates every
change to the gateways that subscribed (``edge.apply``), waiting for their
acknowledgement before it answers: a binding is visible in every gateway
before the bind is confirmed. Publishes are routed at the edge
(broker/runtime/edge.py) and go straight to the queues' shards.
"""

from __future__ import annotations

import asyncio
import logging

from broker.core.errors import OpError
from broker.core.exchange import Exchange
from broker.core.message import LeaseError, Message, QueueConfig
from broker.core.store import open_queue
from broker.core.timers import DurableTimers, arm_queue
from broker.runtime.outbox import Outbox

log = logging.getLogger("broker.routing")

KIND_QUEUE = "core.queue"
KIND_EXCHANGE = "core.exchange"
KIND_BINDING = "core.binding"
KIND_OUTBOX = "core.outbox"
REPLICATION_TIMEOUT = 5.0


def queue_key(ns: str, name: str) -> str:
    return f"cq/{ns}/{name}"


def exchange_key(ns: str, name: str) -> str:
    return f"cx/{ns}/{name}"


def not_found(what: str) -> OpError:
    return OpError(f"NOT_FOUND - no {what}", code="NotFound", status=404)


def _config(c: dict) -> QueueConfig:
    return QueueConfig(fifo=c.get("fifo", False), delay_ms=c.get("delay_ms", 0), lease_ms=c.get("lease_ms", 30000),
                       retention_ms=c.get("retention_ms"), max_length=c.get("max_length"),
                       max_bytes=c.get("max_bytes"), overflow=c.get("overflow", "drop-head"),
                       max_receives=c.get("max_receives"), dedup_window_ms=c.get("dedup_window_ms"),
                       dedup_scope=c.get("dedup_scope", "queue"), max_priority=c.get("max_priority"))


def _binding_id(key, dest) -> str:
    return repr((key if not isinstance(key, dict) else sorted(key.items()), tuple(dest)))


class _HostedQueue:
    __slots__ = ("key", "ns", "name", "qid", "config", "queue", "armed_for", "dead")

    def __init__(self, key, ns, name, qid, config):
        self.key, self.ns, self.name, self.qid, self.config = key, ns, name, qid, config
        self.queue = None            # broker.core.queue.Queue
        self.armed_for = None
        self.dead = False


class CoreShard:
    """Per-partition state of the routing core (a built-in shard service)."""

    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.shard = part.shard
        self.queues: dict[str, _HostedQueue] = {}
        self.exchanges: dict[str, tuple[str, Exchange]] = {}   # key -> (ns, exchange)
        self.consumers: dict[tuple, object] = {}               # (queue key, tag) -> connection
        self.by_conn: dict[object, set] = {}                   # connection -> {(queue key, tag)}
        self.closed = False
        now = part.now_ms()
        for key, rec in self.store.scan(KIND_QUEUE):
            hq = _HostedQueue(key, rec["ns"], rec["name"], rec["qid"], rec["config"])
            self._attach(hq, now, restore=True)
        for key, rec in self.store.scan(KIND_EXCHANGE):
            self.exchanges[key] = (rec["ns"], Exchange(rec["name"], rec["kind"]))
        for _bid, rec in self.store.scan(KIND_BINDING):
            entry = self.exchanges.get(rec["x"])
            if entry is not None:
                entry[1].bind(rec["key"], tuple(rec["dest"]))
        self.shard.conn_lost_hooks.append(self._conn_lost)
        self.shard.pause_hooks.append(self._conn_paused)
        # durable timers of this partition; services add handlers by kind
        self.timers = DurableTimers(part, {"core.enqueue": self._timed_enqueue})
        # dead letters bound for queues in other partitions
        self.outbox = Outbox(part, KIND_OUTBOX, give_up_codes=("NotFound",))

    def close(self) -> None:
        self.closed = True
        self.timers.live.clear()
        self.outbox.close()
        for hooks, fn in ((self.shard.conn_lost_hooks, self._conn_lost), (self.shard.pause_hooks, self._conn_paused)):
            try:
                hooks.remove(fn)
            except ValueError:
                pass

    # -- queues ---------------------------------------------------------------
    def _attach(self, hq: _HostedQueue, now: int, restore: bool = False) -> None:
        core = open_queue(self.store, hq.qid, _config(hq.config), now, restore=restore)
        hq.queue = core
        self.queues[hq.key] = hq
        self._arm(hq)

    def _q(self, key: str) -> _HostedQueue:
        hq = self.queues.get(key)
        if hq is None:
            raise not_found(f"queue '{key}'")
        return hq

    def op_QueueDeclare(self, a):
        key = a["k"]
        hq = self.queues.get(key)
        if hq is not None:
            return {"created": False, "counts": self._counts(hq)}
        qid = self.store.allocate_id("qid")
        hq = _HostedQueue(key, a["ns"], a["name"], qid, a.get("config") or {})
        self._attach(hq, self.part.now_ms())
        self.store.put(KIND_QUEUE, key, {"ns": hq.ns, "name": hq.name, "qid": qid, "config": hq.config})
        return {"created": True, "counts": self._counts(hq)}

    def op_QueueDelete(self, a):
        """Delete a queue; its consumers are told (``core.cancel``) and every binding
        to it is removed from every exchange and every gateway's read copy before
        the answer."""
        hq = self._q(a["k"])
        del self.queues[hq.key]
        hq.dead = True
        self.store.delete(KIND_QUEUE, hq.key)
        self.store.drop_queue(hq.qid)
        for ck in [ck for ck in self.consumers if ck[0] == hq.key]:
            conn = self._drop_consumer(ck)
            if conn is not None and not conn.closed:
                conn.push("core.cancel", [ck[0], ck[1]])
        result = {"messages": hq.queue.total}
        if a.get("keep_bindings"):
            return result

        async def unbind_everywhere():
            await self.part.call_all("core.UnbindDest", {"ns": hq.ns, "dest": ["queue", hq.name]})
            return result
        return unbind_everywhere()

    def op_UnbindDest(self, a):
        """Remove every binding of this partition's exchanges in namespace ``ns``
        to ``dest`` (a deleted queue or exchange), here and at every edge."""
        ns, dest = a["ns"], tuple(a["dest"])
        waits = []
        for xkey, (xns, ex) in self.exchanges.items():
            if xns != ns or not ex.has_dest(dest):
                continue
            for bkey, bdest in ex.bindings():
                if tuple(bdest) == dest:
                    self.store.delete(KIND_BINDING, xkey + "|" + _binding_id(bkey, dest))
            ex.unbind_dest(dest)
            r = self._replicate({"op": "unbind_dest", "ns": ns, "x": ex.name, "dest": list(dest)}, True)
            if not isinstance(r, bool):
                waits.append(r)
        if not waits:
            return True

        async def wait_all():
            await asyncio.gather(*waits)
            return True
        return wait_all()

    @staticmethod
    def _counts(hq: _HostedQueue) -> dict:
        q = hq.queue
        return {"visible": q.visible, "inflight": q.inflight, "delayed": q.delayed}

    def op_Purge(self, a):
        """Remove ready and delayed messages (in flight too with "inflight": true)."""
        hq = self._q(a["k"])
        n = hq.queue.purge(include_inflight=a.get("inflight", False))
        self._changed(hq)
        return n

    def op_Counts(self, a):
        return self._counts(self._q(a["k"]))

    def op_Enqueue(self, a):
        """[[payload, size, msg_id, opts]...]; opts may hold delay_ms, dedup, group, priority, ttl_ms."""
        hq = self._q(a["k"])
        now = self.part.now_ms()
        q = hq.queue
        out = []
        for payload, size, msg_id, opts in a["m"]:
            opts = opts or {}
            res = q.enqueue(now, payload, size, msg_id=msg_id, delay_ms=opts.get("delay_ms"),
                            dedup=opts.get("dedup"), group=opts.get("group"), priority=opts.get("priority", 0),
                            ttl_ms=opts.get("ttl_ms"))
            out.append("rejected" if res.rejected else "duplicate" if res.duplicate_of is not None else "ok")
            if res.dropped:
                self._dead_letter(hq, res.dropped)
        self._changed(hq)
        return out

    def op_Receive(self, a):
        hq = self._q(a["k"])
        res = hq.queue.receive(self.part.now_ms(), a.get("max", 1), a.get("lease_ms"))
        out = [[m.seq, m.lease, self._payload(hq, m), m.receive_count, m.msg_id] for m in res.messages]
        self._dead_letter(hq, res.dead + res.expired)
        self._changed(hq)
        return out

    def _dead_letter(self, hq: _HostedQueue, msgs: list) -> None:
        """Messages removed by the delivery limit, TTL, overflow or a reject go to
        the queue's dead-letter queue (config "dlq", same namespace), if any."""
        target = hq.config.get("dlq")
        if not msgs or not target:
            return
        key = queue_key(hq.ns, target)
        entries = [[self._payload(hq, m), m.size, m.msg_id, {"group": m.group} if m.group else None]
                   for m in msgs]
        entries = [e for e in entries if e[0] is not None]
        if key in self.queues:      # same partition: part of this tick's commit
            self.op_Enqueue({"k": key, "m": entries})
        else:
            self.outbox.send(key, "core.Enqueue", {"k": key, "m": entries})

    def _payload(self, hq: _HostedQueue, m: Message) -> bytes:
        return m.payload if m.payload is not None else self.store.load_payload(hq.qid, m.seq)

    def op_Delete(self, a):
        hq = self._q(a["k"])
        ok = hq.queue.delete(a["seq"], a.get("lease"))
        self._changed(hq)
        return ok

    def op_ChangeLease(self, a):
        hq = self._q(a["k"])
        try:
            ok = hq.queue.change_lease(self.part.now_ms(), a["seq"], a["lease"], a["lease_ms"])
        except LeaseError as exc:
            raise OpError(str(exc), code="LeaseError") from None
        self._changed(hq)
        return ok

    # -- push consumers -------------------------------------------------------
    # A consumer is (queue key, tag) on the IPC connection of the gateway that
    # holds its client connection; tags arrive namespaced by gateway and client
    # connection (edge.py), so two clients never collide. When that connection
    # (its gateway) goes, its consumers go and their unacked deliveries are
    # requeued (redelivered); while it cannot take more (its socket is full),
    # its consumers are blocked, so a slow gateway never buffers without bound.
    def op_Consume(self, a):
        hq = self._q(a["k"])
        tag = a["tag"]
        ck = (hq.key, tag)
        if ck in self.consumers:
            raise OpError(f"NOT_ALLOWED - attempt to reuse consumer tag '{tag}'", code="ConsumerTagInUse",
                          status=530)
        conn = self.shard.current_conn
        self.consumers[ck] = conn
        self.by_conn.setdefault(conn, set()).add(ck)
        hq.queue.add_consumer(tag, a.get("credit"))
        if getattr(conn, "paused", False):
            hq.queue.set_blocked(tag, True)
        self._changed(hq)
        return True

    def op_Credit(self, a):
        hq = self._q(a["k"])
        if not hq.queue.has_consumer(a["tag"]):
            raise not_found(f"consumer '{a['tag']}'")
        if "set" in a:
            hq.queue.set_credit(a["tag"], a["set"])
        else:
            hq.queue.add_credit(a["tag"], a["n"])
        self._changed(hq)
        return True

    def op_Block(self, a):
        """Flow control from a front-end: stop/resume pushing to one consumer."""
        hq = self._q(a["k"])
        hq.queue.set_blocked(a["tag"], bool(a["blocked"]))
        self._changed(hq)
        return True

    def op_Cancel(self, a):
        """Remove a consumer; its unacked deliveries are requeued unless "keep"
        (AMQP basic.cancel leaves them to be acked): returns how many were requeued."""
        hq = self._q(a["k"])
        ck = (hq.key, a["tag"])
        self._drop_consumer(ck, requeue=not a.get("keep", False))
        self._changed(hq)
        return True

    def _drop_consumer(self, ck, requeue: bool = True):
        conn = self.consumers.pop(ck, None)
        if conn is not None:
            s = self.by_conn.get(conn)
            if s is not None:
                s.discard(ck)
                if not s:
                    del self.by_conn[conn]
        hq = self.queues.get(ck[0])
        if hq is not None and requeue:
            hq.queue.remove_consumer(ck[1])
        return conn

    def op_Ack(self, a):
        hq = self._q(a["k"])
        ok = hq.queue.ack(a["seq"])
        self._changed(hq)
        return ok

    def op_Nack(self, a):
        hq = self._q(a["k"])
        requeue = a.get("requeue", True)
        m = hq.queue.nack(a["seq"], requeue)
        if m is not None and not requeue:
            self._dead_letter(hq, [m])      # rejected without requeue
        self._changed(hq)
        return m is not None

    def _dispatch(self, hq: _HostedQueue) -> None:
        if not self.consumers:
            return
        q = hq.queue
        deliveries = q.dispatch(self.part.now_ms())
        if deliveries.dead or deliveries.expired:
            self._dead_letter(hq, deliveries.dead + deliveries.expired)
        for tag, m in deliveries:
            conn = self.consumers.get((hq.key, tag))
            if conn is None or conn.closed:
                q.nack(m.seq, True)
                continue
            conn.push("core.deliver", [hq.key, tag, m.seq, self._payload(hq, m), m.receive_count > 1, m.msg_id])

    def _conn_lost(self, conn) -> None:
        """A gateway went away: its consumers go, their deliveries are requeued."""
        cks = self.by_conn.pop(conn, None)
        if not cks:
            return
        touched = set()
        for ck in cks:
            self.consumers.pop(ck, None)
            hq = self.queues.get(ck[0])
            if hq is not None:
                hq.queue.remove_consumer(ck[1])
                touched.add(hq.key)
        for key in touched:
            self._changed(self.queues[key])
        self.part.flush_soon()

    def _conn_paused(self, conn, paused: bool) -> None:
        cks = self.by_conn.get(conn)
        if not cks:
            return
        touched = set()
        for key, tag in cks:
            hq = self.queues.get(key)
            if hq is not None:
                hq.queue.set_blocked(tag, paused)
                touched.add(key)
        if not paused:
            for key in touched:
                self._changed(self.queues[key])
            self.part.flush_soon()

    # -- exchanges ------------------------------------------------------------
    def _x(self, key: str) -> tuple[str, Exchange]:
        entry = self.exchanges.get(key)
        if entry is None:
            raise not_found(f"exchange '{key}'")
        return entry

    def op_ExchangeDeclare(self, a):
        key, ns, name, kind = a["k"], a["ns"], a["name"], a["kind"]
        entry = self.exchanges.get(key)
        if entry is not None:
            if entry[1].kind != kind:
                raise OpError(f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{name}': received "
                              f"'{kind}' but current is '{entry[1].kind}'", code="PreconditionFailed", status=406)
            return {"created": False}
        self.exchanges[key] = (ns, Exchange(name, kind))
        self.store.put(KIND_EXCHANGE, key, {"ns": ns, "name": name, "kind": kind})
        return self._replicate({"op": "declare", "ns": ns, "x": name, "kind": kind}, {"created": True})

    def op_ExchangeDelete(self, a):
        ns, ex = self._x(a["k"])
        del self.exchanges[a["k"]]
        self.store.delete(KIND_EXCHANGE, a["k"])
        for key, dest in ex.bindings():
            self.store.delete(KIND_BINDING, a["k"] + "|" + _binding_id(key, dest))
        replicated = self._replicate({"op": "delete", "ns": ns, "x": ex.name}, True)

        async def unbind_everywhere():
            if not isinstance(replicated, bool):
                await replicated
            await self.part.call_all("core.UnbindDest", {"ns": ns, "dest": ["exchange", ex.name]})
            return True
        return unbind_everywhere()

    def op_Bind(self, a):
        ns, ex = self._x(a["k"])
        key, dest = a["key"], tuple(a["dest"])
        changed = ex.bind(key, dest)
        if not changed:
            return False
        self.store.put(KIND_BINDING, a["k"] + "|" + _binding_id(key, dest), {"x": a["k"], "key": key, "dest": dest})
        return self._replicate({"op": "bind", "ns": ns, "x": ex.name, "key": key, "dest": dest}, True)

    def op_Unbind(self, a):
        ns, ex = self._x(a["k"])
        key, dest = a["key"], tuple(a["dest"])
        changed = ex.unbind(key, dest)
        if not changed:
            return False
        self.store.delete(KIND_BINDING, a["k"] + "|" + _binding_id(key, dest))
        return self._replicate({"op": "unbind", "ns": ns, "x": ex.name, "key": key, "dest": dest}, True)

    def op_Subscribe(self, a):
        """A gateway's read copy: register the caller for updates; snapshot this partition."""
        self.shard.replicas.add(self.shard.current_conn)
        return [[ns, ex.name, ex.kind, ex.bindings()] for ns, ex in self.exchanges.values()]

    def _replicate(self, update: dict, result):
        replicas = [c for c in self.shard.replicas if not c.closed]
        if not replicas:
            return result

        async def wait_all():
            futs = [c.call_nowait("edge.apply", update) for c in replicas]
            self.part.flush_soon()
            done, pending = await asyncio.wait(futs, timeout=REPLICATION_TIMEOUT)
            for c, f in zip(replicas, futs):
                if f in pending or (f.done() and f.exception() is not None):
                    # A replica that cannot confirm is cut off; it resubscribes
                    # (fresh snapshot) when it reconnects.
                    log.warning("event=replica_dropped reason=%s", "timeout" if f in pending else f.exception())
                    self.shard.replicas.discard(c)
                    c.close()
            return result
        return wait_all()

    # -- durable timers (schedules, delayed publishes, workflow timeouts) -------
    def op_TimerSchedule(self, a):
        """Schedule a durable timer in this partition; kind "core.enqueue" enqueues
        data = {"k": queue key, "m": [...]} at due time (a scheduled delivery)."""
        self.timers.schedule(a["id"], a["due"], a["kind"], a["data"])
        return True

    def op_TimerCancel(self, a):
        return self.timers.cancel(a["id"])

    def _timed_enqueue(self, timer_id, data) -> None:
        key = data["k"]
        if key in self.queues:
            self.op_Enqueue(data)
        else:   # another partition: hand over durably, in the commit that deletes the timer
            self.outbox.send(key, "core.Enqueue", data)

    # -- timers ---------------------------------------------------------------
    def _changed(self, hq: _HostedQueue) -> None:
        self._dispatch(hq)
        self._arm(hq)

    def _arm(self, hq: _HostedQueue) -> None:
        arm_queue(self.part, hq, self._fire)

    def _fire(self, hq: _HostedQueue, now: int) -> None:
        if hq.dead or self.closed or self.queues.get(hq.key) is not hq:
            return
        hq.armed_for = None
        res = hq.queue.tick(now)
        if res.expired:
            self._dead_letter(hq, res.expired)
        self._changed(hq)
