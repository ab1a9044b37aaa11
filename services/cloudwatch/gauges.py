"""Queue gauges sampled in each shard: AWS/SQS's Approximate* metrics once a
minute (as AWS publishes them, zeros included), and queue depths as
Prometheus gauges (SQS queues and the routing core's queues).

Sampling reads the queues hosted in this shard's own partitions, in
process: one pass per interval, no IPC, nothing on the message paths.
"""

from __future__ import annotations

import logging
import time

from broker.runtime import telemetry

log = logging.getLogger("broker.cloudwatch")

_STATES = (("visible", "ApproximateNumberOfMessagesVisible"),
           ("inflight", "ApproximateNumberOfMessagesNotVisible"),
           ("delayed", "ApproximateNumberOfMessagesDelayed"))


def _oldest_age(core, now_ms: int) -> float:
    """Seconds since the oldest stored message was sent (0 when empty)."""
    oldest = getattr(core, "oldest_enqueued_at", None)     # a public accessor, when the core has one
    if oldest is not None:
        t = oldest() if callable(oldest) else oldest
    else:
        msgs = getattr(core, "_msgs", None)
        first = next(iter(msgs.values()), None) if msgs else None
        t = first.enqueued_at if first is not None else None
    return max(0.0, (now_ms - t) / 1000.0) if t else 0.0


class GaugeSampler:
    def __init__(self, shard, interval: float):
        self.shard = shard
        self.interval = interval
        self.prom_keys: set[tuple] = set()

    def start(self) -> None:
        self.shard.loop.call_later(min(self.interval, 5.0), self.sample)

    def sample(self) -> None:
        try:
            self._sample()
        except Exception:
            log.exception("event=gauge_sample_failed")
        self.shard.loop.call_later(self.interval, self.sample)

    def _sample(self) -> None:
        now_ms = int(time.time() * 1000)
        seen: set[tuple] = set()
        for part in self.shard.partitions.values():
            sqs = part.services.get("sqs")
            for q in list(getattr(sqs, "queues", {}).values()):
                core = q.queue
                if core is None:
                    continue
                dims = {"QueueName": q.name}
                for attr, metric in _STATES:
                    n = getattr(core, attr)
                    telemetry.metric("AWS/SQS", metric, dims, n, "Count", account=q.account, region=q.region)
                    labels = {"service": "sqs", "account": q.account, "region": q.region, "queue": q.name,
                              "state": attr}
                    self._gauge(labels, n, seen)
                telemetry.metric("AWS/SQS", "ApproximateAgeOfOldestMessage", dims, _oldest_age(core, now_ms),
                                 "Seconds", account=q.account, region=q.region)
            core_svc = part.services.get("core")
            for hq in list(getattr(core_svc, "queues", {}).values()):
                core = hq.queue
                if core is None:
                    continue
                for attr, _ in _STATES:
                    labels = {"service": "core", "namespace": str(hq.ns), "queue": hq.name, "state": attr}
                    self._gauge(labels, getattr(core, attr), seen)
        for gone in self.prom_keys - seen:
            telemetry.gauge("broker_queue_messages", dict(gone), None)
        self.prom_keys = seen

    @staticmethod
    def _gauge(labels: dict, n: int, seen: set) -> None:
        telemetry.gauge("broker_queue_messages", labels, n)
        seen.add(tuple(sorted(labels.items())))
