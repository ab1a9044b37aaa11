"""KMS: key policies. A key policy must allow even within the key's account
(its default statement names the account root, delegating to IAM policies).
Aliases are resolved to their key before evaluation."""

from __future__ import annotations

from services.iam.declare.default import denied, read  # noqa: F401 (denied: the default shape)

require_resource = True
_ALIAS_OPS = {"CreateAlias", "UpdateAlias", "DeleteAlias"}


def _key_arn(ctx, key_id) -> str:
    if not isinstance(key_id, str) or not key_id:
        return "*"
    if key_id.startswith("arn:"):
        return key_id
    return f"arn:aws:kms:{ctx.region}:{ctx.account_id}:{key_id if key_id.startswith('alias/') else 'key/' + key_id}"


def checks(ctx, operation: str, params: dict) -> list:
    action = f"kms:{operation}"
    if operation in _ALIAS_OPS:
        out = [(action, _key_arn(ctx, params.get("AliasName")), None)]
        if params.get("TargetKeyId"):
            out.append((action, _key_arn(ctx, params["TargetKeyId"]), None))
        return out
    extra = None
    if params.get("EncryptionContext"):
        extra = {f"kms:EncryptionContext:{k}": v for k, v in params["EncryptionContext"].items()}
        extra["kms:EncryptionContextKeys"] = list(params["EncryptionContext"])
    return [(action, _key_arn(ctx, params.get("KeyId") or params.get("DestinationKeyId")), extra)]


async def policy(host, arn: str):
    """(key policy, key ARN) of the key an ARN (key or alias) names."""
    parts = arn.split(":")
    if len(parts) != 6 or not (parts[5].startswith("key/") or parts[5].startswith("alias/")):
        return None
    meta = await read(host, "kms", "DescribeKey", {"KeyId": arn}, parts[4], parts[3])
    if meta is None:
        return None
    key_arn = meta["KeyMetadata"]["Arn"]
    out = await read(host, "kms", "GetKeyPolicy", {"KeyId": key_arn, "PolicyName": "default"}, parts[4], parts[3])
    return ((out or {}).get("Policy"), key_arn)


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    if operation in ("PutKeyPolicy", "ScheduleKeyDeletion", "CancelKeyDeletion", *_ALIAS_OPS):
        return [arn for _, arn, _ in checks(ctx, operation, params) if arn != "*"]
    return []


def action_text(action: str) -> str:
    return action
