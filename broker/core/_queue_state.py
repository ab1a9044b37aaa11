"""State bookkeeping for ``Queue``: transitions between READY / DELAYED /
INFLIGHT / GONE with their O(1) counters, the deadline heaps (delayed, leases,
TTL, dedup), FIFO group scheduling, and ``restore`` from persisted records.

``QueueState`` is mixed into ``broker.core.queue.Queue`` and works on the slots
declared there. Push-consumer release (``_release``) comes from ``PushMixin``.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush
from typing import Any, Iterable

from .message import DELAYED, GONE, INFLIGHT, READY, DedupRecord, Message

__all__ = ["QueueState"]

_SLACK = 1024


class _Group:
    __slots__ = ("name", "msgs", "inflight", "queued", "back")

    def __init__(self, name: Any) -> None:
        self.name = name
        self.msgs: deque[Message] = deque()  # every non-GONE message, seq order (GONE ones lazily)
        self.inflight = 0
        self.queued: int | None = None  # head seq last pushed onto the group heap
        self.back = False               # GROUP_HEAD: its head returned from flight (queue it last)


class QueueState:
    """Internal transitions, heaps, groups and restore (state lives in ``Queue``'s slots)."""

    __slots__ = ()

    # ----------------------------------------------------------------- restore
    def restore(self, messages: Iterable[Message], now: int,
                dedup: Iterable[DedupRecord] = (), *, ordered: bool = False) -> None:
        """Rebuild an empty queue from persisted records. Leased messages keep
        their deadline; push-delivered ones (``consumer`` set) are requeued, since
        their consumer is gone (journaled as updated). Dedup records are reloaded
        as given; lapsed ones are swept by the next tick. ``ordered``: ``messages``
        come in seq order (a stream: a paged queue keeps only its window of them),
        with a spilled chunk's record (a list, ``_backlog``) in place of its messages."""
        if self._msgs:
            raise ValueError("restore into a non-empty queue")
        requeued = []
        fifo = self._fifo
        paged = self._paged
        for m in (_expand(messages, paged) if ordered else sorted(messages, key=_seq)):
            if paged is not None and len(paged.later) >= 2 * paged.chunk:
                paged.spill()           # every record here is committed
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
        if paged is not None:
            while len(paged.later) >= paged.chunk and paged.spill():
                pass
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

    def _undeliverable(self, m: Message, now: int, dead: list[Message], expired: list[Message],
                       check_group: bool = True) -> bool:
        """Remove a message about to be handed out if its TTL has passed (-> expired)
        or it reached the delivery limit (-> dead); the one place both rules live."""
        ea = m.expires_at
        if ea is not None and ea <= now:
            self._remove(m, check_group)
            expired.append(m)
            return True
        maxr = self._max_receives
        if maxr is not None and m.receive_count >= maxr:
            self._remove(m, check_group)
            dead.append(m)
            return True
        return False

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

    def _hide(self, m: Message, now: int, lease_ms: int) -> None:
        """READY -> INFLIGHT under its current lease token, without a new receive."""
        self._n_ready -= 1
        self._bytes_q -= m.size
        self._n_inflight += 1
        m.state = INFLIGHT
        m.visible_at = now + lease_ms
        self._push_lease(m)
        if self._fifo:                  # its ready entry is lazy: dead while INFLIGHT
            g = self._groups[m.group]
            g.inflight += 1
            self._group_check(g)

    def _make_ready(self, m: Message) -> None:
        """DELAYED or INFLIGHT -> READY, at its seq position."""
        prev = m.state
        if prev == INFLIGHT and self._head_groups:
            g = self._groups[m.group]
            d = g.msgs
            while d and d[0].state == GONE:
                d.popleft()
            g.back = bool(d) and d[0] is m
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

    def _group_check(self, g: _Group) -> None:
        """Drop GONE heads; forget an empty group; queue the group if available.

        Heap entries are ``(rank, head seq, name)``: rank is the head's seq, or for
        GROUP_HEAD a group whose head came back from flight ranks after every message
        sent so far (``_next_seq``), behind the groups still waiting."""
        d = g.msgs
        while d and d[0].state == GONE:
            d.popleft()
        if not d:
            if g.inflight == 0 and self._groups.get(g.name) is g:
                del self._groups[g.name]
            return
        if g.inflight == 0 or self._head_groups:
            h = d[0]
            if h.state == READY and g.queued != h.seq:
                g.queued = h.seq
                rank = self._next_seq if g.back else h.seq
                g.back = False
                heappush(self._gheap, (rank, h.seq, g.name))

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
        self._ttl.push(m, len(self._msgs))

    def _add_dedup(self, rec: DedupRecord) -> None:
        self._dedup[rec.key] = rec
        self._dedup_n += 1
        heappush(self._dedup_heap, (rec.expires_at, self._dedup_n, rec))

    def _pop_group(self) -> _Group | None:
        """Pop the group heap's top; return the group if it is available with that head."""
        _rank, seq, name = heappop(self._gheap)
        g = self._groups.get(name)
        if g is None:
            return None
        if g.queued == seq:
            g.queued = None
        if g.inflight and not self._head_groups:
            return None
        d = g.msgs
        while d and d[0].state == GONE:
            d.popleft()
        if not d or d[0].seq != seq or d[0].state != READY:
            return None
        return g


def _expand(stream, paged):
    """Messages of a restore stream; a chunk record is kept spilled, or else read back."""
    for m in stream:
        if type(m) is list:
            if paged is None:
                raise ValueError("a spilled chunk for a queue that does not page")
            if not paged.restore_chunk(m):
                yield from paged.members(m)
        else:
            yield m


def _lease_live(e: tuple[int, int, int, Message]) -> bool:
    m = e[3]
    return m.state == INFLIGHT and m.consumer is None and m.lease == e[2] and m.visible_at == e[0]


def _seq(m: Message) -> int:
    return m.seq
