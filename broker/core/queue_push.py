"""Push delivery with credit and acks for ``Queue`` (AMQP prefetch / link
credit, MQTT QoS 1/2 inflight window).

``PushMixin`` is mixed into ``broker.core.queue.Queue``; it holds the consumer
registry, the round-robin ring of consumers with capacity, ``dispatch`` and
``ack``/``nack``. It relies on the state bookkeeping of ``QueueState``
(``_advance_if_due``, ``_deliver``, ``_make_ready``, ``_remove``, ``_flush``,
``_pop_group``, ``_group_check``) and on the slots declared by ``Queue``.
"""

from __future__ import annotations

from typing import Any

from ._queue_state import _seq
from .message import GONE, INFLIGHT, READY, DispatchResult, Message

__all__ = ["PushMixin"]


class _Consumer:
    __slots__ = ("tag", "credit", "window", "unacked", "in_ring", "active", "blocked", "autoack", "standby")

    def __init__(self, tag: Any, credit: int | None, window: bool, autoack: bool = False,
                 standby: bool = False) -> None:
        self.tag = tag
        self.credit = credit
        self.window = window
        self.unacked: dict[int, Message] = {}
        self.in_ring = False
        self.active = True
        self.blocked = False      # its connection cannot take more right now (backpressure)
        self.autoack = autoack    # a delivery settles the message (at-most-once, AMQP no-ack)
        self.standby = standby    # waits its turn (single active consumer)

    def has_capacity(self) -> bool:
        if self.blocked or self.standby:
            return False
        c = self.credit
        if c is None:
            return True
        if self.window:
            return len(self.unacked) < c
        return c > 0


