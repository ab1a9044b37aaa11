"""Ready-message orderings for the queue (private).

Entries are lazy: an entry is live while its message is READY and still
carries the lease token it had when the entry was made (a message never
leased has token 0, and the fresh path holds only those, bare, without a
tuple: most messages of a long queue are there, so it saves 56 bytes each). A message leaves
READY without touching the list (delivered, deleted, expired); the dead
entry is skipped when reached, and the list compacts itself when dead
entries outnumber live ones, so memory stays O(ready) amortized.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush
from itertools import count

from .message import DELAYED, READY, Message

_SLACK = 1024


class SeqReady:
    """READY messages in seq order: a deque for fresh (appended in seq order)
    plus a heap for messages that come back (lease expiry, nack, due delay).
    push and pop are O(1) for the fresh path and O(log r) for returns."""

    __slots__ = ("fresh", "ret", "limit")

    def __init__(self) -> None:
        self.fresh: deque[Message] = deque()            # never leased (token 0), in seq order
        self.ret: list[tuple[int, int, Message]] = []    # (seq, lease token, message)
        self.limit = _SLACK

    def __len__(self) -> int:
        return len(self.fresh) + len(self.ret)

    def push(self, m: Message) -> None:
        f = self.fresh
        if m.lease == 0 and (not f or f[-1].seq < m.seq):
            f.append(m)
        else:
            heappush(self.ret, (m.seq, m.lease, m))
        if len(f) + len(self.ret) > self.limit:
            self.compact()

    def pop(self) -> Message | None:
        """Remove and return the live READY message with the lowest seq."""
        f = self.fresh
        r = self.ret
        while f:
            m = f[0]
            if m.state == READY and m.lease == 0:
                break
            f.popleft()
        while r:
            e = r[0]
            m = e[2]
            if m.state == READY and m.lease == e[1]:
                break
            heappop(r)
        if f:
            if r and r[0][0] < f[0].seq:
                return heappop(r)[2]
            return f.popleft()
        if r:
            return heappop(r)[2]
        return None

    def compact(self) -> None:
        fresh = self.fresh
        live_fresh = sum(1 for m in fresh if m.state == READY and m.lease == 0)
        if not self.ret and live_fresh == len(fresh):
            # all live and already in seq order (a pure producer): nothing to
            # drop, so skip the rebuild and the sort
            self.limit = 2 * live_fresh + _SLACK
            return
        self.fresh = deque(m for m in fresh if m.state == READY and m.lease == 0)
        ret = [e for e in self.ret if e[2].state == READY and e[2].lease == e[1]]
        heapify(ret)
        self.ret = ret
        self.limit = 2 * (len(self.fresh) + len(ret)) + _SLACK

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


class ExpiryOrder:
    """Messages by expiry (TTL / retention), lazy like the orderings above: an entry
    is live while its message is READY or DELAYED (an expiry never changes).

    A queue's messages nearly always expire in the order they arrive (one retention
    period for all), so those are kept bare in a deque, oldest first; only a message
    out of that order (a per-message TTL, one back from a lease) takes a heap entry."""

    __slots__ = ("fresh", "heap")

    def __init__(self) -> None:
        self.fresh: deque[Message] = deque()
        # (expires_at, seq, n, message): n breaks ties (a message read back from the store
        # is a new object with the seq of a dead entry)
        self.heap: list[tuple[int, int, int, Message]] = []

    def __len__(self) -> int:
        return len(self.fresh) + len(self.heap)

    def push(self, m: Message, live_bound: int) -> None:
        f = self.fresh
        if not f or f[-1].expires_at <= m.expires_at:
            f.append(m)
        else:
            heappush(self.heap, (m.expires_at, m.seq, next(_tie), m))
        if len(f) + len(self.heap) > 2 * live_bound + _SLACK:
            self.keep_live()

    def keep_live(self) -> None:
        """Drop the dead entries (messages gone, or leased: they come back with a new one)."""
        self.fresh = deque(m for m in self.fresh if m.state == READY or m.state == DELAYED)
        h = [e for e in self.heap if e[3].state == READY or e[3].state == DELAYED]
        heapify(h)
        self.heap = h

    def head(self) -> int | None:
        """The earliest live expiry (dead heads dropped on the way)."""
        f, h = self.fresh, self.heap
        while f and not (f[0].state == READY or f[0].state == DELAYED):
            f.popleft()
        while h and not (h[0][3].state == READY or h[0][3].state == DELAYED):
            heappop(h)
        if f:
            return f[0].expires_at if not h or f[0].expires_at <= h[0][0] else h[0][0]
        return h[0][0] if h else None

    def pop_due(self, now: int) -> list[Message]:
        """Take the live messages expired at `now`, in expiry order."""
        out = []
        f, h = self.fresh, self.heap
        while f and f[0].expires_at <= now:
            m = f.popleft()
            if m.state == READY or m.state == DELAYED:
                out.append(m)
        if h and h[0][0] <= now:
            n = len(out)
            while h and h[0][0] <= now:
                m = heappop(h)[3]
                if m.state == READY or m.state == DELAYED:
                    out.append(m)
            if n and len(out) > n:
                out.sort(key=_expiry)
        return out

    def clear(self) -> None:
        self.fresh.clear()
        self.heap = []


_tie = count()


def _expiry(m: Message) -> tuple[int, int]:
    return (m.expires_at, m.seq)
