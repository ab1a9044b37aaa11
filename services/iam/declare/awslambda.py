"""Lambda: invocations are ``lambda:InvokeFunction`` on the function (qualified
when a version or alias is named, as AWS evaluates them), and function
policies (AddPermission) are its resource policies. Other operations keep the
default declaration."""

from __future__ import annotations

from services.iam.declare.default import action_text, denied, read  # noqa: F401 (the default shapes)
from services.iam.declare.default import checks as _default_checks

require_resource = False
_INVOKE = frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream"})
_POLICY_OPS = frozenset({"AddPermission", "RemovePermission", "DeleteFunction", "CreateFunction"})


def _function(ctx, params) -> str | None:
    from services.awslambda.model import fn_arn, parse_function
    ident = params.get("FunctionName")
    if not isinstance(ident, str):
        return None
    try:
        account, region, name, q = parse_function(ident, ctx.account_id, ctx.region, params.get("Qualifier"))
    except Exception:
        return None
    return fn_arn(region, account, name, q)


def checks(ctx, operation: str, params: dict) -> list:
    if operation in _INVOKE:
        return [("lambda:InvokeFunction", _function(ctx, params) or "*", None)]
    return _default_checks(ctx, operation, params)


async def policy(host, arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) < 7 or parts[5] != "function":
        return None
    params = {"FunctionName": ":".join(parts[:7])}
    if len(parts) > 7:
        params["Qualifier"] = parts[7]
    out = await read(host, "lambda", "GetPolicy", params, parts[4], parts[3])
    return (out or {}).get("Policy")


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    if operation in _POLICY_OPS:
        arn = _function(ctx, params)
        if arn:
            base = ":".join(arn.split(":")[:7])
            return [arn] if arn == base else [arn, base]
    return []
