"""One emission path for metrics and audit events, cheap on hot paths.

Any code in any process records with one call:

    from broker.runtime import telemetry
    telemetry.metric("AWS/SQS", "NumberOfMessagesSent", {"QueueName": "orders"}, 1,
                     account="000000000000", region="us-east-1")
    telemetry.audit({...CloudTrail event...})
    telemetry.count("broker_requests_total", {"service": "sqs"})        # process metric
    telemetry.observe("broker_request_seconds", {"service": "sqs"}, 0.0012)

Nothing is sent per call: metric data points are aggregated per process into
per-second statistic sets (SampleCount, Sum, Minimum, Maximum, plus a
bounded sample of values for percentiles), audit events are queued, and a
flush once a second hands both, in one batch each, to the sinks the
composition registered (`set_metric_sink`, `set_audit_sink`: async
callables, e.g. a CloudWatch or CloudTrail owner reached over IPC). With no
sink registered the batches are dropped (bounded memory). Process metrics
(`count`, `observe`, `gauge`) stay in this process for the Prometheus
endpoint (`process_metrics()`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Awaitable, Callable

log = logging.getLogger("broker.telemetry")

FLUSH_INTERVAL = 1.0
MAX_SAMPLES = 64          # values kept per statistic set for percentiles (reservoir)
MAX_AUDIT_QUEUE = 10_000  # audit events held between flushes when a sink is slow
# Prometheus-style latency buckets (seconds)
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        else:
            i = random.randrange(int(self.count))
            if i < MAX_SAMPLES:
                s[i] = value

    def to_list(self) -> list:
        return [self.count, self.sum, self.min, self.max, self.samples]


class Histogram:
    __slots__ = ("buckets", "sum", "count")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = 0
        for b in BUCKETS:
            if value <= b:
                break
            i += 1
        self.buckets[i] += 1
        self.sum += value
        self.count += 1


def _labels(d: dict | None) -> tuple:
    return tuple(sorted(d.items())) if d else ()


class Telemetry:
    def __init__(self) -> None:
        # (account, region, namespace, name, dims, unit, second) -> StatSet
        self._points: dict[tuple, StatSet] = {}
        self._audit: list[dict] = []
        self.counters: dict[tuple[str, tuple], float] = {}
        self.gauges: dict[tuple[str, tuple], float] = {}
        self.histograms: dict[tuple[str, tuple], Histogram] = {}
        self.metric_sink: Callable[[list], Awaitable[Any]] | None = None
        self.audit_sink: Callable[[list], Awaitable[Any]] | None = None
        self._handle = None
        self.enabled = True

    # -- recording (hot path) ------------------------------------------------
    def metric(self, namespace: str, name: str, dims: dict | None = None, value: float = 1.0,
               unit: str = "Count", *, account: str = "000000000000", region: str = "us-east-1",
               n: float = 1.0) -> None:
        if not self.enabled:
            return
        key = (account, region, namespace, name, _labels(dims), unit, int(time.time()))
        s = self._points.get(key)
        if s is None:
            s = self._points[key] = StatSet()
            self._arm()
        s.add(value, n)

    def audit(self, event: dict) -> None:
        if len(self._audit) < MAX_AUDIT_QUEUE:
            self._audit.append(event)
            self._arm()

    def count(self, name: str, labels: dict | None = None, value: float = 1.0) -> None:
        key = (name, _labels(labels))
        self.counters[key] = self.counters.get(key, 0.0) + value

    def gauge(self, name: str, labels: dict | None, value: float) -> None:
        self.gauges[(name, _labels(labels))] = value

    def observe(self, name: str, labels: dict | None, value: float) -> None:
        key = (name, _labels(labels))
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = Histogram()
        h.observe(value)

    # -- shipping -------------------------------------------------------------
    def _arm(self) -> None:
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return          # no loop (unit tests, tools): drain() by hand
        self._handle = loop.call_later(FLUSH_INTERVAL, self._flush)

    def drain(self) -> tuple[list, list]:
        """Take the pending batches: ([[account, region, ns, name, dims, unit, ts, stats]...], [events])."""
        points = [[*k, s.to_list()] for k, s in self._points.items()]
        self._points = {}
        events, self._audit = self._audit, []
        return points, events

    def _flush(self) -> None:
        self._handle = None
        points, events = self.drain()
        if points and self.metric_sink is not None:
            self._ship(self.metric_sink, points)
        if events and self.audit_sink is not None:
            self._ship(self.audit_sink, events)

    def _ship(self, sink, batch) -> None:
        async def run():
            try:
                await sink(batch)
            except Exception as exc:
                log.info("event=telemetry_ship_failed items=%d error=%s", len(batch), exc)
        asyncio.get_running_loop().create_task(run())

    def process_metrics(self) -> dict:
        return {"counters": [[n, list(l), v] for (n, l), v in self.counters.items()],
                "gauges": [[n, list(l), v] for (n, l), v in self.gauges.items()],
                "histograms": [[n, list(l), h.buckets, h.sum, h.count] for (n, l), h in self.histograms.items()]}


TELEMETRY = Telemetry()
metric = TELEMETRY.metric
audit = TELEMETRY.audit
count = TELEMETRY.count
gauge = TELEMETRY.gauge
observe = TELEMETRY.observe


def set_metric_sink(sink: Callable[[list], Awaitable[Any]] | None) -> None:
    TELEMETRY.metric_sink = sink


def set_audit_sink(sink: Callable[[list], Awaitable[Any]] | None) -> None:
    TELEMETRY.audit_sink = sink
