"""SWF vocabulary shared by both halves: names, limits, keys, durations.

Limits are AWS's published quotas (Amazon SWF Developer Guide, "Amazon SWF
quotas"): 25,000 history events, 1,000 open activities, timers and child
executions per execution, a one-year execution, 90 days of retention, 50
tags per domain, 60-second long polls.
"""

from __future__ import annotations

import base64
import os
import re

MAX_HISTORY_EVENTS = 25_000
MAX_OPEN_ACTIVITIES = 1_000
MAX_OPEN_TIMERS = 1_000
MAX_OPEN_CHILDREN = 1_000
MAX_OPEN_LAMBDAS = 1_000
MAX_LAMBDA_SECONDS = 900           # a Lambda task's start-to-close timeout: default and maximum
MAX_EXECUTION_SECONDS = 365 * 24 * 3600
MAX_RETENTION_DAYS = 90
MAX_DOMAIN_TAGS = 50
MAX_PAGE_SIZE = 1000
POLL_WAIT_MS = 60_000
PAGE_TOKEN_TTL_MS = 24 * 3600 * 1000

NONE = "NONE"
REGISTERED, DEPRECATED = "REGISTERED", "DEPRECATED"
OPEN, CLOSED = "OPEN", "CLOSED"
COMPLETED, FAILED, CANCELED = "COMPLETED", "FAILED", "CANCELED"
TERMINATED, CONTINUED_AS_NEW, TIMED_OUT = "TERMINATED", "CONTINUED_AS_NEW", "TIMED_OUT"
TERMINATE, REQUEST_CANCEL = "TERMINATE", "REQUEST_CANCEL"

CLOSE_DECISIONS = frozenset({"CompleteWorkflowExecution", "FailWorkflowExecution", "CancelWorkflowExecution",
                             "ContinueAsNewWorkflowExecution"})

# The parent's event for each way a child can close (continued-as-new is silent:
# the next run carries the parent link and reports in its turn).
CHILD_CLOSE_EVENT = {COMPLETED: "ChildWorkflowExecutionCompleted", FAILED: "ChildWorkflowExecutionFailed",
                     CANCELED: "ChildWorkflowExecutionCanceled", TERMINATED: "ChildWorkflowExecutionTerminated",
                     TIMED_OUT: "ChildWorkflowExecutionTimedOut"}

# CloudWatch counts per close status (AWS/SWF namespace)
CLOSE_METRIC = {COMPLETED: "WorkflowsCompleted", FAILED: "WorkflowsFailed", CANCELED: "WorkflowsCanceled",
                TERMINATED: "WorkflowsTerminated", CONTINUED_AS_NEW: "WorkflowsContinuedAsNew",
                TIMED_OUT: "WorkflowsTimedOut"}

_ATTR_KEYS: dict[str, str] = {}


def attr_key(event_type: str) -> str:
    """HistoryEvent member holding an event's attributes: ``<eventType>EventAttributes``, lower camel."""
    key = _ATTR_KEYS.get(event_type)
    if key is None:
        key = _ATTR_KEYS[event_type] = event_type[0].lower() + event_type[1:] + "EventAttributes"
    return key


def decision_attr_key(decision_type: str) -> str:
    return decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"


def domain_key(account: str, region: str, name: str) -> str:
    """Entity key of a domain; its types, executions and task lists live in the same partition."""
    return f"swf/{account}/{region}/{name}"


def domain_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:swf:{region}:{account}:/domain/{name}"


_ARN = re.compile(r"^arn:aws[a-z-]*:swf:([a-z0-9-]+):(\d{12}):/domain/(.+)$")


def parse_domain_arn(arn: str) -> tuple[str, str, str] | None:
    """(account, region, name) of a domain ARN, or None."""
    m = _ARN.match(arn or "")
    return (m.group(2), m.group(1), m.group(3)) if m else None


def new_run_id() -> str:
    """An opaque run id in SWF's style (44 base64 characters)."""
    return base64.b64encode(os.urandom(32)).decode()


def seconds(value: str | None) -> int | None:
    """A validated duration string as seconds; None for NONE (no timeout)."""
    if value is None or value == NONE:
        return None
    return int(value)


def compact(d: dict) -> dict:
    """The members that are set (SWF omits absent optional members)."""
    return {k: v for k, v in d.items() if v is not None}
