"""Execution history events in AWS's shapes, their storage and paging.

An event is stored as the dict GetExecutionHistory returns (timestamp in
epoch milliseconds until it leaves the shard). Standard executions keep
their history in chunk records of the partition store (one record per
CHUNK events, rewritten only while it is the tail), so appending is O(1)
and a restart reads it back as it was. `page` serves maxResults/nextToken/
reverseOrder/includeExecutionData.
"""

from __future__ import annotations

import base64

KIND_HISTORY = "sfn.hist"
CHUNK = 64
DEFAULT_PAGE, MAX_PAGE = 100, 1000

# event type -> its details member (types without details map to None)
_DETAILS = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionRedriven": "executionRedrivenEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskSubmitted": "taskSubmittedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
    "ActivityScheduled": "activityScheduledEventDetails",
    "ActivityScheduleFailed": "activityScheduleFailedEventDetails",
    "ActivityStarted": "activityStartedEventDetails",
    "ActivitySucceeded": "activitySucceededEventDetails",
    "ActivityFailed": "activityFailedEventDetails",
    "ActivityTimedOut": "activityTimedOutEventDetails",
    "LambdaFunctionScheduled": "lambdaFunctionScheduledEventDetails",
    "LambdaFunctionScheduleFailed": "lambdaFunctionScheduleFailedEventDetails",
    "LambdaFunctionStartFailed": "lambdaFunctionStartFailedEventDetails",
    "LambdaFunctionSucceeded": "lambdaFunctionSucceededEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapIterationStarted": "mapIterationStartedEventDetails",
    "MapIterationSucceeded": "mapIterationSucceededEventDetails",
    "MapIterationFailed": "mapIterationFailedEventDetails",
    "MapIterationAborted": "mapIterationAbortedEventDetails",
    "MapRunStarted": "mapRunStartedEventDetails",
    "MapRunFailed": "mapRunFailedEventDetails",
    "MapRunRedriven": "mapRunRedrivenEventDetails",
    "EvaluationFailed": "evaluationFailedEventDetails",
}

_DATA_FIELDS = ("input", "output", "parameters", "cause", "assignedVariables")


for _t in ("Task", "Wait", "Pass", "Succeed", "Fail", "Choice", "Parallel", "Map"):
    _DETAILS[_t + "StateEntered"] = "stateEnteredEventDetails"
    _DETAILS[_t + "StateExited"] = "stateExitedEventDetails"


def details_key(event_type: str) -> str | None:
    return _DETAILS.get(event_type)


def chunk_key(execution_arn: str, n: int) -> str:
    return f"{execution_arn}|{n:06d}"


def load(store, execution_arn: str) -> list[dict]:
    """Every stored event of a Standard execution, in order."""
    out: list[dict] = []
    for _key, chunk in store.scan(KIND_HISTORY, execution_arn + "|"):
        out.extend(chunk)
    return out


def drop(store, execution_arn: str) -> None:
    for key, _chunk in list(store.scan(KIND_HISTORY, execution_arn + "|")):
        store.delete(KIND_HISTORY, key)


def _strip_data(event: dict) -> dict:
    out = dict(event)
    for k, v in event.items():
        if k.endswith("EventDetails") and isinstance(v, dict):
            d = {kk: vv for kk, vv in v.items() if kk not in _DATA_FIELDS}
            out[k] = d
    return out


def wire(event: dict) -> dict:
    """Stored event -> API shape (timestamp in seconds)."""
    out = dict(event)
    out["timestamp"] = event["timestamp"] / 1000.0
    return out


def page(events: list[dict], max_results: int | None, token: str | None, reverse: bool,
         include_data: bool) -> tuple[list[dict], str | None]:
    """One page of history; raises ValueError on a bad token."""
    start = decode_token(token) if token else 0
    size = max_results or DEFAULT_PAGE
    seq = events[::-1] if reverse else events
    chunk = seq[start:start + size]
    out = [wire(e) if include_data else wire(_strip_data(e)) for e in chunk]
    nxt = encode_token(start + size) if start + size < len(seq) else None
    return out, nxt


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"h:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except Exception:
        raise ValueError("bad token") from None
    if not text.startswith("h:"):
        raise ValueError("bad token")
    return int(text[2:])
