"""Best-effort log shipping from other services into the Logs service we host
(Lambda function output, Step Functions execution history).

Events are buffered per (account, region, group, stream) and sent by one
PutLogEvents per flush, in chunks under its limits; one flush task per stream
at a time, never one per event. Like AWS, a refused batch is logged and
dropped, never retried into the producer's latency. A stream (and, where the
producer owns it, the group) is created on first use and re-created once if it
was deleted meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from broker.runtime.ipc import RemoteError
from services.errors import ServiceError

log = logging.getLogger("broker.logs")

BATCH_EVENTS = 5000                 # under PutLogEvents' 10,000 events
BATCH_BYTES = 900_000               # under its 1 MiB (messages + 26 bytes each)
EVENT_OVERHEAD = 26


class LogBatcher:
    """``host``: the process to call Logs from (a shard); ``delay``: seconds a flush waits
    to gather more; ``create_group``: create missing groups (Lambda does, Step Functions
    requires them to exist); ``name``: the producer, in log lines."""

    def __init__(self, host, *, name: str, delay: float = 0.0, create_group: bool = False):
        self.host, self.name, self.delay, self.create_group = host, name, delay, create_group
        self.pending: dict[tuple, list] = {}
        self.flushing: dict[tuple, asyncio.Task] = {}
        self.created: set[tuple] = set()
        self.closed = False

    def add(self, key: tuple, events: list[dict]) -> None:
        """Queue ``{"timestamp": ms, "message": str}`` events for ``key`` = (account, region, group, stream)."""
        if not events or self.closed:
            return
        self.pending.setdefault(key, []).extend(events)
        if key not in self.flushing:
            self.flushing[key] = asyncio.get_running_loop().create_task(self._flush(key))

    def close(self) -> None:
        self.closed = True
        for task in self.flushing.values():
            task.cancel()

    async def _flush(self, key: tuple) -> None:
        try:
            while True:
                await asyncio.sleep(self.delay)
                batch = self.pending.pop(key, None)
                if not batch:
                    return
                batch.sort(key=lambda e: e["timestamp"])
                start, size = 0, 0
                for i, e in enumerate(batch):
                    n = len(e["message"]) + EVENT_OVERHEAD
                    if i - start >= BATCH_EVENTS or size + n > BATCH_BYTES:
                        await self._put(key, batch[start:i])
                        start, size = i, 0
                    size += n
                await self._put(key, batch[start:])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event=log_delivery_failed producer=%s group=%s", self.name, key[2])
        finally:
            self.flushing.pop(key, None)

    async def _ensure(self, call, op: str, params: dict, account: str, region: str) -> None:
        try:
            await call("logs", op, params, account=account, region=region)
        except (ServiceError, RemoteError) as exc:   # the Logs half answers, or its shard does
            if exc.code != "ResourceAlreadyExistsException":
                raise

    async def _put(self, key: tuple, events: list) -> None:
        from services.internal import caller
        account, region, group, stream = key
        call = caller(self.host).call
        for _ in range(2):
            try:
                if key not in self.created:
                    if self.create_group:
                        await self._ensure(call, "CreateLogGroup", {"logGroupName": group}, account, region)
                    await self._ensure(call, "CreateLogStream", {"logGroupName": group, "logStreamName": stream},
                                       account, region)
                    self.created.add(key)
                await call("logs", "PutLogEvents", {"logGroupName": group, "logStreamName": stream,
                                                    "logEvents": events}, account=account, region=region)
                return
            except (ServiceError, RemoteError) as exc:   # the Logs half answers, or its shard does
                if exc.code != "ResourceNotFoundException":
                    log.warning("event=log_delivery_refused producer=%s group=%s code=%s", self.name, group,
                                exc.code)
                    return
                self.created.discard(key)        # stream or group gone: re-create once
        log.warning("event=log_destination_missing producer=%s group=%s", self.name, group)
