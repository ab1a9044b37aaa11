"""Scheduler targets: templated targets of the services this broker has, and
universal targets (``arn:aws:scheduler:::aws-sdk:<service>:<operation>``,
whose Input is the operation's request as JSON).

The context attributes ``<aws.scheduler.schedule-arn>``,
``<aws.scheduler.scheduled-time>``, ``<aws.scheduler.execution-id>`` and
``<aws.scheduler.attempt-number>`` are filled in at each attempt.

Every invocation, and the dead-letter event sent to the DLQ, is made as the
schedule's execution role (``Target.RoleArn``), which must trust
``scheduler.amazonaws.com``; with IAM enforced a refused call is a failed
invocation like any other (AccessDenied: not retried, straight to the DLQ).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from broker.runtime import sinks
from services.events.delivery import as_failure
from services.events.names import iso
from services.internal import caller

# aws-sdk service ids (as in universal target ARNs) -> botocore service names
SDK_SERVICES = {"sfn": "stepfunctions", "eventbridge": "events", "cloudwatchlogs": "logs",
                "cloudwatch": "cloudwatch", "sesv2": "sesv2"}


def _context(text: str, d: sinks.Delivery) -> str:
    t, b = d.target, d.body
    for k, v in (("<aws.scheduler.schedule-arn>", t["schedule"]),
                 ("<aws.scheduler.scheduled-time>", iso(b["time"])),
                 ("<aws.scheduler.execution-id>", b["xid"]),
                 ("<aws.scheduler.attempt-number>", str(d.attempt))):
        text = text.replace(k, v)
    return text


def _queue_url(c, arn: str) -> str:
    p = arn.split(":")
    return f"http://{c.netloc}/{p[4]}/{p[5]}"


def _to_model(service: str, operation: str, params: dict) -> dict:
    """JSON request members -> what the codec would give the service (blobs as
    bytes, timestamps as datetimes), guided by the botocore model."""
    import botocore.session
    try:
        shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    except Exception:
        return params

    def conv(v, s):
        if s is None or v is None:
            return v
        t = s.type_name
        if t == "structure" and isinstance(v, dict):
            return {k: conv(x, s.members.get(k)) for k, x in v.items()}
        if t == "list" and isinstance(v, list):
            return [conv(x, s.member) for x in v]
        if t == "map" and isinstance(v, dict):
            return {k: conv(x, s.value) for k, x in v.items()}
        if t == "blob" and isinstance(v, str):
            try:
                return base64.b64decode(v)
            except ValueError:
                return v.encode()
        if t == "timestamp":
            if isinstance(v, (int, float)):
                return datetime.fromtimestamp(v, timezone.utc)
            if isinstance(v, str):
                return datetime.fromisoformat(v.replace("Z", "+00:00"))
        return v
    return conv(params, shape)


async def deliver(d: sinks.Delivery) -> None:
    t = d.target
    c = caller(d.partition.shard)
    arn = t["arn"]
    raw = d.body.get("input")
    payload = _context(raw, d) if raw is not None else "{}"
    # every invocation is made as the schedule's execution role (evaluated when IAM is enforced)
    kw = {"account": t["a"], "region": t["r"], "source_arn": t["schedule"], "role_arn": t.get("role")}
    parts = arn.split(":")
    svc = parts[2] if len(parts) > 2 else ""
    try:
        if arn.startswith("arn:aws:scheduler:::aws-sdk:"):
            sdk, _, op = arn[len("arn:aws:scheduler:::aws-sdk:"):].partition(":")
            service = SDK_SERVICES.get(sdk, sdk)
            operation = op[:1].upper() + op[1:]
            try:
                params = json.loads(payload) if payload.strip() else {}
            except ValueError:
                raise sinks.Failed("Input is not valid JSON for a universal target.", False, "INVALID_JSON") from None
            await c.call(service, operation, _to_model(service, operation, params), **kw)
        elif svc == "sqs":
            params = {"QueueUrl": _queue_url(c, arn), "MessageBody": payload}
            group = (t.get("sqs") or {}).get("MessageGroupId")
            if arn.endswith(".fifo"):
                params["MessageGroupId"] = group or "default"
                params["MessageDeduplicationId"] = d.body["xid"]
            await c.call("sqs", "SendMessage", params, **kw)
        elif svc == "sns":
            await c.call("sns", "Publish", {"TopicArn": arn, "Message": payload}, **kw)
        elif svc == "states":
            await c.call("stepfunctions", "StartExecution", {"stateMachineArn": arn, "input": payload}, **kw)
        elif svc == "lambda":
            await c.call("lambda", "Invoke", {"FunctionName": arn, "InvocationType": "Event",
                                              "Payload": payload.encode()}, **kw)
        elif svc == "events":
            eb = t.get("eb") or {}
            out = await c.call("events", "PutEvents", {"Entries": [{
                "EventBusName": arn, "Source": eb.get("Source", "aws.scheduler"),
                "DetailType": eb.get("DetailType", "Scheduled Event"), "Detail": payload,
                "Resources": [t["schedule"]]}]}, **kw)
            if out.get("FailedEntryCount"):
                e = out["Entries"][0]
                raise sinks.Failed(e.get("ErrorMessage", ""), False, "INVALID_PARAMETER")
        else:
            raise sinks.Failed(f"Target {arn} is not supported by this broker.", False, "SDK_CLIENT_ERROR")
    except sinks.Failed:
        raise
    except Exception as exc:
        raise as_failure(exc, svc or "scheduler") from None


async def deliver_dlq(d: sinks.Delivery) -> None:
    t = d.target
    err = d.meta.get("error") or {}
    attempts = int(err.get("attempts") or 1)
    attrs = {"SCHEDULE_ARN": t["schedule"], "TARGET_ARN": t["target"], "ERROR_CODE": err.get("code") or "UNKNOWN",
             "ERROR_MESSAGE": (err.get("reason") or "")[:1000], "RETRY_ATTEMPTS": str(attempts - 1)}
    if err.get("retryable"):
        attrs["EXHAUSTED_RETRY_CONDITION"] = ("MaximumRetryAttempts" if attempts - 1 >= int(t.get("max", 0))
                                              else "MaximumEventAgeInSeconds")
    c = caller(d.partition.shard)
    p = t["arn"].split(":")
    body = d.body.get("input") or "{}"
    try:
        await c.call("sqs", "SendMessage", {
            "QueueUrl": _queue_url(c, t["arn"]), "MessageBody": body,
            "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items() if v}},
            account=p[4], region=p[3], source_arn=t["schedule"], role_arn=t.get("role"))
    except Exception as exc:
        raise as_failure(exc, "sqs") from None


sinks.register_kind("scheduler.target", deliver)
sinks.register_kind("scheduler.dlq", deliver_dlq)
