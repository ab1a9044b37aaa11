"""SNS: topic policies. Subscription operations address the subscription's
topic; SNS answers AuthorizationError and spells the service ``SNS:``."""

from __future__ import annotations

from services.errors import ServiceError
from services.iam.declare.default import read

require_resource = False


def _topic(ctx, params) -> str:
    arn = params.get("TopicArn")
    if not arn and params.get("SubscriptionArn"):
        arn = params["SubscriptionArn"].rsplit(":", 1)[0]
    if not arn and params.get("TargetArn", "").startswith("arn:aws:sns:") and params["TargetArn"].count(":") == 5:
        arn = params["TargetArn"]
    if not arn and params.get("ResourceArn"):
        arn = params["ResourceArn"]
    return arn or "*"


def checks(ctx, operation: str, params: dict) -> list:
    if operation == "CreateTopic":
        return [("sns:CreateTopic", f"arn:aws:sns:{ctx.region}:{ctx.account_id}:{params.get('Name', '')}", None)]
    extra = None
    if operation == "Subscribe":
        extra = {"sns:Protocol": params.get("Protocol"), "sns:Endpoint": params.get("Endpoint")}
    return [(f"sns:{operation}", _topic(ctx, params), extra)]


async def policy(host, arn: str) -> str | None:
    parts = arn.split(":")
    out = await read(host, "sns", "GetTopicAttributes", {"TopicArn": arn}, parts[4], parts[3])
    return ((out or {}).get("Attributes") or {}).get("Policy")


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    if operation in ("AddPermission", "RemovePermission", "DeleteTopic", "CreateTopic") or (
            operation == "SetTopicAttributes" and params.get("AttributeName") == "Policy"):
        arn = checks(ctx, operation, params)[0][1]
        return [arn] if arn != "*" else []
    return []


def denied(ctx, message: str) -> ServiceError:
    return ServiceError(message, code="AuthorizationError", status=403)


def action_text(action: str) -> str:
    return "SNS:" + action.split(":", 1)[1]
