"""The routing core in a shard: core queues, exchanges, bindings, consumers.

Protocol front-ends (AMQP, MQTT, SNS fan-out) map onto these ops:

    core.QueueDeclare / QueueDelete / Enqueue / Receive / Delete / ChangeLease / Purge / Counts
    core.Consume / Credit / Cancel / Ack / Nack / Get / Recover   push with credit, on the calling connection
    core.ExchangeDeclare / ExchangeInfo / ExchangeDelete / Bind / Unbind / Subscribe / Publish

Queues and exchanges each live in the partition of their key
(``cq/<ns>/<name>``, ``cx/<ns>/<name>``). The exchange's owner holds the
authoritative bindings (one durable record per binding) and replicates every
change to the gateways that subscribed (``edge.apply``), waiting for their
acknowledgement before it answers: a binding is visible in every gateway
before the bind is confirmed. Publishes are routed at the edge
(broker/runtime/edge.py) and go straight to the queues' shards.
"""

from __future__ import annotations

import logging
from typing import Callable

from broker.core.errors import OpError
from broker.core.message import LeaseError, Message, NullJournal, QueueConfig
from broker.core.queue import Queue
from broker.core.store import open_queue
from broker.core.timers import DurableTimers, arm_queue, disarm_queue
from broker.runtime._routing_consumers import ConsumersMixin
from broker.runtime._routing_exchanges import KIND_BINDING, KIND_EXCHANGE, ExchangesMixin, _binding_id
from broker.runtime.outbox import Outbox

log = logging.getLogger("broker.routing")

KIND_QUEUE = "core.queue"
KIND_OUTBOX = "core.outbox"

# Dead-letter codecs by name (queue config "dlx": {"x", "rk", "codec"}): a
# front-end registers how its payloads record why they were dead-lettered
# (AMQP's x-death header lives in services/mq, not here).
#   codec(payload, reason, queue_name, now_ms, dlx) -> (payload, size, [routing keys], headers, opts)
# reason: "rejected" | "expired" | "maxlen" | "delivery_limit".
DEAD_LETTER_CODECS: dict[str, Callable] = {}


def register_dead_letter_codec(name: str, codec: Callable) -> None:
    DEAD_LETTER_CODECS[name] = codec


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


class _HostedQueue:
    __slots__ = ("key", "ns", "name", "qid", "config", "queue", "armed_for", "timer", "dead", "getters",
                 "cancelled", "exclusive_consumer", "owner_conn", "doomed", "last_used", "expiry_armed",
                 "redispatch")

    def __init__(self, key, ns, name, qid, config):
        self.key, self.ns, self.name, self.qid, self.config = key, ns, name, qid, config
        self.queue = None            # broker.core.queue.Queue
        self.armed_for = None
        self.timer = None            # the pending shard-timer entry (broker.core.timers.arm_queue)
        self.dead = False
        self.getters: set = set()    # per-channel pseudo consumers of core.Get
        self.cancelled: set = set()  # cancelled consumers still holding unacked deliveries
        self.exclusive_consumer = None
        self.owner_conn = None       # IPC connection of the gateway owning an exclusive queue
        self.doomed = False          # auto-delete: its last consumer went
        self.last_used = 0
        self.expiry_armed = None
        self.redispatch = False


