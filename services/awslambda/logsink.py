"""Function output to CloudWatch Logs (``/aws/lambda/<name>``, one stream per
execution environment), through the Logs service this broker hosts.

Lines are buffered per stream and sent by one PutLogEvents per flush, one
flush task per stream at a time; the group and stream are created on first
use, as Lambda does. Best effort, like AWS: a refused batch is logged and
dropped, never retried into the invocation's latency.
"""

from __future__ import annotations

import asyncio
import logging

from services.errors import ServiceError

log = logging.getLogger("broker.lambda")

BATCH_EVENTS = 5000
BATCH_BYTES = 900_000


class LogSink:
    def __init__(self, shard):
        self.shard = shard
        self.pending: dict[tuple, list] = {}
        self.flushing: dict[tuple, asyncio.Task] = {}
        self.created: set[tuple] = set()
        self.closed = False

    def add(self, spec, stream: str, lines: list[tuple[int, str]]) -> None:
        if not lines or self.closed:
            return
        key = (spec.account, spec.region, spec.log_group, stream)
        self.pending.setdefault(key, []).extend({"timestamp": ts, "message": text or " "} for ts, text in lines)
        if key not in self.flushing:
            self.flushing[key] = asyncio.get_running_loop().create_task(self._flush(key))

    async def _flush(self, key: tuple) -> None:
        try:
            while True:
                await asyncio.sleep(0.05)            # gather what the next few invocations write
                batch = self.pending.pop(key, None)
                if not batch:
                    return
                batch.sort(key=lambda e: e["timestamp"])
                start, size = 0, 0
                for i, e in enumerate(batch):
                    n = len(e["message"]) + 26
                    if i - start >= BATCH_EVENTS or size + n > BATCH_BYTES:
                        await self._put(key, batch[start:i])
                        start, size = i, 0
                    size += n
                await self._put(key, batch[start:])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event=lambda_log_delivery_failed group=%s", key[2])
        finally:
            self.flushing.pop(key, None)

    async def _ensure(self, call, op: str, params: dict, account: str, region: str) -> None:
        try:
            await call("logs", op, params, account=account, region=region)
        except ServiceError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise

    async def _put(self, key: tuple, events: list) -> None:
        from services.internal import caller
        account, region, group, stream = key
        call = caller(self.shard.host).call
        for _ in range(2):
            try:
                if key not in self.created:
                    await self._ensure(call, "CreateLogGroup", {"logGroupName": group}, account, region)
                    await self._ensure(call, "CreateLogStream", {"logGroupName": group, "logStreamName": stream},
                                       account, region)
                    self.created.add(key)
                await call("logs", "PutLogEvents", {"logGroupName": group, "logStreamName": stream,
                                                    "logEvents": events}, account=account, region=region)
                return
            except ServiceError as exc:
                if exc.code != "ResourceNotFoundException":
                    log.warning("event=lambda_log_delivery_refused group=%s code=%s", group, exc.code)
                    return
                self.created.discard(key)

    def close(self) -> None:
        self.closed = True
        for t in self.flushing.values():
            t.cancel()
