"""The Queue primitive: a pure, sans-IO state machine (no clock, no I/O).

One ``Queue`` serves pull with leases (SQS visibility timeout, SWF task
lists) and push with credit and acks (AMQP prefetch, MQTT QoS 1/2 inflight
window). ``now`` (integer milliseconds) is always passed in. Every change is
reported to a ``Journal`` (exactly once per changed message per call) so the
runtime can group-commit it; ``restore`` rebuilds the queue from those
records.

Message lifecycle (``message.TRANSITIONS``)::

    enqueue -> DELAYED --due--> READY --receive/dispatch--> INFLIGHT
                                  ^                            |
                                  +--lease expiry / nack(requeue) / consumer gone
    any state --delete/ack/TTL/dead-letter/overflow/purge--> GONE

Ordering:
- standard: READY messages go out in seq order; a message that returns
  (lease expiry, nack) re-enters at its seq position (deque + heap).
- priority (``max_priority`` set): higher priority first, seq within.
- FIFO: per group strictly in seq order; a group with anything in flight
  hands out nothing; available groups are served oldest-head first; one
  ``receive`` takes a run of consecutive messages from a group and then
  moves on to the next group; ``dispatch`` hands one message per group.

Counts (``visible``, ``inflight``, ``delayed``, ``total``, ``bytes``) are O(1).
Work per message is O(log n) at worst (heaps); no call scans all messages
except ``purge`` and ``restore``.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush
from typing import Any, Iterable, Iterator

from ._ready import PriorityReady, SeqReady
from .message import (
    DELAYED, DROP_HEAD, GONE, INFLIGHT, READY, REJECT_PUBLISH, DedupRecord,
    DispatchResult, EnqueueResult, Journal, LeaseError, Message, NullJournal,
    QueueConfig, ReceiveResult, TickResult,
)

__all__ = [
    "Queue", "QueueConfig", "Message", "DedupRecord", "Journal", "NullJournal",
    "LeaseError", "EnqueueResult", "ReceiveResult", "DispatchResult", "TickResult",
    "DELAYED", "READY", "INFLIGHT", "GONE", "DROP_HEAD", "REJECT_PUBLISH",
]

_SLACK = 1024


class _Group:
    __slots__ = ("name", "msgs", "inflight", "queued")

    def __init__(self, name: Any) -> None:
        self.name = name
        self.msgs: deque[Message] = deque()  # every non-GONE message, seq order (GONE ones lazily)
        self.inflight = 0
        self.queued: int | None = None  # head seq last pushed onto the group heap


class _Consumer:
    __slots__ = ("tag", "credit", "window", "unacked", "in_ring", "active")

    def __init__(self, tag: Any, credit: int | None, window: bool) -> None:
        self.tag = tag
        self.credit = credit
        self.window = window
        self.unacked: dict[int, Message] = {}
        self.in_ring = False
        self.active = True

    def has_capacity(self) -> bool:
        c = self.credit
        if c is None:
            return True
        if self.window:
            return len(self.unacked) < c
        return c > 0


class Queue:
    __slots__ = (
        "qid", "config", "journal", "_next_seq", "_msgs", "_ready", "_order",
        "_groups", "_gheap", "_delayed", "_leases", "_ttl", "_dedup", "_dedup_heap",
        "_dedup_n", "_consumers", "_ring", "_n_ready", "_n_inflight", "_n_delayed",
        "_bytes", "_bytes_q", "_fifo", "_max_receives", "_limits",
    )

    def __init__(self, qid: Any, config: QueueConfig | None = None,
                 journal: Journal | None = None, *, next_seq: int = 1) -> None:
        self.qid = qid
        cfg = self.config = config if config is not None else QueueConfig()
        self.journal = journal if journal is not None else NullJournal()
        self._next_seq = next_seq
        self._msgs: dict[int, Message] = {}
        self._fifo = cfg.fifo
        self._max_receives = cfg.max_receives
        self._limits = cfg.max_length is not None or cfg.max_bytes is not None
        if cfg.fifo:
            self._ready = None
            # oldest-ready order, only needed for drop-head overflow
            self._order = SeqReady() if (self._limits and cfg.overflow == DROP_HEAD) else None
        else:
            self._ready = PriorityReady() if cfg.max_priority is not None else SeqReady()
            self._order = None
        self._groups: dict[Any, _Group] = {}
        self._gheap: list[tuple[int, Any]] = []
        self._delayed: list[tuple[int, int, Message]] = []
        self._leases: list[tuple[int, int, int, Message]] = []
        self._ttl: list[tuple[int, int, Message]] = []
        self._dedup: dict[Any, DedupRecord] = {}
        self._dedup_heap: list[tuple[int, int, DedupRecord]] = []
        self._dedup_n = 0
        self._consumers: dict[Any, _Consumer] = {}
        self._ring: deque[_Consumer] = deque()
        self._n_ready = 0
        self._n_inflight = 0
        self._n_delayed = 0
        self._bytes = 0
        self._bytes_q = 0

    # ------------------------------------------------------------------ counts
    @property
    def visible(self) -> int:
        return self._n_ready

    @property
    def inflight(self) -> int:
        return self._n_inflight

    @property
    def delayed(self) -> int:
        return self._n_delayed

    @property
    def total(self) -> int:
        return len(self._msgs)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def __len__(self) -> int:
        return len(self._msgs)

    def get(self, seq: int) -> Message | None:
        return self._msgs.get(seq)

    def messages(self) -> Iterator[Message]:
        """Stored messages in seq order (for export; O(n))."""
        return iter(list(self._msgs.values()))

    def dedup_records(self) -> list[DedupRecord]:
        return list(self._dedup.values())

    def consumers(self) -> list[Any]:
        return list(self._consumers)

    def unacked(self, tag: Any) -> list[Message]:
        c = self._consumers.get(tag)
        return list(c.unacked.values()) if c is not None else []

    # ----------------------------------------------------------------- enqueue
    def enqueue(self, now: int, payload: Any, size: int, *, msg_id: str = "",
                delay_ms: int | None = None, dedup: str | None = None,
                group: str | None = None, priority: int = 0,
                ttl_ms: int | None = None) -> EnqueueResult:
        cfg = self.config
        journal = self.journal
        key = None
        if dedup is not None and cfg.dedup_window_ms is not None:
            key = dedup if cfg.dedup_scope == "queue" else (group, dedup)
            rec = self._dedup.get(key)
            if rec is not None:
                if rec.expires_at > now:
                    return EnqueueResult(self._msgs.get(rec.seq), rec)
                del self._dedup[key]  # lapsed, not swept yet
                journal.dedup_expired(self, rec)
        limits = self._limits
        if limits and cfg.overflow == REJECT_PUBLISH:
            ml = cfg.max_length
            mb = cfg.max_bytes
            if ((ml is not None and self._n_ready + self._n_delayed >= ml)
                    or (mb is not None and self._bytes_q + size > mb)):
                return EnqueueResult(None, rejected=True)

        seq = self._next_seq
        self._next_seq = seq + 1
        if cfg.max_priority is not None:
            priority = 0 if priority < 0 else cfg.max_priority if priority > cfg.max_priority else priority
        ret = cfg.retention_ms
        if ttl_ms is not None:
            ret = ttl_ms if ret is None or ttl_ms < ret else ret
        expires_at = None if ret is None else now + ret
        delay = cfg.delay_ms if delay_ms is None else delay_ms
        if delay > 0:
            m = Message(seq, msg_id, payload, size, group, dedup, priority, now,
                        now + delay, expires_at, 0, None, 0, DELAYED)
            self._n_delayed += 1
            self._push_delayed(m)
        else:
            m = Message(seq, msg_id, payload, size, group, dedup, priority, now,
                        now, expires_at, 0, None, 0, READY)
            self._n_ready += 1
        self._msgs[seq] = m
        self._bytes += size
        self._bytes_q += size
        if expires_at is not None:
            self._push_ttl(m)
        if self._fifo:
            g = self._groups.get(group)
            if g is None:
                g = self._groups[group] = _Group(group)
            g.msgs.append(m)
            if m.state == READY:
                if g.inflight == 0:
                    self._group_check(g)
                if self._order is not None:
                    self._order.push(m)
        elif m.state == READY:
            self._ready.push(m)

        dropped: list[Message] = []
        if limits and cfg.overflow == DROP_HEAD:
            ml = cfg.max_length
            mb = cfg.max_bytes
            while ((ml is not None and self._n_ready + self._n_delayed > ml)
                   or (mb is not None and self._bytes_q > mb)):
                victim = (self._order if self._fifo else self._ready).pop()
                if victim is None:
                    break
                self._remove(victim)
                dropped.append(victim)
        if key is not None:
            rec = DedupRecord(dedup, group, msg_id, seq, now + cfg.dedup_window_ms, key)
            self._add_dedup(rec)
            journal.dedup_added(self, rec)
        if m.state != GONE:
            journal.inserted(self, m)
        for d in dropped:
            if d is not m:
                journal.removed(self, d)
        return EnqueueResult(m, None, False, dropped)

    # ----------------------------------------------------------------- receive
    def receive(self, now: int, max_n: int, lease_ms: int | None = None) -> ReceiveResult:
        """Pull up to ``max_n`` messages with a lease of ``lease_ms`` (default config.lease_ms)."""
        if lease_ms is None:
            lease_ms = self.config.lease_ms
        chg: dict[int, Message] = {}
        out: list[Message] = []
        dead: list[Message] = []
        expired: list[Message] = []
        self._advance_if_due(now, chg, expired)
        if self._fifo:
            self._receive_fifo(now, max_n, lease_ms, out, dead, expired, chg)
        else:
            pop = self._ready.pop
            maxr = self._max_receives
            while len(out) < max_n:
                m = pop()
                if m is None:
                    break
                ea = m.expires_at
                if ea is not None and ea <= now:
                    self._remove(m)
                    expired.append(m)
                elif maxr is not None and m.receive_count >= maxr:
                    self._remove(m)
                    dead.append(m)
                else:
                    self._deliver(m, now, lease_ms, None)
                    out.append(m)
                chg[m.seq] = m
        self._flush(chg)
        return ReceiveResult(out, dead, expired)

    def _receive_fifo(self, now: int, max_n: int, lease_ms: int, out: list[Message],
                      dead: list[Message], expired: list[Message], chg: dict[int, Message]) -> None:
        gh = self._gheap
        maxr = self._max_receives
        while len(out) < max_n and gh:
            g = self._pop_group()
            if g is None:
                continue
            for m in g.msgs:
                st = m.state
                if st == GONE:
                    continue
                if st != READY or len(out) >= max_n:
                    break
                ea = m.expires_at
                if ea is not None and ea <= now:
                    self._remove(m, False)
                    expired.append(m)
                elif maxr is not None and m.receive_count >= maxr:
                    self._remove(m, False)
                    dead.append(m)
                else:
                    self._deliver(m, now, lease_ms, None)
                    out.append(m)
                chg[m.seq] = m
            self._group_check(g)

    def _pop_group(self) -> _Group | None:
        """Pop the group heap's top; return the group if it is available with that head."""
        seq, name = heappop(self._gheap)
        g = self._groups.get(name)
        if g is None:
            return None
        if g.queued == seq:
            g.queued = None
        if g.inflight:
            return None
        d = g.msgs
        while d and d[0].state == GONE:
            d.popleft()
        if not d or d[0].seq != seq or d[0].state != READY:
            return None
        return g

    # ------------------------------------------------------------------ leases
    def change_lease(self, now: int, seq: int, lease: int, lease_ms: int) -> bool:
        """Change a pulled message's visibility timeout; ``lease_ms == 0`` makes it
        visible now. Raises ``LeaseError`` with reason ``not_found`` (no such
        message), ``stale`` (``lease`` is not the current token: someone received
        it since) or ``not_inflight`` (current token but not leased any more)."""
        chg: dict[int, Message] = {}
        expired: list[Message] = []
        self._advance_if_due(now, chg, expired)
        try:
            m = self._msgs.get(seq)
            if m is None:
                raise LeaseError("not_found", seq)
            if m.lease != lease:
                raise LeaseError("stale", seq)
            if m.state != INFLIGHT or m.consumer is not None:
                raise LeaseError("not_inflight", seq)
            if lease_ms <= 0:
                self._make_ready(m)
            else:
                m.visible_at = now + lease_ms
                self._push_lease(m)
            chg[seq] = m
            return True
        finally:
            self._flush(chg)

    def delete(self, seq: int, lease: int | None = None) -> bool:
        """Delete by receipt (``lease`` must be the current token) or unconditionally."""
        m = self._msgs.get(seq)
        if m is None or (lease is not None and m.lease != lease):
            return False
        self._remove(m)
        self.journal.removed(self, m)
        return True

    # ------------------------------------------------------------- push / credit
    def add_consumer(self, tag: Any, credit: int | None = None, *, window: bool = True) -> None:
        """Register a push consumer. ``credit`` None = unlimited. ``window=True``
        (AMQP prefetch, MQTT receive-maximum): credit is the max number of unacked
        deliveries, replenished by ack/nack. ``window=False`` (AMQP 1.0 link
        credit): each delivery consumes one credit; only add/set_credit restore it."""
        if tag in self._consumers:
            raise ValueError(f"consumer {tag!r} already registered")
        c = self._consumers[tag] = _Consumer(tag, credit, window)
        self._maybe_ring(c)

    def set_credit(self, tag: Any, credit: int | None) -> None:
        c = self._consumers[tag]
        c.credit = credit
        self._maybe_ring(c)

    def add_credit(self, tag: Any, n: int) -> None:
        c = self._consumers[tag]
        if c.credit is not None:
            c.credit += n
        self._maybe_ring(c)

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
        maxr = self._max_receives
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
                    if m is None:
                        break
                    ea = m.expires_at
                    if ea is not None and ea <= now:
                        self._remove(m)
                        expired.append(m)
                    elif maxr is not None and m.receive_count >= maxr:
                        self._remove(m)
                        dead.append(m)
                    else:
                        break
                    chg[m.seq] = m
            if m is None:
                break
            ring.popleft()
            self._deliver(m, now, 0, c.tag)
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
        maxr = self._max_receives
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
                ea = m.expires_at
                if ea is not None and ea <= now:
                    self._remove(m, False)
                    expired.append(m)
                elif maxr is not None and m.receive_count >= maxr:
                    self._remove(m, False)
                    dead.append(m)
                else:
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

    def purge(self, include_inflight: bool = False) -> int:
        victims = [m for m in self._msgs.values() if include_inflight or m.state != INFLIGHT]
        journal = self.journal
        for m in victims:
            self._remove(m, False)
            journal.removed(self, m)
        if self._fifo:
            for g in list(self._groups.values()):
                self._group_check(g)
            if self._order is not None:
                self._order.clear()
        else:
            self._ready.clear()
        self._delayed = []
        self._ttl = [e for e in self._ttl if e[2].state != GONE]
        heapify(self._ttl)
        if include_inflight:
            self._leases = []
        return len(victims)

    # -------------------------------------------------------------------- time
    def tick(self, now: int) -> TickResult:
        """Due delayed -> READY, expired leases -> READY, TTL drops, dedup sweep."""
        chg: dict[int, Message] = {}
        expired: list[Message] = []
        ready = self._advance(now, chg, expired)
        ttl = self._ttl
        while ttl and ttl[0][0] <= now:
            ea, _, m = heappop(ttl)
            if m.expires_at == ea and (m.state == READY or m.state == DELAYED):
                self._remove(m)
                expired.append(m)
                chg[m.seq] = m
        self._flush(chg)
        dh = self._dedup_heap
        if dh and dh[0][0] <= now:
            journal = self.journal
            table = self._dedup
            while dh and dh[0][0] <= now:
                rec = heappop(dh)[2]
                if table.get(rec.key) is rec:
                    del table[rec.key]
                    journal.dedup_expired(self, rec)
        return TickResult(expired, ready, self.next_deadline())

    def next_deadline(self) -> int | None:
        best = None
        h = self._delayed
        while h and not (h[0][2].state == DELAYED and h[0][2].visible_at == h[0][0]):
            heappop(h)
        if h:
            best = h[0][0]
        h = self._leases
        while h and not _lease_live(h[0]):
            heappop(h)
        if h and (best is None or h[0][0] < best):
            best = h[0][0]
        h = self._ttl
        while h and not (h[0][2].expires_at == h[0][0] and h[0][2].state in (READY, DELAYED)):
            heappop(h)
        if h and (best is None or h[0][0] < best):
            best = h[0][0]
        h = self._dedup_heap
        while h and self._dedup.get(h[0][2].key) is not h[0][2]:
            heappop(h)
        if h and (best is None or h[0][0] < best):
            best = h[0][0]
        return best

    # ----------------------------------------------------------------- restore
    def restore(self, messages: Iterable[Message], now: int,
                dedup: Iterable[DedupRecord] = ()) -> None:
        """Rebuild an empty queue from persisted records. Leased messages keep
        their deadline; push-delivered ones (``consumer`` set) are requeued, since
        their consumer is gone (journaled as updated). Dedup records are reloaded
        as given; lapsed ones are swept by the next tick."""
        if self._msgs:
            raise ValueError("restore into a non-empty queue")
        requeued = []
        fifo = self._fifo
        for m in sorted(messages, key=_seq):
            st = m.state
            if st == GONE:
                continue
            self._msgs[m.seq] = m
            self._bytes += m.size
            if m.seq >= self._next_seq:
                self._next_seq = m.seq + 1
            if fifo:
                g = self._groups.get(m.group)
                if g is None:
                    g = self._groups[m.group] = _Group(m.group)
                g.msgs.append(m)
            if st == INFLIGHT and m.consumer is not None:
                m.consumer = None
                m.state = st = READY
                requeued.append(m)
            if st == DELAYED:
                self._n_delayed += 1
                self._bytes_q += m.size
                self._push_delayed(m)
            elif st == INFLIGHT:
                self._n_inflight += 1
                self._push_lease(m)
                if fifo:
                    g.inflight += 1
            else:
                self._n_ready += 1
                self._bytes_q += m.size
                if fifo:
                    if self._order is not None:
                        self._order.push(m)
                else:
                    self._ready.push(m)
            if m.expires_at is not None and st != INFLIGHT:
                self._push_ttl(m)
        for g in list(self._groups.values()):
            self._group_check(g)
        scope_group = self.config.dedup_scope == "group"
        for rec in dedup:
            # lapsed records are kept too: tick() sweeps them with dedup_expired
            rec.key = (rec.group, rec.dedup) if scope_group else rec.dedup
            self._add_dedup(rec)
        for m in requeued:
            self.journal.updated(self, m)

    # -------------------------------------------------------------- internals
    def _flush(self, chg: dict[int, Message]) -> None:
        if chg:
            journal = self.journal
            for m in chg.values():
                if m.state == GONE:
                    journal.removed(self, m)
                else:
                    journal.updated(self, m)

    def _advance_if_due(self, now: int, chg: dict[int, Message], expired: list[Message]) -> None:
        d = self._delayed
        lh = self._leases
        if (d and d[0][0] <= now) or (lh and lh[0][0] <= now):
            self._advance(now, chg, expired)

    def _advance(self, now: int, chg: dict[int, Message], expired: list[Message]) -> int:
        n = 0
        h = self._delayed
        while h and h[0][0] <= now:
            va, seq, m = heappop(h)
            if m.state != DELAYED or m.visible_at != va:
                continue
            ea = m.expires_at
            if ea is not None and ea <= now:
                self._remove(m)
                expired.append(m)
            else:
                self._make_ready(m)
                n += 1
            chg[seq] = m
        h = self._leases
        while h and h[0][0] <= now:
            e = heappop(h)
            if not _lease_live(e):
                continue
            m = e[3]
            ea = m.expires_at
            if ea is not None and ea <= now:
                self._remove(m)
                expired.append(m)
            else:
                self._make_ready(m)
                n += 1
            chg[m.seq] = m
        return n

    def _deliver(self, m: Message, now: int, lease_ms: int, tag: Any) -> None:
        """READY -> INFLIGHT (lease when tag is None, else push consumer ``tag``)."""
        self._n_ready -= 1
        self._bytes_q -= m.size
        self._n_inflight += 1
        m.state = INFLIGHT
        m.receive_count += 1
        m.lease += 1
        if m.first_receive_at is None:
            m.first_receive_at = now
        if tag is None:
            m.visible_at = now + lease_ms
            self._push_lease(m)
        else:
            m.consumer = tag
        if self._fifo:
            self._groups[m.group].inflight += 1

    def _make_ready(self, m: Message) -> None:
        """DELAYED or INFLIGHT -> READY, at its seq position."""
        prev = m.state
        if prev == DELAYED:
            self._n_delayed -= 1
        else:  # INFLIGHT
            self._n_inflight -= 1
            self._bytes_q += m.size
            if m.consumer is not None:
                self._release(m)
            if m.expires_at is not None:
                self._push_ttl(m)
        m.state = READY
        self._n_ready += 1
        if self._fifo:
            g = self._groups[m.group]
            if prev == INFLIGHT:
                g.inflight -= 1
            self._group_check(g)
            if self._order is not None:
                self._order.push(m)
        else:
            self._ready.push(m)

    def _remove(self, m: Message, check_group: bool = True) -> None:
        st = m.state
        if st == READY:
            self._n_ready -= 1
            self._bytes_q -= m.size
        elif st == DELAYED:
            self._n_delayed -= 1
            self._bytes_q -= m.size
        elif st == INFLIGHT:
            self._n_inflight -= 1
            if m.consumer is not None:
                self._release(m)
            if self._fifo:
                self._groups[m.group].inflight -= 1
        else:
            return
        m.state = GONE
        del self._msgs[m.seq]
        self._bytes -= m.size
        if check_group and self._fifo:
            self._group_check(self._groups[m.group])

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

    def _group_check(self, g: _Group) -> None:
        """Drop GONE heads; forget an empty group; queue the group if available."""
        d = g.msgs
        while d and d[0].state == GONE:
            d.popleft()
        if not d:
            if g.inflight == 0 and self._groups.get(g.name) is g:
                del self._groups[g.name]
            return
        if g.inflight == 0:
            h = d[0]
            if h.state == READY and g.queued != h.seq:
                g.queued = h.seq
                heappush(self._gheap, (h.seq, g.name))

    def _push_delayed(self, m: Message) -> None:
        h = self._delayed
        heappush(h, (m.visible_at, m.seq, m))
        if len(h) > 2 * self._n_delayed + _SLACK:
            h[:] = [e for e in h if e[2].state == DELAYED and e[2].visible_at == e[0]]
            heapify(h)

    def _push_lease(self, m: Message) -> None:
        h = self._leases
        heappush(h, (m.visible_at, m.seq, m.lease, m))
        if len(h) > 2 * self._n_inflight + _SLACK:
            h[:] = [e for e in h if _lease_live(e)]
            heapify(h)

    def _push_ttl(self, m: Message) -> None:
        h = self._ttl
        heappush(h, (m.expires_at, m.seq, m))
        if len(h) > 2 * len(self._msgs) + _SLACK:
            h[:] = [e for e in h if e[2].state in (READY, DELAYED) and e[2].expires_at == e[0]]
            heapify(h)

    def _add_dedup(self, rec: DedupRecord) -> None:
        self._dedup[rec.key] = rec
        self._dedup_n += 1
        heappush(self._dedup_heap, (rec.expires_at, self._dedup_n, rec))

    def __repr__(self) -> str:
        return (f"Queue({self.qid!r}, visible={self._n_ready}, inflight={self._n_inflight}, "
                f"delayed={self._n_delayed})")


def _lease_live(e: tuple[int, int, int, Message]) -> bool:
    m = e[3]
    return m.state == INFLIGHT and m.consumer is None and m.lease == e[2] and m.visible_at == e[0]


def _seq(m: Message) -> int:
    return m.seq
