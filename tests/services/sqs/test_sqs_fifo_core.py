"""The queue primitive in SQS's FIFO group mode (GROUP_HEAD), and the queue options SQS relies
on (moved receive counts, purge forgetting dedup ids, reviving an expired lease), without a server.

Scenarios follow what AWS does (the recorded FIFO behaviours): a group hands out its oldest
messages while they are visible, even with later ones in flight; a group whose messages came
back goes behind the groups still waiting; a group freed by deletes keeps its place."""

from __future__ import annotations

from broker.core.message import GROUP_HEAD, INFLIGHT, READY, QueueConfig
from broker.core.queue import Queue


def fifo(**kw) -> Queue:
    return Queue("q", QueueConfig(fifo=True, lease_ms=30_000, dedup_window_ms=300_000, group_mode=GROUP_HEAD, **kw))


def send(q: Queue, now: int, body: str, group: str):
    return q.enqueue(now, body, 1, msg_id=body, group=group, dedup=body).message


def bodies(res) -> list[str]:
    return [m.payload for m in res.messages]


def test_earlier_visible_message_receivable_while_later_in_flight():
    q = fifo()
    m1, m2 = send(q, 0, "g1-m1", "g1"), send(q, 0, "g1-m2", "g1")
    send(q, 0, "g2-m1", "g2")
    assert bodies(q.receive(1, 2)) == ["g1-m1", "g1-m2"]
    q.change_lease(2, m1.seq, m1.lease, 0)          # m1 visible again, m2 still in flight
    assert m2.state == INFLIGHT
    # the untouched group first, then g1's visible head; nothing past the in-flight m2
    assert bodies(q.receive(3, 3)) == ["g2-m1", "g1-m1"]


def test_returned_groups_go_behind_untouched_ones():
    q = fifo()
    for b, g in [("g1-m1", "g1"), ("g1-m2", "g1"), ("g1-m3", "g1"), ("g1-m4", "g1"), ("g2-m1", "g2"),
                 ("g3-m1", "g3")]:
        send(q, 0, b, g)
    assert bodies(q.receive(1, 2, 1000)) == ["g1-m1", "g1-m2"]
    assert bodies(q.receive(2, 1, 1000)) == ["g2-m1"]
    q.tick(5000)                                     # both leases ran out: g1 first, then g2
    assert bodies(q.receive(5000, 10, 0)) == ["g3-m1", "g1-m1", "g1-m2", "g1-m3", "g1-m4", "g2-m1"]


def test_zero_visibility_receive_requeues_behind():
    q = fifo()
    for b, g in [("g1-m1", "g1"), ("g2-m1", "g2"), ("g2-m2", "g2"), ("g3-m1", "g3"), ("g1-m2", "g1")]:
        send(q, 0, b, g)
    assert bodies(q.receive(1, 3, 0)) == ["g1-m1", "g1-m2", "g2-m1"]
    assert bodies(q.receive(2, 10, 0)) == ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"]


def test_group_freed_by_delete_keeps_its_place():
    q = fifo()
    for b, g in [("g1-m1", "g1"), ("g2-m1", "g2"), ("g1-m2", "g1"), ("g2-m2", "g2"), ("g1-m3", "g1"),
                 ("g1-m4", "g1"), ("g3-m1", "g3")]:
        send(q, 0, b, g)
    got = q.receive(1, 2).messages
    assert [m.payload for m in got] == ["g1-m1", "g1-m2"]
    for m in got:
        q.delete(m.seq, m.lease)
    assert bodies(q.receive(2, 10)) == ["g2-m1", "g2-m2", "g1-m3", "g1-m4", "g3-m1"]


def test_partly_deleted_group_stays_locked():
    q = fifo()
    for b, g in [("g1-m1", "g1"), ("g2-m1", "g2"), ("g1-m2", "g1"), ("g2-m2", "g2"), ("g1-m3", "g1"),
                 ("g3-m1", "g3")]:
        send(q, 0, b, g)
    m1, _m2 = q.receive(1, 2).messages
    q.delete(m1.seq, m1.lease)
    assert bodies(q.receive(2, 10)) == ["g2-m1", "g2-m2", "g3-m1"]


def test_exclusive_mode_is_unchanged():
    q = Queue("q", QueueConfig(fifo=True))
    m1 = q.enqueue(0, "a1", 1, group="a").message
    q.enqueue(0, "a2", 1, group="a")
    q.receive(1, 2)
    q.change_lease(2, m1.seq, m1.lease, 0)
    assert q.receive(3, 10).messages == []          # a2 still in flight locks group a


def test_moved_message_keeps_receive_history():
    q = Queue("dlq", QueueConfig())
    m = q.enqueue(0, "x", 1, receive_count=3, first_receive_at=123).message
    (got,) = q.receive(10, 1).messages
    assert got is m and (m.receive_count, m.first_receive_at) == (4, 123)


def test_purge_can_forget_dedup_ids():
    q = fifo()
    send(q, 0, "a", "g")
    q.purge(include_inflight=True)
    assert q.enqueue(1, "again", 1, group="g", dedup="a").duplicate_of is not None
    q.purge(include_inflight=True, clear_dedup=True)
    res = q.enqueue(2, "again", 1, group="g", dedup="a")
    assert res.duplicate_of is None and q.visible == 1


def test_revive_hides_an_expired_lease_again():
    q = Queue("q", QueueConfig(lease_ms=100))
    q.enqueue(0, "x", 1)
    (m,) = q.receive(1, 1).messages
    q.tick(200)
    assert m.state == READY
    q.change_lease(300, m.seq, m.lease, 1000, revive=True)
    assert m.state == INFLIGHT and m.receive_count == 1 and q.visible == 0 and q.inflight == 1
    assert q.receive(400, 1).messages == []
    q.tick(1300)
    assert m.state == READY and q.visible == 1


def test_reconfigure_changes_delivery_limit():
    q = Queue("q", QueueConfig())
    q.enqueue(0, "x", 1)
    q.receive(1, 1, 0)
    q.reconfigure(QueueConfig(max_receives=1))
    res = q.receive(2, 1)
    assert res.messages == [] and [m.payload for m in res.dead] == ["x"]
