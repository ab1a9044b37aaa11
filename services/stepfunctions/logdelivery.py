"""Execution history to CloudWatch Logs (a state machine's loggingConfiguration).

Like AWS, delivery is best effort and never slows an execution down: events
of the configured level go through services/logs/batching.py (buffered per
log stream, one PutLogEvents per flush). A log group deleted after the state
machine was configured simply drops what would have gone there.

Record shape (what Step Functions writes): ``id``, ``type``, ``details``
(the event's details; without input/output when includeExecutionData is
false), ``previous_event_id``, ``event_timestamp``, ``execution_arn``,
``redrive_count``, all ids and times as strings.
"""

from __future__ import annotations

import os
import time

from services.logs.batching import LogBatcher
from services.stepfunctions.asl.jsonpath import to_json

FATAL_TYPES = frozenset(("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"))
DATA_FIELDS = frozenset(("input", "inputDetails", "output", "outputDetails", "parameters"))


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
        self.batcher = LogBatcher(engine.host, name="stepfunctions")

    def close(self) -> None:
        self.batcher.close()

    def add(self, ex, ev: dict) -> None:
        cfg = ex.rec["log"]
        if self.engine.closed or not wanted(cfg["level"], ev["type"]):
            return
        minute = time.strftime("%Y-%m-%d-%H-%M", time.gmtime(ex.rec["start"] / 1000))
        key = (cfg["account"], cfg["region"], cfg["group"], f"states/{ex.rec['sm_name']}/{minute}/{self.suffix}")
        message = to_json(log_record(ex.arn, ev, cfg["data"], ex.rec.get("redrive", 0)))
        self.batcher.add(key, [{"timestamp": ev["timestamp"], "message": message}])
