"""A standard queue's ready backlog beyond an in-memory window, left in the store (private).

Like RabbitMQ's lazy queues: a long standard queue keeps only its oldest ready
messages in memory (the window, ``SeqReady.fresh``); never-leased messages
that arrive behind it wait in ``later`` until their insert is committed, and
are then dropped from memory a chunk at a time (``spill``): the store already
holds them, in seq order (rid = qid << 40 | seq). A chunk is remembered by its
seq range, count, bytes and expiry bounds only. When the window runs dry the
oldest chunk is read back (``page_in``). Counts stay exact: a spilled message
is still READY in the queue's counters.

Only what is simple is spilled: READY, never-leased messages appended in seq
order, whose records are committed (``Pager.settled``). Everything else (leased,
returned, delayed, priority and FIFO queues) stays in memory as before.
Spilled messages are never needed by id: a receipt names a received message,
hence one in memory. Chunks are spilled in expiry order (each chunk's earliest
expiry is no earlier than the previous chunk's latest), so the oldest chunk is
always the first to expire. Spilling happens only at the start of a queue call
(``Queue.enqueue``/``tick``) and during ``restore``: every journal record of
earlier calls is staged by then, so ``settled`` is exact.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import deque
from heapq import heappush
from typing import Any, Protocol

from .message import GONE, READY, Message
from ._ready import SeqReady

__all__ = ["Pager", "PagedReady", "WINDOW", "CHUNK", "NEVER"]

WINDOW = 16384     # fresh ready messages held in memory before new ones wait behind the backlog
                   # (config store.queue_memory_window)
CHUNK = 1024       # messages spilled / paged in at a time
PAGE_PAYLOADS = 2 << 20    # a chunk of at most these many bytes is read back with its payloads
NEVER = 1 << 62    # expiry of a message that never expires


class Pager(Protocol):
    """The store's side, for one queue."""

    window: int
    chunk: int

    def settled(self, seq: int) -> bool:
        """The message's record is committed and no write to it is staged."""

    def spilled(self, msgs: list[Message], chunk: "_Chunk") -> None:
        """These messages left memory as ``chunk``: let go of anything held for them, and
        stage the chunk's record (``chunk.record()``: a restart restores it unread)."""

    def paged_in(self, chunk: "_Chunk") -> None:
        """The chunk is in memory again: stage the removal of its record."""

    def load(self, lo: int, hi: int, payloads: bool = False, member: Any = None) -> list[Message]:
        """Committed messages with lo <= seq <= hi in seq order, except those whose removal is
        staged, and only those for which ``member(seq)`` if given; their payloads too if
        ``payloads`` (else ``payload`` is None)."""

    def drop(self, chunk: "_Chunk") -> None:
        """Stage the removal of the chunk's messages and its record."""


class _Chunk:
    """Spilled messages: the seqs lo..hi, or only those in ``seqs`` when others lie between
    (messages that stayed in memory: delayed, leased; a seq removed by the current call
    may still be on disk, so membership is never guessed from the store)."""

    __slots__ = ("lo", "hi", "n", "bytes", "min_exp", "max_exp", "seqs")

    def __init__(self, lo: int, hi: int, n: int, size: int, min_exp: int, max_exp: int,
                 seqs: array | None) -> None:
        self.lo, self.hi, self.n, self.bytes = lo, hi, n, size
        self.min_exp, self.max_exp = min_exp, max_exp
        self.seqs = seqs

    @classmethod
    def of(cls, take: list[Message], size: int, min_exp: int, max_exp: int) -> "_Chunk":
        lo, hi = take[0].seq, take[-1].seq
        seqs = None if hi - lo + 1 == len(take) else array("q", [m.seq for m in take])
        return cls(lo, hi, len(take), size, min_exp, max_exp, seqs)

    def record(self) -> list:
        """Plain data for the store: [lo, hi, n, bytes, min_exp, max_exp, seqs bytes | None]."""
        return [self.lo, self.hi, self.n, self.bytes, self.min_exp, self.max_exp,
                None if self.seqs is None else self.seqs.tobytes()]

    @classmethod
    def from_record(cls, rec: list) -> "_Chunk":
        seqs = None
        if rec[6] is not None:
            seqs = array("q")
            seqs.frombytes(rec[6])
        return cls(rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], seqs)

    def member(self) -> Any:
        """The filter a read of lo..hi needs: None when every seq in it is a member."""
        return None if self.seqs is None else self.__contains__

    def __contains__(self, seq: int) -> bool:
        s = self.seqs
        if s is None:
            return self.lo <= seq <= self.hi
        i = bisect_left(s, seq)
        return i < len(s) and s[i] == seq


