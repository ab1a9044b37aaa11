"""Delivery sinks: retry schedules, dead-lettering, pacing, ordering, restart.

The engine runs here against a partition stand-in (memory store, the loop's
timers, a commit that runs the after-commit callbacks) and a real HTTP
endpoint (aiohttp server on a free port). End-to-end use through real
processes is covered by the services that deliver (SQS DLQs, SNS, ...).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, strategies as st

from broker.core.store import MemoryPartitionStore
from broker.runtime import sinks


class FakePartition:
    def __init__(self, store=None):
        self.store = store or MemoryPartitionStore(0)
        self.id = 0
        self._after: list = []
        self.loop = asyncio.get_running_loop()
        self.calls: list = []
        self.fail_calls = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def schedule(self, due_ms, cb):
        self.loop.call_later(max(0.0, (due_ms - self.now_ms()) / 1000), lambda: cb(self.now_ms()))

    def after_commit(self, cb):
        self._after.append(cb)
        self.loop.call_soon(self.commit)

    def flush_soon(self):
        pass

    def commit(self):
        cbs, self._after = self._after, []
        for cb in cbs:
            cb()

    async def call(self, key, op, args):
        if self.fail_calls:
            self.fail_calls -= 1
            raise ConnectionError("shard restarting")
        self.calls.append((key, op, args))
        return True


async def until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


def test_retry_delay_phases():
    pol = sinks.policy(immediate=3, pre=(2, 1), backoff=(4, 1, 8, "exponential"), post=(2, 20))
    delays = [sinks.retry_delay(pol, i) for i in range(1, 13)]
    assert delays[:3] == [0, 0, 0]
    assert delays[3:5] == [1, 1]
    assert delays[5:9] == [1, 2, 4, 8]
    assert delays[9:11] == [20, 20]
    assert delays[11] is None


@given(st.integers(1, 50), st.floats(0.1, 10), st.floats(10, 100),
       st.sampled_from(["linear", "arithmetic", "geometric", "exponential"]))
def test_backoff_stays_within_bounds_and_never_decreases(n, lo, hi, fn):
    pol = sinks.policy(backoff=(n, lo, hi, fn))
    ds = [sinks.retry_delay(pol, i) for i in range(1, n + 1)]
    assert all(lo - 1e-9 <= d <= hi + 1e-9 for d in ds)
    assert all(a <= b + 1e-9 for a, b in zip(ds, ds[1:]))
    assert sinks.retry_delay(pol, n + 1) is None


def test_forever_policy_never_exhausts():
    assert sinks.retry_delay(None, 10_000) == 2.0


@pytest.fixture
def http_endpoint():
    """A real HTTP endpoint in a thread-free way: created inside each test's loop."""
    from aiohttp import web

    class Endpoint:
        def __init__(self):
            self.hits: list[tuple[float, bytes, dict]] = []
            self.statuses: list[int] = []

        async def start(self):
            async def handle(request):
                self.hits.append((time.monotonic(), await request.read(), dict(request.headers)))
                return web.Response(status=self.statuses.pop(0) if self.statuses else 200)
            app = web.Application()
            app.router.add_post("/hook", handle)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}/hook"

        async def stop(self):
            await self.runner.cleanup()
    return Endpoint()


def test_http_delivery_retries_then_succeeds(http_endpoint):
    async def main():
        await http_endpoint.start()
        part = FakePartition()
        http_endpoint.statuses = [500, 503]
        d = sinks.deliveries(part)
        d.submit("http", {"url": http_endpoint.url, "headers": {"x-test": "1"}}, b"payload",
                 policy=sinks.policy(immediate=3))
        await until(lambda: d.pending() == 0)
        assert [h[1] for h in http_endpoint.hits] == [b"payload"] * 3
        assert http_endpoint.hits[0][2]["x-test"] == "1"
        assert d.delivered == 1
        assert list(part.store.scan(sinks.KIND)) == []
        await sinks.close_http()
        await http_endpoint.stop()
    asyncio.run(main())


def _dead_letters(kind: str) -> list:
    """A dead-letter kind that records (body, meta) of what reaches it."""
    got = []

    async def record(dv):
        got.append((dv.body, dv.meta))
    sinks.register_kind(kind, record)
    return got


