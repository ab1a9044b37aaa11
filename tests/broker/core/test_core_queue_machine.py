"""Stateful property tests: Queue vs. the reference model in queue_model.py.

Every step compares results, per-message state, O(1) counts, the journal's
persisted records and the next deadline. A ``restart`` rule rebuilds the
queue from the journal alone (as the runtime does after a crash) and the
machine carries on against the same model.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule,
)

from broker.core.queue import (
    DELAYED, GONE, INFLIGHT, READY, LeaseError, Queue, QueueConfig,
)
import sys

sys.path.insert(0, os.path.dirname(__file__))
from queue_model import Model, RecordingJournal  # noqa: E402

SEQS = st.integers(1, 14)
TAGS = st.sampled_from(["c1", "c2", "c3"])
GROUPS = st.sampled_from(["g1", "g2", "g3"])


@st.composite
def configs(draw):
    fifo = draw(st.booleans())
    return QueueConfig(
        fifo=fifo,
        delay_ms=draw(st.sampled_from([0, 0, 7])),
        lease_ms=draw(st.sampled_from([10, 25])),
        retention_ms=draw(st.sampled_from([None, None, 60])),
        max_length=draw(st.sampled_from([None, None, 4])),
        max_bytes=draw(st.sampled_from([None, None, 12])),
        overflow=draw(st.sampled_from(["drop-head", "reject-publish"])),
        max_receives=draw(st.sampled_from([None, 2, 3])),
        dedup_window_ms=draw(st.sampled_from([None, 30])),
        dedup_scope=draw(st.sampled_from(["queue", "group"])),
        max_priority=None if fifo else draw(st.sampled_from([None, 3])),
    )


class QueueMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = 0
        self.journal = RecordingJournal()
        self.q = None
        self.model = None

    @initialize(cfg=configs())
    def setup(self, cfg):
        self.cfg = cfg
        self.q = Queue("q", cfg, self.journal)
        self.model = Model(cfg)

    # ---------------------------------------------------------------- rules
    MSG = st.tuples(st.integers(1, 4), st.sampled_from([None, None, 0, 5, 15]),
                    st.sampled_from([None, None, "d1", "d2"]), GROUPS, st.integers(0, 5),
                    st.sampled_from([None, None, 20]))

    @rule(batch=st.lists(MSG, min_size=1, max_size=4))
    def enqueue(self, batch):
        for size, delay, dedup, group, priority, ttl in batch:
            self._enqueue_one(size, delay, dedup, group, priority, ttl)

    enqueue_more = enqueue  # weight: enqueue twice as often as other rules

    def _pick(self, data):
        """A stored seq most of the time, sometimes any (deleted or never used)."""
        live = sorted(self.model.msgs)
        if live and data.draw(st.integers(0, 4)):
            return data.draw(st.sampled_from(live))
        return data.draw(SEQS)

    def _has_msgs(self):
        return self.model is not None and bool(self.model.msgs)

    def _enqueue_one(self, size, delay, dedup, group, priority, ttl):
        group = group if self.cfg.fifo or priority % 2 else None
        msg_id = f"id{self.model.next_seq}"
        self.journal.begin()
        r = self.q.enqueue(self.now, b"p", size, msg_id=msg_id, delay_ms=delay,
                           dedup=dedup, group=group, priority=priority, ttl_ms=ttl)
        want = self.model.enqueue(self.now, size, msg_id, delay, dedup, group, priority, ttl)
        if want[0] == "dup":
            assert r.duplicate_of is not None and r.duplicate_of.seq == want[1]
            assert r.message is self.q.get(want[1])
        elif want[0] == "rejected":
            assert r.rejected and r.message is None
        else:
            assert r.duplicate_of is None and not r.rejected
            assert r.message.seq == want[1]
            assert [m.seq for m in r.dropped] == want[2]

    @precondition(_has_msgs)
    @rule(n=st.integers(1, 5), lease=st.sampled_from([None, 5, 40]))
    def receive(self, n, lease):
        before = self._before()
        self.journal.begin()
        r = self.q.receive(self.now, n, lease)
        out, dead, expired = self.model.receive(self.now, n, lease if lease is not None else self.cfg.lease_ms)
        assert [m.seq for m in r.messages] == out
        assert sorted(m.seq for m in r.dead) == dead
        assert sorted(m.seq for m in r.expired) == expired
        assert all(m.state == GONE for m in r.dead + r.expired)
        if self.cfg.fifo:
            self._check_fifo_delivery([m.seq for m in r.messages], before)

    def _before(self):
        """States at the start of a delivery call, after due leases/delays lapse."""
        out = {}
        for m in self.model.msgs.values():
            due = m.visible_at <= self.now and (m.state == DELAYED or (m.state == INFLIGHT and m.consumer is None))
            out[m.seq] = READY if due else m.state
        return out

    def _check_fifo_delivery(self, delivered, before):
        got = set()
        for s in delivered:
            m = self.q.get(s)
            assert before.get(s) != INFLIGHT
            # every older message of its group is gone, or was delivered in this same call
            for o in self.q.messages():
                if o.group == m.group and o.seq < s:
                    assert o.seq in got
            # the group had nothing in flight before the call
            assert not any(st_ == INFLIGHT and self.model.msgs.get(x) is not None
                           and self.model.msgs[x].group == m.group and x not in delivered
                           for x, st_ in before.items())
            got.add(s)

    @precondition(_has_msgs)
    @rule(data=st.data(), which=st.sampled_from(["cur", "old", "none"]), ms=st.sampled_from([0, 3, 50]))
    def change_lease(self, data, which, ms):
        seq = self._pick(data)
        m = self.model.msgs.get(seq)
        lease = (m.lease if which == "cur" else m.lease - 1) if m else 0
        self.journal.begin()
        want = self.model.change_lease(self.now, seq, lease, ms)
        try:
            got = self.q.change_lease(self.now, seq, lease, ms)
        except LeaseError as e:
            got = e.reason
        assert got == want

    @precondition(_has_msgs)
    @rule(data=st.data(), which=st.sampled_from(["cur", "old", "none"]))
    def delete(self, data, which):
        seq = self._pick(data)
        m = self.model.msgs.get(seq)
        lease = None if which == "none" or m is None else (m.lease if which == "cur" else m.lease - 1)
        self.journal.begin()
        assert self.q.delete(seq, lease) == self.model.delete(seq, lease)

    @rule(dt=st.sampled_from([1, 3, 6, 11, 30]))
    def advance_time(self, dt):
        self.now += dt

    @rule()
    def tick(self):
        self.journal.begin()
        r = self.q.tick(self.now)
        expired, ready = self.model.tick(self.now)
        assert sorted(m.seq for m in r.expired) == expired
        assert r.ready == ready
        assert r.next_deadline == self.model.next_deadline()
        if r.next_deadline is not None:
            assert r.next_deadline > self.now

    @rule(tag=TAGS, credit=st.sampled_from([None, 1, 2]))
    def add_consumer(self, tag, credit):
        if tag in self.model.consumers:
            with pytest.raises(ValueError):
                self.q.add_consumer(tag, credit)
            return
        self.q.add_consumer(tag, credit)
        self.model.add_consumer(tag, credit)

    @rule(tag=TAGS, credit=st.sampled_from([None, 0, 1, 3]))
    def set_credit(self, tag, credit):
        if tag in self.model.consumers:
            self.q.set_credit(tag, credit)
            self.model.set_credit(tag, credit)

    @rule(tag=TAGS)
    def remove_consumer(self, tag):
        if tag in self.model.consumers:
            self.journal.begin()
            got = [m.seq for m in self.q.remove_consumer(tag)]
            assert got == self.model.remove_consumer(tag)
        else:
            assert self.q.remove_consumer(tag) == []

    @precondition(lambda self: self._has_msgs() and self.model.consumers)
    @rule(limit=st.sampled_from([None, 1, 2]))
    def dispatch(self, limit):
        before = self._before()
        self.journal.begin()
        r = self.q.dispatch(self.now, limit)
        out, dead, expired = self.model.dispatch(self.now, limit)
        assert [(t, m.seq) for t, m in r] == out
        assert sorted(m.seq for m in r.dead) == dead
        assert sorted(m.seq for m in r.expired) == expired
        if self.cfg.fifo:
            self._check_fifo_delivery([m.seq for _, m in r], before)

    @precondition(_has_msgs)
    @rule(data=st.data())
    def ack(self, data):
        seq = self._pick(data)
        self.journal.begin()
        assert self.q.ack(seq) == self.model.ack(seq)

    @precondition(_has_msgs)
    @rule(data=st.data(), requeue=st.booleans())
    def nack(self, data, requeue):
        seq = self._pick(data)
        self.journal.begin()
        m = self.q.nack(seq, requeue)
        assert (m.seq if m else None) == self.model.nack(seq, requeue)

    @precondition(lambda self: self._has_msgs() and len(self.model.msgs) % 3 == 0)
    @rule(include=st.booleans())
    def purge(self, include):
        self.journal.begin()
        assert self.q.purge(include) == self.model.purge(include)

    @precondition(_has_msgs)
    @rule()
    def restart(self):
        """Rebuild from the journal's persisted records only."""
        msgs, recs = self.journal.restore_args()
        self.journal.begin()
        q2 = Queue("q", self.cfg, self.journal, next_seq=1)
        q2.restore(msgs, self.now, recs)
        self.model.restart()
        # a restored queue hands out the same seqs for new messages only if the
        # newest message is still stored; align the model with what restore can know
        self.model.next_seq = max([1] + [s + 1 for s in self.journal.records])
        self.q = q2
        self.q._next_seq = self.model.next_seq

    # ------------------------------------------------------------ invariants
    @invariant()
    def same_state(self):
        if self.q is None:
            return
        q, model = self.q, self.model
        c = model.counts()
        assert (q.visible, q.inflight, q.delayed, q.total) == (c[READY], c[INFLIGHT], c[DELAYED], len(model.msgs))
        assert q.bytes == sum(m.size for m in model.msgs.values())
        for m in q.messages():
            mm = model.msgs[m.seq]
            assert (m.state, m.receive_count, m.lease, m.visible_at, m.consumer, m.expires_at,
                    m.first_receive_at, m.priority) == \
                (mm.state, mm.receive_count, mm.lease, mm.visible_at, mm.consumer, mm.expires_at,
                 mm.first_receive_at, mm.priority), (m, vars(mm))
        # the journal holds exactly the live messages with their current fields
        assert self.journal.records == {m.seq: m.to_record() for m in q.messages()}
        got = {r.key: (r.seq, r.msg_id, r.expires_at) for r in q.dedup_records()}
        assert got == model.dedup
        assert {k: (r[3], r[2], r[4]) for k, r in self.journal.dedup.items()} == got
        # a message is held by at most one consumer; unacked sets agree
        held = {}
        for tag in q.consumers():
            for m in q.unacked(tag):
                assert m.seq not in held and m.consumer == tag and m.state == INFLIGHT
                held[m.seq] = tag
        assert held == {s: m.consumer for s, m in model.msgs.items() if m.consumer is not None}

    @invariant()
    def fifo_groups_exclusive(self):
        if self.q is None or not self.cfg.fifo:
            return
        for m in self.q.messages():
            assert m.state != GONE


MAX = int(os.environ.get("QUEUE_MACHINE_EXAMPLES", "250"))

QueueMachine.TestCase.settings = settings(
    max_examples=MAX, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_queue_machine = QueueMachine.TestCase


class SlowQueueMachine(QueueMachine):
    pass


SlowQueueMachine.TestCase.settings = settings(
    max_examples=3000, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_queue_machine_long = pytest.mark.slow(SlowQueueMachine.TestCase)
