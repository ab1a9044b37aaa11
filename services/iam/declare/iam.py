"""IAM: the ARN of the user, group, role, policy or instance profile an
operation names; ``iam:PolicyARN`` and ``iam:PermissionsBoundary`` for the
operations that attach policies, and the request-tag keys."""

from __future__ import annotations

from services.iam.declare.default import denied  # noqa: F401 (the default shape)

require_resource = False
_NAMES = (("UserName", "user"), ("RoleName", "role"), ("GroupName", "group"),
          ("InstanceProfileName", "instance-profile"))


def checks(ctx, operation: str, params: dict) -> list:
    a = ctx.account_id
    resource = params.get("PolicyArn") if operation in ("CreatePolicyVersion", "DeletePolicy", "GetPolicy",
                                                        "GetPolicyVersion", "ListPolicyVersions",
                                                        "DeletePolicyVersion", "SetDefaultPolicyVersion",
                                                        "TagPolicy", "UntagPolicy", "ListPolicyTags",
                                                        "ListEntitiesForPolicy") else None
    if resource is None:
        for param, word in _NAMES:
            if params.get(param):
                resource = f"arn:aws:iam::{a}:{word}/{params[param]}"
                break
    if resource is None and operation == "CreatePolicy":
        resource = f"arn:aws:iam::{a}:policy{params.get('Path') or '/'}{params.get('PolicyName', '')}"
    if resource is None and operation in ("CreateAccessKey", "ListAccessKeys", "UpdateAccessKey",
                                          "DeleteAccessKey", "GetUser") and ":user/" in ctx.principal_arn:
        resource = ctx.principal_arn
    if resource is None:
        resource = params.get("PolicySourceArn") or "*"
    extra = {}
    if params.get("PolicyArn") and operation.startswith(("Attach", "Detach")):
        extra["iam:PolicyARN"] = params["PolicyArn"]
    if params.get("PermissionsBoundary"):
        extra["iam:PermissionsBoundary"] = params["PermissionsBoundary"]
    tags = params.get("Tags")
    if tags:
        extra["aws:TagKeys"] = [t["Key"] for t in tags]
        extra.update({f"aws:RequestTag/{t['Key']}": t.get("Value", "") for t in tags})
    elif params.get("TagKeys"):
        extra["aws:TagKeys"] = list(params["TagKeys"])
    return [(f"iam:{operation}", resource, extra or None)]


policy = None


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    return []       # the IAM shard pushes its own changes


def action_text(action: str) -> str:
    return action
