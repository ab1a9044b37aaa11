"""Where SES events go: configuration-set destinations, identity notification
topics, CloudWatch metrics, the upstream relay and receipt-rule S3 writes.

Everything that leaves the partition is a durable delivery (broker/runtime/
sinks.py) written in the same group commit as the send that caused it, so
an event is never lost to a crash and never published for a send that was
not acknowledged. The kinds registered here call other services through
services/internal.py (SNS Publish, EventBridge PutEvents).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from broker.runtime import sinks, telemetry
from services.ses.events import EVENT_TYPES

log = logging.getLogger("broker.ses")

EVENT_POLICY = sinks.policy(immediate=2, backoff=(10, 1.0, 60.0, "exponential"), max_age_s=3600)
RELAY_POLICY = sinks.policy(immediate=1, backoff=(12, 5.0, 600.0, "exponential"), max_age_s=6 * 3600)
GONE = ("NotFound", "NotFoundException", "ResourceNotFoundException", "NotImplemented", "AuthorizationError",
        "InvalidParameter", "InvalidParameterException", "ValidationException")
METRIC = {"SEND": "Send", "DELIVERY": "Delivery", "BOUNCE": "Bounce", "COMPLAINT": "Complaint",
          "REJECT": "Reject", "RENDERING_FAILURE": "RenderingFailure", "DELIVERY_DELAY": "DeliveryDelay"}


def arn_parts(arn: str) -> tuple[str, str, str]:
    """(region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        raise ValueError(arn)
    return parts[3], parts[4], parts[5]


class Publisher:
    def __init__(self, part):
        self.part = part

    @property
    def deliveries(self):
        return sinks.deliveries(self.part)

    def sns(self, topic: str, message: str, subject: str | None, order: str | None, source_arn: str) -> None:
        self.deliveries.submit("ses.sns", {"topic": topic, "source": source_arn},
                               {"message": message, "subject": subject}, policy=EVENT_POLICY, order=order)

    def event(self, ns, cs: dict | None, canon: str, build, message_id: str, dims: dict, n: int = 1) -> None:
        """Publish one event (``build()`` makes its JSON, only if a destination wants it) to `cs`'s
        matching destinations, and count `n` in AWS/SES."""
        metric = METRIC.get(canon)
        if metric:
            telemetry.metric("AWS/SES", metric, None, n, account=ns.account, region=ns.region)
        if cs is None:
            return
        body = None
        for dest in cs["destinations"].values():
            if not dest["enabled"] or canon not in dest["types"]:
                continue
            body = body or json.dumps(build(), separators=(",", ":"))
            order = f"{message_id}/{dest['name']}"
            source = ns.arn("configuration-set", cs["name"])
            if dest.get("sns"):
                from services.ses.events import SNS_EVENT_SUBJECT
                self.sns(dest["sns"], body, SNS_EVENT_SUBJECT, order, source)
            elif dest.get("eventbridge"):
                self.deliveries.submit("ses.eventbridge", {"bus": dest["eventbridge"], "source": source},
                                       {"detail_type": EVENT_TYPES[canon][3], "detail": body,
                                        "account": ns.account, "region": ns.region}, policy=EVENT_POLICY,
                                       order=order)
            elif dest.get("cloudwatch") is not None and metric:
                d = {c["DimensionName"]: dims.get((c["DimensionValueSource"], c["DimensionName"]),
                                                  c["DefaultDimensionValue"]) for c in dest["cloudwatch"]}
                telemetry.metric("AWS/SES", metric, d, n, account=ns.account, region=ns.region)
            else:
                log.info("event=ses_destination_unsupported config_set=%s destination=%s", cs["name"],
                         dest["name"])

    def notify(self, ns, identity: dict | None, kind: str, build, message_id: str) -> None:
        """Identity notification (Bounce, Complaint, Delivery) to the identity's topic, if set."""
        if identity is None:
            return
        topic = identity["notif"].get(kind)
        if topic:
            self.sns(topic, json.dumps(build(), separators=(",", ":")), None, f"{message_id}/notif",
                     ns.arn("identity", identity["name"]))

    def relay(self, url: str, mail_from: str, rcpts: list[str], raw: bytes) -> None:
        self.deliveries.submit("ses.relay", {"url": url}, {"from": mail_from, "to": rcpts, "raw": raw},
                               policy=RELAY_POLICY)

    def lambda_event(self, function_arn: str, event: dict, source_arn: str) -> None:
        """An asynchronous (Event) invocation, durable like every delivery."""
        self.deliveries.submit("ses.lambda", {"fn": function_arn, "source": source_arn},
                               json.dumps(event, separators=(",", ":")), policy=EVENT_POLICY)

    def s3(self, path: str, raw: bytes) -> None:
        self.deliveries.submit("ses.s3", {"path": path}, raw, policy=None)


# -- delivery kinds ---------------------------------------------------------------------

LAMBDA_SYNC_TIMEOUT_S = 30.0     # SES's limit on RequestResponse Lambda actions


def _host(d: sinks.Delivery):
    return d.partition.shard


async def _call(d: sinks.Delivery, service: str, op: str, params: dict, arn: str) -> dict:
    from services.internal import caller
    region, account, _ = arn_parts(arn)
    try:
        return await caller(_host(d)).call(service, op, params, account=account, region=region,
                                           source_arn=d.target.get("source"))
    except Exception as exc:      # ServiceError from the gateway half, RemoteError from its shard
        if not getattr(exc, "code", None):
            raise
        gone = exc.code in GONE
        if gone:
            log.info("event=ses_destination_gone service=%s arn=%s code=%s", service, arn, exc.code)
        raise sinks.Failed(f"{exc.code}: {exc.message}", not gone, exc.code, exc.status) from None


async def _sns(d: sinks.Delivery) -> None:
    params = {"TopicArn": d.target["topic"], "Message": d.body["message"]}
    if d.body.get("subject"):
        params["Subject"] = d.body["subject"]
    await _call(d, "sns", "Publish", params, d.target["topic"])


async def _eventbridge(d: sinks.Delivery) -> None:
    b = d.body
    entry = {"Source": "aws.ses", "DetailType": b["detail_type"], "Detail": b["detail"],
             "EventBusName": d.target["bus"], "Resources": [d.target.get("source", "")]}
    out = await _call(d, "events", "PutEvents", {"Entries": [entry]}, d.target["bus"])
    if out.get("FailedEntryCount"):
        e = (out.get("Entries") or [{}])[0]
        raise sinks.Failed(f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}", True, e.get("ErrorCode") or "")


async def _lambda(d: sinks.Delivery) -> None:
    await _call(d, "lambda", "Invoke", {"FunctionName": d.target["fn"], "InvocationType": "Event",
                                        "Payload": d.body.encode()}, d.target["fn"])


async def invoke_sync(host, function_arn: str, event: dict, source_arn: str) -> str | None:
    """RequestResponse invocation: the function's ``disposition`` (None when it failed, gave none,
    or did not answer within SES's 30 seconds: the mail flow goes on)."""
    from services.internal import caller
    region, account, _ = arn_parts(function_arn)
    try:
        out = await asyncio.wait_for(caller(host).call("lambda", "Invoke", {
            "FunctionName": function_arn, "InvocationType": "RequestResponse",
            "Payload": json.dumps(event, separators=(",", ":")).encode()}, account=account, region=region,
            source_arn=source_arn), LAMBDA_SYNC_TIMEOUT_S)
    except asyncio.TimeoutError:
        log.info("event=ses_lambda_timed_out function=%s", function_arn)
        return None
    except Exception as exc:
        if not getattr(exc, "code", None):
            raise
        log.info("event=ses_lambda_failed function=%s code=%s", function_arn, exc.code)
        return None
    if out.get("FunctionError"):
        return None
    try:
        result = json.loads(out.get("Payload") or b"null")
    except ValueError:
        return None
    return result.get("disposition") if isinstance(result, dict) else None


def _relay_blocking(url: str, mail_from: str, rcpts: list[str], raw: bytes) -> None:
    import smtplib
    import ssl
    from urllib.parse import unquote, urlsplit
    u = urlsplit(url)
    ctx = ssl.create_default_context()
    if u.scheme == "smtps":
        client = smtplib.SMTP_SSL(u.hostname, u.port or 465, timeout=30, context=ctx)
    else:
        client = smtplib.SMTP(u.hostname, u.port or 25, timeout=30)
    with client:
        client.ehlo()
        if u.scheme == "smtp+starttls":
            client.starttls(context=ctx)
            client.ehlo()
        if u.username:
            client.login(unquote(u.username), unquote(u.password or ""))
        client.sendmail(mail_from, rcpts, raw)


async def _relay(d: sinks.Delivery) -> None:
    import smtplib
    b = d.body
    try:
        await asyncio.get_running_loop().run_in_executor(None, _relay_blocking, d.target["url"], b["from"],
                                                         list(b["to"]), b["raw"])
    except smtplib.SMTPResponseException as exc:
        raise sinks.Failed(f"SMTP {exc.smtp_code} {exc.smtp_error!r}", exc.smtp_code < 500,
                           f"SMTP{exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise sinks.Failed(f"recipients refused: {list(exc.recipients)}", False, "SMTPRecipientsRefused") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise sinks.Failed(f"{type(exc).__name__}: {exc}", True, "ConnectionError") from None


def _write_file(path: str, data: bytes) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)


async def _s3(d: sinks.Delivery) -> None:
    try:
        await asyncio.get_running_loop().run_in_executor(None, _write_file, d.target["path"], d.body)
    except OSError as exc:
        raise sinks.Failed(f"{type(exc).__name__}: {exc}", True, "IOError") from None


sinks.register_kind("ses.sns", _sns)
sinks.register_kind("ses.eventbridge", _eventbridge)
sinks.register_kind("ses.relay", _relay)
sinks.register_kind("ses.s3", _s3)
sinks.register_kind("ses.lambda", _lambda)
