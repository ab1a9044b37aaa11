"""EventBridge gateway half (json 1.1): validation here, state on the shards.

Every operation goes to one owner: a bus (``Bus`` ops, ``Put``) or the
account+region namespace (``Ns`` ops). ``ListEventBuses`` gathers from every
shard; ``TestEventPattern`` needs no state at all.
"""

from __future__ import annotations

import asyncio
import json
import time

from broker.core.eventpattern import EventPattern, InvalidPattern, validate
from broker.core.ids import uuid4
from services.errors import NotImplementedOperation

from . import schedules, transform
from .names import (
    DEFAULT_BUS, bus_key, invalid_pattern, iso, ns_key, paged, parse_arn, resolve_bus, validation,
)
from .schedules import utc_ms

BUS_OPS = {
    "CreateEventBus": "Name", "DeleteEventBus": "Name", "DescribeEventBus": "Name", "UpdateEventBus": "Name",
    "PutPermission": "EventBusName", "RemovePermission": "EventBusName", "PutRule": "EventBusName",
    "DescribeRule": "EventBusName", "DeleteRule": "EventBusName", "EnableRule": "EventBusName",
    "DisableRule": "EventBusName", "ListRules": "EventBusName", "PutTargets": "EventBusName",
    "RemoveTargets": "EventBusName", "ListTargetsByRule": "EventBusName", "ListRuleNamesByTarget": "EventBusName",
}
NS_OPS = {
    "CreateArchive", "DescribeArchive", "UpdateArchive", "DeleteArchive", "ListArchives",
    "StartReplay", "DescribeReplay", "CancelReplay", "ListReplays",
    "CreateConnection", "DescribeConnection", "UpdateConnection", "DeleteConnection", "DeauthorizeConnection",
    "ListConnections", "CreateApiDestination", "DescribeApiDestination", "UpdateApiDestination",
    "DeleteApiDestination", "ListApiDestinations", "CreateEndpoint", "DescribeEndpoint", "UpdateEndpoint",
    "DeleteEndpoint", "ListEndpoints", "DescribePartnerEventSource", "DeletePartnerEventSource",
    "ListPartnerEventSources", "ListPartnerEventSourceAccounts", "DescribeEventSource", "ListEventSources",
    "ActivateEventSource", "DeactivateEventSource",
}
TAG_OPS = ("TagResource", "UntagResource", "ListTagsForResource")
MAX_ENTRY_BYTES = 256 * 1024
MAX_REQUEST_BYTES = 1024 * 1024
EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


def entry_size(e: dict) -> int:
    """PutEvents entry size as AWS counts it (UTF-8 bytes; 14 for a Time)."""
    n = 14 if e.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        if e.get(field):
            n += len(e[field].encode())
    for r in e.get("Resources") or []:
        n += len(r.encode())
    return n


