"""STS: who the caller is, and temporary credentials.

Sessions live in the IAM partition of the account they act in
(services/iam/shard.py ``iam.Session``); their keys (``ASIA...``) carry that
account, so any gateway finds them, and SigV4 checks their session token and
expiry. With credentials configured the gateway has already evaluated
``sts:AssumeRole`` against the role's trust policy (and the caller's own
policies across accounts) before AssumeRole runs here; web identities are
evaluated here, since that call is unsigned.
"""

from __future__ import annotations

from services.errors import ServiceError
from services.iam.ids import account_of_key, assumed_role_arn, iam_key, unique_id
from services.iam.policy import MalformedPolicy, validate
from services.sts.webidentity import assume_role_with_web_identity

MAX_CHAINED = 3600


def _err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def _authorizer(ctx):
    return getattr(ctx.gateway, "iam_authorizer", None)


def _role_arn(arn: str) -> tuple[str, str]:
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2] or not parts[5]:
        raise _err("ValidationError", f"{arn} is invalid")
    if (parts[2] != "iam" or not parts[5].startswith("role/") or len(parts[4]) != 12
            or not parts[4].isascii() or not parts[4].isdigit()):       # an IAM role lives in an account
        raise _err("ValidationError", f"{arn} is invalid")
    return parts[4], parts[5].rsplit("/", 1)[-1]


def session_tags(tags, transitive) -> dict:
    seen = {}
    for t in tags or ():
        k = t["Key"].lower()
        if k in seen:
            raise _err("InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case "
                                                "insensitive.")
        seen[k] = t
    for k in transitive or ():
        if k.lower() not in seen:
            raise _err("InvalidParameterValue", "The specified transitive tag key must be included in the "
                                                "requested tags.")
    return {t["Key"]: t["Value"] for t in seen.values()}


async def session_policies(ctx, account: str, params: dict) -> list | None:
    docs = []
    if params.get("Policy"):
        try:
            validate(params["Policy"], "session")
        except MalformedPolicy as exc:
            raise _err("MalformedPolicyDocument", str(exc)) from None
        docs.append(params["Policy"])
    arns = [p["arn"] for p in params.get("PolicyArns") or () if p.get("arn")]
    if arns:
        docs += await ctx.cluster.call(iam_key(account), "iam.PolicyDocs", {"a": account, "arns": arns})
    return docs if (params.get("Policy") or arns) else None


