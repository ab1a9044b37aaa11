"""Task lists: priority queues of scheduled tasks with long-poll waiters.

Pure data structures (no clock, no I/O). A task list holds references to
tasks whose durable truth is the execution's state (a scheduled decision
task, a scheduled activity), so after a restart the lists are rebuilt from
the executions and nothing is stored twice. Order: higher ``taskPriority``
first, then scheduling order. A task removed before it is polled (timed
out, canceled, its execution closed) is unmarked at once and skipped when
it reaches the head; the heap is compacted when such leftovers dominate.
"""

from __future__ import annotations

import itertools
from collections import deque
from heapq import heapify, heappop, heappush

_seq = itertools.count()


class Waiter:
    """One long poll parked on a task list."""
    __slots__ = ("fut", "args", "gateway", "conn", "wid")

    def __init__(self, fut, args: dict, gateway, conn, wid):
        self.fut, self.args, self.gateway, self.conn, self.wid = fut, args, gateway, conn, wid


class TaskList:
    __slots__ = ("name", "heap", "live", "waiters")

    def __init__(self, name: str):
        self.name = name
        self.heap: list = []
        self.live = 0                       # queued tasks (the pending count)
        self.waiters: deque[Waiter] = deque()

    def push(self, task, priority: int) -> None:
        heappush(self.heap, (-priority, next(_seq), task))
        task.queued = True
        self.live += 1

    def remove(self, task) -> None:
        if task.queued:
            task.queued = False
            self.live -= 1
            if len(self.heap) > 64 and len(self.heap) > 2 * self.live:
                self.heap = [e for e in self.heap if e[2].queued]
                heapify(self.heap)

    def pop(self):
        heap = self.heap
        while heap:
            task = heappop(heap)[2]
            if task.queued:
                task.queued = False
                self.live -= 1
                return task
        return None

    def next_waiter(self) -> Waiter | None:
        """The oldest poll still waiting (finished ones are dropped on the way)."""
        waiters = self.waiters
        while waiters:
            w = waiters[0]
            if not w.fut.done():
                return w
            waiters.popleft()
        return None
