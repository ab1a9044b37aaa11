"""X-Ray gateway half (REST-JSON): segment documents are checked here (AWS answers
a bad document in UnprocessedTraceSegments, not with an error), then one op
to the partition of the caller's account + region."""

from __future__ import annotations

import json
import re
from datetime import datetime

from services.errors import NotImplementedOperation, ServiceError

IMPLEMENTED = frozenset(("PutTraceSegments", "GetTraceSummaries", "BatchGetTraces", "GetServiceGraph",
                         "GetTraceGraph"))
_TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
_SEG_ID = re.compile(r"^[0-9a-f]{16}$")
MAX_DOCUMENT = 64 * 1024
MAX_RANGE = 24 * 3600


def namespace_key(account: str, region: str) -> str:
    return f"xray/{account}/{region}"


def invalid(message: str) -> ServiceError:
    return ServiceError(message, code="InvalidRequestException", status=400, sender_fault=True)


def check_segment(text: str) -> tuple[dict | None, dict | None]:
    """(document, None) or (None, UnprocessedTraceSegment)."""
    def bad(code: str, msg: str, sid: str | None = None):
        out = {"ErrorCode": code, "Message": msg}
        if sid:
            out["Id"] = sid
        return None, out
    if len(text.encode()) > MAX_DOCUMENT:
        return bad("InvalidSegment", "Segment document exceeds the maximum size of 64 KB")
    try:
        doc = json.loads(text)
    except ValueError:
        return bad("ParseError", "Invalid segment. ErrorCode: ParseError")
    if not isinstance(doc, dict):
        return bad("ParseError", "Invalid segment. ErrorCode: ParseError")
    sid = doc.get("id") if isinstance(doc.get("id"), str) else None
    if not sid or not _SEG_ID.match(sid):
        return bad("InvalidId", "Invalid segment. ErrorCode: InvalidId", sid)
    if not isinstance(doc.get("trace_id"), str) or not _TRACE_ID.match(doc["trace_id"]):
        return bad("InvalidTraceId", "Invalid segment. ErrorCode: InvalidTraceId", sid)
    if doc.get("type") != "subsegment" and (not isinstance(doc.get("name"), str) or not doc["name"]):
        return bad("MissingName", "Invalid segment. ErrorCode: MissingName", sid)
    if doc.get("type") == "subsegment" and not doc.get("parent_id"):
        return bad("MissingParentId", "Invalid segment. ErrorCode: MissingParentId", sid)
    if not isinstance(doc.get("start_time"), (int, float)):
        return bad("MissingStartTime", "Invalid segment. ErrorCode: MissingStartTime", sid)
    if not isinstance(doc.get("end_time"), (int, float)) and doc.get("in_progress") is not True:
        return bad("MissingEndTime", "Invalid segment. ErrorCode: MissingEndTime", sid)
    return doc, None


def _epoch(v) -> float:
    return v.timestamp() if isinstance(v, datetime) else float(v)


class XRayApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        if operation not in IMPLEMENTED:
            raise NotImplementedOperation(
                f"This broker does not implement this X-Ray operation yet (operation {operation}).")
        p = dict(params)
        if operation == "PutTraceSegments":
            docs, unprocessed = [], []
            for text in p["TraceSegmentDocuments"]:
                doc, problem = check_segment(text)
                if doc is not None:
                    docs.append(doc)
                else:
                    unprocessed.append(problem)
            if docs:
                await ctx.cluster.call(namespace_key(ctx.account_id, ctx.region), "xray.Put",
                                       {"a": ctx.account_id, "r": ctx.region, "segments": docs, "wait": True})
            return {"UnprocessedTraceSegments": unprocessed}
        for f in ("StartTime", "EndTime"):
            if p.get(f) is not None:
                p[f] = _epoch(p[f])
        if operation in ("GetTraceSummaries", "GetServiceGraph"):
            if p["StartTime"] > p["EndTime"]:
                raise invalid("Start time must be before end time.")
            if operation == "GetTraceSummaries" and p["EndTime"] - p["StartTime"] > MAX_RANGE:
                raise invalid("Time range between start time and end time can't be more than 24 hours.")
        if operation in ("BatchGetTraces", "GetTraceGraph") and len(p.get("TraceIds") or []) > 5:
            raise invalid("Number of trace ids exceeds the maximum of 5.")
        return await ctx.cluster.call(namespace_key(ctx.account_id, ctx.region), "xray.Handle",
                                      {"a": ctx.account_id, "r": ctx.region, "op": operation, "params": p})
