"""Function output to CloudWatch Logs (``/aws/lambda/<name>``, one stream per
execution environment), through the Logs service this broker hosts.

Lines are shipped by the shared batcher (services/logs/batching.py): buffered
per stream for a few milliseconds so the next invocations' lines join the
same PutLogEvents; group and stream created on first use, as Lambda does;
best effort, never retried into the invocation's latency.
"""

from __future__ import annotations

from services.logs.batching import LogBatcher

GATHER_S = 0.05          # what the next few invocations write joins the same batch


class LogSink:
    """``add(target, stream, lines)``: ``target`` has ``account``, ``region`` and ``log_group``
    (a pool Spec; other services reuse it for their own groups)."""

    def __init__(self, shard):
        self.batcher = LogBatcher(shard.host, name="lambda", delay=GATHER_S, create_group=True)

    def add(self, target, stream: str, lines: list[tuple[int, str]]) -> None:
        self.batcher.add((target.account, target.region, target.log_group, stream),
                         [{"timestamp": ts, "message": text or " "} for ts, text in lines])

    def close(self) -> None:
        self.batcher.close()
