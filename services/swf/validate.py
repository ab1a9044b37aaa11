"""Input checks the botocore model cannot express (the codec has already
enforced required members, lengths and enums).

SWF durations are strings: whole seconds, or ``NONE`` where a timeout may be
unlimited. Priorities are Java ints as strings. Names of domains, types,
task lists and ids must not contain ``:``, ``/``, ``|`` or control
characters, nor be the literal ``arn``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from services.swf import errors
from services.swf.model import (
    CLOSE_DECISIONS, MAX_EXECUTION_SECONDS, MAX_LAMBDA_SECONDS, MAX_RETENTION_DAYS, NONE, decision_attr_key,
)

_BAD_NAME = re.compile(r"[:/|\x00-\x1f\x7f-\x9f]")
NAME_RULE = ("Member must not contain a : (colon), / (slash), | (vertical bar) or control characters, "
             "and must not be the literal string arn")
DURATION_RULE = "Member must be a whole number of seconds greater than or equal to 0, or NONE"
SECONDS_RULE = "Member must be a whole number of seconds greater than or equal to 0"
PRIORITY_RULE = "Member must be an integer between -2147483648 and 2147483647"
LAMBDA_TIMEOUT_RULE = f"Member must be a whole number of seconds between 1 and {MAX_LAMBDA_SECONDS}"


def name(value: str | None, path: str) -> None:
    if value is not None and (value == "arn" or _BAD_NAME.search(value)):
        raise errors.invalid(value, path, NAME_RULE)


def task_list(tl: dict | None, path: str) -> None:
    if tl is not None:
        name(tl.get("name"), path + ".name")


def duration(value: str | None, path: str, *, allow_none: bool = True, max_seconds: int | None = None) -> None:
    if value is None or (allow_none and value == NONE):
        return
    if not value.isdigit() or not value.isascii():
        raise errors.invalid(value, path, DURATION_RULE if allow_none else SECONDS_RULE)
    if max_seconds is not None and int(value) > max_seconds:
        raise errors.invalid(value, path, f"Member must be less than or equal to {max_seconds} seconds")


def execution_timeout(value: str | None, path: str) -> None:
    """Execution start-to-close: no NONE, at most a year."""
    duration(value, path, allow_none=False, max_seconds=MAX_EXECUTION_SECONDS)


def priority(value: str | None, path: str) -> None:
    if value is None:
        return
    try:
        n = int(value)
    except ValueError:
        raise errors.invalid(value, path, PRIORITY_RULE) from None
    if not -2**31 <= n < 2**31 or value.strip() != value:
        raise errors.invalid(value, path, PRIORITY_RULE)


def retention(value: str, path: str = "workflowExecutionRetentionPeriodInDays") -> None:
    if value == NONE:
        return
    if not value.isdigit() or not value.isascii() or int(value) > MAX_RETENTION_DAYS:
        raise errors.invalid(value, path, f"Member must be a whole number of days between 0 and "
                                          f"{MAX_RETENTION_DAYS}, or NONE")


def type_defaults(p: dict, kind: str) -> None:
    """RegisterWorkflowType / RegisterActivityType defaults."""
    task_list(p.get("defaultTaskList"), "defaultTaskList")
    priority(p.get("defaultTaskPriority"), "defaultTaskPriority")
    if kind == "Workflow":
        duration(p.get("defaultTaskStartToCloseTimeout"), "defaultTaskStartToCloseTimeout")
        execution_timeout(p.get("defaultExecutionStartToCloseTimeout"), "defaultExecutionStartToCloseTimeout")
    else:
        for f in ("defaultTaskStartToCloseTimeout", "defaultTaskHeartbeatTimeout",
                  "defaultTaskScheduleToStartTimeout", "defaultTaskScheduleToCloseTimeout"):
            duration(p.get(f), f)


def start_options(p: dict, path: str = "") -> None:
    """Members StartWorkflowExecution, StartChildWorkflowExecution and ContinueAsNew share."""
    task_list(p.get("taskList"), path + "taskList")
    priority(p.get("taskPriority"), path + "taskPriority")
    execution_timeout(p.get("executionStartToCloseTimeout"), path + "executionStartToCloseTimeout")
    duration(p.get("taskStartToCloseTimeout"), path + "taskStartToCloseTimeout")


@lru_cache(maxsize=1)
def _required_attrs() -> dict[str, tuple[str, ...]]:
    """Decision type -> required members of its attributes structure (botocore's swf model)."""
    import botocore.session
    model = botocore.session.get_session().get_service_model("swf")
    decision = model.shape_for("Decision")
    out = {}
    for dtype in decision.members["decisionType"].enum:
        shape = decision.members[decision_attr_key(dtype)]
        out[dtype] = tuple(shape.metadata.get("required", ()))
    return out


def decisions(items: list[dict]) -> None:
    """Reject a malformed decision list before anything of it is applied (AWS applies none)."""
    for d in items[:-1]:
        if d.get("decisionType") in CLOSE_DECISIONS:
            raise errors.validation("Close must be last decision in list")
    required = _required_attrs()
    problems: list[tuple[object, str, str]] = []
    for i, d in enumerate(items, 1):
        dtype = d["decisionType"]
        key = decision_attr_key(dtype)
        attrs = d.get(key) or {}
        for member in required.get(dtype, ()):
            if attrs.get(member) is None:
                problems.append((None, f"decisions.{i}.member.{key}.{member}", "Member must not be null"))
    if problems:
        raise errors.violations(problems)
    for i, d in enumerate(items, 1):
        key = decision_attr_key(d["decisionType"])
        _decision_values(d["decisionType"], d.get(key) or {}, f"decisions.{i}.member.{key}")


def _decision_values(dtype: str, a: dict, base: str) -> None:
    if dtype == "ScheduleActivityTask":
        name(a.get("activityId"), base + ".activityId")
        task_list(a.get("taskList"), base + ".taskList")
        priority(a.get("taskPriority"), base + ".taskPriority")
        for f in ("scheduleToCloseTimeout", "scheduleToStartTimeout", "startToCloseTimeout", "heartbeatTimeout"):
            duration(a.get(f), f"{base}.{f}")
    elif dtype == "StartTimer":
        name(a.get("timerId"), base + ".timerId")
        duration(a.get("startToFireTimeout"), base + ".startToFireTimeout", allow_none=False,
                 max_seconds=MAX_EXECUTION_SECONDS)
    elif dtype in ("StartChildWorkflowExecution", "ContinueAsNewWorkflowExecution"):
        if dtype == "StartChildWorkflowExecution":
            name(a.get("workflowId"), base + ".workflowId")
        start_options(a, base + ".")
    elif dtype == "ScheduleLambdaFunction":
        t = a.get("startToCloseTimeout")
        if t is not None and (not t.isdigit() or not t.isascii() or not 1 <= int(t) <= MAX_LAMBDA_SECONDS):
            raise errors.invalid(t, base + ".startToCloseTimeout", LAMBDA_TIMEOUT_RULE)
