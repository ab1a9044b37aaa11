"""Visibility calls (shard side): describe an execution, read its history,
list and count executions, count pending tasks.

Lists are newest first (start time, or close time when filtering on it),
``reverseOrder`` flips them; pages are cut here so a large domain never
crosses IPC whole. Timestamps arrive as epoch seconds.
"""

from __future__ import annotations

from services.swf import errors, tokens
from services.swf.model import OPEN
from services.swf.state import Execution


def _in_window(value: float | None, window: dict | None) -> bool:
    if window is None:
        return True
    if value is None or value < window["oldestDate"]:
        return False
    latest = window.get("latestDate")
    return latest is None or value <= latest


def matches(ex: Execution, f: dict) -> bool:
    if not _in_window(ex.started, f.get("startTimeFilter")):
        return False
    if not _in_window(ex.closed_at, f.get("closeTimeFilter")):
        return False
    ef = f.get("executionFilter")
    if ef is not None and ex.workflow_id != ef["workflowId"]:
        return False
    tf = f.get("typeFilter")
    if tf is not None and (ex.wtype[0] != tf["name"] or (tf.get("version") and ex.wtype[1] != tf["version"])):
        return False
    tag = f.get("tagFilter")
    if tag is not None and tag["tag"] not in ex.tags:
        return False
    cs = f.get("closeStatusFilter")
    return cs is None or ex.close_status == cs["status"]


def page(items: list, a: dict, kind: str, now_ms: int, member: str) -> dict:
    """One page of `items` (already ordered) at the offset of `a["token"]`."""
    size = a.get("size") or 1000
    offset = tokens.parse_page_token(a["token"], kind, now_ms)[0] if a.get("token") else 0
    out = {member: items[offset:offset + size]}
    if offset + size < len(items):
        out["nextPageToken"] = tokens.page_token(kind, now_ms, offset + size)
    return out


class Visibility:
    """Mixed into the shard."""

    def _run(self, a: dict) -> Execution:
        d = self.domain(a)
        ex = d.runs.get(a["rid"])
        if ex is None or ex.workflow_id != a["wid"]:
            raise errors.unknown_execution(a["wid"], a["rid"])
        return ex

    def op_DescribeWorkflowExecution(self, a):
        ex = self._run(a)
        cfg = ex.cfg
        out = {"executionInfo": ex.info(),
               "executionConfiguration": {k: v for k, v in (
                   ("taskStartToCloseTimeout", cfg["ts2c"]), ("executionStartToCloseTimeout", cfg["es2c"]),
                   ("taskList", {"name": cfg["tl"]}), ("taskPriority", cfg.get("prio")),
                   ("childPolicy", cfg["cp"]), ("lambdaRole", cfg.get("lr"))) if v is not None},
               "openCounts": {"openActivityTasks": len(ex.acts), "openDecisionTasks": 1 if ex.dt else 0,
                              "openTimers": len(ex.timers), "openChildWorkflowExecutions": len(ex.children),
                              "openLambdaFunctions": len(ex.fns)}}
        if ex.last_activity is not None:
            out["latestActivityTaskTimestamp"] = ex.last_activity
        if ex.context is not None:
            out["latestExecutionContext"] = ex.context
        return out

    def op_GetWorkflowExecutionHistory(self, a):
        ex = self._run(a)
        events = ex.events[::-1] if a.get("rev") else ex.events
        return page(events, a, "h", self.part.now_ms(), "events")

    def op_ListExecutions(self, a):
        """List or count (``count``) the open or closed (``closed``) executions matching ``f``."""
        d = self.domain(a)
        f = a.get("f") or {}
        closed = a["closed"]
        found = [ex for ex in d.runs.values() if (ex.status != OPEN) == closed and matches(ex, f)]
        if a.get("count"):
            return {"count": len(found), "truncated": False}
        by_close = closed and f.get("closeTimeFilter") is not None
        found.sort(key=(lambda e: e.closed_at) if by_close else (lambda e: e.started), reverse=not a.get("rev"))
        out = page(found, a, "x", self.part.now_ms(), "executionInfos")
        out["executionInfos"] = [ex.info() for ex in out["executionInfos"]]
        return out

    def op_CountPendingTasks(self, a):
        d = self.domain(a)
        tl = (d.dlists if a["kind"] == "decision" else d.alists).get(a["tl"])
        return {"count": tl.live if tl is not None else 0, "truncated": False}
