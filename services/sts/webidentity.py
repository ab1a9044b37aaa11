"""AssumeRoleWithWebIdentity: an OIDC token, accepted per ``sts.web_identity_tokens``,
and the role's trust policy evaluated for the provider it names (the call is
unsigned, so this is where it is authorized)."""

from __future__ import annotations

import base64
import json
import time

from services.errors import ServiceError
from services.iam.ids import assumed_role_arn, iam_key
from services.iam.policy import Caller, Context, evaluate, parse

MSG_NOT_JWT = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"


def _claims(token: str) -> dict | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        body = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(body))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def read_token(token: str, mode: str, provider_id: str | None) -> dict:
    """{"iss", "sub", "aud", "exp"} of a token, or InvalidIdentityToken."""
    if mode == "off":
        raise ServiceError("Web identity tokens are not accepted by this server (sts.web_identity_tokens = off).",
                           code="InvalidIdentityToken", status=400)
    claims = _claims(token)
    if claims is None:
        if mode == "any":
            return {"iss": provider_id or "anonymous", "sub": token[:64], "aud": provider_id or "anonymous"}
        raise ServiceError(MSG_NOT_JWT, code="InvalidIdentityToken", status=400)
    if mode == "jwt":
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and exp < time.time():
            now = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
            then = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(exp))
            raise ServiceError(f"Token expired: current date/time {now} must be before the expiration date/time "
                               f"{then}", code="ExpiredTokenException", status=400)
        if not claims.get("iss"):
            raise ServiceError(MSG_NOT_JWT, code="InvalidIdentityToken", status=400)
    aud = claims.get("aud")
    claims["aud"] = aud[0] if isinstance(aud, list) and aud else aud
    claims.setdefault("iss", provider_id or "anonymous")
    return claims


async def assume_role_with_web_identity(ctx, p, mode: str, role_arn_of, session_policies) -> dict:
    account, name = role_arn_of(p["RoleArn"])
    claims = read_token(p["WebIdentityToken"], mode, p.get("ProviderId"))
    iss = str(claims.get("iss"))
    provider = iss.split("://", 1)[-1].rstrip("/")
    role = await ctx.cluster.call(iam_key(account), "iam.Role", {"a": account, "role": name})
    enforcing = getattr(ctx.gateway, "iam_authorizer", None) is not None
    if enforcing:
        caller = Caller(arn=provider, account=account, kind="federated-user",
                        federated_provider=(provider, f"arn:aws:iam::{account}:oidc-provider/{provider}"))
        c = Context()
        for k in ("sub", "aud", "amr", "azp", "email"):
            if claims.get(k) is not None:
                c.set(f"{provider}:{k}", claims[k])
        c.set("aws:CurrentTime", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        trust = parse(role["trust"]) if role and role["arn"] == p["RoleArn"] else None
        d = evaluate("sts:AssumeRoleWithWebIdentity", p["RoleArn"], account, caller, c, (), trust,
                     require_resource=True) if trust is not None else None
        if d is None or not d.allowed:
            raise ServiceError("Not authorized to perform sts:AssumeRoleWithWebIdentity", code="AccessDenied",
                               status=403)
    if role is None:
        role = {"arn": p["RoleArn"], "id": "AROA" + name.upper()[:17].ljust(17, "X"), "name": name, "max": 43200}
    duration = p.get("DurationSeconds") or 3600
    if duration > role["max"]:
        raise ServiceError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                           code="ValidationError", status=400)
    docs = await session_policies(ctx, account, p)
    session = p["RoleSessionName"]
    arn = assumed_role_arn(account, role["name"], session)
    uid = f"{role['id']}:{session}"
    creds = await ctx.cluster.call(iam_key(account), "iam.Session", {
        "a": account, "kind": "assumed-role", "arn": arn, "duration": duration,
        "fields": {"role": role["name"], "role_id": role["id"], "uid": uid, "policies": docs, "tags": {}}})
    out = {"Credentials": creds, "AssumedRoleUser": {"AssumedRoleId": uid, "Arn": arn},
           "SubjectFromWebIdentityToken": str(claims.get("sub", "")), "Provider": iss}
    if claims.get("aud") is not None:
        out["Audience"] = str(claims["aud"])
    return out
