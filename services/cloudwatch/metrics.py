"""The metrics of one partition: a series index in entity records, data points in
the time-series database, and the reads CloudWatch's APIs make of them.

A series is one (account, region, namespace, metric name, dimension set);
dimensions are an unordered set, as at AWS. Its record holds the last time
it received data (to the minute), which ListMetrics and SEARCH use to show
only metrics active in the last two weeks; a series with no data within the
longest retention (455 days) is dropped with its points.
"""

from __future__ import annotations

from services.cloudwatch import stats
from services.cloudwatch.tsdb import RETENTION, TimeSeriesDB, tier_for

KIND_SERIES = "cw.series"
LISTED_FOR = 14 * 86400          # ListMetrics/SEARCH show series with data in the last two weeks
LAST_GRANULARITY = 60            # the series record's "last data" is rewritten at most once a minute
MAX_RETENTION = max(RETENTION.values())


def dims_key(dims) -> tuple:
    """Canonical dimension set: ((name, value), ...) sorted by name."""
    if not dims:
        return ()
    if isinstance(dims, dict):
        return tuple(sorted(dims.items()))
    out = []
    for d in dims:
        if isinstance(d, dict):
            out.append((d["Name"], d["Value"]))
        else:
            out.append((d[0], d[1]))
    return tuple(sorted(out))


class Series:
    __slots__ = ("sid", "account", "region", "ns", "name", "dims", "last", "high_res")

    def __init__(self, sid, account, region, ns, name, dims, last, high_res):
        self.sid, self.account, self.region = sid, account, region
        self.ns, self.name, self.dims, self.last, self.high_res = ns, name, dims, last, high_res

    @property
    def key(self) -> tuple:
        return (self.account, self.region, self.ns, self.name, self.dims)

    def record(self) -> list:
        return [self.account, self.region, self.ns, self.name, [list(d) for d in self.dims], self.last,
                self.high_res]

    def metric(self) -> dict:
        return {"Namespace": self.ns, "MetricName": self.name,
                "Dimensions": [{"Name": n, "Value": v} for n, v in self.dims]}


class MetricStore:
    def __init__(self, part, db: TimeSeriesDB):
        self.part = part
        self.store = part.store
        self.db = db
        self.series: dict[tuple, Series] = {}
        self.by_sid: dict[int, Series] = {}
        for key, rec in self.store.scan(KIND_SERIES):
            s = Series(int(key), rec[0], rec[1], rec[2], rec[3], tuple(tuple(d) for d in rec[4]), rec[5], rec[6])
            self.series[s.key] = s
            self.by_sid[s.sid] = s

    # -- writes ---------------------------------------------------------------------
    def _series(self, account, region, ns, name, dims: tuple, high_res: bool) -> Series:
        key = (account, region, ns, name, dims)
        s = self.series.get(key)
        if s is None:
            sid = self.store.allocate_id("cw.series")
            s = Series(sid, account, region, ns, name, dims, 0, high_res)
            self.series[key] = s
            self.by_sid[sid] = s
            self._save(s)
        elif high_res and not s.high_res:
            s.high_res = True
            self._save(s)
        return s

    def _save(self, s: Series) -> None:
        self.store.put(KIND_SERIES, str(s.sid), s.record())

    def _touch(self, s: Series, ts: int) -> None:
        if ts >= s.last + LAST_GRANULARITY:
            s.last = ts - ts % LAST_GRANULARITY
            self._save(s)

    def add(self, account, region, ns, name, dims: tuple, unit: str, ts: int, slot: list, high_res: bool,
            now: int) -> None:
        s = self._series(account, region, ns, name, dims, high_res)
        if self.db.add(s.sid, ts, unit, slot, s.high_res and high_res, now):
            self._touch(s, ts)

    def ingest(self, points: list, now: int) -> None:
        """Telemetry batches: [account, region, ns, name, dims, unit, second, [n, sum, min, max, samples]]."""
        for acct, region, ns, name, dims, unit, ts, st in points:
            self.add(acct, region, ns, name, dims_key(dims), unit, int(ts),
                     stats.from_samples(st[0], st[1], st[2], st[3], st[4]), False, now)
        self.db.write()

    def flush(self) -> None:
        self.db.write()

    def committed(self):
        return self.db.committed()

    def sweep(self, now: int) -> None:
        """Retention: expire points, drop series silent for the longest retention."""
        self.db.expire(now)
        for s in [s for s in self.series.values() if s.last and s.last < now - MAX_RETENTION]:
            del self.series[s.key]
            del self.by_sid[s.sid]
            self.store.delete(KIND_SERIES, str(s.sid))
            self.db.drop_series(s.sid)

    # -- reads ----------------------------------------------------------------------
    def find(self, account, region, ns, name, dims) -> Series | None:
        return self.series.get((account, region, ns, name, dims_key(dims)))

    def namespace_series(self, account, region, now: int, recent: int = LISTED_FOR):
        cutoff = now - recent
        for s in self.series.values():
            if s.account == account and s.region == region and s.last >= cutoff:
                yield s

    def buckets(self, s: Series, start: int, end: int, period: int, unit: str | None, now: int,
                by_unit: bool = False) -> dict:
        """bucket start -> slot (or {unit: slot} with `by_unit`) over [start, end) in `period` steps."""
        tier = tier_for(period, start, now)
        out: dict = {}
        if tier is None:
            return out
        for ts, u, slot in self.db.read(s.sid, tier, start, end):
            if unit and u != unit:
                continue
            b = start + (ts - start) // period * period
            if by_unit:
                cur = out.setdefault(b, {}).get(u)
                if cur is None:
                    out[b][u] = stats.new_slot()
                    cur = out[b][u]
            else:
                cur = out.get(b)
                if cur is None:
                    cur = out[b] = stats.new_slot()
            stats.merge(cur, slot)
        return out

    def series_values(self, s: Series, start: int, end: int, period: int, stat: str, unit: str | None,
                      now: int) -> dict[int, float]:
        out = {}
        for b, slot in self.buckets(s, start, end, period, unit, now).items():
            v = stats.statistic(slot, stat)
            if v is not None:
                out[b] = v
        return out