class CoreShard(ConsumersMixin, ExchangesMixin):
    """Per-partition state of the routing core (a built-in shard service).

    Queue config (plain data, persisted with the queue) understood here besides
    the QueueConfig fields: "dlq" (queue name: dead letters go there), "dlx"
    ({"x": exchange, "rk": routing key or None, "codec": name}: dead letters are
    routed through an exchange), "reject_dlx" (publishes refused by overflow are
    dead-lettered), "transient" (memory only: gone after a shard restart),
    "exclusive" + "owner" (owned by one client connection: refused to others,
    deleted when its gateway goes), "auto_delete" (deleted when its last consumer
    goes), "expires_ms" (deleted after that long unused), "single_active",
    "drop_volatile_idle" (messages enqueued with opts "volatile" are dropped
    while the queue has no consumer: MQTT QoS 0 for an offline session), and
    "meta" (the front-end's own, returned on a re-declare)."""

    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.shard = part.shard
        self.queues: dict[str, _HostedQueue] = {}
        self.exchanges: dict = {}                              # key -> (ns, Exchange)
        self.consumers: dict[tuple, object] = {}               # (queue key, tag) -> connection
        self.by_conn: dict[object, set] = {}                   # connection -> {(queue key, tag)}
        self.closed = False
        now = part.now_ms()
        for key, rec in self.store.scan(KIND_QUEUE):
            hq = _HostedQueue(key, rec["ns"], rec["name"], rec["qid"], rec["config"])
            self._attach(hq, now, restore=True)
        self._load_exchanges()
        self.shard.conn_lost_hooks.append(self._conn_lost)
        self.shard.pause_hooks.append(self._conn_paused)
        # durable timers of this partition; services add handlers by kind
        self.timers = DurableTimers(part, {"core.enqueue": self._timed_enqueue})
        # dead letters bound for queues and exchanges in other partitions
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
        if hq.config.get("transient"):
            core = Queue(hq.qid, _config(hq.config), NullJournal())
        else:
            core = open_queue(self.store, hq.qid, _config(hq.config), now, restore=restore)
        hq.queue = core
        hq.last_used = now
        self.queues[hq.key] = hq
        self._arm(hq)
        self._arm_expiry(hq)

    def _q(self, key: str) -> _HostedQueue:
        hq = self.queues.get(key)
        if hq is None:
            raise not_found(f"queue '{key}'")
        return hq

    def _check_owner(self, hq: _HostedQueue, a: dict) -> None:
        """An exclusive queue serves only the connection that declared it."""
        owner = hq.config.get("owner")
        if owner is not None and a.get("owner") != owner:
            raise OpError(f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{hq.name}'",
                          code="ResourceLocked", status=405)

    def op_QueueDeclare(self, a):
        """Create (or find, with "passive") a queue; answers {"created", "counts",
        "config"} so the caller can check the existing queue's equivalence."""
        key = a["k"]
        hq = self.queues.get(key)
        if hq is not None:
            if a.get("check_owner", True):
                self._check_owner(hq, a)
            self._touch(hq)
            return {"created": False, "counts": self._counts(hq), "config": hq.config}
        if a.get("passive"):
            raise not_found(f"queue '{a['name']}'")
        qid = self.store.allocate_id("qid")
        config = a.get("config") or {}
        hq = _HostedQueue(key, a["ns"], a["name"], qid, config)
        if config.get("owner") is not None:
            hq.owner_conn = self.shard.current_conn
        self._attach(hq, self.part.now_ms())
        if not config.get("transient"):
            self.store.put(KIND_QUEUE, key, {"ns": hq.ns, "name": hq.name, "qid": qid, "config": hq.config})
        return {"created": True, "counts": self._counts(hq), "config": hq.config}

    def op_QueueReconfigure(self, a):
        """{"k", "set": {option: value, or None to remove}}: change limits and flags of a
        queue (a front-end's settings changed since it was declared). fifo, dedup scope,
        priorities and the overflow's ready-order index stay as created. -> changed?"""
        hq = self._q(a["k"])
        config = dict(hq.config)
        for f, v in a["set"].items():
            if v is None:
                config.pop(f, None)
            else:
                config[f] = v
        if config == hq.config:
            return False
        hq.config = config
        hq.queue.reconfigure(_config(config))
        if not config.get("transient"):
            self.store.put(KIND_QUEUE, hq.key, {"ns": hq.ns, "name": hq.name, "qid": hq.qid, "config": config})
        self._changed(hq)
        return True

    def op_QueueDelete(self, a):
        """Delete a queue; its consumers are told (``core.cancel``) and every binding
        to it is removed from every exchange and every gateway's read copy before
        the answer. "if_unused" / "if_empty" refuse (code InUse / NotEmpty)."""
        hq = self._q(a["k"])
        self._check_owner(hq, a)
        if a.get("if_unused") and self._live_consumers(hq):
            raise OpError(f"PRECONDITION_FAILED - queue '{hq.name}' in use", code="InUse", status=406)
        if a.get("if_empty") and hq.queue.total:
            raise OpError(f"PRECONDITION_FAILED - queue '{hq.name}' not empty", code="NotEmpty", status=406)
        return self._delete_queue(hq, keep_bindings=a.get("keep_bindings", False))

    def _delete_queue(self, hq: _HostedQueue, keep_bindings: bool = False):
        del self.queues[hq.key]
        hq.dead = True
        disarm_queue(self.part, hq)
        self.store.delete(KIND_QUEUE, hq.key)
        self.store.drop_queue(hq.qid)
        result = {"messages": hq.queue.total}
        for ck in [ck for ck in self.consumers if ck[0] == hq.key]:
            conn = self.consumers.pop(ck)
            s = self.by_conn.get(conn)
            if s is not None:
                s.discard(ck)
                if not s:
                    del self.by_conn[conn]
            if conn is not None and not conn.closed and ck[1] not in hq.getters:
                conn.push("core.cancel", [ck[0], ck[1]])
        if keep_bindings:
            return result

        async def unbind_everywhere():
            await self.part.call_all("core.UnbindDest", {"ns": hq.ns, "dest": ["queue", hq.name]})
            return result
        return unbind_everywhere()

    def op_DropNamespace(self, a):
        """Delete every queue and exchange of this partition whose namespace starts
        with "prefix" (a namespace owner going away, e.g. an MQ broker deleted)."""
        prefix = a["prefix"]
        for hq in [hq for hq in self.queues.values() if hq.ns.startswith(prefix)]:
            self._delete_queue(hq, keep_bindings=True)
        waits = []
        for key, (ns, ex) in list(self.exchanges.items()):
            if ns.startswith(prefix):
                del self.exchanges[key]
                self.store.delete(KIND_EXCHANGE, key)
                for bkey, dest in ex.bindings():
                    self.store.delete(KIND_BINDING, key + "|" + _binding_id(bkey, dest))
                r = self._replicate({"op": "delete", "ns": ns, "x": ex.name}, True)
                if not isinstance(r, bool):
                    waits.append(r)
        if not waits:
            return True

        async def wait_all():
            for w in waits:
                await w
            return True
        return wait_all()

    def _touch(self, hq: _HostedQueue) -> None:
        hq.last_used = self.part.now_ms()
        if hq.config.get("expires_ms"):
            self._arm_expiry(hq)

    def _arm_expiry(self, hq: _HostedQueue) -> None:
        ttl = hq.config.get("expires_ms")
        if not ttl:
            return
        due = hq.last_used + ttl
        if hq.expiry_armed is not None and hq.expiry_armed <= due:
            return          # an earlier check re-arms itself for the later deadline
        hq.expiry_armed = due
        self.part.schedule(due, lambda now, h=hq: self._expiry_check(h, now))

    def _expiry_check(self, hq: _HostedQueue, now: int) -> None:
        hq.expiry_armed = None
        if hq.dead or self.closed or self.queues.get(hq.key) is not hq:
            return
        if self._live_consumers(hq) == 0 and now >= hq.last_used + hq.config["expires_ms"]:
            self._reap(hq)
        else:
            if self._live_consumers(hq):
                hq.last_used = now
            self._arm_expiry(hq)

    def _reap(self, hq: _HostedQueue) -> None:
        """Delete a queue the core decided to remove (expired, auto-delete)."""
        res = self._delete_queue(hq)
        if not isinstance(res, dict):
            task = self.shard.loop.create_task(res)
            task.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                                   or log.warning("event=queue_reap_unbind_failed error=%s", t.exception()))
        self.part.flush_soon()

    def _counts(self, hq: _HostedQueue) -> dict:
        q = hq.queue
        return {"visible": q.visible, "inflight": q.inflight, "delayed": q.delayed,
                "consumers": self._live_consumers(hq)}

    def op_Purge(self, a):
        """Remove ready and delayed messages (in flight too with "inflight": true)."""
        hq = self._q(a["k"])
        self._check_owner(hq, a)
        n = hq.queue.purge(include_inflight=a.get("inflight", False))
        self._changed(hq)
        return n

    def op_Counts(self, a):
        return self._counts(self._q(a["k"]))

    def op_Enqueue(self, a):
        """[[payload, size, msg_id, opts]...]; opts may hold delay_ms, dedup, group, priority, ttl_ms,
        volatile (dropped, answered "ok", by a queue with config "drop_volatile_idle" and no consumer).
        Answers one of "ok" / "rejected" (overflow) / "duplicate" per message."""
        hq = self._q(a["k"])
        now = self.part.now_ms()
        q = hq.queue
        out = []
        enq = q.enqueue
        for payload, size, msg_id, opts in a["m"]:
            if opts:
                if opts.get("volatile") and hq.config.get("drop_volatile_idle") and self._live_consumers(hq) <= 0:
                    out.append("ok")        # taken and dropped: nobody is there to receive it now
                    continue
                res = enq(now, payload, size, msg_id=msg_id, delay_ms=opts.get("delay_ms"),
                          dedup=opts.get("dedup"), group=opts.get("group"), priority=opts.get("priority", 0),
                          ttl_ms=opts.get("ttl_ms"))
            else:
                res = enq(now, payload, size, msg_id=msg_id)
            if res.rejected:
                out.append("rejected")
                if hq.config.get("reject_dlx"):
                    self._dead_letter(hq, [(payload, size, msg_id)], "maxlen")
            else:
                out.append("duplicate" if res.duplicate_of is not None else "ok")
            if res.dropped:
                self._dead_letter(hq, res.dropped, "maxlen")
        self._changed(hq)
        return out

    def op_Receive(self, a):
        hq = self._q(a["k"])
        res = hq.queue.receive(self.part.now_ms(), a.get("max", 1), a.get("lease_ms"))
        out = [[m.seq, m.lease, self._payload(hq, m), m.receive_count, m.msg_id] for m in res.messages]
        self._dead_letter(hq, res.dead, "delivery_limit")
        self._dead_letter(hq, res.expired, "expired")
        self._changed(hq)
        return out

    def _dead_letter(self, hq: _HostedQueue, msgs: list, reason: str) -> None:
        """Messages removed by the delivery limit, TTL, overflow or a reject go to
        the queue's dead-letter queue (config "dlq", same namespace) or through its
        dead-letter exchange (config "dlx"), if any. Items are Messages or
        (payload, size, msg_id) tuples."""
        if not msgs:
            return
        config = hq.config
        target = config.get("dlq")
        dlx = config.get("dlx")
        if not target and not dlx:
            return
        entries = []
        for m in msgs:
            if isinstance(m, Message):
                entries.append((self._payload(hq, m), m.size, m.msg_id, m.group, m.priority))
            else:
                entries.append((m[0], m[1], m[2], None, 0))
        if target:
            key = queue_key(hq.ns, target)
            batch = [[p, size, mid, {"group": g} if g else None] for p, size, mid, g, _ in entries if p is not None]
            if key in self.queues:      # same partition: part of this tick's commit
                self.op_Enqueue({"k": key, "m": batch})
            else:
                self.outbox.send(key, "core.Enqueue", {"k": key, "m": batch})
            return
        codec = DEAD_LETTER_CODECS.get(dlx.get("codec"))
        xkey = exchange_key(hq.ns, dlx["x"])
        now = self.part.now_ms()
        for payload, size, mid, _g, prio in entries:
            if payload is None:
                continue
            rks, headers, opts = [dlx.get("rk") or ""], None, ({"priority": prio} if prio else {})
            if codec is not None:
                try:
                    payload, size, rks, headers, opts = codec(payload, reason, hq.name, now, dlx)
                except Exception:
                    log.exception("event=dead_letter_codec_failed queue=%s", hq.name)
                    continue
            args = {"k": xkey, "rks": rks, "h": headers, "m": [payload, size, mid, opts]}
            if xkey in self.exchanges:
                self.op_Publish(args)
            else:
                self.outbox.send(xkey, "core.Publish", args)

    def _payload(self, hq: _HostedQueue, m: Message) -> bytes:
        return m.payload if m.payload is not None else self.store.load_payload(hq.qid, m.seq)

    def _payloads(self, hq: _HostedQueue, seqs: list) -> dict:
        """Payloads of several stored messages in one read where the store can."""
        many = getattr(self.store, "load_payloads", None)
        if many is not None:
            return many(hq.qid, seqs)
        return {s: self.store.load_payload(hq.qid, s) for s in seqs}

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
        if hq.doomed:
            if not hq.dead and self.queues.get(hq.key) is hq:
                self._reap(hq)
            return
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
            self._dead_letter(hq, res.expired, "expired")
        self._changed(hq)
