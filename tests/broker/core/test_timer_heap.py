"""The shard's timer heap: cancelled entries release their callbacks at once,
are skipped when due, and are swept out once they make up half the heap."""

from __future__ import annotations

import gc
import weakref

from broker.core.timers import TimerHeap, arm_queue, disarm_queue


def test_cancelled_entries_are_skipped_and_fired_ones_cannot_be_cancelled():
    heap, fired = TimerHeap(), []
    a = heap.schedule(10, lambda now: fired.append("a"))
    heap.schedule(20, lambda now: fired.append("b"))
    heap.cancel(a)
    heap.cancel(a)                       # twice: no double count
    for cb in heap.pop_due(30):
        cb(30)
    assert fired == ["b"] and len(heap) == 0 and heap._cancelled == 0


def test_a_cancelled_callback_is_released_and_the_heap_swept():
    class Holder:
        pass
    heap = TimerHeap()
    holders = [Holder() for _ in range(200)]
    refs = [weakref.ref(h) for h in holders]
    entries = [heap.schedule(10**12, lambda now, h=h: h) for h in holders]   # days away
    heap.schedule(5, lambda now: None)
    for e in entries:
        heap.cancel(e)
    del holders, entries
    gc.collect()
    assert all(r() is None for r in refs)          # nothing held until the far deadline
    assert len(heap) < 200                         # swept once cancelled entries dominated


class _Part:
    def __init__(self):
        self.heap = TimerHeap()

    def schedule(self, due, cb):
        return self.heap.schedule(due, cb)

    def unschedule(self, entry):
        self.heap.cancel(entry)


class _Queue:
    def __init__(self, due):
        self.due = due

    def next_deadline(self):
        return self.due


class _Holder:
    def __init__(self, due):
        self.queue, self.armed_for, self.timer = _Queue(due), None, None


def test_a_queue_keeps_one_pending_entry_and_disarm_releases_it():
    part, fired = _Part(), []
    h = _Holder(1000)
    arm_queue(part, h, lambda holder, now: fired.append(now))
    h.queue.due = 500                              # an earlier deadline replaces the later entry
    arm_queue(part, h, lambda holder, now: fired.append(now))
    assert len([e for e in part.heap._heap if e[2] is not None]) == 1
    disarm_queue(part, h)                          # the queue is deleted
    assert h.timer is None and h.armed_for is None
    assert part.heap.pop_due(10**6) == [] and fired == []
