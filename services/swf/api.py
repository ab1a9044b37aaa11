"""SWF gateway half: validation here, state on the shard that owns the domain.

Every operation names a domain (directly, through a domain ARN, or inside
a task token), and everything of a domain lives in one partition, so each
call is one IPC op to one shard; only ListDomains scatters.
"""

from __future__ import annotations

import itertools
import time

from services.errors import NotImplementedOperation
from services.swf import errors, tokens, validate
from services.swf.model import MAX_PAGE_SIZE, domain_key, parse_domain_arn
from services.swf.visibility import page

_TYPE_OPS = {"Register": "RegisterType", "Describe": "DescribeType", "Deprecate": "DeprecateType",
             "Undeprecate": "UndeprecateType", "Delete": "DeleteType"}


def _epoch(window: dict | None) -> dict | None:
    if window is None:
        return None
    return {k: v.timestamp() for k, v in window.items() if v is not None}


class SwfApi:
    def __init__(self, gateway):
        self.gateway = gateway
        self.index = getattr(gateway, "index", 0)
        self._ids = itertools.count(1)
        self._ops = {name: getattr(self, name) for name in dir(self) if name[:1].isupper()}
        for verb, op in _TYPE_OPS.items():
            for kind in ("Workflow", "Activity"):
                self._ops[f"{verb}{kind}Type"] = self._type_op(op, kind)
        for kind in ("Workflow", "Activity"):
            self._ops[f"List{kind}Types"] = self._list_types(kind)
        if hasattr(gateway, "drain_hooks"):
            gateway.drain_hooks.append(self._on_drain)

    async def _on_drain(self) -> None:
        await self.gateway.cluster.call_all("swf.ReleaseWaiters", {"g": self.index})

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is None:
            raise NotImplementedOperation(f"SWF {operation} is not implemented.")
        return await fn(ctx, params)

    # -- helpers --------------------------------------------------------------
    @staticmethod
    async def _call(ctx, domain: str, op: str, args: dict, account: str | None = None, region: str | None = None):
        key = domain_key(account or ctx.account_id, region or ctx.region, domain)
        args["k"] = key
        args["domain"] = domain
        return await ctx.cluster.call(key, "swf." + op, args)

    @staticmethod
    def _page_args(p: dict) -> dict:
        return {"token": p.get("nextPageToken"), "size": p.get("maximumPageSize") or MAX_PAGE_SIZE,
                "rev": bool(p.get("reverseOrder"))}

    def _token(self, ctx, token: str, kind: str) -> dict:
        account, region, domain, wid, rid, s, st = tokens.parse_task_token(token, kind)
        if account != ctx.account_id:
            raise errors.invalid_token()
        return {"k": domain_key(account, region, domain), "domain": domain, "wid": wid, "rid": rid, "s": s,
                "st": st}

    async def _by_token(self, ctx, token: str, kind: str, op: str, extra: dict):
        args = self._token(ctx, token, kind)
        args.update(extra)
        return await ctx.cluster.call(args["k"], "swf." + op, args)

    # -- domains --------------------------------------------------------------
    async def RegisterDomain(self, ctx, p):
        validate.name(p["name"], "name")
        validate.retention(p["workflowExecutionRetentionPeriodInDays"])
        return await self._call(ctx, p["name"], "RegisterDomain", {
            "account": ctx.account_id, "region": ctx.region, "desc": p.get("description"),
            "ret": p["workflowExecutionRetentionPeriodInDays"], "tags": p.get("tags") or []})

    async def DescribeDomain(self, ctx, p):
        return await self._call(ctx, p["name"], "DescribeDomain", {})

    async def DeprecateDomain(self, ctx, p):
        return await self._call(ctx, p["name"], "DeprecateDomain", {})

    async def UndeprecateDomain(self, ctx, p):
        return await self._call(ctx, p["name"], "UndeprecateDomain", {})

    async def ListDomains(self, ctx, p):
        results = await ctx.cluster.call_all("swf.ListDomains", {"account": ctx.account_id, "region": ctx.region,
                                                                 "status": p["registrationStatus"]})
        infos = sorted((info for _p, infos in results for info in infos), key=lambda i: i["name"],
                       reverse=bool(p.get("reverseOrder")))
        return page(infos, self._page_args(p), "ld", int(time.time() * 1000), "domainInfos")

    # -- tags (domains are SWF's only taggable resource) -----------------------
    async def _by_arn(self, ctx, arn: str, op: str, args: dict):
        parsed = parse_domain_arn(arn)
        if parsed is None:
            raise errors.unknown_resource(arn)
        account, region, name = parsed
        return await self._call(ctx, name, op, args, account, region)

    async def TagResource(self, ctx, p):
        return await self._by_arn(ctx, p["resourceArn"], "TagResource", {"tags": p["tags"]})

    async def UntagResource(self, ctx, p):
        return await self._by_arn(ctx, p["resourceArn"], "UntagResource", {"keys": p["tagKeys"]})

    async def ListTagsForResource(self, ctx, p):
        return await self._by_arn(ctx, p["resourceArn"], "ListTagsForResource", {})

    # -- types ----------------------------------------------------------------
    def _type_op(self, op: str, kind: str):
        member = "workflowType" if kind == "Workflow" else "activityType"

        async def run(ctx, p):
            if op == "RegisterType":
                name, version = p["name"], p["version"]
                validate.name(name, "name")
                validate.name(version, "version")
                validate.type_defaults(p, kind)
            else:
                name, version = p[member]["name"], p[member]["version"]
            return await self._call(ctx, p["domain"], op, {"kind": kind, "name": name, "version": version,
                                                               "req": p})
        return run

    def _list_types(self, kind: str):
        async def run(ctx, p):
            infos = await self._call(ctx, p["domain"], "ListTypes", {"kind": kind, "name": p.get("name"),
                                                                     "status": p["registrationStatus"]})
            if p.get("reverseOrder"):
                infos.reverse()
            return page(infos, self._page_args(p), "lt", int(time.time() * 1000), "typeInfos")
        return run

    # -- executions -----------------------------------------------------------
    async def StartWorkflowExecution(self, ctx, p):
        validate.name(p["workflowId"], "workflowId")
        validate.start_options(p)
        return await self._call(ctx, p["domain"], "StartWorkflowExecution", {"req": p})

    async def DescribeWorkflowExecution(self, ctx, p):
        ex = p["execution"]
        return await self._call(ctx, p["domain"], "DescribeWorkflowExecution",
                                {"wid": ex["workflowId"], "rid": ex["runId"]})

    async def GetWorkflowExecutionHistory(self, ctx, p):
        ex = p["execution"]
        return await self._call(ctx, p["domain"], "GetWorkflowExecutionHistory",
                                {"wid": ex["workflowId"], "rid": ex["runId"], **self._page_args(p)})

    @staticmethod
    def _filters(p: dict, closed: bool) -> dict:
        exclusive = ["executionFilter", "typeFilter", "tagFilter"] + (["closeStatusFilter"] if closed else [])
        if sum(1 for f in exclusive if p.get(f) is not None) > 1:
            raise errors.validation(", ".join(exclusive) + " are mutually exclusive. You can specify at most "
                                    "one of these in a request.")
        if closed and (p.get("startTimeFilter") is None) == (p.get("closeTimeFilter") is None):
            raise errors.validation("startTimeFilter and closeTimeFilter are mutually exclusive. You must "
                                    "specify one of these in a request but not both.")
        f = {name: p[name] for name in exclusive if p.get(name) is not None}
        for window in ("startTimeFilter", "closeTimeFilter"):
            if p.get(window) is not None:
                f[window] = _epoch(p[window])
        return f

    async def _executions(self, ctx, p, closed: bool, count: bool):
        args = {"closed": closed, "count": count, "f": self._filters(p, closed)}
        if not count:
            args.update(self._page_args(p))
        return await self._call(ctx, p["domain"], "ListExecutions", args)

    async def ListOpenWorkflowExecutions(self, ctx, p):
        return await self._executions(ctx, p, False, False)

    async def ListClosedWorkflowExecutions(self, ctx, p):
        return await self._executions(ctx, p, True, False)

    async def CountOpenWorkflowExecutions(self, ctx, p):
        return await self._executions(ctx, p, False, True)

    async def CountClosedWorkflowExecutions(self, ctx, p):
        return await self._executions(ctx, p, True, True)

    async def SignalWorkflowExecution(self, ctx, p):
        return await self._call(ctx, p["domain"], "SignalWorkflowExecution", {
            "wid": p["workflowId"], "rid": p.get("runId"), "signal": p["signalName"], "input": p.get("input")})

    async def RequestCancelWorkflowExecution(self, ctx, p):
        return await self._call(ctx, p["domain"], "RequestCancelWorkflowExecution",
                                {"wid": p["workflowId"], "rid": p.get("runId")})

    async def TerminateWorkflowExecution(self, ctx, p):
        return await self._call(ctx, p["domain"], "TerminateWorkflowExecution", {
            "wid": p["workflowId"], "rid": p.get("runId"), "reason": p.get("reason"), "details": p.get("details"),
            "childPolicy": p.get("childPolicy")})

    # -- task lists -----------------------------------------------------------
    async def _long_poll(self, ctx, p: dict, op: str, args: dict):
        """One long poll (if its client disconnects, the runtime cancels the shard's wait)."""
        validate.task_list(p["taskList"], "taskList")
        args.update({"tl": p["taskList"]["name"], "id": p.get("identity"), "w": f"{self.index}:{next(self._ids)}",
                     "g": self.index})
        if getattr(self.gateway, "draining", False):
            args["wait"] = 0
        return await self._call(ctx, p["domain"], op, args)

    async def PollForDecisionTask(self, ctx, p):
        if p.get("nextPageToken"):
            wid, rid, s, st, off, rev, prev = tokens.parse_page_token(p["nextPageToken"], "dp",
                                                                      int(time.time() * 1000))
            return await self._call(ctx, p["domain"], "DecisionPage", {
                "wid": wid, "rid": rid, "s": s, "st": st, "off": off, "rev": rev, "prev": prev,
                "page": p.get("maximumPageSize") or MAX_PAGE_SIZE})
        return await self._long_poll(ctx, p, "PollForDecisionTask", {
            "page": p.get("maximumPageSize") or MAX_PAGE_SIZE, "rev": bool(p.get("reverseOrder")),
            "prev": bool(p.get("startAtPreviousStartedEvent"))})

    async def PollForActivityTask(self, ctx, p):
        return await self._long_poll(ctx, p, "PollForActivityTask", {})

    async def CountPendingDecisionTasks(self, ctx, p):
        validate.task_list(p["taskList"], "taskList")
        return await self._call(ctx, p["domain"], "CountPendingTasks", {"kind": "decision",
                                                                        "tl": p["taskList"]["name"]})

    async def CountPendingActivityTasks(self, ctx, p):
        validate.task_list(p["taskList"], "taskList")
        return await self._call(ctx, p["domain"], "CountPendingTasks", {"kind": "activity",
                                                                        "tl": p["taskList"]["name"]})

    # -- task responses -------------------------------------------------------
    async def RespondDecisionTaskCompleted(self, ctx, p):
        decisions = p.get("decisions") or []
        validate.decisions(decisions)
        validate.task_list(p.get("taskList"), "taskList")
        validate.duration(p.get("taskListScheduleToStartTimeout"), "taskListScheduleToStartTimeout")
        return await self._by_token(ctx, p["taskToken"], tokens.DECISION, "RespondDecisionTaskCompleted",
                                    {"req": p})

    async def RecordActivityTaskHeartbeat(self, ctx, p):
        return await self._by_token(ctx, p["taskToken"], tokens.ACTIVITY, "RecordActivityTaskHeartbeat",
                                    {"details": p.get("details")})

    async def RespondActivityTaskCompleted(self, ctx, p):
        return await self._by_token(ctx, p["taskToken"], tokens.ACTIVITY, "RespondActivityTask",
                                    {"outcome": "completed", "req": p})

    async def RespondActivityTaskFailed(self, ctx, p):
        return await self._by_token(ctx, p["taskToken"], tokens.ACTIVITY, "RespondActivityTask",
                                    {"outcome": "failed", "req": p})

    async def RespondActivityTaskCanceled(self, ctx, p):
        return await self._by_token(ctx, p["taskToken"], tokens.ACTIVITY, "RespondActivityTask",
                                    {"outcome": "canceled", "req": p})
