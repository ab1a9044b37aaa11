"""One re-armed loop timer per shard over a heap of deadlines.

Durability comes from the state itself: every deadline (message delay, lease
expiry, TTL, schedule) is a field of a persisted record, and recovery re-arms
it here. After a restart, overdue deadlines fire at once: late, never lost.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Callable


def now_ms() -> int:
    return int(time.time() * 1000)


class TimerHeap:
    """Pure part: deadlines and callbacks; the owner arms one loop handle."""

    def __init__(self) -> None:
        self._heap: list[list] = []      # [due ms, n, callback | None (cancelled or fired)]
        self._ids = itertools.count()
        self._cancelled = 0

    def schedule(self, due_ms: int, callback: Callable[[int], None]) -> list:
        """Returns the entry, for `cancel`."""
        entry = [due_ms, next(self._ids), callback]
        heapq.heappush(self._heap, entry)
        return entry

    def cancel(self, entry: list) -> None:
        """Forget a scheduled callback (and what it holds) now, not at its due time:
        a deleted queue's retention deadline may be days away. Cancelled entries are
        skipped when due and swept out once they are half of the heap."""
        if entry[2] is None:
            return
        entry[2] = None
        self._cancelled += 1
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def next_due(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: int) -> list[Callable[[int], None]]:
        out = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            cb = entry[2]
            if cb is None:
                self._cancelled -= 1
                continue
            entry[2] = None          # fired: a later cancel() of it is a no-op
            out.append(cb)
        return out

    def __len__(self) -> int:
        return len(self._heap)


class LoopTimer:
    """Binds a TimerHeap to an asyncio loop with a single re-armed handle."""

    def __init__(self, loop, on_fired: Callable[[], None] | None = None):
        self.loop = loop
        self.heap = TimerHeap()
        self._handle = None
        self._armed_for: int | None = None
        self._on_fired = on_fired

    def schedule(self, due_ms: int, callback: Callable[[int], None]) -> list:
        entry = self.heap.schedule(due_ms, callback)
        if self._armed_for is None or due_ms < self._armed_for:
            self._arm(due_ms)
        return entry

    def unschedule(self, entry: list) -> None:
        self.heap.cancel(entry)

    def _arm(self, due_ms: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_for = due_ms
        delay = max(0.0, (due_ms - now_ms()) / 1000.0)
        self._handle = self.loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_for = None
        now = now_ms()
        for cb in self.heap.pop_due(now):
            try:
                cb(now)
            except Exception:
                import logging
                logging.getLogger("broker.timers").exception("event=timer_callback_failed")
        nxt = self.heap.next_due()
        if nxt is not None:
            self._arm(nxt)
        if self._on_fired is not None:
            self._on_fired()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class DurableTimers:
    """Named one-shot timers of a partition, persisted as entity records.

    ``schedule(timer_id, due_ms, kind, data)`` writes the record (committed
    with the tick's group commit) and arms the shard's loop timer; on start,
    every record is re-armed, so a timer due while the process was down fires
    at once after the restart: late, never lost. When a timer fires, the
    handler registered for its ``kind`` runs, then the record is deleted in
    the same commit as the handler's own writes.
    """

    KIND = "timer"

    def __init__(self, part, handlers: dict):
        self.part = part
        self.handlers = handlers     # kind -> callable(timer_id, data)
        self.live: dict[str, int] = {}
        for tid, rec in list(part.store.scan(self.KIND)):
            self._arm(tid, rec["due"])

    def schedule(self, timer_id: str, due_ms: int, kind: str, data) -> None:
        self.part.store.put(self.KIND, timer_id, {"due": due_ms, "kind": kind, "data": data})
        self._arm(timer_id, due_ms)

    def cancel(self, timer_id: str) -> bool:
        if self.live.pop(timer_id, None) is None:
            return False
        self.part.store.delete(self.KIND, timer_id)
        return True

    def _arm(self, timer_id: str, due_ms: int) -> None:
        self.live[timer_id] = due_ms
        self.part.schedule(due_ms, lambda now, t=timer_id, d=due_ms: self._fire(t, d))

    def _fire(self, timer_id: str, due_ms: int) -> None:
        if self.live.get(timer_id) != due_ms:
            return            # cancelled or rescheduled
        rec = self.part.store.get(self.KIND, timer_id)
        del self.live[timer_id]
        if rec is None:
            return
        handler = self.handlers.get(rec["kind"])
        if handler is None:
            # its service half may not be built in this partition yet: build it
            # (it registers its handler), else keep the record and try again later
            ensure = getattr(self.part, "ensure_kind", None)
            if ensure is not None and ensure(rec["kind"]):
                if timer_id in self.live:        # its recovery re-armed this very timer
                    return
                handler = self.handlers.get(rec["kind"])
            if handler is None:
                import logging
                logging.getLogger("broker.timers").error("event=timer_without_handler kind=%s action=retry_in_60s",
                                                         rec["kind"])
                self._arm(timer_id, max(due_ms, self.part.now_ms()) + 60_000)
                self.part.store.put(self.KIND, timer_id, {**rec, "due": self.live[timer_id]})
                return
        handler(timer_id, rec["data"])
        if timer_id not in self.live:      # the handler may have re-scheduled this very id
            self.part.store.delete(self.KIND, timer_id)
        self.part.flush_soon()


def arm_queue(part, holder, fire: Callable[[object, int], None]) -> None:
    """Arm the shard timer for `holder.queue`'s next deadline, unless an earlier
    arm (``holder.armed_for``) already covers it; `fire(holder, now)` runs then."""
    due = holder.queue.next_deadline()
    if due is None or (holder.armed_for is not None and holder.armed_for <= due):
        return
    disarm_queue(part, holder)       # one pending entry per queue: the earliest
    holder.armed_for = due
    holder.timer = part.schedule(due, lambda now: fire(holder, now))


def disarm_queue(part, holder) -> None:
    """Drop `holder`'s pending timer (a deleted queue must not stay referenced
    until its messages' retention deadline)."""
    entry, holder.timer = holder.timer, None
    holder.armed_for = None
    unschedule = getattr(part, "unschedule", None)
    if entry is not None and unschedule is not None:
        unschedule(entry)
