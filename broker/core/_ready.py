"""Ready-message orderings for the queue (private).

Entries are lazy: an entry is live while its message is READY and still
carries the lease token it had when the entry was made. A message leaves
READY without touching the list (delivered, deleted, expired); the dead
entry is skipped when reached, and the list compacts itself when dead
entries outnumber live ones, so memory stays O(ready) amortized.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush

from .message import READY, Message

_SLACK = 1024


class SeqReady:
    """READY messages in seq order: a deque for fresh (appended in seq order)
    plus a heap for messages that come back (lease expiry, nack, due delay).
    push and pop are O(1) for the fresh path and O(log r) for returns."""

    __slots__ = ("fresh", "ret", "limit")

    def __init__(self) -> None:
        self.fresh: deque[tuple[Message, int]] = deque()
        self.ret: list[tuple[int, int, Message]] = []
        self.limit = _SLACK

    def __len__(self) -> int:
        return len(self.fresh) + len(self.ret)

    def push(self, m: Message) -> None:
        f = self.fresh
        if not f or f[-1][0].seq < m.seq:
            f.append((m, m.lease))
        else:
            heappush(self.ret, (m.seq, m.lease, m))
        if len(f) + len(self.ret) > self.limit:
            self.compact()

    def pop(self) -> Message | None:
        """Remove and return the live READY message with the lowest seq."""
        f = self.fresh
        r = self.ret
        while f:
            m, lz = f[0]
            if m.state == READY and m.lease == lz:
                break
            f.popleft()
        while r:
            e = r[0]
            m = e[2]
            if m.state == READY and m.lease == e[1]:
                break
            heappop(r)
        if f:
            if r and r[0][0] < f[0][0].seq:
                return heappop(r)[2]
            return f.popleft()[0]
        if r:
            return heappop(r)[2]
        return None

    def compact(self) -> None:
        fresh = self.fresh
        live_fresh = sum(1 for m, lz in fresh if m.state == READY and m.lease == lz)
        if not self.ret and live_fresh == len(fresh):
            # all live and already in seq order (a pure producer): nothing to
            # drop, so skip the rebuild and the sort
            self.limit = 2 * live_fresh + _SLACK
            return
        live = [m for m, lz in fresh if m.state == READY and m.lease == lz]
        if self.ret:
            live.extend(m for _, lz, m in self.ret if m.state == READY and m.lease == lz)
            live.sort(key=_seq)
        self.fresh = deque((m, m.lease) for m in live)
        self.ret = []
        self.limit = 2 * len(live) + _SLACK

    def clear(self) -> None:
        self.fresh.clear()
        self.ret = []
        self.limit = _SLACK


class PriorityReady:
    """READY messages by (priority desc, seq asc): one heap."""

    __slots__ = ("heap", "limit")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, int, Message]] = []
        self.limit = _SLACK

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, m: Message) -> None:
        h = self.heap
        heappush(h, (-m.priority, m.seq, m.lease, m))
        if len(h) > self.limit:
            self.compact()

    def pop(self) -> Message | None:
        h = self.heap
        while h:
            _, _, lz, m = heappop(h)
            if m.state == READY and m.lease == lz:
                return m
        return None

    def compact(self) -> None:
        h = [e for e in self.heap if e[3].state == READY and e[3].lease == e[2]]
        heapify(h)
        self.heap = h
        self.limit = 2 * len(h) + _SLACK

    def clear(self) -> None:
        self.heap = []
        self.limit = _SLACK


def _seq(m: Message) -> int:
    return m.seq
