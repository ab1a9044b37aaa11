"""CloudTrail gateway half (JSON 1.1): every operation runs in the partition of the
caller's account (trails, event selectors, stored management events, pending
log-file deliveries), with checks the model cannot express done here."""

from __future__ import annotations

import re
from datetime import datetime

from services.errors import NotImplementedOperation, ServiceError

IMPLEMENTED = frozenset((
    "CreateTrail", "GetTrail", "DescribeTrails", "ListTrails", "UpdateTrail", "DeleteTrail", "StartLogging",
    "StopLogging", "GetTrailStatus", "PutEventSelectors", "GetEventSelectors", "AddTags", "RemoveTags",
    "ListTags", "LookupEvents"))
_TRAIL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,126})[A-Za-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_LOOKUP_RESULTS = 50


def account_key(account: str) -> str:
    return f"cloudtrail/{account}"


def err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status, sender_fault=True)


def check_trail_name(name: str) -> None:
    if name.startswith("arn:"):
        return
    if not _TRAIL_NAME.match(name) or re.search(r"[._-]{2}", name) or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        if not name[:1].isalnum():
            msg = "Trail name must starts with a letter or number."
        elif not name[-1:].isalnum():
            msg = "Trail name must ends with a letter or number."
        elif len(name) < 3 or len(name) > 128:
            msg = "Trail name too short. Minimum allowed length: 3 characters. Specified name length: " \
                  f"{len(name)} characters." if len(name) < 3 else \
                  "Trail name too long. Maximum allowed length: 128 characters."
        else:
            msg = "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), " \
                  "hyphens (-), and underscores (_)."
        raise err("InvalidTrailNameException", msg)


def _epoch(v):
    return v.timestamp() if isinstance(v, datetime) else v


class CloudTrailApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        if operation not in IMPLEMENTED:
            raise NotImplementedOperation(
                f"This broker does not implement this CloudTrail operation yet (operation {operation}).")
        p = dict(params)
        for f in ("Name", "TrailName"):
            if isinstance(p.get(f), str) and operation != "LookupEvents":
                check_trail_name(p[f])
        if operation in ("CreateTrail", "UpdateTrail") and p.get("S3BucketName") is not None \
                and not _BUCKET.match(p["S3BucketName"]):
            raise err("InvalidS3BucketNameException", f"Bucket name is not valid: {p['S3BucketName']}")
        if operation == "LookupEvents":
            self._check_lookup(p)
        if operation == "PutEventSelectors":
            if p.get("EventSelectors") is not None and p.get("AdvancedEventSelectors") is not None:
                raise err("InvalidParameterCombinationException",
                          "You cannot specify both EventSelectors and AdvancedEventSelectors in a "
                          "PutEventSelectors request.")
            if p.get("EventSelectors") is None and p.get("AdvancedEventSelectors") is None:
                raise err("InvalidEventSelectorsException", "You must specify either EventSelectors or "
                          "AdvancedEventSelectors in a PutEventSelectors request.")
        return await ctx.cluster.call(account_key(ctx.account_id), "cloudtrail.Handle", {
            "a": ctx.account_id, "r": ctx.region, "op": operation, "params": p})

    @staticmethod
    def _check_lookup(p: dict) -> None:
        attrs = p.get("LookupAttributes") or []
        if len(attrs) > 1:
            raise err("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
        for f in ("StartTime", "EndTime"):
            if p.get(f) is not None:
                p[f] = _epoch(p[f])
        if p.get("StartTime") is not None and p.get("EndTime") is not None and p["StartTime"] > p["EndTime"]:
            raise err("InvalidTimeRangeException", "Start time must be before end time.")
        if p.get("MaxResults") is not None and not 1 <= p["MaxResults"] <= MAX_LOOKUP_RESULTS:
            raise err("InvalidMaxResultsException", "Max results must be between 1 and 50.")
        if p.get("EventCategory") not in (None, "insight"):
            raise err("InvalidEventCategoryException", "The event category is not valid.")
