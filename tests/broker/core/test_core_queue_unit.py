"""Example-based Queue tests for behaviours the state machine reaches rarely."""

from __future__ import annotations

import pytest

from broker.core.queue import INFLIGHT, READY, LeaseError, Message, Queue, QueueConfig


def test_priority_order_and_clamp():
    q = Queue("q", QueueConfig(max_priority=5))
    for p in (1, 9, 3, 5, 1):
        q.enqueue(0, None, 1, priority=p)
    assert [m.priority for m in q.receive(0, 10).messages] == [5, 5, 3, 1, 1]
    assert [m.seq for m in q.messages()] == [1, 2, 3, 4, 5]


def test_lease_errors_and_restore_keeps_deadline():
    q = Queue("q", QueueConfig(lease_ms=100))
    q.enqueue(0, None, 1)
    m = q.receive(0, 1).messages[0]
    with pytest.raises(LeaseError) as e:
        q.change_lease(0, m.seq, m.lease - 1, 10)
    assert e.value.reason == "stale"
    with pytest.raises(LeaseError) as e:
        q.change_lease(0, 99, 0, 10)
    assert e.value.reason == "not_found"
    assert q.change_lease(10, m.seq, m.lease, 500)
    q2 = Queue("q", QueueConfig(lease_ms=100))
    q2.restore([Message.from_record(x.to_record()) for x in q.messages()], 20)
    assert q2.inflight == 1 and q2.next_deadline() == 510
    assert q2.receive(509, 1).messages == []
    assert [x.seq for x in q2.receive(510, 1).messages] == [m.seq]
    with pytest.raises(LeaseError) as e:
        q.change_lease(600, m.seq, m.lease, 10)  # lease lapsed in q too
    assert e.value.reason == "not_inflight"


def test_dedup_scope_group_and_window_outlives_message():
    q = Queue("q", QueueConfig(fifo=True, dedup_window_ms=100, dedup_scope="group"))
    a = q.enqueue(0, None, 1, dedup="x", group="g1", msg_id="A").message
    assert q.enqueue(1, None, 1, dedup="x", group="g2").duplicate_of is None
    assert q.delete(a.seq)
    r = q.enqueue(50, None, 1, dedup="x", group="g1")
    assert r.duplicate_of.msg_id == "A" and r.message is None
    assert q.tick(100).next_deadline == 101
    assert q.enqueue(100, None, 1, dedup="x", group="g1").duplicate_of is None


def test_link_credit_mode_and_round_robin():
    q = Queue("q")
    for _ in range(6):
        q.enqueue(0, None, 1)
    q.add_consumer("a", 2, window=False)
    q.add_consumer("b", None)
    got = [(t, m.seq) for t, m in q.dispatch(0, limit=4)]
    assert got == [("a", 1), ("b", 2), ("a", 3), ("b", 4)]
    q.ack(1)
    got = [(t, m.seq) for t, m in q.dispatch(0)]
    assert got == [("b", 5), ("b", 6)]  # 'a' spent its link credit; ack does not restore it
    q.add_credit("a", 1)
    assert q.nack(2, True).state == READY
    assert [(t, m.seq) for t, m in q.dispatch(0)] == [("b", 2)]  # ring order: b was queued before a regained credit
    assert q.get(2).receive_count == 2 and q.get(2).redelivered
    assert [m.seq for m in q.remove_consumer("b")] == [2, 4, 5, 6]
    assert q.visible == 4 and q.inflight == 1


def test_fifo_receive_runs_and_dead_letter():
    q = Queue("q", QueueConfig(fifo=True, max_receives=1, lease_ms=10))
    for g in "aabab":
        q.enqueue(0, None, 1, group=g)
    r = q.receive(0, 3)
    assert [(m.seq, m.group) for m in r.messages] == [(1, "a"), (2, "a"), (4, "a")]
    assert [m.seq for m in q.receive(0, 10).messages] == [3, 5]
    r = q.receive(10, 10)  # leases lapsed; every message was received once already
    assert r.messages == [] and [m.seq for m in r.dead] == [1, 2, 4, 3, 5]
    assert q.total == 0 and q.next_deadline() is None


