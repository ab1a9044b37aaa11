"""One emission path for metrics, audit events and trace segments, cheap on hot paths.

Any code in any process records with one call:

    from broker.runtime import telemetry
    telemetry.metric("AWS/SQS", "NumberOfMessagesSent", {"QueueName": "orders"}, 1,
                     account="000000000000", region="us-east-1")
    telemetry.audit({...CloudTrail event...})
    telemetry.segment({...X-Ray segment document...}, account=..., region=...)
    telemetry.count("broker_requests_total", {"service": "sqs"})        # process metric
    telemetry.observe("broker_request_duration_seconds", {"service": "sqs"}, 0.0012)
    telemetry.gauge("broker_queue_messages", {"queue": "orders"}, 12)

Nothing is sent per call: metric data points are aggregated per process into
per-second statistic sets (SampleCount, Sum, Minimum, Maximum, plus a
bounded sample of values for percentiles), audit events and segments are
queued, and a flush once a second hands each kind, in one batch, to the sink
the composition registered (`set_metric_sink`, `set_audit_sink`,
`set_segment_sink`: async callables, e.g. the CloudWatch, CloudTrail and
X-Ray owners reached over IPC). With no sink registered the batches are
dropped (bounded memory). Process metrics (`count`, `observe`, `gauge`) and
running totals of the AWS metrics this process emitted stay here for the
Prometheus endpoint (`process_metrics()`).

`TELEMETRY.enabled = False` (config ``telemetry.enabled``) turns every
recording call into a no-op.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
import time
import sys
from collections import deque
from typing import Any, Awaitable, Callable

log = logging.getLogger("broker.telemetry")

FLUSH_INTERVAL = 1.0
MAX_SAMPLES = 64          # values kept per statistic set for percentiles (reservoir)
MAX_QUEUE = 10_000        # audit events / segments held between flushes when a sink is slow
MAX_TOTALS = 50_000       # AWS metric series whose running totals this process keeps
# Prometheus-style latency buckets (seconds); other families register their own
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
_BUCKETS_BY_NAME: dict[str, tuple] = {}


class StatSet:
    """SampleCount/Sum/Min/Max of one metric over one second, with a reservoir."""
    __slots__ = ("count", "sum", "min", "max", "samples")

    def __init__(self) -> None:
        self.count = 0.0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.samples: list[float] = []

    def add(self, value: float, n: float = 1.0) -> None:
        self.count += n
        self.sum += value * n
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        s = self.samples
        if len(s) < MAX_SAMPLES:
            s.append(value)
        elif _random() * self.count < MAX_SAMPLES:   # reservoir sampling: keep k of count uniformly
            s[int(_random() * MAX_SAMPLES)] = value

    def to_list(self) -> list:
        return [self.count, self.sum, self.min, self.max, self.samples]


class Histogram:
    __slots__ = ("bounds", "buckets", "sum", "count")

    def __init__(self, bounds: tuple = BUCKETS) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.buckets[_bisect(self.bounds, value)] += 1     # first bound >= value; past the end: +Inf
        self.sum += value
        self.count += 1


_random = random.random
_sample = random.sample
_bisect = bisect.bisect_left
_time = time.time


class RequestStat:
    """Count and latency histogram of one (service, operation, status), updated inline by the
    gateway's request observer (one dict lookup per request) and rendered as the
    ``broker_requests_total`` counter and ``broker_request_duration_seconds`` histogram."""
    __slots__ = ("count", "sum", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.sum += seconds
        self.buckets[_bisect(BUCKETS, seconds)] += 1


_refcount = sys.getrefcount
_DISCARD = deque(maxlen=0)      # what a disabled process hands out: append is a no-op in C


def _labels(d: dict | None) -> tuple:
    if not d:
        return ()
    return tuple(d.items()) if len(d) == 1 else tuple(sorted(d.items()))


def set_buckets(name: str, bounds: tuple) -> None:
    """Histogram bucket upper bounds for the process metric `name` (default: BUCKETS)."""
    _BUCKETS_BY_NAME[name] = tuple(bounds)


class Telemetry:
    def __init__(self) -> None:
        # this second's points: (account, region, namespace, name, dims, unit) -> [count, sum, min,
        # max, samples] (StatSet.to_list()'s layout: plain lists keep the per-call cost down). The
        # flush runs on the next second boundary, so a window is one wall-clock second, labelled
        # with the second it opened in (the time stays out of the hot path's key).
        self._points: dict[tuple, list] = {}
        self._window = 0
        # series recorded by appending raw values (`values`): key -> this window's values
        self._values: dict[tuple, list] = {}
        # series recorded into lists their callers keep (`tally`): key -> (list, count key)
        self._tallies: dict[tuple, tuple[list, tuple | None]] = {}
        self._audit: list[dict] = []
        self._segments: list[list] = []          # [account, region, document]
        self.counters: dict[tuple[str, tuple], float] = {}
        self.gauges: dict[tuple[str, tuple], float] = {}
        self.histograms: dict[tuple[str, tuple], Histogram] = {}
        self.requests: dict[tuple, RequestStat] = {}    # (service, operation, status) -> stat
        # (account, region, namespace, name, dims, unit) -> [count, sum, last update]
        self.totals: dict[tuple, list] = {}
        self.metric_sink: Callable[[list], Awaitable[Any]] | None = None
        self.audit_sink: Callable[[list], Awaitable[Any]] | None = None
        self.segment_sink: Callable[[list], Awaitable[Any]] | None = None
        self._handle = None
        self.enabled = True

    # -- recording (hot path) ------------------------------------------------
    def metric(self, namespace: str, name: str, dims: dict | None = None, value: float = 1.0,
               unit: str = "Count", *, account: str = "000000000000", region: str = "us-east-1",
               n: float = 1.0) -> None:
        if not self.enabled:
            return
        if dims:
            d = tuple(dims.items()) if len(dims) == 1 else tuple(sorted(dims.items()))
        else:
            d = ()
        self.point((account, region, namespace, name, d, unit), value, n)

    @staticmethod
    def series(namespace: str, name: str, dims: dict | None = None, unit: str = "Count", *,
               account: str = "000000000000", region: str = "us-east-1") -> tuple:
        """The key of one metric series, for callers that emit it often: build it once, keep
        it, and record with `point(key, value)` (no per-call dict, tuple or sort)."""
        return (account, region, namespace, name, _labels(dims), unit)

    def point(self, key: tuple, value: float = 1.0, n: float = 1.0) -> None:
        """Record a data point of the series `key` (from `series`)."""
        if not self.enabled:
            return
        # StatSet.add inlined: this runs for every message on the hot paths
        s = self._points.get(key)
        if s is None:
            if not self._points:
                self._window = int(_time())
            self._points[key] = [n, value * n, value, value, [value]]
            self._arm()
            return
        s[0] += n
        s[1] += value * n
        if value < s[2]:
            s[2] = value
        elif value > s[3]:
            s[3] = value
        samples = s[4]
        if len(samples) < MAX_SAMPLES:
            samples.append(value)
        elif _random() * s[0] < MAX_SAMPLES:      # reservoir sampling: keep k of count uniformly
            samples[int(_random() * MAX_SAMPLES)] = value

    def values(self, key: tuple) -> list:
        """This window's list of values of the series `key` (from `series`): append to it.

        The cheapest way to record on a per-message path: an append allocates nothing, and
        the statistic set is computed once per window at the flush, in C (len, sum, min,
        max, a random sample). A list idle for a whole window is forgotten, so callers keep
        the key, not the list."""
        v = self._values.get(key)
        if v is None:
            if not self.enabled:
                return []
            v = self._values[key] = []
            self._arm()
        return v

    def tally(self, key: tuple, count_key: tuple | None = None) -> list:
        """A list the caller keeps and appends the values of the series `key` to: no lookup
        per value, and the window's statistic sets are computed at the flush, in C. With
        `count_key`, each value is also one data point of 1 of that Count series
        (SampleCount = Sum = the number of values). The list is forgotten once it is empty
        and its callers dropped it."""
        t = self._tallies.get(key)
        if t is None:
            if not self.enabled:
                return _DISCARD
            t = self._tallies[key] = ([], count_key)
            self._arm()
        return t[0]

    def _fold_values(self) -> None:
        """Turn the appended values into this window's statistic sets."""
        values, fold = self._values, self._fold
        for key in list(values):
            buf = values[key]
            if not buf:
                del values[key]
                continue
            fold(key, buf)
        tallies = self._tallies
        for key in list(tallies):
            buf, count_key = tallies[key]
            if buf:
                if count_key is not None:
                    n = len(buf)
                    self._merge(count_key, [n, n, 1, 1, [1] * min(n, MAX_SAMPLES)])
                fold(key, buf)
            if _refcount(buf) <= 3:        # held by nobody but the registry's tuple (+ `buf`, + the argument)
                del tallies[key]

    def _fold(self, key: tuple, buf: list) -> None:
        n = len(buf)
        sample = buf[:] if n <= MAX_SAMPLES else _sample(buf, MAX_SAMPLES)
        stats = [n, sum(buf), min(buf), max(buf), sample]
        buf.clear()
        self._merge(key, stats)

    def _merge(self, key: tuple, stats: list) -> None:
        s = self._points.get(key)
        if s is None:
            self._points[key] = stats
            return
        s[0] += stats[0]
        s[1] += stats[1]
        s[2] = min(s[2], stats[2])
        s[3] = max(s[3], stats[3])
        merged = s[4] + stats[4]
        s[4] = merged if len(merged) <= MAX_SAMPLES else _sample(merged, MAX_SAMPLES)

    def audit(self, event: dict) -> None:
        if not self.enabled:
            return
        if len(self._audit) < MAX_QUEUE:
            self._audit.append(event)
            self._arm()
        else:
            self.count("broker_telemetry_dropped_total", {"kind": "audit"})

    def segment(self, document: dict, *, account: str = "000000000000", region: str = "us-east-1") -> None:
        """Queue an X-Ray segment document recorded by this process."""
        if not self.enabled:
            return
        if len(self._segments) < MAX_QUEUE:
            self._segments.append([account, region, document])
            self._arm()
        else:
            self.count("broker_telemetry_dropped_total", {"kind": "segment"})

    def count(self, name: str, labels: dict | None = None, value: float = 1.0) -> None:
        if not self.enabled:
            return
        key = (name, _labels(labels))
        self.counters[key] = self.counters.get(key, 0.0) + value

    def gauge(self, name: str, labels: dict | None, value: float | None) -> None:
        """Set a process gauge; None removes it (e.g. a deleted queue's depth)."""
        key = (name, _labels(labels))
        if value is None:
            self.gauges.pop(key, None)
        elif self.enabled:
            self.gauges[key] = value

    def observe(self, name: str, labels: dict | None, value: float) -> None:
        if not self.enabled:
            return
        key = (name, _labels(labels)) if labels else (name, ())
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = Histogram(_BUCKETS_BY_NAME.get(name, BUCKETS))
        h.observe(value)

    # Pre-keyed variants for per-request paths: build the key once (`key`), then
    # count or observe without sorting labels each time.
    @staticmethod
    def key(name: str, labels: dict | None) -> tuple:
        return (name, _labels(labels))

    def count_key(self, key: tuple, value: float = 1.0) -> None:
        if self.enabled:
            self.counters[key] = self.counters.get(key, 0.0) + value

    def observe_key(self, key: tuple, value: float) -> None:
        if not self.enabled:
            return
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = Histogram(_BUCKETS_BY_NAME.get(key[0], BUCKETS))
        h.observe(value)

    # -- shipping -------------------------------------------------------------
    def _arm(self) -> None:
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return          # no loop (unit tests, tools): drain() by hand
        # on the next second boundary (the metric window), at most FLUSH_INTERVAL from now
        self._handle = loop.call_later(min(FLUSH_INTERVAL, 1.0 - _time() % 1.0 + 0.001), self._flush)

    def drain(self, window: int | None = None) -> tuple[list, list]:
        """Take the pending batches: ([[account, region, ns, name, dims, unit, ts, stats]...], [events]).
        `window`: the second that values appended since the last drain belong to (default: now)."""
        w = self._window if self._points else int(_time()) if window is None else window
        if self._values or self._tallies:
            self._fold_values()
        points = [[*k, w, s] for k, s in self._points.items()]
        self._points = {}
        self._add_totals(points)
        events, self._audit = self._audit, []
        return points, events

    def drain_segments(self) -> list:
        segs, self._segments = self._segments, []
        return segs

    def _add_totals(self, points: list) -> None:
        totals = self.totals
        now = time.time()
        for p in points:
            key = tuple(p[:6])
            t = totals.get(key)
            if t is None:
                if len(totals) >= MAX_TOTALS:
                    self._evict_totals()
                t = totals[key] = [0.0, 0.0, now]
            t[0] += p[7][0]
            t[1] += p[7][1]
            t[2] = now

    def _evict_totals(self) -> None:
        """Forget the least recently updated tenth (series of deleted resources)."""
        by_age = sorted(self.totals.items(), key=lambda kv: kv[1][2])
        for key, _ in by_age[:max(1, len(by_age) // 10)]:
            del self.totals[key]

    def _flush(self) -> None:
        self._handle = None
        points, events = self.drain(int(_time()) - 1)      # runs just after a second's boundary
        if self._values or self._tallies:
            self._arm()                                    # lists still in use: next window
        segments = self.drain_segments()
        if points and self.metric_sink is not None:
            self._ship(self.metric_sink, points)
        if events and self.audit_sink is not None:
            self._ship(self.audit_sink, events)
        if segments and self.segment_sink is not None:
            self._ship(self.segment_sink, segments)

    def _ship(self, sink, batch) -> None:
        async def run():
            try:
                await sink(batch)
            except Exception as exc:
                self.count("broker_telemetry_ship_failures_total")
                log.info("event=telemetry_ship_failed items=%d error=%s", len(batch), exc)
        asyncio.get_running_loop().create_task(run())

    def request_stat(self, service: str, operation: str, status: int) -> RequestStat:
        key = (service, operation, status)
        st = self.requests.get(key)
        if st is None:
            st = self.requests[key] = RequestStat()
        return st

    def process_metrics(self) -> dict:
        """Everything this process holds for the Prometheus endpoint (msgpack-friendly)."""
        counters = [[n, list(l), v] for (n, l), v in self.counters.items()]
        histograms = [[n, list(l), h.buckets, h.sum, h.count, list(h.bounds)]
                      for (n, l), h in self.histograms.items()]
        for (service, op, status), st in self.requests.items():
            counters.append(["broker_requests_total",
                             [["operation", op], ["service", service], ["status", str(status)]], st.count])
            histograms.append(["broker_request_duration_seconds",
                               [["operation", op], ["service", service], ["status", str(status)]],
                               st.buckets, st.sum, st.count, list(BUCKETS)])
        return {"counters": counters,
                "gauges": [[n, list(l), v] for (n, l), v in self.gauges.items()],
                "histograms": histograms,
                "aws": [[*k[:4], list(k[4]), k[5], t[0], t[1]] for k, t in self.totals.items()]}


TELEMETRY = Telemetry()
metric = TELEMETRY.metric
series = TELEMETRY.series
point = TELEMETRY.point
values = TELEMETRY.values
tally = TELEMETRY.tally
audit = TELEMETRY.audit
segment = TELEMETRY.segment
count = TELEMETRY.count
gauge = TELEMETRY.gauge
observe = TELEMETRY.observe

set_buckets("broker_group_commit_requests", SIZE_BUCKETS)


def set_metric_sink(sink: Callable[[list], Awaitable[Any]] | None) -> None:
    TELEMETRY.metric_sink = sink


def set_audit_sink(sink: Callable[[list], Awaitable[Any]] | None) -> None:
    TELEMETRY.audit_sink = sink


def set_segment_sink(sink: Callable[[list], Awaitable[Any]] | None) -> None:
    TELEMETRY.segment_sink = sink
