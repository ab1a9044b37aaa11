"""CloudWatch Logs gateway half (JSON 1.1): checks, then one op to the partition
of the caller's account + region, which holds its log groups, streams and events."""

from __future__ import annotations

from services.errors import NotImplementedOperation, ServiceError

IMPLEMENTED = frozenset((
    "CreateLogGroup", "DeleteLogGroup", "DescribeLogGroups", "CreateLogStream", "DeleteLogStream",
    "DescribeLogStreams", "PutLogEvents", "GetLogEvents", "FilterLogEvents", "PutRetentionPolicy",
    "DeleteRetentionPolicy", "PutSubscriptionFilter", "DescribeSubscriptionFilters", "DeleteSubscriptionFilter",
    "PutMetricFilter", "DescribeMetricFilters", "DeleteMetricFilter", "TestMetricFilter",
    "TagLogGroup", "UntagLogGroup", "ListTagsLogGroup", "TagResource", "UntagResource", "ListTagsForResource"))
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD
DAY_MS = 86_400_000


def namespace_key(account: str, region: str) -> str:
    return f"logs/{account}/{region}"


def invalid(message: str) -> ServiceError:
    return ServiceError(message, code="InvalidParameterException", status=400, sender_fault=True)


def group_name_of(p: dict) -> None:
    """logGroupIdentifier (name or ARN) -> logGroupName."""
    ident = p.pop("logGroupIdentifier", None)
    if ident is not None:
        if p.get("logGroupName") is not None:
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if ident.startswith("arn:"):
            parts = ident.split(":")
            ident = parts[6] if len(parts) > 6 else ident
        p["logGroupName"] = ident


class LogsApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        if operation not in IMPLEMENTED:
            raise NotImplementedOperation(
                f"This broker does not implement this CloudWatch Logs operation yet (operation {operation}).")
        p = dict(params)
        group_name_of(p)
        check = getattr(self, "_check_" + operation, None)
        if check is not None:
            check(p)
        if operation in ("GetLogEvents", "FilterLogEvents", "DescribeLogStreams", "PutLogEvents",
                         "CreateLogStream", "DeleteLogStream") and not p.get("logGroupName"):
            raise invalid("Either LogGroupName or LogGroupIdentifier must be specified.")
        return await ctx.cluster.call(namespace_key(ctx.account_id, ctx.region), "logs.Handle", {
            "a": ctx.account_id, "r": ctx.region, "op": operation, "params": p})

    @staticmethod
    def _check_PutLogEvents(p: dict) -> None:
        events = p["logEvents"]
        if not events:
            raise invalid("1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: "
                          "Member must have length greater than or equal to 1")
        if len(events) > MAX_BATCH_EVENTS:
            raise invalid(f"1 validation error detected: Value at 'logEvents' failed to satisfy constraint: "
                          f"Member must have length less than or equal to {MAX_BATCH_EVENTS}")
        size = 0
        prev = None
        for e in events:
            n = len(e["message"].encode()) + EVENT_OVERHEAD
            if n - EVENT_OVERHEAD > MAX_EVENT_BYTES:
                raise invalid("Log event too large: " + str(n - EVENT_OVERHEAD) + " bytes exceeds limit of "
                              f"{MAX_EVENT_BYTES}")
            size += n
            if prev is not None and e["timestamp"] < prev:
                raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
            prev = e["timestamp"]
        if size > MAX_BATCH_BYTES:
            raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        if events[-1]["timestamp"] - events[0]["timestamp"] > DAY_MS:
            raise invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 "
                          "hours.")

    @staticmethod
    def _check_PutRetentionPolicy(p: dict) -> None:
        if p["retentionInDays"] not in RETENTION_DAYS:
            raise invalid("1 validation error detected: Value '%d' at 'retentionInDays' failed to satisfy "
                          "constraint: Member must satisfy enum value set: [%s]"
                          % (p["retentionInDays"], ", ".join(map(str, RETENTION_DAYS))))

    @staticmethod
    def _check_DescribeLogStreams(p: dict) -> None:
        if p.get("orderBy") == "LastEventTime" and p.get("logStreamNamePrefix"):
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")

    @staticmethod
    def _check_FilterLogEvents(p: dict) -> None:
        if p.get("logStreamNames") and p.get("logStreamNamePrefix"):
            raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")

    @staticmethod
    def _check_DescribeLogGroups(p: dict) -> None:
        if p.get("logGroupNamePrefix") and p.get("logGroupNamePattern"):
            raise invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
