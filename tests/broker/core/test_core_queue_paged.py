"""A queue whose backlog is left on "disk" (``broker.core._backlog``) behaves exactly like
the reference model (and so like a queue holding everything in memory) under random
operations, with windows and chunks of 1-3 messages so that most steps spill or page
in. The disk is the journal's records; ``commit`` settles what was staged, and only
settled records may leave memory."""

from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import initialize, invariant, rule

from broker.core.message import READY, Message
from broker.core.queue import Queue, QueueConfig

sys.path.insert(0, os.path.dirname(__file__))
from queue_model import Model, RecordingJournal  # noqa: E402
from test_core_queue_machine import QueueMachine  # noqa: E402


class StagingJournal(RecordingJournal):
    """Records what is written; ``dirty`` is what the next commit would write."""

    def __init__(self):
        super().__init__()
        self.dirty: set[int] = set()

    def inserted(self, q, m):
        super().inserted(q, m)
        self.dirty.add(m.seq)

    def updated(self, q, m):
        super().updated(q, m)
        self.dirty.add(m.seq)

    def removed(self, q, m):
        super().removed(q, m)
        self.dirty.discard(m.seq)


class DiskPager:
    window = 2
    chunk = 2

    def __init__(self, journal: StagingJournal):
        self.j = journal
        self.out = 0        # messages spilled so far (the test checks paging happens)
        self.chunks: dict[int, list] = {}     # lo -> chunk record, as the store keeps them

    def settled(self, seq):
        return seq in self.j.records and seq not in self.j.dirty

    def spilled(self, msgs, chunk):
        for m in msgs:
            assert self.settled(m.seq) and self.j.records[m.seq][13] == READY
        self.out += len(msgs)
        self.chunks[chunk.lo] = chunk.record()

    def paged_in(self, chunk):
        del self.chunks[chunk.lo]

    def load(self, lo, hi, payloads=False, member=None):
        return [Message.from_record(r) for s, r in sorted(self.j.records.items())
                if lo <= s <= hi and (member is None or member(s))]

    def drop(self, chunk):
        for s in [s for s in self.j.records if s in chunk]:
            del self.j.records[s]
        del self.chunks[chunk.lo]

    def stream(self):
        """What a restart reads: records in seq order, a chunk's record in place of its members."""
        from broker.core._backlog import _Chunk
        chunks = [_Chunk.from_record(r) for _lo, r in sorted(self.chunks.items())]
        out, placed = [], set()
        for s, r in sorted(self.j.records.items()):
            c = next((c for c in chunks if c.lo <= s <= c.hi), None)
            if c is not None and c.lo not in placed:
                placed.add(c.lo)
                out.append(self.chunks[c.lo])
            if c is None or s not in c:
                out.append(Message.from_record(r))
        for c in chunks:        # a chunk whose first member is the lowest seq in its range
            assert c.lo in placed
        return out


@st.composite
def standard_configs(draw):
    return QueueConfig(
        delay_ms=draw(st.sampled_from([0, 0, 7])),
        lease_ms=draw(st.sampled_from([10, 25])),
        retention_ms=draw(st.sampled_from([None, 60, 60])),
        max_length=draw(st.sampled_from([None, None, 4])),
        max_bytes=draw(st.sampled_from([None, None, 12])),
        overflow=draw(st.sampled_from(["drop-head", "reject-publish"])),
        max_receives=draw(st.sampled_from([None, 2, 3])),
        dedup_window_ms=draw(st.sampled_from([None, 30])),
    )


class PagedQueueMachine(QueueMachine):
    def __init__(self):
        super().__init__()
        self.journal = StagingJournal()
        self.pager = DiskPager(self.journal)

    @initialize(cfg=standard_configs(), window=st.integers(1, 3), chunk=st.integers(1, 3))
    def setup(self, cfg, window, chunk):
        self.pager.window, self.pager.chunk = window, chunk
        self.cfg = cfg
        self.q = Queue("q", cfg, self.journal, pager=self.pager)
        self.model = Model(cfg)

    @rule()
    def commit(self):
        self.journal.dirty.clear()

    commit_more = commit

    @rule(batch=st.lists(QueueMachine.MSG, min_size=1, max_size=6))
    def enqueue_ticks(self, batch):
        """Messages sent one tick each (committed in between): long queues, mostly spilled."""
        for size, delay, dedup, group, priority, ttl in batch:
            self.journal.dirty.clear()
            self._enqueue_one(size, delay, dedup, group, priority, ttl)

    @rule()
    def tick_dropping(self):
        """A tick whose caller has no use for expired messages: whole expired chunks go unread."""
        self.journal.begin()
        r = self.q.tick(self.now, keep_expired=False)
        expired, ready = self.model.tick(self.now)
        assert set(m.seq for m in r.expired) <= set(expired)
        assert r.ready == ready
        assert r.next_deadline == self.model.next_deadline()

    @rule()
    def read_ahead(self):
        """A push consumer's shard reads the next chunk back early: nothing observable changes."""
        self.journal.begin()
        due = self.q.ahead_due()
        assert self.q.read_ahead() == due

    @rule()
    def restart(self):
        """A clean restart: everything committed, then rebuilt from the records in seq order."""
        if not self.model.msgs:
            return
        self.journal.dirty.clear()
        _msgs, recs = self.journal.restore_args()
        stream = self.pager.stream()
        self.journal.begin()
        q2 = Queue("q", self.cfg, self.journal, next_seq=1, pager=self.pager)
        q2.restore(iter(stream), self.now, recs, ordered=True)
        self.model.restart()
        self.model.next_seq = max([1] + [s + 1 for s in self.journal.records])
        self.q = q2
        self.q._next_seq = self.model.next_seq

    @invariant()
    def memory_holds_no_spilled(self):
        if self.q is None:
            return
        p = self.q._paged
        assert p is not None
        assert len(self.q._msgs) + p.spilled == len(self.model.msgs)
        assert sum(c.n for c in p.chunks) == p.spilled
        for c in p.chunks:
            assert c.lo <= c.hi and c.n > 0
        # what is on disk in the chunks' ranges and not in memory is exactly the spilled backlog
        on_disk = [s for s in self.journal.records if any(s in c for c in p.chunks)]
        assert not any(s in self.q._msgs for s in on_disk)
        assert len(on_disk) == p.spilled
        assert all(self.journal.records[s][13] == READY for s in on_disk)
        assert all(not (c.lo <= s <= c.hi) for c in p.chunks
                   for s, r in self.journal.records.items() if s not in self.q._msgs and s not in on_disk)

    def _pick(self, data):
        """As the base machine, but never a spilled message: one is never asked for by seq
        (a receipt names a received message, which is in memory)."""
        seq = super()._pick(data)
        if seq in self.model.msgs and seq not in self.q._msgs:
            live = sorted(self.q._msgs)
            return data.draw(st.sampled_from(live)) if live else 10 ** 6
        return seq


MAX = int(os.environ.get("QUEUE_MACHINE_EXAMPLES", "250")) * 2     # quick: a few seconds

PagedQueueMachine.TestCase.settings = settings(
    max_examples=MAX, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_paged_queue_machine = PagedQueueMachine.TestCase
