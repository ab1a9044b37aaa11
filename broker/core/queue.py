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

The implementation is split by concern: this module holds ``Queue`` with
enqueue, pull-with-lease, purge and timers; ``queue_push.PushMixin`` the push
consumers with credit and acks; ``_queue_state.QueueState`` the state
transitions, heaps, FIFO groups and ``restore``.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, merge
from typing import Any, Iterator

from ._backlog import Pager, PagedReady
from ._queue_state import QueueState, _Group, _lease_live, _seq
from ._ready import ExpiryOrder, PriorityReady, SeqReady
from .message import (
    DELAYED, DROP_HEAD, GONE, GROUP_HEAD, INFLIGHT, READY, REJECT_PUBLISH, DedupRecord,
    DispatchResult, EnqueueResult, Journal, LeaseError, Message, NullJournal,
    QueueConfig, ReceiveResult, TickResult,
)
from .queue_push import PushMixin, _Consumer

__all__ = [
    "Queue", "QueueConfig", "Message", "DedupRecord", "Journal", "NullJournal",
    "LeaseError", "EnqueueResult", "ReceiveResult", "DispatchResult", "TickResult",
    "DELAYED", "READY", "INFLIGHT", "GONE", "DROP_HEAD", "REJECT_PUBLISH",
]


class Queue(PushMixin, QueueState):
    __slots__ = (
        "qid", "config", "journal", "_next_seq", "_msgs", "_ready", "_order",
        "_groups", "_gheap", "_delayed", "_leases", "_ttl", "_dedup", "_dedup_heap", "_stamp",
        "_dedup_n", "_consumers", "_ring", "_n_ready", "_n_inflight", "_n_delayed",
        "_bytes", "_bytes_q", "_fifo", "_max_receives", "_limits", "_head_groups", "_paged",
    )

    def __init__(self, qid: Any, config: QueueConfig | None = None,
                 journal: Journal | None = None, *, next_seq: int = 1, pager: Pager | None = None) -> None:
        """``pager``: the store's side of a backlog left on disk (``_backlog``); used by
        standard queues without priorities, ignored by the others."""
        self.qid = qid
        cfg = self.config = config if config is not None else QueueConfig()
        self.journal = journal if journal is not None else NullJournal()
        self._next_seq = next_seq
        self._msgs: dict[int, Message] = {}
        self._fifo = cfg.fifo
        self._max_receives = cfg.max_receives
        self._limits = cfg.max_length is not None or cfg.max_bytes is not None
        self._head_groups = cfg.fifo and cfg.group_mode == GROUP_HEAD
        if cfg.fifo:
            self._ready = None
            # oldest-ready order, only needed for drop-head overflow
            self._order = SeqReady() if (self._limits and cfg.overflow == DROP_HEAD) else None
        else:
            self._ready = PriorityReady() if cfg.max_priority is not None else SeqReady()
            self._order = None
        self._paged = None
        if pager is not None and not cfg.fifo and cfg.max_priority is None:
            self._ready = self._paged = PagedReady(self, pager)
        self._groups: dict[Any, _Group] = {}
        self._gheap: list[tuple[int, Any]] = []
        self._delayed: list[tuple[int, int, Message]] = []
        self._leases: list[tuple[int, int, int, Message]] = []
        self._ttl = ExpiryOrder()
        self._stamp: tuple = (None, None, None)    # (now, retention, expiry) of the last enqueue
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
        p = self._paged
        return len(self._msgs) + (p.spilled if p is not None else 0)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def __len__(self) -> int:
        return self.total

    @property
    def pages(self) -> bool:
        """Leaves its ready backlog beyond a window in the store (``_backlog``)."""
        return self._paged is not None

    def ahead_due(self) -> bool:
        """Its window is low and a spilled chunk waits: call ``read_ahead`` soon."""
        p = self._paged
        return p is not None and p.ahead_due()

    def read_ahead(self) -> bool:
        """Read the next spilled chunk back while the window still holds a chunk's worth
        (a push consumer's next dispatch then finds it in memory); -> read one?"""
        p = self._paged
        return p is not None and p.read_ahead()

    @property
    def spilled(self) -> int:
        """READY messages left only in the store (see ``_backlog``)."""
        p = self._paged
        return p.spilled if p is not None else 0

    def get(self, seq: int) -> Message | None:
        """A message in memory (a spilled one is never asked for by seq: it was never received)."""
        return self._msgs.get(seq)

    def ordered(self) -> Iterator[Message]:
        """Stored messages in seq order; a spilled chunk is read back only when reached
        (an export that stops early reads little of a long backlog)."""
        mem = sorted(self._msgs.values(), key=_seq)
        if self._paged is None or not self._paged.chunks:
            return iter(mem)
        return merge(mem, self._paged.iter_spilled(), key=_seq)

    def messages(self) -> Iterator[Message]:
        """Stored messages, spilled ones read back (for export; O(n))."""
        out = list(self._msgs.values())
        if self._paged is not None and self._paged.chunks:
            out.extend(self._paged.load_all())
        return iter(out)

    def dedup_records(self) -> list[DedupRecord]:
        return list(self._dedup.values())


    # ----------------------------------------------------------------- enqueue
    def enqueue(self, now: int, payload: Any, size: int, *, msg_id: str = "",
                delay_ms: int | None = None, dedup: str | None = None,
                group: str | None = None, priority: int = 0,
                ttl_ms: int | None = None, receive_count: int = 0,
                first_receive_at: int | None = None) -> EnqueueResult:
        """Store a message. ``receive_count``/``first_receive_at`` carry a moved
        message's history (a dead-letter queue keeps its ApproximateReceiveCount)."""
        cfg = self.config
        journal = self.journal
        if self._paged is not None:
            self._paged.maybe_spill()
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
        # Messages enqueued in the same millisecond share their timestamp objects (32 bytes
        # each per message otherwise: a long queue holds hundreds of thousands).
        stamp = self._stamp
        if stamp[0] == now and stamp[1] == ret:
            now, expires_at = stamp[0], stamp[2]
        else:
            expires_at = None if ret is None else now + ret
            self._stamp = (now, ret, expires_at)
        delay = cfg.delay_ms if delay_ms is None else delay_ms
        if delay > 0:
            m = Message(seq, msg_id, payload, size, group, dedup, priority, now,
                        now + delay, expires_at, receive_count, first_receive_at, 0, DELAYED)
            self._n_delayed += 1
            self._push_delayed(m)
        else:
            m = Message(seq, msg_id, payload, size, group, dedup, priority, now,
                        now, expires_at, receive_count, first_receive_at, 0, READY)
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
            while len(out) < max_n:
                m = pop()
                if m is None:
                    break
                if not self._undeliverable(m, now, dead, expired):
                    self._deliver(m, now, lease_ms, None)
                    out.append(m)
                chg[m.seq] = m
        self._flush(chg)
        return ReceiveResult(out, dead, expired)

    def _receive_fifo(self, now: int, max_n: int, lease_ms: int, out: list[Message],
                      dead: list[Message], expired: list[Message], chg: dict[int, Message]) -> None:
        gh = self._gheap
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
                if not self._undeliverable(m, now, dead, expired, False):
                    self._deliver(m, now, lease_ms, None)
                    out.append(m)
                chg[m.seq] = m
            self._group_check(g)

    # ------------------------------------------------------------------ leases
    def change_lease(self, now: int, seq: int, lease: int, lease_ms: int, *, revive: bool = False) -> bool:
        """Change a pulled message's visibility timeout; ``lease_ms == 0`` makes it
        visible now. Raises ``LeaseError`` with reason ``not_found`` (no such
        message), ``stale`` (``lease`` is not the current token: someone received
        it since) or ``not_inflight`` (current token but not leased any more).
        ``revive``: a message whose lease ran out (READY again, same token) is
        hidden again for ``lease_ms`` instead (SQS standard queues accept it); its
        receive count is unchanged."""
        chg: dict[int, Message] = {}
        expired: list[Message] = []
        self._advance_if_due(now, chg, expired)
        try:
            m = self._msgs.get(seq)
            if m is None:
                raise LeaseError("not_found", seq)
            if m.lease != lease:
                raise LeaseError("stale", seq)
            if revive and m.state == READY and lease_ms > 0 and m.first_receive_at is not None:
                self._hide(m, now, lease_ms)
                chg[seq] = m
                return True
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

    def reconfigure(self, config: QueueConfig) -> None:
        """Apply changed options (delay, lease, retention, delivery limit, limits);
        ``fifo``, ``dedup_scope``, ``group_mode`` and priorities stay as created."""
        self.config = config
        self._max_receives = config.max_receives
        self._limits = config.max_length is not None or config.max_bytes is not None

    def purge(self, include_inflight: bool = False, clear_dedup: bool = False) -> int:
        """Remove every stored message (leased ones too with ``include_inflight``);
        ``clear_dedup`` also forgets the deduplication window."""
        if clear_dedup and self._dedup:
            journal = self.journal
            for rec in self._dedup.values():
                journal.dedup_expired(self, rec)
            self._dedup.clear()
            self._dedup_heap = []
        victims = [m for m in self._msgs.values() if include_inflight or m.state != INFLIGHT]
        journal = self.journal
        for m in victims:
            self._remove(m, False)
            journal.removed(self, m)
        n = len(victims)
        if self._paged is not None and self._paged.chunks:
            k, size = self._paged.drop_all()
            self._n_ready -= k
            self._bytes -= size
            self._bytes_q -= size
            n += k
        if self._fifo:
            for g in list(self._groups.values()):
                self._group_check(g)
            if self._order is not None:
                self._order.clear()
        else:
            self._ready.clear()
        self._delayed = []
        self._ttl.keep_live()
        if include_inflight:
            self._leases = []
        return n

    # -------------------------------------------------------------------- time
    def tick(self, now: int, keep_expired: bool = True) -> TickResult:
        """Due delayed -> READY, expired leases -> READY, TTL drops, dedup sweep.
        ``keep_expired=False``: the caller has no use for expired messages (nothing to
        dead-letter), so a spilled chunk expired whole is removed from the store unread
        and is not in ``TickResult.expired``."""
        chg: dict[int, Message] = {}
        expired: list[Message] = []
        paged = self._paged
        if paged is not None:
            paged.maybe_spill()
        ready = self._advance(now, chg, expired)
        while True:
            for m in self._ttl.pop_due(now):
                if m.state == READY or m.state == DELAYED:      # not removed by an earlier one's drop
                    self._remove(m)
                    expired.append(m)
                    chg[m.seq] = m
            if paged is None or not paged.chunks or paged.chunks[0].min_exp > now:
                break
            while paged.chunks and paged.chunks[0].min_exp <= now:
                if not keep_expired and paged.chunks[0].max_exp <= now:
                    n, size = paged.drop_head()
                    self._n_ready -= n
                    self._bytes -= size
                    self._bytes_q -= size
                else:
                    paged.page_in()     # expiring on disk: read back, then expired as any other
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
        t = self._ttl.head()
        if t is not None and (best is None or t < best):
            best = t
        if self._paged is not None:
            t = self._paged.next_expiry()
            if t is not None and (best is None or t < best):
                best = t
        h = self._dedup_heap
        while h and self._dedup.get(h[0][2].key) is not h[0][2]:
            heappop(h)
        if h and (best is None or h[0][0] < best):
            best = h[0][0]
        return best

    def __repr__(self) -> str:
        return (f"Queue({self.qid!r}, visible={self._n_ready}, inflight={self._n_inflight}, "
                f"delayed={self._n_delayed})")

