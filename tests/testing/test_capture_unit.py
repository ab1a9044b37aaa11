"""The capture shard half without a server: bounds (per name, bytes per partition, body
size), rebuilding after a restart, and waits woken only after the commit."""

from __future__ import annotations

import asyncio

import pytest

from broker.core.store import MemoryPartitionStore
from services.testkit import capture

Half = capture.TestkitShard


class FakePart:
    def __init__(self, store=None):
        self.store = store or MemoryPartitionStore(0)
        self.committed: list = []

    def now_ms(self) -> int:
        return 1_700_000_000_000

    def after_commit(self, callback) -> None:
        self.committed.append(callback)

    def commit(self) -> None:
        callbacks, self.committed = self.committed, []
        for cb in callbacks:
            cb()


def _capture(half, name: str, body: bytes = b"x", method: str = "POST"):
    return half.op_Capture({"name": name, "method": method, "path": f"/_capture/{name}", "query": "",
                            "headers": [["content-type", "text/plain"]], "body": body})


def test_per_name_limit_keeps_the_newest(monkeypatch):
    monkeypatch.setattr(capture, "MAX_PER_NAME", 3)
    half = Half(FakePart())
    for i in range(5):
        _capture(half, "a", f"b{i}".encode())
    _capture(half, "other")
    assert [r["body"] for r in half.op_Captured({"name": "a"})] == ["b2", "b3", "b4"]
    assert len(half.op_Captured({"name": "other"})) == 1


def test_bytes_per_partition_evict_the_oldest_of_any_name(monkeypatch):
    monkeypatch.setattr(capture, "MAX_BYTES", 3000)
    half = Half(FakePart())
    for i in range(6):
        _capture(half, f"n{i % 2}", bytes([65 + i]) * 900)
    kept = [r["body"][0] for name in ("n0", "n1") for r in half.op_Captured({"name": name})]
    assert sorted(kept) == ["D", "E", "F"]            # the three newest, whatever their names
    assert half.bytes <= 3000
    assert sum(1 for _ in half.store.scan(capture.KIND)) == 3


def test_large_bodies_are_kept_truncated(monkeypatch):
    monkeypatch.setattr(capture, "MAX_BODY", 10)
    half = Half(FakePart())
    _capture(half, "big", b"0123456789abcdef")
    (req,) = half.op_Captured({"name": "big"})
    assert req["body"] == "0123456789" and req["size"] == 16 and req["truncated"] is True


def test_records_survive_a_rebuild_and_delete_by_filter():
    part = FakePart()
    half = Half(part)
    _capture(half, "h", b'{"Type": "SubscriptionConfirmation"}')
    _capture(half, "h", b'{"Type": "Notification"}', method="PUT")
    again = Half(FakePart(part.store))               # a restarted shard reads the store
    reqs = again.op_Captured({"name": "h"})
    assert [r["json"]["Type"] for r in reqs] == ["SubscriptionConfirmation", "Notification"]
    assert len(again.op_Captured({"name": "h", "q": {"method": "put"}})) == 1
    assert len(again.op_Captured({"name": "h", "q": {"text": "confirmation"}, "delete": True})) == 1
    assert [r["method"] for r in again.op_Captured({"name": "h"})] == ["PUT"]
    again.op_Captured({"name": "h", "delete": True})
    assert again.by_name == {} and again.bytes == 0


def test_a_wait_is_woken_after_the_commit_not_before():
    async def scenario():
        part = FakePart()
        half = Half(part)
        waiting = asyncio.ensure_future(half.op_Wait({"name": "w", "q": {"count": 2, "text": "go"},
                                                      "timeout": 30, "wait_id": "1"}))
        await asyncio.sleep(0)
        _capture(half, "w", b"go one")
        _capture(half, "w", b"ignored")
        _capture(half, "w", b"go two")
        await asyncio.sleep(0)
        assert not waiting.done()          # written, not yet committed
        part.commit()
        r = await asyncio.wait_for(waiting, 5)
        assert r["count"] == 2 and [x["body"] for x in r["requests"]] == ["go one", "go two"]
        assert half.waiters == {}
        # already true: answered at once; timeout: no requests
        assert (await _maybe(half.op_Wait({"name": "w", "q": {"text": "go"}, "timeout": 1, "wait_id": "2"})))["count"] == 2
        r = await _maybe(half.op_Wait({"name": "w", "q": {"count": 5}, "timeout": 0.05, "wait_id": "3"}))
        assert r == {"count": 3, "requests": None}
        # cancelled and closed waits end without requests
        w4 = asyncio.ensure_future(half.op_Wait({"name": "w", "q": {"count": 9}, "timeout": 30, "wait_id": "4"}))
        await asyncio.sleep(0)
        assert half.op_CancelWait({"wait_id": "4"}) is True
        assert (await w4)["requests"] is None
        w5 = asyncio.ensure_future(half.op_Wait({"name": "w", "q": {"count": 9}, "timeout": 30, "wait_id": "5"}))
        await asyncio.sleep(0)
        half.close()
        assert (await w5)["requests"] is None
    asyncio.run(scenario())


async def _maybe(value):
    return await value if asyncio.iscoroutine(value) else value


@pytest.mark.parametrize("rec,q,expected", [
    ({"method": "POST", "body": b"Hello"}, {"text": "hello"}, True),
    ({"method": "POST", "body": b"Hello"}, {"method": "get"}, False),
    ({"method": "POST", "body": b"\xff\xfe"}, {"text": "x"}, False),
    ({"method": "PUT", "body": b""}, {}, True),
])
def test_matches(rec, q, expected):
    assert capture.matches(rec, q) is expected