def test_overflow_drop_head_and_reject():
    q = Queue("q", QueueConfig(max_length=2))
    q.enqueue(0, None, 1)
    q.enqueue(0, None, 1)
    assert [m.seq for m in q.enqueue(0, None, 1).dropped] == [1]
    q2 = Queue("q", QueueConfig(max_bytes=3, overflow="reject-publish"))
    assert not q2.enqueue(0, None, 2).rejected
    assert q2.enqueue(0, None, 2).rejected
    assert q2.total == 1


def test_ttl_never_delivered_even_without_tick():
    q = Queue("q", QueueConfig(retention_ms=10))
    q.enqueue(0, None, 1)
    q.enqueue(5, None, 1, ttl_ms=100)
    r = q.receive(10, 10)
    assert [m.seq for m in r.expired] == [1] and [m.seq for m in r.messages] == [2]
    assert q.get(2).state == INFLIGHT


class _Recorder:
    """A journal that records the final state of each reported message."""

    def __init__(self):
        self.events = []

    def inserted(self, q, m):
        self.events.append(("ins", m.seq))

    def updated(self, q, m):
        self.events.append(("upd", m.seq, m.state))

    def removed(self, q, m):
        self.events.append(("del", m.seq))

    def dedup_added(self, q, rec):
        pass

    dedup_expired = dedup_added


def test_autoack_consumer_settles_on_delivery_and_journals_removal():
    j = _Recorder()
    q = Queue("q", QueueConfig(), j)
    for _ in range(3):
        q.enqueue(0, b"x", 1)
    q.add_consumer("c", 2, window=False, autoack=True)
    out = q.dispatch(0)
    assert [m.seq for _t, m in out] == [1, 2]              # two credits, consumed
    assert q.total == 1 and q.inflight == 0 and q.unacked("c") == []
    assert ("del", 1) in j.events and ("del", 2) in j.events
    assert q.dispatch(0) == []                              # out of credit
    q.add_credit("c", 5)
    assert [m.seq for _t, m in q.dispatch(0)] == [3]


def test_standby_consumer_gets_nothing_until_promoted():
    q = Queue("q")
    q.add_consumer("active", None)
    q.add_consumer("standby", None, standby=True)
    for _ in range(3):
        q.enqueue(0, None, 1)
    assert {t for t, _m in q.dispatch(0)} == {"active"}
    q.remove_consumer("active")                             # its three come back, in order
    q.set_standby("standby", False)
    assert [(t, m.seq, m.redelivered) for t, m in q.dispatch(0)] == \
        [("standby", 1, True), ("standby", 2, True), ("standby", 3, True)]


def test_get_for_ignores_credit_and_keeps_the_message_unacked():
    q = Queue("q")
    q.enqueue(0, None, 1)
    q.enqueue(0, None, 1)
    q.add_consumer("getter", 0)                             # never pushed to
    assert q.dispatch(0) == []
    got = q.get_for("getter", 0)
    assert [m.seq for _t, m in got] == [1] and q.inflight == 1
    assert [m.seq for m in q.unacked("getter")] == [1]
    assert q.nack(1, True) is not None
    assert [m.seq for _t, m in q.get_for("getter", 0, autoack=True)] == [1]
    assert q.total == 1 and q.inflight == 0


def test_dispatch_limit_leaves_the_rest_for_later():
    q = Queue("q")
    for _ in range(10):
        q.enqueue(0, None, 1)
    q.add_consumer("c", None)
    assert len(q.dispatch(0, 4)) == 4
    assert len(q.dispatch(0, 4)) == 4
    assert len(q.dispatch(0, 4)) == 2
