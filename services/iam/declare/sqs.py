"""SQS: queue policies. Batch operations are checked as their single forms
(AWS has no ``sqs:SendMessageBatch``); SQS spells the action in lower case in
its AccessDenied text."""

from __future__ import annotations

from services.errors import ServiceError
from services.iam.declare.default import denied as _denied, read

_SINGLE = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
           "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
_NO_QUEUE = {"ListQueues", "ListMessageMoveTasks", "StartMessageMoveTask", "CancelMessageMoveTask"}
require_resource = False


_PARSED: dict[str, tuple | None] = {}      # queue URL -> (region, account, name): parsed once, not per request
_MAX_PARSED = 4096


def _queue_arn(ctx, params) -> str | None:
    url = params.get("QueueUrl") or (ctx.path if ctx.path not in ("", "/") else None)
    if not url:
        return None
    try:
        parsed = _PARSED[url]
    except KeyError:
        from services.sqs.urls import parse_queue_url
        try:
            parsed = parse_queue_url(url)
        except Exception:
            parsed = None
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        _PARSED[url] = parsed
    if parsed is None:
        return None
    region, account, name = parsed
    return f"arn:aws:sqs:{region or ctx.region}:{account or ctx.account_id}:{name}"


def checks(ctx, operation: str, params: dict) -> list:
    action = "sqs:" + _SINGLE.get(operation, operation)
    if operation == "CreateQueue":
        return [(action, f"arn:aws:sqs:{ctx.region}:{ctx.account_id}:{params.get('QueueName', '')}", None)]
    if operation == "GetQueueUrl":
        owner = params.get("QueueOwnerAWSAccountId") or ctx.account_id
        return [(action, f"arn:aws:sqs:{ctx.region}:{owner}:{params.get('QueueName', '')}", None)]
    if operation in _NO_QUEUE:
        return [(action, params.get("SourceArn") or "*", None)]
    return [(action, _queue_arn(ctx, params) or "*", None)]


async def policy(host, arn: str) -> str | None:
    from services.sqs.urls import queue_url_of_arn
    parts = arn.split(":")
    out = await read(host, "sqs", "GetQueueAttributes", {"QueueUrl": queue_url_of_arn(arn),
                                                         "AttributeNames": ["Policy"]}, parts[4], parts[3])
    return ((out or {}).get("Attributes") or {}).get("Policy")


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    if operation in ("AddPermission", "RemovePermission", "DeleteQueue", "CreateQueue") or (
            operation == "SetQueueAttributes" and "Policy" in (params.get("Attributes") or {})):
        arn = checks(ctx, operation, params)[0][1]
        return [arn] if arn != "*" else []
    return []


def denied(ctx, message: str) -> ServiceError:
    e = _denied(ctx, message)
    e.code, e.status = "AccessDenied", 403
    return e


def action_text(action: str) -> str:
    return action.lower()
