"""STS: the role's trust policy is the resource policy of ``sts:AssumeRole``
and must allow even within the role's account. GetCallerIdentity needs no
permission (AWS answers it even under an explicit deny)."""

from __future__ import annotations

from services.iam.declare.default import denied  # noqa: F401 (the default shape)

require_resource = True
UNCHECKED = frozenset({"GetCallerIdentity", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})


def checks(ctx, operation: str, params: dict) -> list:
    if operation in UNCHECKED:
        return []
    if operation == "AssumeRole":
        extra = {"sts:RoleSessionName": params.get("RoleSessionName"), "sts:ExternalId": params.get("ExternalId"),
                 "sts:SourceIdentity": params.get("SourceIdentity")}
        tags = params.get("Tags") or []
        out = [("sts:AssumeRole", params.get("RoleArn", "*"), extra)]
        if tags:
            tag_keys = {"aws:TagKeys": [t["Key"] for t in tags],
                        "sts:TransitiveTagKeys": list(params.get("TransitiveTagKeys") or [])}
            tag_keys.update({f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags})
            extra.update(tag_keys)
            out.append(("sts:TagSession", params.get("RoleArn", "*"), extra))
        return out
    return [(f"sts:{operation}", "*", None)]


async def policy(host, arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    from services.iam.ids import iam_key
    rec = await host.cluster.call(iam_key(parts[4]), "iam.Role", {"a": parts[4], "role": parts[5].rsplit("/", 1)[-1]})
    return rec["trust"] if rec and rec["arn"] == arn else None


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    return []


def action_text(action: str) -> str:
    return action