def packed_size(params: dict) -> int | None:
    if not (params.get("Policy") or params.get("PolicyArns") or params.get("Tags")):
        return None
    size = len(params.get("Policy") or "") + 40 * len(params.get("PolicyArns") or ())
    size += sum(len(t["Key"]) + len(t["Value"]) for t in params.get("Tags") or ())
    return max(1, min(100, size * 100 // 2048))


class StsApi:
    def __init__(self, gateway):
        self.gateway = gateway
        self.web_tokens = gateway.run.config.get("sts.web_identity_tokens", "jwt")

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = getattr(self, f"_{operation}", None)
        if fn is None:
            raise ServiceError(f"STS {operation} is not implemented by this broker yet.", code="NotImplemented",
                               status=501, sender_fault=False)
        return await fn(ctx, params)

    async def _GetCallerIdentity(self, ctx, p):
        authz = _authorizer(ctx)
        entry = authz.entry(ctx.access_key) if authz is not None else None
        if entry is None:
            arn = ctx.principal_arn
            return {"UserId": ctx.account_id if arn.endswith(":root") else ctx.access_key,
                    "Account": ctx.account_id, "Arn": arn}
        c = entry.caller
        if c.kind == "root":
            user_id = c.account
        elif c.kind == "assumed-role":
            user_id = c.unique_id or c.arn
        elif c.kind == "federated-user":
            user_id = f"{c.account}:{c.arn.rsplit('/', 1)[-1]}"
        else:
            user_id = c.unique_id or ctx.access_key
        return {"UserId": user_id, "Account": c.account, "Arn": c.arn}

    async def _GetAccessKeyInfo(self, ctx, p):
        kid = p["AccessKeyId"]
        authz = _authorizer(ctx)
        conf = authz.configured.get(kid) if authz is not None else None
        account = conf.caller.account if conf is not None else account_of_key(kid)
        if account is None:
            account = ctx.account_id
        return {"Account": account}

    async def _AssumeRole(self, ctx, p):
        account, name = _role_arn(p["RoleArn"])
        tags = session_tags(p.get("Tags"), p.get("TransitiveTagKeys"))
        duration = p.get("DurationSeconds") or 3600
        authz = _authorizer(ctx)
        entry = authz.entry(ctx.access_key) if authz is not None else None
        if entry is not None and entry.caller.kind == "assumed-role" and duration > MAX_CHAINED:
            raise _err("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for "
                                          "roles assumed by role chaining.")
        if entry is not None and entry.caller.kind == "assumed-role":
            tags = {**{k: v for k, v in entry.caller.tags.items()}, **tags}
        role = await ctx.cluster.call(iam_key(account), "iam.Role", {"a": account, "role": name})
        if role is None or role["arn"] != p["RoleArn"]:
            if authz is not None:
                raise _err("AccessDenied", f"User: {ctx.principal_arn} is not authorized to perform: "
                                           f"sts:AssumeRole on resource: {p['RoleArn']}", 403)
            role = {"arn": p["RoleArn"], "id": unique_id("AROA"), "name": name, "max": 43200}
        if duration > role["max"]:
            raise _err("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                                          "this role.")
        docs = await session_policies(ctx, account, p)
        session = p["RoleSessionName"]
        arn = assumed_role_arn(account, role["name"], session)
        uid = f"{role['id']}:{session}"
        creds = await ctx.cluster.call(iam_key(account), "iam.Session", {
            "a": account, "kind": "assumed-role", "arn": arn, "duration": duration,
            "fields": {"role": role["name"], "role_id": role["id"], "uid": uid, "policies": docs, "tags": tags,
                       "source_identity": p.get("SourceIdentity")}})
        out = {"Credentials": creds, "AssumedRoleUser": {"AssumedRoleId": uid, "Arn": arn}}
        size = packed_size(p)
        if size is not None:
            out["PackedPolicySize"] = size
        if p.get("SourceIdentity"):
            out["SourceIdentity"] = p["SourceIdentity"]
        return out

    async def _AssumeRoleWithWebIdentity(self, ctx, p):
        return await assume_role_with_web_identity(ctx, p, self.web_tokens, _role_arn, session_policies)

    def _long_term_caller(self, ctx, what: str):
        authz = _authorizer(ctx)
        entry = authz.entry(ctx.access_key) if authz is not None else None
        if entry is not None and (entry.token is not None or entry.caller.kind not in ("user", "root")):
            raise _err("AccessDenied", f"Cannot call {what} with session credentials", 403)
        return entry

    async def _GetSessionToken(self, ctx, p):
        entry = self._long_term_caller(ctx, "GetSessionToken")
        duration = p.get("DurationSeconds") or 43200
        caller = entry.caller if entry is not None else None
        fields = {"user": caller.name if caller else ctx.user_name, "uid": caller.unique_id if caller else None,
                  "admin": caller.admin if caller else True}
        kind = "root" if (caller is None and ctx.principal_arn.endswith(":root")) or (
            caller is not None and caller.kind == "root") else "user"
        creds = await ctx.cluster.call(iam_key(ctx.account_id), "iam.Session", {
            "a": ctx.account_id, "kind": kind, "arn": ctx.principal_arn, "duration": duration, "fields": fields})
        return {"Credentials": creds}

    async def _GetFederationToken(self, ctx, p):
        entry = self._long_term_caller(ctx, "GetFederationToken")
        caller = entry.caller if entry is not None else None
        name = p["Name"]
        arn = f"arn:aws:sts::{ctx.account_id}:federated-user/{name}"
        docs = await session_policies(ctx, ctx.account_id, p)
        fields = {"user": caller.name if caller else None, "admin": caller.admin if caller else True,
                  "uid": f"{ctx.account_id}:{name}", "policies": docs if docs is not None else [],
                  "tags": session_tags(p.get("Tags"), None)}
        creds = await ctx.cluster.call(iam_key(ctx.account_id), "iam.Session", {
            "a": ctx.account_id, "kind": "federated-user", "arn": arn, "duration": p.get("DurationSeconds") or 43200,
            "fields": fields})
        out = {"Credentials": creds, "FederatedUser": {"FederatedUserId": f"{ctx.account_id}:{name}", "Arn": arn}}
        out["PackedPolicySize"] = packed_size(p) or 0
        return out
