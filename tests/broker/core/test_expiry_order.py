"""ExpiryOrder: the queue's expiry index (bare deque for in-order expiries, heap for the rest)."""

from hypothesis import given, strategies as st

from broker.core._ready import ExpiryOrder, SeqReady
from broker.core.message import DELAYED, GONE, INFLIGHT, READY, Message


def _msg(seq: int, expires: int, state: int = READY) -> Message:
    return Message(seq, f"m{seq}", None, 1, None, None, 0, 0, 0, expires, state=state)


@given(st.lists(st.tuples(st.integers(0, 50), st.sampled_from([READY, DELAYED, INFLIGHT, GONE])), max_size=60),
       st.integers(0, 60))
def test_pop_due_takes_exactly_the_live_expired_in_order(specs, now):
    order = ExpiryOrder()
    msgs = [_msg(i, e, s) for i, (e, s) in enumerate(specs)]
    for m in msgs:
        order.push(m, live_bound=len(msgs))
    live = [m for m in msgs if m.state in (READY, DELAYED)]
    due = order.pop_due(now)
    assert due == sorted((m for m in live if m.expires_at <= now), key=lambda m: (m.expires_at, m.seq))
    rest = [m for m in live if m.expires_at > now]
    assert order.head() == (min(m.expires_at for m in rest) if rest else None)


def test_in_order_expiries_take_no_heap_entry_and_dead_ones_are_dropped():
    order = ExpiryOrder()
    msgs = [_msg(i, 100 + i) for i in range(10)]
    for m in msgs:
        order.push(m, live_bound=10)
    assert len(order.heap) == 0 and len(order.fresh) == 10
    order.push(_msg(10, 5), live_bound=11)                  # out of order: the heap
    assert len(order.heap) == 1
    for m in msgs[:8]:
        m.state = GONE
    order.keep_live()
    assert len(order) == 3 and order.head() == 5


def test_seq_ready_fresh_holds_never_leased_messages_bare():
    r = SeqReady()
    a, b, c = _msg(1, 0), _msg(2, 0), _msg(3, 0)
    for m in (a, b, c):
        r.push(m)
    assert list(r.fresh) == [a, b, c]
    assert r.pop() is a
    a.state, a.lease = INFLIGHT, 1                     # leased, then back: a heap entry
    a.state = READY
    r.push(a)
    assert r.ret and r.pop() is a and r.pop() is b
    b.state, b.lease = INFLIGHT, 2                    # b leased: its stale entries stay dead
    assert r.pop() is c and r.pop() is None
