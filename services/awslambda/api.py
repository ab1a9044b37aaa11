"""Lambda gateway half (rest-json): names, code, secrets and listeners here; state on the shard.

Per request: resolve FunctionName (name, partial or full ARN, qualifier) to
the function's entity key, do what needs no state (store a zip, seal the
environment variables with KMS, open a function URL's listener, resolve
layer versions) and send one op to the owning shard. Lists scatter over
every partition. Outputs drop the shard's private ``_`` fields and put the
environment variables back in plain text.
"""

from __future__ import annotations

import asyncio
import base64
import json

from services.awslambda import code as codes
from services.awslambda import envvars
from services.awslambda.concurrency import acct_key
from services.awslambda.esm import esm_key, new_uuid
from services.awslambda.layers import layer_key
from services.awslambda.model import (
    LATEST, MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD, RUNTIMES, arn_parts, err, fn_arn, fn_key, invalid, not_found,
    parse_function,
)
from services.errors import NotImplementedOperation, ServiceError

FN_OPS = frozenset((
    "GetFunction", "GetFunctionConfiguration", "DeleteFunction", "PublishVersion", "ListVersionsByFunction",
    "CreateAlias", "GetAlias", "UpdateAlias", "DeleteAlias", "ListAliases", "PutFunctionConcurrency",
    "GetFunctionConcurrency", "DeleteFunctionConcurrency", "PutProvisionedConcurrencyConfig",
    "GetProvisionedConcurrencyConfig", "DeleteProvisionedConcurrencyConfig", "ListProvisionedConcurrencyConfigs",
    "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
    "DeleteFunctionEventInvokeConfig", "ListFunctionEventInvokeConfigs", "AddPermission", "RemovePermission",
    "GetPolicy", "GetFunctionUrlConfig", "UpdateFunctionUrlConfig", "ListFunctionUrlConfigs",
))
LIST_MEMBERS = {"ListVersionsByFunction": "Versions", "ListAliases": "Aliases",
                "ListProvisionedConcurrencyConfigs": "ProvisionedConcurrencyConfigs",
                "ListFunctionEventInvokeConfigs": "FunctionEventInvokeConfigs",
                "ListFunctionUrlConfigs": "FunctionUrlConfigs", "ListLayerVersions": "LayerVersions"}
DESTINATION_SERVICES = ("sqs", "sns", "lambda", "events")


def _public(d):
    if isinstance(d, dict):
        return {k: _public(v) for k, v in d.items() if not k.startswith("_")}
    if isinstance(d, list):
        return [_public(v) for v in d]
    return d


def _page(items: list, p: dict, member: str, limit: int = 50) -> dict:
    start = 0
    marker = p.get("Marker")
    if marker:
        try:
            start = int(base64.b64decode(marker).decode())
        except ValueError:
            raise invalid("Invalid marker") from None
    n = p.get("MaxItems") or limit
    out = {member: items[start:start + n]}
    if start + n < len(items):
        out["NextMarker"] = base64.b64encode(str(start + n).encode()).decode()
    return out


