"""The metric store without a server: roll-up tiers, the tier a query reads, retention."""

from __future__ import annotations

import asyncio

from broker.core.store import MemoryPartitionStore
from services.cloudwatch import stats
from services.cloudwatch.metrics import MetricStore
from services.cloudwatch.sidestore import SideStore
from services.cloudwatch.tsdb import POINTS_DDL, TimeSeriesDB, tier_for

DAY = 86400
NOW = 2_000_000_000 - 2_000_000_000 % 3600


class FakePart:
    id = 0

    def __init__(self):
        from broker.core.crypto import AesGcmKey
        self.store = MemoryPartitionStore(0)
        self.master = AesGcmKey(b"k" * 32)


def _store():
    part = FakePart()
    side = SideStore(part, "cloudwatch", POINTS_DDL, ("points",))
    return MetricStore(part, TimeSeriesDB(side)), side


def _slot(v):
    s = stats.new_slot()
    stats.add_value(s, v)
    return s


def test_points_roll_up_into_every_tier_and_queries_read_the_right_one():
    async def run():
        ms, side = _store()
        for i in range(120):          # two minutes of 1-second high-resolution data
            ms.add("a", "r", "ns", "m", (), "Count", NOW - 120 + i, _slot(1.0), True, NOW)
        ms.flush()
        await side.committed()
        s = ms.find("a", "r", "ns", "m", [])
        ten = ms.buckets(s, NOW - 120, NOW, 10, None, NOW)
        assert len(ten) == 12 and all(b[0] == 10 for b in ten.values())
        minute = ms.buckets(s, NOW - 120, NOW, 60, None, NOW)
        assert sorted(b[0] for b in minute.values()) == [60, 60]
        hour = ms.buckets(s, NOW - 3600, NOW, 3600, None, NOW)
        assert [b[0] for b in hour.values()] == [120]
        rows = {tier: len(ms.db.read(s.sid, tier, 0, NOW + 1)) for tier in (1, 60, 300, 3600)}
        assert rows == {1: 120, 60: 2, 300: 1, 3600: 1}
        # standard-resolution data has no 1-second tier
        ms.add("a", "r", "ns", "std", (), "Count", NOW - 30, _slot(2.0), False, NOW)
        ms.flush()
        std = ms.find("a", "r", "ns", "std", [])
        assert ms.db.read(std.sid, 1, 0, NOW + 1) == []
        side.close()
    asyncio.run(run())


def test_tier_choice():
    assert tier_for(60, NOW - 3600, NOW) == 60
    assert tier_for(300, NOW - 3600, NOW) == 300
    assert tier_for(10, NOW - 600, NOW) == 1
    assert tier_for(60, NOW - 20 * DAY, NOW) == 60          # past its retention: what is left of it
    assert tier_for(300, NOW - 20 * DAY, NOW) == 300
    assert tier_for(3600, NOW - 100 * DAY, NOW) == 3600
    assert tier_for(60, NOW - 600 + 30, NOW) == 1            # a start off the minute needs 1-second data


def test_retention_drops_old_points_and_silent_series():
    async def run():
        ms, side = _store()
        ms.add("a", "r", "ns", "old", (), "Count", NOW - 10 * DAY, _slot(1.0), False, NOW)
        ms.add("a", "r", "ns", "new", (), "Count", NOW - 60, _slot(1.0), True, NOW)
        ms.flush()
        await side.committed()
        old, new = ms.find("a", "r", "ns", "old", []), ms.find("a", "r", "ns", "new", [])
        later = NOW + 20 * DAY
        ms.sweep(later)
        await side.committed()
        assert ms.db.read(old.sid, 60, 0, later) == [] and len(ms.db.read(old.sid, 300, 0, later)) == 1
        assert ms.db.read(new.sid, 1, 0, later) == []          # 3 hours at 1 s
        ms.sweep(NOW + 500 * DAY)
        await side.committed()
        assert ms.find("a", "r", "ns", "old", []) is None and ms.find("a", "r", "ns", "new", []) is None
        assert side.read("SELECT COUNT(*) FROM points")[0][0] == 0
        side.close()
    asyncio.run(run())