class PushMixin:
    """Push consumers, credit and acks (state lives in ``Queue``'s slots)."""

    __slots__ = ()

    def consumers(self) -> list[Any]:
        return list(self._consumers)

    def unacked(self, tag: Any) -> list[Message]:
        c = self._consumers.get(tag)
        return list(c.unacked.values()) if c is not None else []

    def add_consumer(self, tag: Any, credit: int | None = None, *, window: bool = True,
                     autoack: bool = False, standby: bool = False) -> None:
        """Register a push consumer. ``credit`` None = unlimited. ``window=True``
        (AMQP prefetch, MQTT receive-maximum): credit is the max number of unacked
        deliveries, replenished by ack/nack. ``window=False`` (AMQP 1.0 link
        credit): each delivery consumes one credit; only add/set_credit restore it.
        ``autoack``: a message is removed as it is handed out (never unacked).
        ``standby``: registered but given nothing until ``set_standby(tag, False)``."""
        if tag in self._consumers:
            raise ValueError(f"consumer {tag!r} already registered")
        c = self._consumers[tag] = _Consumer(tag, credit, window, autoack, standby)
        self._maybe_ring(c)

    def set_standby(self, tag: Any, standby: bool) -> None:
        c = self._consumers.get(tag)
        if c is not None and c.standby != standby:
            c.standby = standby
            if not standby:
                self._maybe_ring(c)

    def consumer_count(self) -> int:
        return len(self._consumers)

    def get_for(self, tag: Any, now: int, autoack: bool = False) -> DispatchResult:
        """Hand the next READY message to consumer ``tag`` regardless of its credit
        (AMQP basic.get on a channel's pseudo consumer); it stays unacked on that
        consumer unless ``autoack``. At most one delivery."""
        res = DispatchResult()
        c = self._consumers[tag]
        chg: dict[int, Message] = {}
        self._advance_if_due(now, chg, res.expired)
        if self._fifo:
            m = self._pop_fifo_one(now, res.dead, res.expired, chg)
        else:
            pop = self._ready.pop
            while True:
                m = pop()
                if m is None or not self._undeliverable(m, now, res.dead, res.expired):
                    break
                chg[m.seq] = m
        if m is not None:
            self._deliver(m, now, 0, tag)
            if autoack:
                self._remove(m)
            else:
                c.unacked[m.seq] = m
            res.append((tag, m))
            chg[m.seq] = m
        self._flush(chg)
        return res

    def set_credit(self, tag: Any, credit: int | None) -> None:
        c = self._consumers[tag]
        c.credit = credit
        self._maybe_ring(c)

    def add_credit(self, tag: Any, n: int) -> None:
        c = self._consumers[tag]
        if c.credit is not None:
            c.credit += n
        self._maybe_ring(c)

    def set_blocked(self, tag: Any, blocked: bool) -> None:
        """Stop (True) or resume (False) pushing to a consumer whose connection is
        slow; its unacked deliveries and credit are kept."""
        c = self._consumers.get(tag)
        if c is not None and c.blocked != blocked:
            c.blocked = blocked
            if not blocked:
                self._maybe_ring(c)

    def has_consumer(self, tag: Any) -> bool:
        return tag in self._consumers

    def remove_consumer(self, tag: Any) -> list[Message]:
        """Unregister; its unacked messages are requeued at their seq position."""
        c = self._consumers.pop(tag, None)
        if c is None:
            return []
        c.active = False
        msgs = sorted(c.unacked.values(), key=_seq)
        c.unacked.clear()
        for m in msgs:
            self._make_ready(m)
            self.journal.updated(self, m)
        return msgs

    def dispatch(self, now: int, limit: int | None = None) -> DispatchResult:
        """Hand READY messages to consumers round-robin within their credit."""
        res = DispatchResult()
        ring = self._ring
        if not ring:
            return res
        chg: dict[int, Message] = {}
        dead = res.dead
        expired = res.expired
        self._advance_if_due(now, chg, expired)
        fifo = self._fifo
        n = 0
        while limit is None or n < limit:
            # a valid consumer with capacity at the ring head
            while ring:
                c = ring[0]
                if c.active and c.has_capacity():
                    break
                ring.popleft()
                c.in_ring = False
            else:
                break
            if fifo:
                m = self._pop_fifo_one(now, dead, expired, chg)
            else:
                pop = self._ready.pop
                while True:
                    m = pop()
                    if m is None or not self._undeliverable(m, now, dead, expired):
                        break
                    chg[m.seq] = m
            if m is None:
                break
            ring.popleft()
            self._deliver(m, now, 0, c.tag)
            if c.autoack:
                self._remove(m)
            else:
                c.unacked[m.seq] = m
            if not c.window and c.credit is not None:
                c.credit -= 1
            if c.has_capacity():
                ring.append(c)
            else:
                c.in_ring = False
            res.append((c.tag, m))
            chg[m.seq] = m
            n += 1
        self._flush(chg)
        return res

    def _pop_fifo_one(self, now: int, dead: list[Message], expired: list[Message],
                      chg: dict[int, Message]) -> Message | None:
        gh = self._gheap
        while gh:
            g = self._pop_group()
            if g is None:
                continue
            for m in g.msgs:
                st = m.state
                if st == GONE:
                    continue
                if st != READY:
                    break
                if not self._undeliverable(m, now, dead, expired, False):
                    return m  # caller delivers it; the group is then locked
                chg[m.seq] = m
            self._group_check(g)
        return None

    def ack(self, seq: int) -> bool:
        m = self._msgs.get(seq)
        if m is None or m.state != INFLIGHT:
            return False
        self._remove(m)
        self.journal.removed(self, m)
        return True

    def nack(self, seq: int, requeue: bool) -> Message | None:
        """Requeue at its seq position (redelivered), or remove it (returned so the
        caller may dead-letter). None if the message is not in flight."""
        m = self._msgs.get(seq)
        if m is None or m.state != INFLIGHT:
            return None
        if requeue:
            self._make_ready(m)
            self.journal.updated(self, m)
        else:
            self._remove(m)
            self.journal.removed(self, m)
        return m

    # -------------------------------------------------------------------- ring
    def _release(self, m: Message) -> None:
        c = self._consumers.get(m.consumer)
        m.consumer = None
        if c is not None:
            c.unacked.pop(m.seq, None)
            self._maybe_ring(c)

    def _maybe_ring(self, c: _Consumer) -> None:
        if c.active and not c.in_ring and c.has_capacity():
            c.in_ring = True
            self._ring.append(c)
