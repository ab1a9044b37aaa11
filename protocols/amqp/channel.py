"""One AMQP channel: method dispatch in order, content assembly, consumers,
deliveries and acknowledgements.

Methods of a channel run strictly in order. Asynchronous work (anything that
crosses to a shard) marks the channel busy; frames arriving meanwhile wait in
``pending`` and run when the reply has been written, so a publish after a
queue.declare always sees the new queue's binding. Publishes themselves do
not make the channel busy: they are routed at the edge and batched per tick
(protocols/amqp/_publish.py). Declarations live in _declare.py.

Deliveries come from the edge (EdgeRouter.consume callbacks) and are written
straight to the connection's output; unacked ones are kept by delivery tag
(an insertion-ordered dict, so ``multiple`` acks walk from the front).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections import deque
from functools import partial

from pamqp import commands as C

from protocols.amqp import _wire
from protocols.amqp._declare import DeclareMixin
from protocols.amqp._framer import BODY, HEADER, METHOD
from protocols.amqp._publish import PublishMixin
from protocols.amqp.errors import (
    ACCESS_REFUSED, CHANNEL_ERROR, COMMAND_INVALID, NOT_ALLOWED, NOT_FOUND, NOT_IMPLEMENTED, PRECONDITION_FAILED,
    RESOURCE_LOCKED, UNEXPECTED_FRAME, AmqpError, locked, no_queue, refused, where,
)
from services.mq.realm import Realm

log = logging.getLogger("broker.amqp")

OPEN, CLOSING = 1, 2
REPLY_TO = "amq.rabbitmq.reply-to"


def gen_name(prefix: str) -> str:
    return prefix + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


# A consumer without a prefetch limit (no-ack, or prefetch 0) gets link credit:
# this many deliveries in flight, handed back as they are written to a client
# socket that keeps up, so a slow client is never pushed a whole backlog.
FLOW_CREDIT = 256


class Consumer:
    __slots__ = ("tag", "tag_b", "queue", "key", "no_ack", "edge", "ready", "early", "credit", "flow", "owed")

    def __init__(self, tag, queue, key, no_ack, credit):
        self.tag, self.queue, self.key, self.no_ack, self.credit = tag, queue, key, no_ack, credit
        self.tag_b = tag.encode()
        self.edge = None
        self.ready = False          # consume-ok written: deliveries may go out
        self.early: list = []       # deliveries that arrived before consume-ok
        self.flow = credit is None  # link credit (see FLOW_CREDIT)
        self.owed = 0               # credit to hand back


class Channel(DeclareMixin, PublishMixin):
    def __init__(self, conn, number: int):
        self.conn = conn
        self.id = number
        self.state = OPEN
        self.pending: deque = deque()
        self.busy = False
        self.content = None            # [publish method, body_size, props, [body parts], received]
        self.next_tag = 1
        self.unacked: dict[int, tuple] = {}       # delivery tag -> (queue key, seq, consumer tag, delivered at)
        self.consumers: dict[str, Consumer] = {}
        self.lingering: set = set()    # (queue key, core tag) of cancelled consumers / getters holding messages
        self.prefetch = 0              # per consumer, for consumers made after basic.qos(global=false)
        self.global_prefetch = 0
        self.held: deque = deque()     # deliveries waiting for the channel's global prefetch
        self.flow = True
        self.last_queue = None
        self.reply_queue = None        # direct reply-to pseudo queue of this channel
        PublishMixin.__init__(self)

    @property
    def vhost(self) -> str:
        return self.conn.vhost

    # -- frames -------------------------------------------------------------------
    def frame(self, kind, payload) -> None:
        if self.state == CLOSING:
            if kind == METHOD and payload.name == "Channel.Close":
                self.conn.send_method(self.id, C.Channel.CloseOk())
            elif kind == METHOD and payload.name == "Channel.CloseOk":
                self.conn.forget_channel(self.id)
            return
        if self.busy:
            self.pending.append((kind, payload))
            return
        self._process(kind, payload)

    def _process(self, kind, payload) -> None:
        try:
            if kind == METHOD:
                if self.content is not None:
                    raise AmqpError(UNEXPECTED_FRAME, f"expected content header for class 60, got non content "
                                    f"header frame instead")
                self._method(payload)
            elif kind == HEADER:
                self._header(payload)
            elif kind == BODY:
                self._body(payload)
        except AmqpError as exc:
            self.conn.error(exc, self.id)
        except Exception:
            log.exception("event=amqp_channel_failed channel=%d", self.id)
            self.conn.error(AmqpError(541, "INTERNAL_ERROR"), self.id)

    def _method(self, m) -> None:
        handler = _HANDLERS.get(m.name)
        if handler is None:
            raise AmqpError(COMMAND_INVALID if m.name.startswith("Connection.") else NOT_IMPLEMENTED,
                            f"unimplemented method {m.name}")
        result = handler(self, m)
        if result is not None:           # a coroutine: run it, hold later frames
            self._run(result, m)

    def _run(self, coro, m) -> None:
        self.busy = True
        self.conn.edge.flush()            # publishes and acks before this go out first
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(lambda t, m=m: self._ran(t, m))

    def _ran(self, task, m) -> None:
        self.busy = False
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            if isinstance(exc, AmqpError):
                if not exc.class_id:
                    exc.class_id, exc.method_id = m.index >> 16, m.index & 0xFFFF
                self.conn.error(exc, self.id)
            else:
                log.error("event=amqp_method_failed method=%s error=%r", m.name, exc)
                self.conn.error(AmqpError(541, f"INTERNAL_ERROR - {type(exc).__name__}"), self.id)
        self.resume()

    def resume(self) -> None:
        while self.pending and not self.busy and self.state == OPEN:
            kind, payload = self.pending.popleft()
            self._process(kind, payload)
        self.conn.flush_soon()

    def send(self, m) -> None:
        self.conn.send_method(self.id, m)

    # -- channel ------------------------------------------------------------------
    def m_channel_close(self, m) -> None:
        self.state = CLOSING
        self.conn.forget_channel(self.id)

        async def close():
            await self.cleanup()
            self.conn.send_method(self.id, C.Channel.CloseOk())
        self.conn.spawn(close())

    def m_channel_flow(self, m) -> None:
        self.flow = bool(m.active)
        for c in self.consumers.values():
            if c.edge is not None:
                self.conn.spawn(self.conn.edge.block(c.edge, not self.flow))
        self.send(C.Channel.FlowOk(active=self.flow))

    def m_channel_open(self, m) -> None:
        raise AmqpError(CHANNEL_ERROR, "second 'channel.open' seen")

    async def cleanup(self) -> None:
        """The channel is gone: its consumers end, its unacked deliveries are requeued."""
        self.state = CLOSING
        edge = self.conn.edge
        edge.flush()
        waits = [edge.cancel(c.edge, requeue=True) for c in self.consumers.values() if c.edge is not None]
        for key, tag in self.lingering:
            waits.append(edge.cluster.call(key, "core.Cancel", {"k": key, "tag": tag}))
        self.consumers.clear()
        self.lingering.clear()
        self.unacked.clear()
        self.held.clear()
        if waits:
            await asyncio.gather(*waits, return_exceptions=True)
        await self.settle_confirms_on_close()

    # -- basic: qos, consume, cancel, get, recover -----------------------------------
    def m_basic_qos(self, m) -> None:
        if m.prefetch_size:
            raise AmqpError(NOT_IMPLEMENTED, f"prefetch_size!=0 ({m.prefetch_size})")
        if m.global_:
            self.global_prefetch = m.prefetch_count
            for c in self.consumers.values():
                if c.edge is not None and not c.no_ack and not c.flow:
                    c.credit = self._credit(c.credit if c.credit else None)
                    self.conn.spawn(self.conn.edge.cluster.call(c.key, "core.Credit",
                                                                {"k": c.key, "tag": c.edge.core_tag,
                                                                 "set": c.credit}))
            self._release_held()
        else:
            self.prefetch = m.prefetch_count
        self.send(C.Basic.QosOk())

    def _credit(self, per_consumer: int | None) -> int | None:
        g = self.global_prefetch or None
        p = per_consumer or None
        if g and p:
            return min(g, p)
        return g or p

    def m_basic_consume(self, m):
        queue = m.queue or self.last_queue
        if not queue:
            raise AmqpError(NOT_FOUND, "no previously declared queue")
        tag = m.consumer_tag or gen_name("amq.ctag-")
        if tag in self.consumers:
            raise AmqpError(NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
        return self._consume(queue, tag, m)

    async def _consume(self, queue, tag, m) -> None:
        conn = self.conn
        if queue == REPLY_TO:
            if not m.no_ack:
                raise AmqpError(PRECONDITION_FAILED, "reply consumer cannot acknowledge")
            queue = await self._reply_queue()
        else:
            self.check("queue", queue, 2)
        credit = None if m.no_ack else self._credit(self.prefetch)
        c = Consumer(tag, queue, None, m.no_ack, credit)
        self.consumers[tag] = c
        try:
            c.edge = await conn.edge.consume(
                conn.ns, queue, tag, FLOW_CREDIT if c.flow else credit, partial(self.delivered, c),
                conn_id=conn.conn_id, on_cancel=lambda c=c: self.server_cancelled(c), autoack=bool(m.no_ack),
                exclusive=bool(m.exclusive), owner=conn.owner, window=not c.flow)
        except BaseException as exc:
            self.consumers.pop(tag, None)
            code = getattr(exc, "code", None)
            if code == "NotFound":
                raise no_queue(queue, self.vhost) from None
            if code == "ResourceLocked":
                raise locked(queue, self.vhost) from None
            if code == "ExclusiveConsumer":
                raise AmqpError(ACCESS_REFUSED, f"{where('queue', queue, self.vhost)} in exclusive use") from None
            if code == "ConsumerTagInUse":
                raise AmqpError(NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'") from None
            raise
        c.key = c.edge.key
        if not m.nowait:
            self.send(C.Basic.ConsumeOk(consumer_tag=tag))
        c.ready = True
        for d in c.early:
            self.delivered(c, *d)
        c.early = []
        if not self.flow:
            conn.spawn(conn.edge.block(c.edge, True))

    async def _reply_queue(self) -> str:
        if self.reply_queue is None:
            name = f"{REPLY_TO}.{gen_name('g1h2AA')}"
            await self.declare_queue_core(name, durable=False, exclusive=True, auto_delete=True, args={})
            self.reply_queue = name
        return self.reply_queue

    def delivered(self, c: Consumer, key, seq, payload, redelivered, _msg_id) -> None:
        if not c.ready:
            c.early.append((key, seq, payload, redelivered, _msg_id))
            return
        if self.state != OPEN or c.tag not in self.consumers:
            if not c.no_ack:
                self.conn.edge.settle(key, seq, True, relaxed=True)
            return
        if not c.no_ack and self.global_prefetch and self._unacked_count() >= self.global_prefetch:
            self.held.append((c, key, seq, payload, redelivered))
            return
        self._write_delivery(c, key, seq, payload, redelivered)

    def _unacked_count(self) -> int:
        return len(self.unacked)

    def _write_delivery(self, c, key, seq, payload, redelivered) -> None:
        tag = self.next_tag
        self.next_tag = tag + 1
        if not c.no_ack:
            self.unacked[tag] = (key, seq, c.tag, time.monotonic())
        conn = self.conn
        _wire.deliver(conn.out, self.id, c.tag_b, tag, redelivered, payload, conn.frame_max)
        if c.flow:
            c.owed += 1
            conn.owed.add(c)
        conn.flush_soon()

    def _release_held(self) -> None:
        while self.held and (not self.global_prefetch or self._unacked_count() < self.global_prefetch):
            c, key, seq, payload, redelivered = self.held.popleft()
            if c.tag in self.consumers:
                self._write_delivery(c, key, seq, payload, redelivered)
            else:
                self.conn.edge.settle(key, seq, True, relaxed=True)

    def server_cancelled(self, c: Consumer) -> None:
        """The queue went away: tell the client (consumer_cancel_notify)."""
        if self.consumers.pop(c.tag, None) is None or self.state != OPEN:
            return
        if self.conn.capability("consumer_cancel_notify"):
            self.send(C.Basic.Cancel(consumer_tag=c.tag, nowait=True))
            self.conn.flush_soon()

    def m_basic_cancel(self, m):
        c = self.consumers.pop(m.consumer_tag, None)
        if c is None or c.edge is None:
            if not m.nowait:
                self.send(C.Basic.CancelOk(consumer_tag=m.consumer_tag))
            return None

        async def cancel():
            await self.conn.edge.cancel(c.edge, requeue=False)
            if any(v[2] == c.tag for v in self.unacked.values()):
                self.lingering.add((c.key, c.edge.core_tag))
            if not m.nowait:
                self.send(C.Basic.CancelOk(consumer_tag=m.consumer_tag))
        return cancel()

    def m_basic_get(self, m):
        queue = m.queue or self.last_queue
        if not queue:
            raise AmqpError(NOT_FOUND, "no previously declared queue")
        self.check("queue", queue, 2)

        async def get():
            conn = self.conn
            from broker.runtime.routing import queue_key
            key = queue_key(conn.ns, queue)
            tag = f"{conn.edge.owner}/{conn.conn_id}/get/{self.id}"
            try:
                row = await conn.edge.cluster.call(key, "core.Get", {"k": key, "tag": tag, "autoack": m.no_ack,
                                                                     "owner": conn.owner})
            except Exception as exc:
                code = getattr(exc, "code", None)
                if code == "NotFound":
                    raise no_queue(queue, self.vhost) from None
                if code == "ResourceLocked":
                    raise locked(queue, self.vhost) from None
                raise
            self.lingering.add((key, tag))
            if row is None:
                self.send(C.Basic.GetEmpty())
                return
            seq, payload, redelivered, _mid, left = row
            dtag = self.next_tag
            self.next_tag = dtag + 1
            if not m.no_ack:
                self.unacked[dtag] = (key, seq, None, time.monotonic())
            _wire.get_ok(conn.out, self.id, dtag, redelivered, payload, left, conn.frame_max)
            conn.flush_soon()
        return get()

    def m_basic_recover(self, m):
        if not m.requeue:
            raise AmqpError(NOT_IMPLEMENTED, "requeue=false")
        self._requeue_all()
        self.send(C.Basic.RecoverOk())

    def m_basic_recover_async(self, m):
        if not m.requeue:
            raise AmqpError(NOT_IMPLEMENTED, "requeue=false")
        self._requeue_all()

    def _requeue_all(self) -> None:
        edge = self.conn.edge
        for key, seq, _ctag, _t in self.unacked.values():
            edge.settle(key, seq, True, relaxed=True)
        self.unacked.clear()
        self._release_held()

    # -- acknowledgements ----------------------------------------------------------
    def _take(self, tag: int, multiple: bool) -> list:
        un = self.unacked
        if multiple:
            if tag == 0:
                out = list(un.values())
                un.clear()
                return out
            if tag not in un and (not un or tag < next(iter(un))):
                raise AmqpError(PRECONDITION_FAILED, f"unknown delivery tag {tag}")
            tags = []
            for t in un:            # from the front: only what the ack covers is walked
                if t > tag:
                    break
                tags.append(t)
            pop = un.pop
            return [pop(t) for t in tags]
        v = un.pop(tag, None)
        if v is None:
            raise AmqpError(PRECONDITION_FAILED, f"unknown delivery tag {tag}")
        return [v]

    def m_basic_ack(self, m) -> None:
        if self.tx is not None:
            self.tx_acks.append((m.delivery_tag, m.multiple, None))
            self._take_check(m.delivery_tag, m.multiple)
            return
        taken = self._take(m.delivery_tag, m.multiple)
        self.conn.server.counts[1] += len(taken)
        self._settle(taken, None)
        if self.held:
            self._release_held()

    def _settle(self, taken: list, requeue: bool | None) -> None:
        """Settle taken deliveries a queue at a time (a `multiple` ack is one list per queue)."""
        edge = self.conn.edge
        if len(taken) == 1:
            key, seq, _c, _t = taken[0]
            edge.settle(key, seq, requeue, relaxed=True)
            return
        by_key: dict = {}
        for key, seq, _c, _t in taken:
            seqs = by_key.get(key)
            if seqs is None:
                by_key[key] = [seq]
            else:
                seqs.append(seq)
        for key, seqs in by_key.items():
            edge.settle_many(key, seqs, requeue, relaxed=True)

    def _take_check(self, tag, multiple) -> None:
        if tag and not multiple and tag not in self.unacked:
            raise AmqpError(PRECONDITION_FAILED, f"unknown delivery tag {tag}")

    def m_basic_nack(self, m) -> None:
        self._reject(m.delivery_tag, m.multiple, m.requeue)

    def m_basic_reject(self, m) -> None:
        self._reject(m.delivery_tag, False, m.requeue)

    def _reject(self, tag, multiple, requeue) -> None:
        if self.tx is not None:
            self.tx_acks.append((tag, multiple, bool(requeue)))
            self._take_check(tag, multiple)
            return
        self._settle(self._take(tag, multiple), bool(requeue))
        if self.held:
            self._release_held()

    def check_timeout(self, now: float, timeout_ms: int) -> None:
        """RabbitMQ's consumer_timeout: the oldest unacked delivery is too old."""
        if self.unacked and self.state == OPEN:
            first = next(iter(self.unacked.values()))
            if (now - first[3]) * 1000 > timeout_ms:
                self.conn.error(AmqpError(PRECONDITION_FAILED, f"delivery acknowledgement on channel {self.id} "
                                          f"timed out. Timeout value used: {timeout_ms} ms. This timeout value can "
                                          "be configured, see consumers doc guide to learn more"), self.id)

    # -- permissions ---------------------------------------------------------------
    def check(self, kind: str, name: str, what: int) -> None:
        """RabbitMQ's resource permissions: 0 configure, 1 write, 2 read."""
        user = self.conn.user
        if user is not None and not Realm.allowed(user, self.vhost, what, name):
            raise refused(kind, name, self.vhost, user.name)


_HANDLERS = {
    "Channel.Close": Channel.m_channel_close, "Channel.Flow": Channel.m_channel_flow,
    "Channel.Open": Channel.m_channel_open,
    "Basic.Qos": Channel.m_basic_qos, "Basic.Consume": Channel.m_basic_consume,
    "Basic.Cancel": Channel.m_basic_cancel, "Basic.Get": Channel.m_basic_get,
    "Basic.Recover": Channel.m_basic_recover, "Basic.RecoverAsync": Channel.m_basic_recover_async,
    "Basic.Ack": Channel.m_basic_ack, "Basic.Nack": Channel.m_basic_nack, "Basic.Reject": Channel.m_basic_reject,
    **DeclareMixin.HANDLERS, **PublishMixin.HANDLERS,
}
_ = (RESOURCE_LOCKED,)