def test_exhausted_and_permanent_failures_go_to_the_dead_letter_target(http_endpoint):
    async def main():
        await http_endpoint.start()
        part = FakePartition()
        d = sinks.deliveries(part)
        got = _dead_letters("test-dlq")
        # permanent: 403 is not retried
        http_endpoint.statuses = [403]
        d.submit("http", {"url": http_endpoint.url}, b"m1", policy=sinks.policy(immediate=5),
                 dlq={"kind": "test-dlq", "target": {}}, meta={"sub": "a"})
        await until(lambda: got)
        assert len(http_endpoint.hits) == 1
        assert got[0][0] == b"m1" and got[0][1]["error"]["retryable"] is False
        got.clear()
        # retryable but exhausted: 1 + 2 attempts, then dead-lettered
        http_endpoint.statuses = [500, 500, 500]
        d.submit("http", {"url": http_endpoint.url}, b"m2", policy=sinks.policy(immediate=2),
                 dlq={"kind": "test-dlq", "target": {}}, meta={"sub": "b"})
        await until(lambda: got)
        assert got[0][0] == b"m2"
        assert got[0][1]["error"]["attempts"] == 3 and got[0][1]["error"]["status"] == 500
        assert got[0][1]["source"] == {"sub": "b"}
        assert len(http_endpoint.hits) == 4
        await until(lambda: d.pending() == 0)
        await sinks.close_http()
        await http_endpoint.stop()
    asyncio.run(main())


def test_pacing_spaces_a_backlog(http_endpoint):
    async def main():
        await http_endpoint.start()
        part = FakePartition()
        part2 = FakePartition()
        d2 = sinks.deliveries(part2)
        http_endpoint.hits.clear()
        for i in range(6):
            d2.submit("http", {"url": http_endpoint.url}, b"%d" % i, pace=("sub2", 5.0))
        await until(lambda: d2.pending() == 0)
        times = [h[0] for h in http_endpoint.hits]
        assert times[-1] - times[0] >= 0.15   # 6 deliveries at 5/s after a burst of 5
        await sinks.close_http()
        await http_endpoint.stop()
    asyncio.run(main())


def test_ordered_deliveries_go_one_at_a_time_in_submission_order():
    async def main():
        part = FakePartition()
        d = sinks.deliveries(part)
        seen = []
        gate = {"fail": 2}

        async def slow(dv):
            if dv.body == 0 and gate["fail"]:
                gate["fail"] -= 1
                raise sinks.Failed("not yet")
            await asyncio.sleep(0.005)
            seen.append(dv.body)
        sinks.register_kind("test-ordered", slow)
        for i in range(5):
            d.submit("test-ordered", {}, i, order="g1", policy=sinks.policy(immediate=5))
        await until(lambda: d.pending() == 0)
        assert seen == [0, 1, 2, 3, 4]
    asyncio.run(main())


def test_records_survive_a_restart_and_are_resent():
    async def main():
        store = MemoryPartitionStore(0)
        part = FakePartition(store)
        part.fail_calls = 10 ** 6        # target down: nothing is accepted
        d = sinks.deliveries(part)
        d.submit("call", {"key": "k", "op": "x.Op"}, {"n": 1})
        await until(lambda: d.records and next(iter(d.records.values()))["attempt"] >= 1)
        d.close()
        # a new process: the record is reloaded and delivered once the target is back
        part2 = FakePartition(store)
        d2 = sinks.deliveries(part2)
        await until(lambda: part2.calls)
        assert part2.calls == [("k", "x.Op", {"n": 1})]
        await until(lambda: d2.pending() == 0)
        assert list(store.scan(sinks.KIND)) == []
    asyncio.run(main())


def test_a_first_attempt_made_elsewhere_continues_from_the_second(http_endpoint):
    """submit_failed: a caller's own first attempt failed; retryable failures resume
    at retry 2 of the policy, permanent ones go to the dead-letter target at once."""
    async def main():
        await http_endpoint.start()
        part = FakePartition()
        d = sinks.deliveries(part)
        got = _dead_letters("test-dlq-2")
        dlq = {"kind": "test-dlq-2", "target": {}}
        # retryable, policy of 2 retries: the caller made attempt 1, the engine makes 2 and 3
        http_endpoint.statuses = [500, 500]
        d.submit_failed("http", {"url": http_endpoint.url}, b"r1", sinks.Failed("HTTP 500", True, "HTTP500", 500),
                        policy=sinks.policy(immediate=2), dlq=dlq, meta={"sub": "r"})
        await until(lambda: got)
        assert len(http_endpoint.hits) == 2 and got[0][0] == b"r1"
        assert got[0][1]["error"]["attempts"] == 3 and got[0][1]["source"] == {"sub": "r"}
        got.clear()
        # permanent: no attempt here, straight to the dead-letter target
        assert d.submit_failed("http", {"url": http_endpoint.url}, b"p1", sinks.Failed("HTTP 403", False, "HTTP403"),
                               policy=sinks.policy(immediate=5), dlq=dlq) is None
        await until(lambda: got)
        assert got[0][0] == b"p1" and got[0][1]["error"]["attempts"] == 1
        assert len(http_endpoint.hits) == 2 and d.dead_lettered == 2
        await until(lambda: d.pending() == 0)
        await sinks.close_http()
        await http_endpoint.stop()
    asyncio.run(main())