class LambdaApi:
    def __init__(self, gateway):
        self.gateway = gateway
        run = getattr(gateway, "run", None)
        self.data_dir = run.data_dir if run is not None else "."
        self.durable = run is None or run.durability != "memory"

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = getattr(self, "_op_" + operation, None)
        if fn is not None:
            return await fn(ctx, params)
        if operation in FN_OPS:
            return await self._fn_op(ctx, operation, params)
        raise NotImplementedOperation(f"Lambda {operation} is not implemented by this broker.")

    # -- helpers -----------------------------------------------------------------------------
    def _target(self, ctx, params: dict, field: str = "FunctionName", qualifier: bool = True):
        account, region, name, q = parse_function(params[field], ctx.account_id, ctx.region,
                                                  params.get("Qualifier") if qualifier else None)
        return fn_key(account, region, name), account, region, name, q

    async def _call(self, ctx, key, account, region, name, op, q: dict, **extra):
        args = {"k": key, "op": op, "q": q, "a": account, "r": region, "n": name, **extra}
        return await ctx.cluster.call(key, "lambda.Fn", args)

    async def _config_out(self, ctx, cfg: dict) -> dict:
        out = _public(cfg)
        ct = cfg.get("_env_ct")
        if ct:
            parts = arn_parts(cfg["FunctionArn"])
            try:
                out["Environment"] = {"Variables": await envvars.decrypt(ctx.gateway, parts[2], parts[1], ct,
                                                                         cfg.get("KMSKeyArn"))}
            except ServiceError as exc:      # AWS shows the configuration with the key's error instead
                out["Environment"] = {"Error": {"ErrorCode": exc.code, "Message": exc.message}}
        return out

    async def _fn_op(self, ctx, op: str, params: dict) -> dict:
        key, account, region, name, q = self._target(ctx, params)
        p = dict(params)
        if q is not None:
            p["Qualifier"] = q
        out = await self._call(ctx, key, account, region, name, op, p)
        if op in LIST_MEMBERS:
            items = out.pop("_items")
            if op == "ListVersionsByFunction":
                items = [await self._config_out(ctx, c) for c in items]
            return _page(items, params, LIST_MEMBERS[op])
        if op == "GetFunctionConfiguration":
            return await self._config_out(ctx, out)
        if op == "GetFunction":
            cfg = await self._config_out(ctx, out["Configuration"])
            res = {"Configuration": cfg, "Code": self._code_location(ctx, out["_code"]), "Tags": out["Tags"]}
            if "Concurrency" in out:
                res["Concurrency"] = out["Concurrency"]
            return res
        if op == "PublishVersion":
            return await self._config_out(ctx, out)
        if op == "DeleteFunction" or op == "DeleteAlias":
            await self._close_urls(ctx, out.get("_urls") or ())
            return {}
        return _public(out)

    def _code_location(self, ctx, desc: dict) -> dict:
        if "dir" in desc:
            return {"RepositoryType": "S3", "Location": f"file://{desc['dir']}"}
        return {"RepositoryType": "S3", "Location": f"{ctx.base_url}/_broker/lambda/code/{desc['zip']}"}

    async def _env(self, ctx, account, region, params: dict) -> str | None:
        variables = (params.get("Environment") or {}).get("Variables")
        if variables is None:
            return None
        envvars.check_size(variables)
        if not variables:
            return ""
        return await envvars.encrypt(ctx.gateway, account, region, variables, params.get("KMSKeyArn"))

    async def _layers(self, ctx, account, region, arns: list | None):
        """[{Arn, CodeSize}] for the configuration, and the code descriptors (pinned versions)."""
        if arns is None:
            return None, None
        if len(arns) > 5:
            raise invalid("Cannot reference more than 5 layers.")
        shown, descs = [], []
        for arn in arns:
            svc, lr, la, res = arn_parts(arn)
            kind, _, rest = res.partition(":")
            lname, _, ver = rest.partition(":")
            if svc != "lambda" or kind != "layer" or not ver.isdigit():
                raise invalid(f"Layer version {arn} does not exist.")
            lkey = layer_key(la, lr, lname)
            try:
                out = await ctx.cluster.call(lkey, "lambda.Layer", {"k": lkey, "op": "GetLayerVersion",
                                                                    "q": {"VersionNumber": int(ver)}, "a": la, "r": lr})
            except Exception:
                raise invalid(f"Layer version {arn} does not exist.") from None
            shown.append({"Arn": arn, "CodeSize": out["Content"]["CodeSize"]})
            descs.append(out["_code"])
        return shown, descs

    @staticmethod
    def _check_config(params: dict) -> None:
        rt = params.get("Runtime")
        if rt is not None and rt not in RUNTIMES:
            raise invalid(f"Value {rt} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
                          f"[{', '.join(RUNTIMES)}] or be a valid ARN")
        t = params.get("Timeout")
        if t is not None and not 1 <= t <= 900:
            raise invalid(f"1 validation error detected: Value '{t}' at 'timeout' failed to satisfy constraint: "
                          f"Member must have value less than or equal to 900")
        m = params.get("MemorySize")
        if m is not None and not 128 <= m <= 10240:
            raise invalid(f"1 validation error detected: Value '{m}' at 'memorySize' failed to satisfy constraint: "
                          f"Member must have value {'greater than or equal to 128' if m < 128 else 'less than or equal to 10240'}")
        dlq = (params.get("DeadLetterConfig") or {}).get("TargetArn")
        if dlq and arn_parts(dlq)[0] not in ("sqs", "sns"):
            raise invalid(f"The provided target arn {dlq} is invalid. Only SQS and SNS are supported.")

    # -- functions -------------------------------------------------------------------------------
    async def _op_CreateFunction(self, ctx, p):
        key, account, region, name, _q = self._target(ctx, p, qualifier=False)
        if p.get("PackageType") == "Image":
            raise invalid("Container images are not supported by this broker: use a .zip file archive.")
        if not p.get("Runtime") or not p.get("Handler"):
            raise invalid("Runtime and Handler are mandatory parameters for functions created with deployment "
                          "packages.")
        self._check_config(p)
        desc = await asyncio.to_thread(codes.code_from_params, self.data_dir, p.get("Code") or {}, self.durable)
        env_ct = await self._env(ctx, account, region, p)
        shown, descs = await self._layers(ctx, account, region, p.get("Layers"))
        q = {k: v for k, v in p.items() if k not in ("Code", "Environment")}
        out = await self._call(ctx, key, account, region, name, "CreateFunction", q, code=desc, env_ct=env_ct,
                               layers=shown, lc=descs)
        return await self._config_out(ctx, out)

    async def _op_UpdateFunctionCode(self, ctx, p):
        key, account, region, name, _q = self._target(ctx, p, qualifier=False)
        src = {k: p[k] for k in ("ZipFile", "S3Bucket", "S3Key", "ImageUri") if p.get(k) is not None}
        desc = await asyncio.to_thread(codes.code_from_params, self.data_dir, src, self.durable)
        q = {k: v for k, v in p.items() if k != "ZipFile"}
        out = await self._call(ctx, key, account, region, name, "UpdateFunctionCode", q, code=desc)
        return await self._config_out(ctx, out)

    async def _op_UpdateFunctionConfiguration(self, ctx, p):
        key, account, region, name, _q = self._target(ctx, p, qualifier=False)
        self._check_config(p)
        extra = {}
        if "Environment" in p or "KMSKeyArn" in p:
            if "Environment" not in p:       # a new key re-seals the current variables
                cur = await self._call(ctx, key, account, region, name, "GetFunctionConfiguration", {})
                cur = await self._config_out(ctx, cur)
                p = {**p, "Environment": cur.get("Environment") or {"Variables": {}}}
            extra["env_ct"] = await self._env(ctx, account, region, p)
        shown, descs = await self._layers(ctx, account, region, p.get("Layers"))
        if shown is not None:
            extra["layers"], extra["lc"] = shown, descs
        q = {k: v for k, v in p.items() if k != "Environment"}
        out = await self._call(ctx, key, account, region, name, "UpdateFunctionConfiguration", q, **extra)
        return await self._config_out(ctx, out)

    async def _op_ListFunctions(self, ctx, p):
        parts = await ctx.cluster.call_all("lambda.List", {"a": ctx.account_id, "r": ctx.region,
                                                           "all": p.get("FunctionVersion") == "ALL"})
        items = sorted((c for _p, lst in parts for c in lst), key=lambda c: (c["FunctionName"], c["Version"] != LATEST,
                                                                             int(c["Version"]) if c["Version"].isdigit() else 0))
        page = _page(items, p, "Functions")
        page["Functions"] = [await self._config_out(ctx, c) for c in page["Functions"]]
        return page

    async def _op_GetAccountSettings(self, ctx, p):
        parts = await ctx.cluster.call_all("lambda.List", {"a": ctx.account_id, "r": ctx.region, "all": True})
        items = [c for _p, lst in parts for c in lst]
        key = acct_key(ctx.account_id, ctx.region)
        pool = await ctx.cluster.call(key, "lambda.Acct", {"op": "Settings", "k": key, "a": ctx.account_id,
                                                           "r": ctx.region})
        return {"AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                                 "ConcurrentExecutions": pool["limit"],
                                 "UnreservedConcurrentExecutions": pool["unreserved"]},
                "AccountUsage": {"TotalCodeSize": sum(c["CodeSize"] for c in items),
                                 "FunctionCount": sum(1 for c in items if c["Version"] == LATEST)}}

    # -- invoke ------------------------------------------------------------------------------------
    async def _op_Invoke(self, ctx, p):
        key, account, region, name, q = self._target(ctx, p)
        kind = p.get("InvocationType") or "RequestResponse"
        payload = p.get("Payload") or b"{}"
        if isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, (bytes, bytearray)):      # Step Functions hands over JSON values
            payload = json.dumps(payload).encode()
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            raise err("RequestTooLargeException", f"Request must be smaller than {limit} bytes for the "
                      f"InvokeFunction operation", 413)
        if payload:
            try:
                json.loads(payload)
            except ValueError:
                raise err("InvalidRequestContentException", "Could not parse request body into json: Could not "
                          "parse payload into json: Unexpected character: was expecting a JSON value", 400) from None
        cc = p.get("ClientContext")
        if cc:
            try:
                cc = base64.b64decode(cc).decode()
            except ValueError:
                raise err("InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON "
                          "object.", 400) from None
        args = {"k": key, "n": name, "a": account, "r": region, "q": q, "t": kind, "pl": payload,
                "l": p.get("LogType") == "Tail" and kind == "RequestResponse", "cc": cc,
                "tr": ctx.trace_header, "rid": ctx.request_id}
        out = await ctx.cluster.call(key, "lambda.Invoke", args)
        res = {"StatusCode": out["s"], "ExecutedVersion": out["v"]}
        if kind == "RequestResponse":
            res["Payload"] = out["p"]
            if out.get("fe"):
                res["FunctionError"] = out["fe"]
            if out.get("log"):
                res["LogResult"] = out["log"]
        else:
            res["Payload"] = b""
        return res

    async def _op_InvokeAsync(self, ctx, p):
        body = p.get("InvokeArgs") or b""
        out = await self._op_Invoke(ctx, {"FunctionName": p["FunctionName"], "InvocationType": "Event",
                                          "Payload": body if isinstance(body, bytes) else body.read()})
        return {"Status": out["StatusCode"]}

    # -- event invoke configs: destinations must be services this broker has -----------------------
    async def _op_PutFunctionEventInvokeConfig(self, ctx, p):
        self._check_destinations(p)
        return await self._fn_op(ctx, "PutFunctionEventInvokeConfig", p)

    async def _op_UpdateFunctionEventInvokeConfig(self, ctx, p):
        self._check_destinations(p)
        return await self._fn_op(ctx, "UpdateFunctionEventInvokeConfig", p)

    @staticmethod
    def _check_destinations(p):
        for side in ("OnSuccess", "OnFailure"):
            dest = ((p.get("DestinationConfig") or {}).get(side) or {}).get("Destination")
            if dest and arn_parts(dest)[0] not in DESTINATION_SERVICES:
                raise invalid(f"The provided destination config DestinationConfig(onSuccess=..., onFailure=...) "
                              f"is invalid: {dest} is not a supported destination.")

    # -- tags (by ARN) --------------------------------------------------------------------------------
    async def _tag_op(self, ctx, op, p):
        key, account, region, name, q = self._target(ctx, p, "Resource", qualifier=False)
        if q:
            raise invalid("Tags on function aliases and versions are not supported. Please specify a function "
                          "ARN.")
        out = await self._call(ctx, key, account, region, name, op, p)
        return _public(out)

    async def _op_TagResource(self, ctx, p):
        return await self._tag_op(ctx, "TagResource", p)

    async def _op_UntagResource(self, ctx, p):
        return await self._tag_op(ctx, "UntagResource", p)

    async def _op_ListTags(self, ctx, p):
        return await self._tag_op(ctx, "ListTags", p)

    # -- function URLs ------------------------------------------------------------------------------------
    async def _op_CreateFunctionUrlConfig(self, ctx, p):
        key, account, region, name, q = self._target(ctx, p)
        pre = await self._call(ctx, key, account, region, name, "CreateFunctionUrlConfig", dict(p, Qualifier=q))
        control = getattr(self.gateway, "control", None)
        if control is None:
            raise err("ServiceException", "Function URLs can only be created through the gateway", 500)
        lname = f"lambda-url-{pre['_open']['id']}"
        lrec = await control.call("listener.open", {
            "name": lname, "protocol": "lambda-url", "tls": "sniff", "scheme": "http", "owner": key,
            "args": {"k": key, "a": account, "r": region, "n": name, "q": pre["_open"]["q"], "id": pre["_open"]["id"]}})
        url = lrec["url"].rstrip("/") + "/"
        try:
            out = await self._call(ctx, key, account, region, name, "CreateFunctionUrlConfig", dict(p, Qualifier=q),
                                   url=url, listener=lname)
        except Exception:
            await control.call("listener.close", {"name": lname})
            raise
        return out

    async def _op_DeleteFunctionUrlConfig(self, ctx, p):
        key, account, region, name, q = self._target(ctx, p)
        out = await self._call(ctx, key, account, region, name, "DeleteFunctionUrlConfig", dict(p, Qualifier=q))
        await self._close_urls(ctx, out.get("_urls") or ())
        return {}

    async def _close_urls(self, ctx, urls) -> None:
        control = getattr(self.gateway, "control", None)
        for u in urls:
            if control is not None and u.get("_listener"):
                try:
                    await control.call("listener.close", {"name": u["_listener"]})
                except Exception:
                    pass

    # -- layers --------------------------------------------------------------------------------------------
    async def _layer_call(self, ctx, op, name, q, **extra):
        account, region = ctx.account_id, ctx.region
        if name.startswith("arn:"):
            _svc, region, account, res = arn_parts(name)
            name = res.split(":")[1] if ":" in res else res
        key = layer_key(account, region, name)
        return await ctx.cluster.call(key, "lambda.Layer", {"k": key, "op": op, "q": q, "a": account, "r": region,
                                                            **extra})

    def _layer_out(self, ctx, out: dict) -> dict:
        res = _public(out)
        res["Content"]["Location"] = f"{ctx.base_url}/_broker/lambda/code/{out['_code'].get('zip', '')}"
        return res

    async def _op_PublishLayerVersion(self, ctx, p):
        desc = await asyncio.to_thread(codes.code_from_params, self.data_dir, p.get("Content") or {}, self.durable)
        q = {k: v for k, v in p.items() if k != "Content"}
        return self._layer_out(ctx, await self._layer_call(ctx, "PublishLayerVersion", p["LayerName"], q, code=desc))

    async def _op_GetLayerVersion(self, ctx, p):
        return self._layer_out(ctx, await self._layer_call(ctx, "GetLayerVersion", p["LayerName"], p))

    async def _op_GetLayerVersionByArn(self, ctx, p):
        arn = p["Arn"]
        head, _, ver = arn.rpartition(":")
        if not ver.isdigit():
            raise invalid(f"1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: Member "
                          f"must satisfy regular expression pattern: "
                          r"(arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
                          r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)")
        return self._layer_out(ctx, await self._layer_call(ctx, "GetLayerVersion", head, {"VersionNumber": int(ver)}))

    async def _op_DeleteLayerVersion(self, ctx, p):
        return await self._layer_call(ctx, "DeleteLayerVersion", p["LayerName"], p)

    async def _op_ListLayerVersions(self, ctx, p):
        out = await self._layer_call(ctx, "ListLayerVersions", p["LayerName"], p)
        return _page(out["_items"], p, "LayerVersions")

    async def _op_ListLayers(self, ctx, p):
        parts = await ctx.cluster.call_all("lambda.LayerList", {"a": ctx.account_id, "r": ctx.region})
        items = sorted((x for _p, lst in parts for x in lst), key=lambda x: x["LayerName"])
        return _page(items, p, "Layers")

    # -- event-source mappings ---------------------------------------------------------------------------------
    async def _esm_function(self, ctx, ident: str) -> str:
        key, account, region, name, q = self._target(ctx, {"FunctionName": ident})
        await self._call(ctx, key, account, region, name, "GetFunctionConfiguration", {"Qualifier": q})
        return fn_arn(region, account, name, q)

    async def _op_CreateEventSourceMapping(self, ctx, p):
        src = p.get("EventSourceArn") or ""
        svc, region, account, qname = arn_parts(src)
        if svc != "sqs":
            raise invalid("Unrecognized event source, must be an Amazon SQS queue ARN: this broker hosts SQS event "
                          "sources only.")
        fifo = qname.endswith(".fifo")
        size = p.get("BatchSize") or 10
        window = p.get("MaximumBatchingWindowInSeconds") or 0
        if fifo and size > 10:
            raise invalid(f"BatchSize must be less than or equal to 10 for FIFO queues: {size}")
        if fifo and window:
            raise invalid("Batching window is not supported for FIFO queues")
        if size > 10 and not window:
            raise invalid("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater "
                          "than 10")
        if not 1 <= size <= 10000:
            raise invalid("BatchSize must be between 1 and 10000 for Amazon SQS event sources")
        from services.internal import caller
        try:
            await caller(ctx.gateway).call("sqs", "GetQueueAttributes", {
                "QueueUrl": f"{ctx.base_url}/queue/{region}/{account}/{qname}", "AttributeNames": ["QueueArn"]},
                account=account, region=region)
        except Exception:
            raise invalid("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService."
                          "NonExistentQueue. SQS Error Message: The specified queue does not exist for this wsdl "
                          "version.") from None
        fn = await self._esm_function(ctx, p["FunctionName"])
        uuid = new_uuid()
        key = esm_key(uuid)
        out = await ctx.cluster.call(key, "lambda.Esm", {"op": "Create", "q": p, "uuid": uuid, "fn": fn,
                                                         "a": ctx.account_id, "r": ctx.region})
        return out

    async def _esm(self, ctx, op, p, **extra):
        key = esm_key(p["UUID"])
        return await ctx.cluster.call(key, "lambda.Esm", {"op": op, "q": p, **extra})

    async def _op_GetEventSourceMapping(self, ctx, p):
        return await self._esm(ctx, "Get", p)

    async def _op_UpdateEventSourceMapping(self, ctx, p):
        fn = await self._esm_function(ctx, p["FunctionName"]) if p.get("FunctionName") else None
        return await self._esm(ctx, "Update", p, fn=fn)

    async def _op_DeleteEventSourceMapping(self, ctx, p):
        return await self._esm(ctx, "Delete", p)

    async def _op_ListEventSourceMappings(self, ctx, p):
        fn = None
        if p.get("FunctionName"):
            _k, account, region, name, q = self._target(ctx, {"FunctionName": p["FunctionName"]})
            fn = fn_arn(region, account, name, q)
        parts = await ctx.cluster.call_all("lambda.EsmList", {"a": ctx.account_id, "r": ctx.region,
                                                              "src": p.get("EventSourceArn"), "fn": fn})
        items = sorted((x for _p, lst in parts for x in lst), key=lambda x: x["UUID"])
        return _page(items, p, "EventSourceMappings", 100)

    async def _op_GetFunctionCodeSigningConfig(self, ctx, p):
        key, account, region, name, _q = self._target(ctx, p, qualifier=False)
        await self._call(ctx, key, account, region, name, "GetFunctionConfiguration", {})
        return {"FunctionName": name, "CodeSigningConfigArn": ""}

    async def _op_GetRuntimeManagementConfig(self, ctx, p):
        key, account, region, name, q = self._target(ctx, p)
        await self._call(ctx, key, account, region, name, "GetFunctionConfiguration", {"Qualifier": q})
        return {"UpdateRuntimeOn": "Auto", "FunctionArn": fn_arn(region, account, name, q)}


__all__ = ["LambdaApi", "not_found"]
