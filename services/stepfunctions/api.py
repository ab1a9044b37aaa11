"""Step Functions gateway half: validation here, state on the shards.

Each operation parses its ARNs (InvalidArn with AWS's words), checks names,
inputs and definitions, and sends one op to the partition that owns the
state machine, execution or activity (see arns.py). The list operations
scatter to every shard and page the merged result. StartSyncExecution
waits for its Express execution; GetActivityTask long-polls up to 60 s.
"""

from __future__ import annotations

import base64

from services.errors import NotImplementedOperation
from services.stepfunctions import arns
from services.stepfunctions.asl.definition import (
    InvalidDefinitionError, compile_definition, jackson_message, validate,
)
from services.stepfunctions.asl.jsonpath import from_json
from services.stepfunctions.engine import decode_token
from services.stepfunctions.logdelivery import group_of
from services.stepfunctions.errors import (
    err, invalid_arn, invalid_definition, invalid_execution_input, invalid_name, invalid_output, invalid_token,
    validation,
)

MAX_INPUT = 256 * 1024
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def _check_input(text) -> str:
    if text is None:
        return "{}"
    if text == "":
        raise invalid_execution_input("Invalid execution input.")
    if len(text.encode()) > MAX_INPUT:
        raise invalid_execution_input("Input exceeds the maximum size of 262144 bytes.")
    try:
        from_json(text)
    except Exception:
        raise invalid_execution_input(jackson_message(text)[0]) from None
    return text


def _role(text: str) -> str:
    if not isinstance(text, str) or not text.startswith("arn:"):
        raise invalid_arn(f"Invalid ARN prefix: {text}")
    return text


async def _logging(ctx, cfg: dict | None) -> dict | None:
    """A loggingConfiguration with AWS's defaults filled in, its one log group checked to exist."""
    if cfg is None:
        return None
    out = {"level": cfg.get("level") or "OFF", "includeExecutionData": bool(cfg.get("includeExecutionData"))}
    dests = cfg.get("destinations")
    if dests is not None:
        out["destinations"] = dests
    if len(dests or ()) > 1 or (out["level"] != "OFF" and len(dests or ()) != 1) or \
            (dests and not (dests[0].get("cloudWatchLogsLogGroup") or {}).get("logGroupArn")):
        raise err("InvalidLoggingConfiguration",
                  "Invalid Logging Configuration: Must specify exactly one Log Destination.")
    if dests:
        where = group_of(dests[0]["cloudWatchLogsLogGroup"]["logGroupArn"])
        if where is None or not await _log_group_exists(ctx, *where):
            raise err("InvalidLoggingConfiguration", "Invalid Logging Configuration: Log Destination not found.")
    return out


async def _log_group_exists(ctx, account: str, region: str, name: str) -> bool:
    from services.internal import caller
    out = await caller(ctx.gateway).call("logs", "DescribeLogGroups", {"logGroupNamePrefix": name},
                                         account=account, region=region)
    return any(g["logGroupName"] == name for g in out.get("logGroups", ()))


def _tags(tags) -> dict:
    return {t["key"]: t.get("value", "") for t in tags or []}


def _paginate(items: list, p: dict, member: str, default: int = DEFAULT_PAGE) -> dict:
    token = p.get("nextToken")
    start = 0
    if token:
        try:
            text = base64.urlsafe_b64decode(token.encode()).decode()
            if not text.startswith("p:"):
                raise ValueError
            start = int(text[2:])
        except (ValueError, UnicodeDecodeError):
            raise invalid_token() from None
    size = p.get("maxResults") or default
    page = items[start:start + size]
    out = {member: page}
    if start + size < len(items):
        out["nextToken"] = base64.urlsafe_b64encode(f"p:{start + size}".encode()).decode()
    return out


