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
        self._heap: list[tuple[int, int, Callable[[int], None]]] = []
        self._ids = itertools.count()

    def schedule(self, due_ms: int, callback: Callable[[int], None]) -> None:
        heapq.heappush(self._heap, (due_ms, next(self._ids), callback))

    def next_due(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: int) -> list[Callable[[int], None]]:
        out = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            out.append(heapq.heappop(heap)[2])
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

    def schedule(self, due_ms: int, callback: Callable[[int], None]) -> None:
        self.heap.schedule(due_ms, callback)
        if self._armed_for is None or due_ms < self._armed_for:
            self._arm(due_ms)

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
