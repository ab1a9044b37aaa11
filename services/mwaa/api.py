"""MWAA gateway half (rest-json): validation, listeners and Airflow's REST API here; state on the shard.

Each environment's web server URL is a runtime listener (HTTPS, protocol
``mwaa-web``, on every gateway) opened before the environment's record is
written and closed when it is deleted; requests on it are served by
web.py. InvokeRestApi goes from here straight to the environment's API
server on loopback, with a JWT of the environment's Airflow admin.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from urllib.parse import urlencode

from services.errors import NotImplementedOperation, ServiceError
from services.mwaa import airflow_http
from services.mwaa.model import (
    CLASSES, LOG_MODULES, RESERVED_OPTIONS, UPDATABLE, env_key, err, invalid, log_group, major, parse_arn,
    supported_versions,
)

_TIMESTAMPS = ("CreatedAt",)


def _public(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if not k.startswith("_")}
    for k in _TIMESTAMPS:
        if k in out:
            out[k] = datetime.fromtimestamp(out[k], timezone.utc)
    lu = out.get("LastUpdate")
    if lu and "CreatedAt" in lu:
        out["LastUpdate"] = {**lu, "CreatedAt": datetime.fromtimestamp(lu["CreatedAt"], timezone.utc)}
    return out


def logging_config(account: str, region: str, name: str, given: dict | None, current: dict | None = None) -> dict:
    """LoggingConfiguration as GetEnvironment shows it (every module; group ARNs of enabled ones)."""
    out = {}
    for module in LOG_MODULES:
        cur = (current or {}).get(module) or {"Enabled": False, "LogLevel": "INFO"}
        new = (given or {}).get(module)
        m = {"Enabled": bool(new["Enabled"]), "LogLevel": new.get("LogLevel") or "INFO"} if new else \
            {"Enabled": cur["Enabled"], "LogLevel": cur["LogLevel"]}
        if m["Enabled"]:
            m["CloudWatchLogGroupArn"] = f"arn:aws:logs:{region}:{account}:log-group:{log_group(name, module)}"
        out[module] = m
    return out


def _check(p: dict) -> None:
    version = p.get("AirflowVersion")
    if version is not None and version not in supported_versions():
        raise invalid(f"Invalid AirflowVersion: {version}. Valid values: {', '.join(supported_versions())}.")
    cls = p.get("EnvironmentClass")
    if cls is not None and cls not in CLASSES:
        raise invalid(f"Invalid EnvironmentClass: {cls}. Valid values: {', '.join(CLASSES)}.")
    lo, hi = p.get("MinWorkers"), p.get("MaxWorkers")
    if lo is not None and hi is not None and lo > hi:
        raise invalid("MinWorkers must be less than or equal to MaxWorkers.")
    lo, hi = p.get("MinWebservers"), p.get("MaxWebservers")
    if lo is not None and hi is not None and lo > hi:
        raise invalid("MinWebservers must be less than or equal to MaxWebservers.")
    for k in (p.get("AirflowConfigurationOptions") or {}):
        if k in RESERVED_OPTIONS:
            raise invalid(f"The Airflow configuration option {k} is managed by Amazon MWAA and cannot be set.")
        if "." not in k:
            raise invalid(f"Invalid Airflow configuration option {k}: expected <section>.<key>.")
    for path_field in ("DagS3Path", "PluginsS3Path", "RequirementsS3Path", "StartupScriptS3Path"):
        v = p.get(path_field)
        if v and ".." in v.split("/"):
            raise invalid(f"Invalid {path_field}: {v}")
    for ver, path in (("PluginsS3ObjectVersion", "PluginsS3Path"), ("RequirementsS3ObjectVersion",
                                                                    "RequirementsS3Path"),
                      ("StartupScriptS3ObjectVersion", "StartupScriptS3Path")):
        if p.get(ver) and not p.get(path):
            raise invalid(f"{ver} requires {path}.")


class MwaaApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = getattr(self, "_op_" + operation, None)
        if fn is None:
            raise NotImplementedOperation(f"MWAA {operation} is not implemented by this broker.")
        return await fn(ctx, params)

    async def _env(self, ctx, op: str, name: str, account: str | None = None, region: str | None = None, **extra):
        account, region = account or ctx.account_id, region or ctx.region
        key = env_key(account, region, name)
        return await ctx.cluster.call(key, "mwaa.Env", {"k": key, "op": op, "n": name, "a": account, "r": region,
                                                        **extra})

    # -- environments ---------------------------------------------------------------------------------
    async def _op_CreateEnvironment(self, ctx, p):
        _check(p)
        name = p["Name"]
        account, region = ctx.account_id, ctx.region
        key = env_key(account, region, name)
        control = getattr(self.gateway, "control", None)
        if control is None:
            raise err("InternalServerException", "Environments can only be created through the gateway.", 500)
        lname = f"mwaa-{region}-{account}-{name}"
        lrec = await control.call("listener.open", {"name": lname, "protocol": "mwaa-web", "tls": "always",
                                                    "scheme": "https", "owner": key,
                                                    "args": {"k": key, "a": account, "r": region, "n": name}})
        host = lrec["url"].split("://", 1)[1].rstrip("/")
        try:
            return await self._env(ctx, "Create", name, q=p, host=host, listener=lname,
                                   logging=logging_config(account, region, name, p.get("LoggingConfiguration")))
        except ServiceError as exc:
            if exc.code != "ValidationException" or "already exists" not in exc.message:
                await control.call("listener.close", {"name": lname})
            raise

    async def _op_GetEnvironment(self, ctx, p):
        return {"Environment": _public(await self._env(ctx, "Get", p["Name"]))}

    async def _op_ListEnvironments(self, ctx, p):
        parts = await ctx.cluster.call_all("mwaa.List", {"a": ctx.account_id, "r": ctx.region})
        names = [n for _t, n in sorted(x for _p, lst in parts for x in lst)]
        start = 0
        if p.get("NextToken"):
            try:
                start = int(base64.b64decode(p["NextToken"]).decode())
            except ValueError:
                raise invalid("Invalid NextToken.") from None
        n = p.get("MaxResults") or 25
        out = {"Environments": names[start:start + n]}
        if start + n < len(names):
            out["NextToken"] = base64.b64encode(str(start + n).encode()).decode()
        return out

    async def _op_UpdateEnvironment(self, ctx, p):
        _check(p)
        name = p["Name"]
        cur = await self._env(ctx, "Get", name)
        changes = {k: p[k] for k in UPDATABLE if k in p and k != "LoggingConfiguration"}
        if "AirflowVersion" in changes and major(changes["AirflowVersion"]) < major(cur["AirflowVersion"]):
            raise invalid(f"Downgrading from Apache Airflow {cur['AirflowVersion']} to {changes['AirflowVersion']} "
                          f"is not supported.")
        if "LoggingConfiguration" in p:
            changes["LoggingConfiguration"] = logging_config(ctx.account_id, ctx.region, name,
                                                             p["LoggingConfiguration"], cur.get("LoggingConfiguration"))
        if "NetworkConfiguration" in changes:
            changes["NetworkConfiguration"] = {**(cur.get("NetworkConfiguration") or {}),
                                               **changes["NetworkConfiguration"]}
        return await self._env(ctx, "Update", name, changes=changes, strategy=p.get("WorkerReplacementStrategy"))

    async def _op_DeleteEnvironment(self, ctx, p):
        out = await self._env(ctx, "Delete", p["Name"])
        control = getattr(self.gateway, "control", None)
        if control is not None and out.get("_listener"):
            try:
                await control.call("listener.close", {"name": out["_listener"]})
            except Exception:
                pass
        return {}

    # -- tokens -------------------------------------------------------------------------------------------
    async def _op_CreateCliToken(self, ctx, p):
        out = await self._env(ctx, "Token", p["Name"], kind="cli", identity=_identity(ctx))
        return {"CliToken": out["token"], "WebServerHostname": out["host"]}

    async def _op_CreateWebLoginToken(self, ctx, p):
        identity = _identity(ctx)
        out = await self._env(ctx, "Token", p["Name"], kind="web", identity=identity)
        return {"WebToken": out["token"], "WebServerHostname": out["host"], "IamIdentity": identity,
                "AirflowIdentity": "admin"}

    # -- Airflow's REST API ----------------------------------------------------------------------------------
    async def _op_InvokeRestApi(self, ctx, p):
        name = p["Name"]
        acc = await self._env(ctx, "Access", name)
        if acc["status"] not in ("AVAILABLE", "UPDATING") or not acc["port"]:
            raise invalid(f"Environment {name} is not available (status {acc['status']}).")
        path = p["Path"] if p["Path"].startswith("/") else "/" + p["Path"]
        prefix = "/api/v2" if major(acc["version"]) >= 3 else "/api/v1"
        query = p.get("QueryParameters") or {}
        if not isinstance(query, dict):
            raise invalid("QueryParameters must be a JSON object.")
        qs = urlencode([(k, str(v).lower() if isinstance(v, bool) else v) for k, vals in query.items()
                        for v in (vals if isinstance(vals, list) else [vals])])
        body = p.get("Body")
        data = json.dumps(body).encode() if body is not None else None
        status, headers, raw = await airflow_http.request(acc, p["Method"], prefix + path + ("?" + qs if qs else ""),
                                                          data)
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"body": raw.decode("utf-8", "replace")}
        if status >= 500:
            raise err("RestApiServerException", "The Apache Airflow REST API returned a server error.", 400,
                      RestApiStatusCode=status, RestApiResponse=doc)
        if status >= 400:
            raise err("RestApiClientException", "The Apache Airflow REST API returned a client error.", 400,
                      RestApiStatusCode=status, RestApiResponse=doc)
        return {"RestApiStatusCode": status, "RestApiResponse": doc}

    # -- metrics -------------------------------------------------------------------------------------------------
    async def _op_PublishMetrics(self, ctx, p):
        from broker.runtime import telemetry
        name = p["EnvironmentName"]
        await self._env(ctx, "Get", name)
        for d in p.get("MetricData") or ():
            dims = {"Environment": name, **{x["Name"]: x["Value"] for x in d.get("Dimensions") or ()}}
            if d.get("Value") is not None:
                telemetry.metric("AmazonMWAA", d["MetricName"], dims, float(d["Value"]), d.get("Unit") or "None",
                                 account=ctx.account_id, region=ctx.region)
        return {}

    # -- tags ------------------------------------------------------------------------------------------------------
    async def _op_TagResource(self, ctx, p):
        account, region, name = parse_arn(p["ResourceArn"])
        return await self._env(ctx, "Tag", name, account, region, tags=p.get("Tags") or {})

    async def _op_UntagResource(self, ctx, p):
        account, region, name = parse_arn(p["ResourceArn"])
        return await self._env(ctx, "Tag", name, account, region, untag=p.get("tagKeys") or [])

    async def _op_ListTagsForResource(self, ctx, p):
        account, region, name = parse_arn(p["ResourceArn"])
        rec = await self._env(ctx, "Get", name, account, region)
        return {"Tags": rec.get("Tags") or {}}


def _identity(ctx) -> str:
    """The caller as MWAA names it (e.g. ``assumed-role/Admin/me``, ``user/alice``, ``root``)."""
    arn = ctx.principal_arn or ""
    res = arn.split(":", 5)[5] if arn.count(":") >= 5 else arn
    return res or "root"