def _fresh(m: Message) -> bool:
    return m.state == READY and m.lease == 0


class PagedReady(SeqReady):
    """``SeqReady`` whose fresh path is: window (``fresh``) < chunks on disk < ``later``, by seq.
    Returned messages (``ret``) may have any seq; ``pop`` refills the window first so that
    comparing its head with ``ret``'s head still finds the lowest seq."""

    __slots__ = ("q", "pager", "later", "chunks", "spilled", "next_try", "window", "chunk")

    def __init__(self, q: Any, pager: Pager) -> None:
        super().__init__()
        self.q = q                      # the Queue: its _msgs, _push_ttl and counters
        self.pager = pager
        self.window = pager.window
        self.chunk = pager.chunk
        self.later: deque[Message] = deque()
        self.chunks: deque[_Chunk] = deque()
        self.spilled = 0                # messages in chunks
        self.next_try = self.chunk      # try to spill once later holds this many

    def __len__(self) -> int:
        return len(self.fresh) + len(self.ret) + len(self.later)

    def push(self, m: Message) -> None:
        if m.lease == 0:
            later = self.later
            if later or self.chunks:
                if (later[-1].seq if later else self.chunks[-1].hi) < m.seq:
                    later.append(m)
                    return
                # behind the backlog's tail: it cannot join the window in seq order
                heappush(self.ret, (m.seq, m.lease, m))
                if len(self.fresh) + len(self.ret) > self.limit:
                    self.compact()
                return
            f = self.fresh
            if len(f) >= self.window and f[-1].seq < m.seq:
                later.append(m)
                return
        SeqReady.push(self, m)

    def pop(self) -> Message | None:
        f = self.fresh
        while True:
            while f and not _fresh(f[0]):
                f.popleft()
            if f or not (self.chunks or self.later):
                break
            self.refill()
        return SeqReady.pop(self)

    def refill(self) -> None:
        """Window empty: read the oldest chunk back, or move waiting messages in."""
        if self.chunks:
            self.page_in()
            return
        later, f = self.later, self.fresh
        n = self.window
        while later and n:
            m = later.popleft()
            if _fresh(m):
                f.append(m)
                n -= 1

    def ahead_due(self) -> bool:
        """A chunk waits on disk and the window is down to a chunk: time to read ahead."""
        return bool(self.chunks) and len(self.fresh) <= self.chunk

    def read_ahead(self) -> bool:
        """Read the oldest chunk back before the window runs dry (``ahead_due``), so a
        consumer does not wait for it at a ``pop``; -> read one?"""
        if not self.ahead_due():
            return False
        self.page_in()
        return True

    def page_in(self) -> None:
        """The oldest chunk back into memory, after the window (its seqs follow the
        window's: the window holds the oldest fresh messages)."""
        c = self.chunks.popleft()
        self.spilled -= c.n
        self.pager.paged_in(c)
        q = self.q
        table, f = q._msgs, self.fresh
        n = size = 0
        # not the others in its range: they stayed in memory (delayed, leased), or this call removed them
        for m in self.pager.load(c.lo, c.hi, c.bytes <= PAGE_PAYLOADS, c.member()):
            m.state = READY
            table[m.seq] = m
            f.append(m)
            if m.expires_at is not None:
                q._push_ttl(m)
            n += 1
            size += m.size
        if n != c.n or size != c.bytes:  # should not happen; keep the counters true to the store
            q._n_ready -= c.n - n
            q._bytes -= c.bytes - size
            q._bytes_q -= c.bytes - size

    def maybe_spill(self) -> None:
        if len(self.later) >= self.next_try:
            self.spill()

    def spill(self, force: bool = False) -> bool:
        """Drop the oldest committed messages of ``later`` from memory, one chunk (with
        ``force`` however few); -> done?"""
        later, chunk = self.later, self.chunk
        settled = self.pager.settled
        take: list[Message] = []
        k = 0
        for m in later:
            if len(take) >= chunk:
                break
            if _fresh(m):
                if not settled(m.seq):
                    break
                take.append(m)
            k += 1
        if not take or (len(take) < (chunk + 1) // 2 and not force):
            self.next_try = len(later) + max(1, chunk // 4)
            return False
        lo_exp, hi_exp = NEVER, 0
        size = 0
        for m in take:
            e = m.expires_at
            if e is None:
                e = NEVER
            if e < lo_exp:
                lo_exp = e
            if e > hi_exp:
                hi_exp = e
            size += m.size
        chunks = self.chunks
        if chunks and lo_exp < chunks[-1].max_exp:
            # out of expiry order (per-message TTLs, a shortened retention): these stay in
            # memory until the chunks before them are read back; try again after twice as many
            live = deque(m for m in later if _fresh(m))
            later.clear()
            later.extend(live)
            self.next_try = 2 * len(later) + chunk
            return False
        for _ in range(k):
            later.popleft()
        table = self.q._msgs
        for m in take:
            del table[m.seq]
            m.state = GONE              # its entries elsewhere (expiry order) are dead now
        c = _Chunk.of(take, size, lo_exp, hi_exp)
        chunks.append(c)
        self.spilled += len(take)
        self.pager.spilled(take, c)
        self.next_try = chunk
        return True

    def restore_chunk(self, rec: list) -> bool:
        """During ``Queue.restore``: a chunk left in the store before the restart, next in seq
        order; -> False if it cannot be placed (its messages must then be loaded)."""
        c = _Chunk.from_record(rec)
        while self.later:               # all older than the chunk, and all committed
            if not self.spill(force=True):
                return False
        chunks = self.chunks
        if chunks and c.min_exp < chunks[-1].max_exp:
            return False
        chunks.append(c)
        self.spilled += c.n
        q = self.q
        q._n_ready += c.n
        q._bytes += c.bytes
        q._bytes_q += c.bytes
        if c.hi >= q._next_seq:
            q._next_seq = c.hi + 1
        return True

    def members(self, rec: list) -> list[Message]:
        """A stored chunk's messages, read back (when ``restore_chunk`` could not place it)."""
        c = _Chunk.from_record(rec)
        self.pager.paged_in(c)
        return self.pager.load(c.lo, c.hi, False, c.member())

    def next_expiry(self) -> int | None:
        c = self.chunks
        return c[0].min_exp if c and c[0].min_exp < NEVER else None

    def iter_spilled(self):
        """The spilled messages in seq order, read back a chunk at a time as consumed."""
        for c in list(self.chunks):
            yield from self.pager.load(c.lo, c.hi, False, c.member())

    def load_all(self) -> list[Message]:
        """The spilled messages, read back (for export; O(backlog)); memory unchanged."""
        out = []
        for c in self.chunks:
            out.extend(self.pager.load(c.lo, c.hi, False, c.member()))
        return out

    def drop_head(self) -> tuple[int, int]:
        """Stage the removal of the oldest chunk, unread; -> (count, bytes)."""
        c = self.chunks.popleft()
        self.pager.drop(c)
        self.spilled -= c.n
        return c.n, c.bytes

    def drop_all(self) -> tuple[int, int]:
        """Stage the removal of every spilled message; -> (count, bytes)."""
        n = size = 0
        for c in self.chunks:
            self.pager.drop(c)
            n += c.n
            size += c.bytes
        self.chunks.clear()
        self.spilled = 0
        return n, size

    def clear(self) -> None:
        SeqReady.clear(self)
        self.later.clear()
        self.next_try = self.chunk
