"""Metric data points on disk, rolled up and bounded by AWS's retention.

Every data point is merged at write time into one slot per resolution tier
(a row keyed by series, tier, bucket start and unit):

    tier 1 s     kept 3 hours     (high-resolution metrics only)
    tier 60 s    kept 15 days
    tier 300 s   kept 63 days
    tier 3600 s  kept 455 days

so a query reads the finest tier that still covers its start time, and a
sweep deletes whatever fell out of its tier's retention. Disk use is bounded
per series; memory holds a bounded cache of recently written slots only.
"""

from __future__ import annotations

import msgspec

from services.cloudwatch import stats
from services.cloudwatch.sidestore import SideStore

TIERS = ((1, 3 * 3600), (60, 15 * 86400), (300, 63 * 86400), (3600, 455 * 86400))
RETENTION = dict(TIERS)
# the cache is for the buckets being written now (a series writes one slot per tier);
# past ones are rarely written again. 20,000 held 8-10 MB a shard once full, and took
# half an hour of an SQS soak's queue metrics to fill
CACHE_MAX = 4_096

POINTS_DDL = """
CREATE TABLE IF NOT EXISTS points (sid INTEGER, tier INTEGER, ts INTEGER, unit TEXT, v BLOB,
                                   PRIMARY KEY (sid, tier, ts, unit)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_age ON points (tier, ts);
"""

_enc = msgspec.msgpack.Encoder().encode
_dec = msgspec.msgpack.Decoder().decode


def _aad(sid: int, tier: int, ts: int, unit: str) -> bytes:
    return b"%d:%d:%d:%s" % (sid, tier, ts, unit.encode())


class TimeSeriesDB:
    def __init__(self, side: SideStore):
        self.side = side
        self._cache: dict[tuple, list] = {}
        self._dirty: dict[tuple, list] = {}

    # -- writes -------------------------------------------------------------------
    def add(self, sid: int, ts: int, unit: str, slot: list, high_res: bool, now: int) -> bool:
        """Merge `slot` (stats.py) measured at second `ts` into every tier that keeps it."""
        kept = False
        for tier, keep in TIERS:
            if (tier == 1 and not high_res) or ts < now - keep:
                continue
            key = (sid, tier, ts - ts % tier, unit)
            cur = self._dirty.get(key) or self._load(key)
            if cur is None:
                cur = stats.new_slot()
            stats.merge(cur, slot)
            self._dirty[key] = cur
            kept = True
        return kept

    def write(self) -> None:
        """Stage the slots `add` changed (call once per op; committed with the tick)."""
        if not self._dirty:
            return
        seal = self.side.seal
        rows = [(k[0], k[1], k[2], k[3], seal(_enc(v), _aad(*k))) for k, v in self._dirty.items()]
        self.side.write_many("INSERT OR REPLACE INTO points VALUES (?,?,?,?,?)", rows)
        if len(self._cache) + len(self._dirty) > CACHE_MAX:
            self._cache.clear()
        self._cache.update(self._dirty)
        self._dirty = {}

    def committed(self):
        return self.side.committed()

    def _load(self, key: tuple) -> list | None:
        slot = self._cache.get(key)
        if slot is not None:
            return slot
        row = self.side.read("SELECT v FROM points WHERE sid=? AND tier=? AND ts=? AND unit=?", key)
        if not row:
            return None
        return self._decode(key, row[0][0])

    def _decode(self, key: tuple, blob: bytes) -> list:
        slot = _dec(self.side.open(blob, _aad(*key)))
        if slot[4] and not isinstance(next(iter(slot[4])), int):
            slot[4] = {int(k): v for k, v in slot[4].items()}
        return slot

    # -- reads --------------------------------------------------------------------
    def read(self, sid: int, tier: int, start: int, end: int) -> list[tuple[int, str, list]]:
        """[(bucket start, unit, slot)] of one series and tier with start <= ts < end, in time order."""
        out = []
        for ts, unit, blob in self.side.read(
                "SELECT ts, unit, v FROM points WHERE sid=? AND tier=? AND ts>=? AND ts<? ORDER BY ts",
                (sid, tier, start, end)):
            out.append((ts, unit, self._decode((sid, tier, ts, unit), blob)))
        return out

    # -- retention ----------------------------------------------------------------
    def expire(self, now: int) -> None:
        for tier, keep in TIERS:
            self.side.write("DELETE FROM points WHERE tier=? AND ts<?", (tier, now - keep - tier))
        self._cache.clear()

    def drop_series(self, sid: int) -> None:
        self.side.write("DELETE FROM points WHERE sid=?", (sid,))
        self._cache = {k: v for k, v in self._cache.items() if k[0] != sid}



def tier_for(period: int, start: int, now: int) -> int | None:
    """The tier that answers `period`-second buckets from `start`: the coarsest one aligned with
    both whose retention reaches back to `start` (fewest rows, same result), else the coarsest
    aligned one (it keeps the longest: what is left of the range); None when no tier divides
    the period."""
    aligned = [(tier, keep) for tier, keep in TIERS if period % tier == 0 and start % tier == 0]
    for tier, keep in reversed(aligned):
        if start >= now - keep:
            return tier
    return aligned[-1][0] if aligned else None
