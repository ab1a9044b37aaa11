"""EventBridge Scheduler gateway half (rest-json).

All schedules and groups of an account+region live in one partition
(``scheduler/<account>/<region>``): names are unique per group, deleting a
group deletes its schedules, and listing is local. Timestamps cross IPC as
epoch milliseconds.
"""

from __future__ import annotations

from services.errors import NotImplementedOperation, ServiceError

from services.events.schedules import InvalidExpression, parse, utc_ms, valid_timezone

OPERATIONS = ("CreateSchedule", "CreateScheduleGroup", "DeleteSchedule", "DeleteScheduleGroup", "GetSchedule",
              "GetScheduleGroup", "ListScheduleGroups", "ListSchedules", "ListTagsForResource", "TagResource",
              "UntagResource", "UpdateSchedule")


def ns_key(account: str, region: str) -> str:
    return f"scheduler/{account}/{region}"


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationException", status=400, Message=message)


def check_schedule(p: dict, now_ms: int) -> None:
    """What AWS checks before a schedule is stored."""
    expr = p.get("ScheduleExpression")
    try:
        parse(expr, allow_at=True)
    except InvalidExpression:
        raise validation(f"Invalid Schedule Expression {expr}.") from None
    tz = p.get("ScheduleExpressionTimezone")
    if tz and not valid_timezone(tz):
        raise validation(f"Invalid ScheduleExpressionTimezone {tz}.")
    start, end = p.get("StartDate"), p.get("EndDate")
    if start is not None and end is not None and end <= start:
        raise validation("The EndDate must be later than the StartDate.")
    if end is not None and end <= now_ms:
        raise validation("The EndDate must be in the future.")
    ftw = p.get("FlexibleTimeWindow") or {}
    if ftw.get("Mode") == "FLEXIBLE" and not ftw.get("MaximumWindowInMinutes"):
        raise validation("MaximumWindowInMinutes must be provided when FlexibleTimeWindow Mode is FLEXIBLE.")
    if ftw.get("Mode") == "OFF" and ftw.get("MaximumWindowInMinutes"):
        raise validation("MaximumWindowInMinutes must not be provided when FlexibleTimeWindow Mode is OFF.")
    target = p.get("Target") or {}
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if dlq and (not dlq.startswith("arn:aws:sqs:") or dlq.endswith(".fifo")):
        raise validation(f"Invalid DeadLetterConfig Arn {dlq}: a standard SQS queue ARN is required.")


def _plain(v):
    """Params as plain data: datetimes become epoch ms."""
    if hasattr(v, "timestamp") and hasattr(v, "tzinfo"):
        return utc_ms(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class SchedulerApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        if operation not in OPERATIONS:
            raise NotImplementedOperation(f"EventBridge Scheduler {operation} is not implemented.")
        p = _plain(params)
        if operation in ("CreateSchedule", "UpdateSchedule"):
            import time
            check_schedule(p, int(time.time() * 1000))
        account = ctx.account_id
        if operation in ("TagResource", "UntagResource", "ListTagsForResource"):
            parts = p["ResourceArn"].split(":")
            if len(parts) >= 6 and parts[2] == "scheduler" and parts[4]:
                account = parts[4]
        key = ns_key(account, ctx.region)
        out = await ctx.cluster.call(key, "scheduler.Handle", {"k": key, "op": operation, "q": p, "a": account,
                                                               "r": ctx.region})
        return out or {}