def parse_entry(e: dict, aws_sources: bool = False) -> tuple[tuple[str, str] | None, dict | None]:
    """((code, message), None) for an entry AWS rejects, else (None, its detail)."""
    if not e.get("Source"):
        return ("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."), None
    if not e.get("DetailType"):
        return ("InvalidArgument",
                "Parameter DetailType is not valid. Reason: DetailType is a required argument."), None
    if e.get("Detail") is None:
        return ("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."), None
    if not aws_sources and e["Source"].startswith("aws."):
        return ("NotAuthorizedForSourceException", "Not authorized for the source."), None
    try:
        detail = json.loads(e["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        return ("MalformedDetail", "Detail is malformed."), None
    return None, detail


class EventsApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        if operation in BUS_OPS:
            check = getattr(self, "check_" + operation, None)
            if check is not None:
                check(ctx, params)
            if operation == "PutTargets":
                params = await self._with_destination_rates(ctx, params)
            return await self._bus_op(ctx, operation, params)
        if operation in NS_OPS:
            return await self._ns_op(ctx, operation, _plain(params))
        if operation in TAG_OPS:
            return await self._tag_op(ctx, operation, params)
        fn = getattr(self, "op_" + operation, None)
        if fn is None:
            raise NotImplementedOperation(f"EventBridge {operation} is not implemented.")
        return await fn(ctx, params)

    # -- routing ------------------------------------------------------------------
    async def _bus_op(self, ctx, operation: str, params: dict, rule: str | None = None):
        account, region, name = resolve_bus(ctx, params.get(BUS_OPS.get(operation, "EventBusName")))
        key = bus_key(account, region, name)
        return await ctx.cluster.call(key, "events.Bus", {"k": key, "op": operation, "q": params, "a": account,
                                                          "r": region, "name": name, "rule": rule})

    async def _ns_op(self, ctx, operation: str, params: dict, account: str | None = None):
        account = account or ctx.account_id
        key = ns_key(account, ctx.region)
        return await ctx.cluster.call(key, "events.Ns", {"k": key, "op": operation, "q": params, "a": account,
                                                         "r": ctx.region})

    async def _tag_op(self, ctx, operation: str, params: dict):
        p = parse_arn(params["ResourceARN"])
        if not p or p[0] != "events":
            raise validation("Parameter ResourceARN is not valid. Reason: Provided Arn is not in correct format.")
        _svc, region, account, res = p
        account, region = account or ctx.account_id, region or ctx.region
        kind, _, rest = res.partition("/")
        rule = None
        if kind == "event-bus":
            bus = rest
        elif kind == "rule":
            bus, _, rule = rest.rpartition("/")
            bus = bus or DEFAULT_BUS
        else:
            raise validation("Parameter ResourceARN is not valid. Reason: Provided Arn is not in correct format.")
        key = bus_key(account, region, bus)
        return await ctx.cluster.call(key, "events.Bus", {"k": key, "op": operation, "q": params, "a": account,
                                                          "r": region, "name": bus, "rule": rule})

    async def _with_destination_rates(self, ctx, p: dict) -> dict:
        """API destination targets carry their destination's rate limit (``_rate``), so
        the bus owner paces deliveries from the first one on."""
        targets = []
        for t in p["Targets"]:
            arn = parse_arn(t["Arn"])
            if arn and arn[0] == "events" and arn[3].startswith("api-destination/"):
                account, region = arn[2] or ctx.account_id, arn[1] or ctx.region
                key = ns_key(account, region)
                info = await ctx.cluster.call(key, "events.Ns", {"k": key, "op": "ResolveDestination",
                                                                 "q": {"arn": t["Arn"]}, "a": account, "r": region})
                if info is not None:
                    t = {**t, "_rate": info["rate"]}
            targets.append(t)
        return {**p, "Targets": targets}

    # -- checks that need no state ----------------------------------------------------
    def check_CreateEventBus(self, ctx, p):
        if p["Name"] == DEFAULT_BUS:
            from .names import exists
            raise exists("Event bus default already exists.")

    def check_PutRule(self, ctx, p):
        pattern, sched = p.get("EventPattern"), p.get("ScheduleExpression")
        if pattern is None and not sched:
            raise validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if sched:
            if resolve_bus(ctx, p.get("EventBusName"))[2] != DEFAULT_BUS:
                raise validation("ScheduleExpression is supported only on the default event bus.")
            try:
                schedules.parse(sched)
            except schedules.InvalidExpression:
                raise validation("Parameter ScheduleExpression is not valid.") from None
        if pattern is not None:
            try:
                validate(pattern)
            except InvalidPattern as exc:
                raise invalid_pattern(exc.reason) from None

    def check_PutTargets(self, ctx, p):
        for t in p["Targets"]:
            tid = t["Id"]
            given = [k for k in ("Input", "InputPath", "InputTransformer") if t.get(k) is not None]
            if len(given) > 1:
                raise validation("Only one of Input, InputPath, or InputTransformer must be provided for target "
                                 f"{tid}.")
            tr = t.get("InputTransformer")
            if tr:
                known = set(tr.get("InputPathsMap") or {}) | set(transform.PREDEFINED)
                for name in transform.template_placeholders(tr["InputTemplate"]):
                    if name not in known:
                        raise validation(f"InputTemplate for target {tid} contains invalid placeholder {name}.")
                for name, path in (tr.get("InputPathsMap") or {}).items():
                    if name.startswith("aws."):
                        raise validation(f"Input path map key {name} for target {tid} is reserved.")
                    if not transform.valid_path(path):
                        raise validation(f"Input path map value {path} for target {tid} is not a valid JSON path.")
            if t.get("InputPath") and not transform.valid_path(t["InputPath"]):
                raise validation(f"InputPath for target {tid} is not a valid JSON path.")
            arn = parse_arn(t["Arn"])
            if arn is None:
                raise validation(f"Parameter {t['Arn']} is not valid. Reason: Provided Arn is not in correct format.")
            group = (t.get("SqsParameters") or {}).get("MessageGroupId")
            if arn[0] == "sqs" and arn[3].endswith(".fifo") and not group:
                raise validation(f"Parameter(s) SqsParameters must be specified for target: {tid}.")
            dlq = (t.get("DeadLetterConfig") or {}).get("Arn")
            if dlq:
                d = parse_arn(dlq)
                if d is None or d[0] != "sqs":
                    raise validation(f"Parameter {dlq} is not valid. Reason: Provided Arn is not in correct format.")

    # -- state-free operations ----------------------------------------------------------
    async def op_TestEventPattern(self, ctx, p):
        try:
            event = json.loads(p["Event"])
        except ValueError:
            event = None
        if not isinstance(event, dict) or any(f not in event for f in EVENT_FIELDS):
            raise validation("Parameter Event is not valid.")
        try:
            pattern = EventPattern(p["EventPattern"])
        except InvalidPattern as exc:
            raise invalid_pattern(exc.reason) from None
        return {"Result": pattern.matches(event)}

    async def op_ListEventBuses(self, ctx, p):
        results = await ctx.cluster.call_all("events.ListBuses", {"a": ctx.account_id, "r": ctx.region,
                                                                  "prefix": p.get("NamePrefix") or ""})
        buses = sorted((b for _p, part in results for b in part), key=lambda b: b["Name"])
        return paged(buses, p, "EventBuses")

    # -- publishing ------------------------------------------------------------------------
    async def op_PutEvents(self, ctx, p):
        entries = p["Entries"]
        sizes = [entry_size(e) for e in entries]
        if sum(sizes) > MAX_REQUEST_BYTES or any(s > MAX_ENTRY_BYTES for s in sizes):
            raise validation("Total size of the entries in the request is over the limit.")
        now = _now_ms()
        results: list[dict | None] = [None] * len(entries)
        groups: dict[str, tuple[list, list, list]] = {}
        for i, e in enumerate(entries):
            bad, detail = parse_entry(e, aws_sources=getattr(ctx, "internal", False))
            if bad:
                results[i] = {"ErrorCode": bad[0], "ErrorMessage": bad[1]}
                continue
            account, region, name = resolve_bus(ctx, e.get("EventBusName"))
            eid = uuid4()
            t = e.get("Time")
            ev = {"version": "0", "id": eid, "detail-type": e["DetailType"], "source": e["Source"],
                  "account": ctx.account_id, "time": iso(utc_ms(t) if t is not None else now),
                  "region": ctx.region, "resources": list(e.get("Resources") or []), "detail": detail}
            g = groups.setdefault(bus_key(account, region, name), ([], [], []))
            g[0].append(ev)
            g[1].append(e.get("TraceHeader") or ctx.trace_header)
            g[2].append(i)
            results[i] = {"EventId": eid}

        async def publish(key, evs, traces, idx):
            try:
                await ctx.cluster.call(key, "events.Put", {"k": key, "ev": evs, "trace": traces,
                                                           "from": ctx.account_id})
            except Exception as exc:  # the owner could not commit: these entries failed
                for i in idx:
                    results[i] = {"ErrorCode": "InternalException",
                                  "ErrorMessage": getattr(exc, "message", "Internal service error.")}
        if len(groups) == 1:
            (key, g), = groups.items()
            await publish(key, *g)
        elif groups:
            await asyncio.gather(*(publish(k, *g) for k, g in groups.items()))
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

    async def op_PutPartnerEvents(self, ctx, p):
        results = []
        by_source: dict[str, list] = {}
        for i, e in enumerate(p["Entries"]):
            bad, detail = parse_entry(e, aws_sources=True)
            if bad:
                results.append({"ErrorCode": bad[0], "ErrorMessage": bad[1]})
                continue
            eid = uuid4()
            results.append({"EventId": eid})
            by_source.setdefault(e["Source"], []).append((eid, e, detail))
        for source, items in by_source.items():
            accounts = await ctx.cluster.call(ns_key(ctx.account_id, ctx.region), "events.Ns",
                                              {"k": ns_key(ctx.account_id, ctx.region),
                                               "op": "ListPartnerEventSourceAccounts",
                                               "q": {"EventSourceName": source}, "a": ctx.account_id,
                                               "r": ctx.region})
            for acct in accounts["PartnerEventSourceAccounts"]:
                key = bus_key(acct["Account"], ctx.region, source)
                evs = [{"version": "0", "id": eid, "detail-type": e["DetailType"], "source": source,
                        "account": acct["Account"], "time": iso(utc_ms(e["Time"]) if e.get("Time") else _now_ms()),
                        "region": ctx.region, "resources": list(e.get("Resources") or []), "detail": detail}
                       for eid, e, detail in items]
                await ctx.cluster.call(key, "events.Put", {"k": key, "ev": evs})
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    async def op_CreatePartnerEventSource(self, ctx, p):
        out = await self._ns_op(ctx, "CreatePartnerEventSource", p)
        key = ns_key(p["Account"], ctx.region)
        await ctx.cluster.call(key, "events.Ns", {"k": key, "op": "AddEventSource",
                                                  "q": {"name": p["Name"], "by": "/".join(p["Name"].split("/")[:2])},
                                                  "a": p["Account"], "r": ctx.region})
        return out


def _now_ms() -> int:
    return int(time.time() * 1000)


def _plain(params: dict) -> dict:
    """Timestamps as epoch ms (IPC carries plain data)."""
    out = {}
    for k, v in params.items():
        if hasattr(v, "timestamp") and hasattr(v, "tzinfo"):
            out[k] = utc_ms(v)
        else:
            out[k] = v
    return out
