"""Execution history to CloudWatch Logs (a state machine's loggingConfiguration).

Like AWS, delivery is best effort and never slows an execution down: events
of the configured level are buffered per log stream and sent by one
PutLogEvents per flush through the Logs service we host (one flush task per
stream at a time, never one per event). A log group deleted after the state
machine was configured simply drops what would have gone there.

Record shape (what Step Functions writes): ``id``, ``type``, ``details``
(the event's details; without input/output when includeExecutionData is
false), ``previous_event_id``, ``event_timestamp``, ``execution_arn``,
``redrive_count``, all ids and times as strings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from services.errors import ServiceError
from services.stepfunctions.asl.jsonpath import to_json

log = logging.getLogger("broker.sfn")

FATAL_TYPES = frozenset(("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"))
DATA_FIELDS = frozenset(("input", "inputDetails", "output", "outputDetails", "parameters"))
BATCH_EVENTS = 5000                 # under PutLogEvents' 10,000 events
BATCH_BYTES = 900_000               # under its 1 MiB (messages + 26 bytes each)


def wanted(level: str, etype: str) -> bool:
    """The event types a level logs: ALL, ERROR (failures of any kind), FATAL (the execution's end)."""
    if level == "ALL":
        return True
    if level == "ERROR":
        return etype.endswith(("Failed", "TimedOut", "Aborted")) or etype == "FailStateEntered"
    return level == "FATAL" and etype in FATAL_TYPES


def log_record(arn: str, ev: dict, include_data: bool = True, redrive: int = 0) -> dict:
    details = {}
    for k, v in ev.items():
        if k.endswith("EventDetails"):
            details = v if include_data else {f: x for f, x in v.items() if f not in DATA_FIELDS}
    return {"id": str(ev["id"]), "type": ev["type"], "details": details,
            "previous_event_id": str(ev["previousEventId"]), "event_timestamp": str(ev["timestamp"]),
            "execution_arn": arn, "redrive_count": str(redrive)}


def destination(cfg: dict | None) -> dict | None:
    """What an execution record keeps of its machine's logging configuration (None: logging off)."""
    if not cfg or cfg.get("level", "OFF") == "OFF" or not cfg.get("destinations"):
        return None
    arn = cfg["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    parts = arn.split(":")
    return {"level": cfg["level"], "data": bool(cfg.get("includeExecutionData")), "region": parts[3],
            "account": parts[4], "group": parts[6]}


def group_of(arn: str) -> tuple[str, str, str] | None:
    """(account, region, group name) of a log group ARN (``...:log-group:NAME[:*]``), or None."""
    parts = arn.split(":")
    if len(parts) not in (7, 8) or parts[0] != "arn" or parts[2] != "logs" or parts[5] != "log-group" \
            or not parts[6] or (len(parts) == 8 and parts[7] != "*"):
        return None
    return parts[4], parts[3], parts[6]


class LogDelivery:
    def __init__(self, engine):
        self.engine = engine
        self.suffix = os.urandom(4).hex()        # streams are per partition (and minute, machine)
        self.pending: dict[tuple, list] = {}
        self.flushing: dict[tuple, asyncio.Task] = {}
        self.created: set[tuple] = set()

    def close(self) -> None:
        for task in self.flushing.values():
            task.cancel()

    def add(self, ex, ev: dict) -> None:
        cfg = ex.rec["log"]
        if not wanted(cfg["level"], ev["type"]):
            return
        minute = time.strftime("%Y-%m-%d-%H-%M", time.gmtime(ex.rec["start"] / 1000))
        key = (cfg["account"], cfg["region"], cfg["group"], f"states/{ex.rec['sm_name']}/{minute}/{self.suffix}")
        message = to_json(log_record(ex.arn, ev, cfg["data"], ex.rec.get("redrive", 0)))
        self.pending.setdefault(key, []).append({"timestamp": ev["timestamp"], "message": message})
        if key not in self.flushing and not self.engine.closed:
            self.flushing[key] = asyncio.get_running_loop().create_task(self._flush(key))

    async def _flush(self, key: tuple) -> None:
        try:
            while True:
                await asyncio.sleep(0)           # let the current run slice add its events
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
            log.exception("event=sfn_log_delivery_failed group=%s", key[2])
        finally:
            self.flushing.pop(key, None)

    async def _put(self, key: tuple, events: list) -> None:
        from services.internal import caller
        account, region, group, stream = key
        call = caller(self.engine.host).call
        params = {"logGroupName": group, "logStreamName": stream, "logEvents": events}
        for _ in range(2):
            try:
                if key not in self.created:
                    try:
                        await call("logs", "CreateLogStream", {"logGroupName": group, "logStreamName": stream},
                                   account=account, region=region)
                    except ServiceError as exc:
                        if exc.code != "ResourceAlreadyExistsException":
                            raise
                    self.created.add(key)
                await call("logs", "PutLogEvents", params, account=account, region=region)
                return
            except ServiceError as exc:
                if exc.code != "ResourceNotFoundException":
                    log.warning("event=sfn_log_delivery_refused group=%s code=%s", group, exc.code)
                    return
                self.created.discard(key)        # stream or group gone: try to re-create once
        log.warning("event=sfn_log_destination_missing group=%s", group)