class StepFunctionsApi:
    def __init__(self, gateway):
        self.gateway = gateway
        self._ops = {name: getattr(self, name) for name in dir(self) if name[:1].isupper()}

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is None:
            raise NotImplementedOperation(f"Step Functions {operation} is not implemented.")
        return await fn(ctx, params)

    @staticmethod
    async def _call(ctx, key: str, op: str, args: dict):
        args["k"] = key
        return await ctx.cluster.call(key, op, args)

    @staticmethod
    async def _all(ctx, op: str, args: dict) -> list:
        results = await ctx.cluster.call_all(op, args)
        return [x for _p, part in results for x in part]

    # -- state machines ------------------------------------------------------------------
    async def CreateStateMachine(self, ctx, p):
        name = p["name"]
        if not arns.valid_name(name):
            raise invalid_name(name)
        sm_type = p.get("type") or "STANDARD"
        if p.get("versionDescription") and not p.get("publish"):
            raise validation("Version description can only be set when publish is true")
        try:
            compile_definition(p["definition"], express=sm_type == "EXPRESS")
        except InvalidDefinitionError as exc:
            raise invalid_definition(exc.message) from None
        logging_cfg = await _logging(ctx, p.get("loggingConfiguration"))
        arn = arns.state_machine_arn(ctx.region, ctx.account_id, name)
        key = arns.sm_key(ctx.account_id, ctx.region, name)
        return await self._call(ctx, key, "sfn.CreateStateMachine", {
            "arn": arn, "name": name, "account": ctx.account_id, "region": ctx.region, "type": sm_type,
            "definition": p["definition"], "role": _role(p["roleArn"]), "logging": logging_cfg,
            "tracing": p.get("tracingConfiguration"), "tags": _tags(p.get("tags")), "publish": p.get("publish"),
            "desc": p.get("versionDescription"), "enc": p.get("encryptionConfiguration")})

    async def DescribeStateMachine(self, ctx, p):
        a = arns.parse_kind(p["stateMachineArn"], "stateMachine")
        return await self._call(ctx, a.key, "sfn.DescribeStateMachine", {"arn": a.text})

    async def UpdateStateMachine(self, ctx, p):
        a = arns.parse_kind(p["stateMachineArn"], "stateMachine")
        if not any(p.get(f) is not None for f in ("definition", "roleArn", "loggingConfiguration",
                                                  "tracingConfiguration")):
            raise err("MissingRequiredParameter", "Either the definition, the role ARN, the LoggingConfiguration, "
                                                  "or the TracingConfiguration must be specified")
        if p.get("versionDescription") and not p.get("publish"):
            raise validation("Version description can only be set when publish is true")
        if p.get("definition") is not None:
            kind = await self._call(ctx, a.key, "sfn.StateMachineType", {"arn": a.text})
            try:
                compile_definition(p["definition"], express=kind == "EXPRESS")
            except InvalidDefinitionError as exc:
                raise invalid_definition(exc.message) from None
        logging_cfg = await _logging(ctx, p.get("loggingConfiguration"))
        return await self._call(ctx, a.key, "sfn.UpdateStateMachine", {
            "arn": a.text, "definition": p.get("definition"),
            "role": _role(p["roleArn"]) if p.get("roleArn") is not None else None,
            "logging": logging_cfg, "tracing": p.get("tracingConfiguration"),
            "publish": p.get("publish"), "desc": p.get("versionDescription")})

    async def DeleteStateMachine(self, ctx, p):
        a = arns.parse_kind(p["stateMachineArn"], "stateMachine")
        if len(a.parts) > 1:
            raise validation(f"Invalid ARN: {a.text}: only a state machine ARN can be deleted here")
        return await self._call(ctx, a.key, "sfn.DeleteStateMachine", {"arn": a.text})

    async def ListStateMachines(self, ctx, p):
        items = await self._all(ctx, "sfn.ListStateMachines", {"account": ctx.account_id, "region": ctx.region})
        items.sort(key=lambda i: i["name"])
        return _paginate(items, p, "stateMachines")

    async def ValidateStateMachineDefinition(self, ctx, p):
        diags = validate(p["definition"], express=p.get("type") == "EXPRESS")
        limit = p.get("maxResults") or 100
        return {"result": "FAIL" if diags else "OK", "diagnostics": [d.to_api() for d in diags[:limit]],
                "truncated": len(diags) > limit}

    # -- versions and aliases -------------------------------------------------------------
    async def PublishStateMachineVersion(self, ctx, p):
        a = arns.parse_kind(p["stateMachineArn"], "stateMachine")
        return await self._call(ctx, a.key, "sfn.PublishVersion", {"arn": a.text, "rev": p.get("revisionId"),
                                                                   "desc": p.get("description")})

    async def ListStateMachineVersions(self, ctx, p):
        a = arns.parse_kind(p["stateMachineArn"], "stateMachine")
        items = await self._call(ctx, a.key, "sfn.ListVersions", {"arn": a.text})
        return _paginate(items, p, "stateMachineVersions")

    async def DeleteStateMachineVersion(self, ctx, p):
        a = arns.parse_kind(p["stateMachineVersionArn"], "stateMachine")
        return await self._call(ctx, a.key, "sfn.DeleteVersion", {"arn": a.text})

    async def CreateStateMachineAlias(self, ctx, p):
        name = p["name"]
        if not arns.valid_alias_name(name):
            raise validation(f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
                             "Member must satisfy regular expression pattern: ^(?=.*[a-zA-Z_\\-\\.])"
                             "[a-zA-Z0-9_\\-\\.]+$")
        routing = p["routingConfiguration"]
        first = routing[0]["stateMachineVersionArn"]
        a = arns.parse_kind(first, "stateMachine")
        return await self._call(ctx, a.key, "sfn.CreateAlias", {"sm": a.base_sm_arn, "name": name,
                                                                 "desc": p.get("description"), "routing": routing})

    async def DescribeStateMachineAlias(self, ctx, p):
        a = arns.parse_kind(p["stateMachineAliasArn"], "stateMachine")
        return await self._call(ctx, a.key, "sfn.DescribeAlias", {"arn": a.text})

    async def UpdateStateMachineAlias(self, ctx, p):
        a = arns.parse_kind(p["stateMachineAliasArn"], "stateMachine")
        if p.get("description") is None and p.get("routingConfiguration") is None:
            raise validation("Either the description or the RoutingConfiguration must be specified")
        return await self._call(ctx, a.key, "sfn.UpdateAlias", {"arn": a.text, "desc": p.get("description"),
                                                                 "routing": p.get("routingConfiguration")})

    async def DeleteStateMachineAlias(self, ctx, p):
        a = arns.parse_kind(p["stateMachineAliasArn"], "stateMachine")
        return await self._call(ctx, a.key, "sfn.DeleteAlias", {"arn": a.text})

    async def ListStateMachineAliases(self, ctx, p):
        a = arns.parse_kind(p["stateMachineArn"], "stateMachine")
        items = await self._call(ctx, a.key, "sfn.ListAliases", {"arn": a.base_sm_arn})
        return _paginate(items, p, "stateMachineAliases")

    # -- tags ---------------------------------------------------------------------------------
    async def TagResource(self, ctx, p):
        a = arns.parse_kind(p["resourceArn"], "stateMachine", "activity")
        return await self._call(ctx, a.key, "sfn.TagResource", {"arn": a.text, "tags": _tags(p["tags"])})

    async def UntagResource(self, ctx, p):
        a = arns.parse_kind(p["resourceArn"], "stateMachine", "activity")
        return await self._call(ctx, a.key, "sfn.UntagResource", {"arn": a.text, "keys": p["tagKeys"]})

    async def ListTagsForResource(self, ctx, p):
        a = arns.parse_kind(p["resourceArn"], "stateMachine", "activity")
        return {"tags": await self._call(ctx, a.key, "sfn.ListTags", {"arn": a.text})}

    # -- executions -------------------------------------------------------------------------
    def _start_args(self, ctx, p) -> tuple[arns.Arn, dict]:
        target = p["stateMachineArn"]
        mock = None
        if "#" in target:
            target, mock = target.split("#", 1)
        a = arns.parse_kind(target, "stateMachine")
        name = p.get("name")
        if name is not None and not arns.valid_name(name):
            raise invalid_name(name)
        args = {"target": a.text, "name": name, "input": _check_input(p.get("input")),
                "trace": p.get("traceHeader") or ctx.trace_header, "mock": mock}
        parent = p.get("__parent") if ctx.internal else None
        if parent:
            args["parent"] = parent
        return a, args

    async def StartExecution(self, ctx, p):
        a, args = self._start_args(ctx, p)
        return await self._call(ctx, a.key, "sfn.StartExecution", args)

    async def StartSyncExecution(self, ctx, p):
        a, args = self._start_args(ctx, p)
        return await self._call(ctx, a.key, "sfn.StartSyncExecution", args)

    async def DescribeExecution(self, ctx, p):
        a = arns.parse_kind(p["executionArn"], "execution", "express")
        return await self._call(ctx, a.key, "sfn.DescribeExecution", {"arn": a.text})

    async def DescribeStateMachineForExecution(self, ctx, p):
        a = arns.parse_kind(p["executionArn"], "execution")
        return await self._call(ctx, a.key, "sfn.DescribeStateMachineForExecution", {"arn": a.text})

    async def GetExecutionHistory(self, ctx, p):
        a = arns.parse_kind(p["executionArn"], "execution")
        data = p.get("includeExecutionData")
        return await self._call(ctx, a.key, "sfn.GetExecutionHistory", {
            "arn": a.text, "max": p.get("maxResults"), "token": p.get("nextToken"),
            "reverse": bool(p.get("reverseOrder")), "data": True if data is None else bool(data)})

    async def ListExecutions(self, ctx, p):
        sm, maprun = p.get("stateMachineArn"), p.get("mapRunArn")
        if (sm is None) == (maprun is None):
            raise validation("Must provide a StateMachine ARN or a MapRun ARN")
        status, redriven = p.get("statusFilter"), p.get("redriveFilter")
        if maprun is not None:
            a = arns.parse_kind(maprun, "mapRun")
            items = await self._call(ctx, a.key, "sfn.ListExecutions", {"arn": None, "maprun": a.text,
                                                                        "status": status, "redrive": redriven})
        else:
            if status == "PENDING_REDRIVE":
                raise validation("PENDING_REDRIVE statusFilter is only supported with mapRunArn")
            a = arns.parse_kind(sm, "stateMachine")
            items = await self._call(ctx, a.key, "sfn.ListExecutions", {"arn": a.text, "status": status,
                                                                        "redrive": redriven})
        return _paginate(items, p, "executions")

    async def StopExecution(self, ctx, p):
        a = arns.parse_kind(p["executionArn"], "execution")
        return await self._call(ctx, a.key, "sfn.StopExecution", {"arn": a.text, "error": p.get("error"),
                                                                   "cause": p.get("cause")})

    async def RedriveExecution(self, ctx, p):
        a = arns.parse_kind(p["executionArn"], "execution")
        return await self._call(ctx, a.key, "sfn.RedriveExecution", {"arn": a.text})

    # -- map runs -------------------------------------------------------------------------------
    async def DescribeMapRun(self, ctx, p):
        a = arns.parse_kind(p["mapRunArn"], "mapRun")
        return await self._call(ctx, a.key, "sfn.DescribeMapRun", {"arn": a.text})

    async def ListMapRuns(self, ctx, p):
        a = arns.parse_kind(p["executionArn"], "execution")
        items = await self._call(ctx, a.key, "sfn.ListMapRuns", {"arn": a.text})
        return _paginate(items, p, "mapRuns")

    async def UpdateMapRun(self, ctx, p):
        a = arns.parse_kind(p["mapRunArn"], "mapRun")
        return await self._call(ctx, a.key, "sfn.UpdateMapRun", {
            "arn": a.text, "max": p.get("maxConcurrency"), "tolc": p.get("toleratedFailureCount"),
            "tolp": p.get("toleratedFailurePercentage")})

    # -- activities and task tokens ----------------------------------------------------------------
    async def CreateActivity(self, ctx, p):
        name = p["name"]
        if not arns.valid_name(name):
            raise invalid_name(name)
        arn = arns.activity_arn(ctx.region, ctx.account_id, name)
        key = arns.activity_key(ctx.account_id, ctx.region, name)
        return await self._call(ctx, key, "sfn.CreateActivity", {
            "arn": arn, "name": name, "account": ctx.account_id, "region": ctx.region, "tags": _tags(p.get("tags")),
            "enc": p.get("encryptionConfiguration")})

    async def DescribeActivity(self, ctx, p):
        a = arns.parse_kind(p["activityArn"], "activity")
        return await self._call(ctx, a.key, "sfn.DescribeActivity", {"arn": a.text})

    async def DeleteActivity(self, ctx, p):
        a = arns.parse_kind(p["activityArn"], "activity")
        return await self._call(ctx, a.key, "sfn.DeleteActivity", {"arn": a.text})

    async def ListActivities(self, ctx, p):
        items = await self._all(ctx, "sfn.ListActivities", {"account": ctx.account_id, "region": ctx.region})
        items.sort(key=lambda i: i["name"])
        return _paginate(items, p, "activities")

    async def GetActivityTask(self, ctx, p):
        a = arns.parse_kind(p["activityArn"], "activity")
        return await self._call(ctx, a.key, "sfn.GetActivityTask", {"arn": a.text, "worker": p.get("workerName")})

    @staticmethod
    def _token(token: str) -> arns.Arn:
        try:
            arn, _tid = decode_token(token)
            return arns.parse(arn)
        except Exception:
            raise invalid_token() from None

    async def SendTaskSuccess(self, ctx, p):
        a = self._token(p["taskToken"])
        try:
            output = from_json(p["output"])
        except Exception:
            raise invalid_output(jackson_message(p["output"])[0]) from None
        return await self._call(ctx, a.key, "sfn.SendTask", {"token": p["taskToken"], "kind": "success",
                                                             "output": output})

    async def SendTaskFailure(self, ctx, p):
        a = self._token(p["taskToken"])
        return await self._call(ctx, a.key, "sfn.SendTask", {"token": p["taskToken"], "kind": "failure",
                                                             "error": p.get("error"), "cause": p.get("cause")})

    async def SendTaskHeartbeat(self, ctx, p):
        a = self._token(p["taskToken"])
        return await self._call(ctx, a.key, "sfn.SendTask", {"token": p["taskToken"], "kind": "heartbeat"})

    # -- TestState ------------------------------------------------------------------------------------
    async def TestState(self, ctx, p):
        from services.stepfunctions.teststate import test_state
        return await test_state(ctx, p)
