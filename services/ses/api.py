"""SES v1 (query) gateway half.

Every operation runs on the shard that owns the account + region
(``ses.Handle``); sends are prepared here first (services/ses/compose.py:
addresses, tags, MIME) so the shard only checks state and stores. Event
destinations with an SNS topic are checked against SNS, and sent AWS's
validation message, through the service-to-service caller.
"""

from __future__ import annotations

import logging

from services.ses import compose
from services.ses.errors import err
from services.ses.events import VALIDATION_MESSAGE
from services.ses.publish import arn_parts
from services.ses.state import ns_key

log = logging.getLogger("broker.ses")


async def call(ctx, op: str, args: dict):
    return await ctx.cluster.call(ns_key(ctx.account_id, ctx.region), op, args)


async def handle_op(ctx, v: int, operation: str, params: dict):
    return await call(ctx, "ses.Handle", {"a": ctx.account_id, "r": ctx.region, "v": v, "op": operation,
                                          "params": params})


async def check_sns_topic(ctx, arn: str, v2: bool = False) -> None:
    """InvalidSNSDestination unless `arn` names an SNS topic this broker has."""
    from services.internal import caller
    msg = f"SNS topic <{arn}> not found."
    try:
        region, account, _ = arn_parts(arn)
    except ValueError:
        raise err("BadRequestException" if v2 else "InvalidSNSDestination", msg) from None
    try:
        await caller(ctx.gateway).call("sns", "GetTopicAttributes", {"TopicArn": arn}, account=account,
                                       region=region)
    except Exception as exc:      # ServiceError from the SNS gateway half, RemoteError from its shard
        if not getattr(exc, "code", None) or exc.status >= 500 and exc.code != "NotImplemented":
            raise
        raise err("BadRequestException" if v2 else "InvalidSNSDestination", msg) from None


async def send_validation_message(ctx, arn: str) -> None:
    from services.internal import caller
    region, account, _ = arn_parts(arn)
    try:
        await caller(ctx.gateway).call("sns", "Publish", {"TopicArn": arn, "Message": VALIDATION_MESSAGE},
                                       account=account, region=region,
                                       source_arn=f"arn:aws:ses:{ctx.region}:{ctx.account_id}:*")
    except Exception as exc:
        if not getattr(exc, "code", None):
            raise
        log.info("event=ses_validation_message_failed topic=%s code=%s", arn, exc.code)


class SesApi:
    def __init__(self, gateway):
        self.gateway = gateway
        self._ops = {
            "SendEmail": self.send_email, "SendRawEmail": self.send_raw_email,
            "SendTemplatedEmail": self.send_templated_email,
            "SendBulkTemplatedEmail": self.send_bulk_templated_email,
            "CreateConfigurationSetEventDestination": self.put_event_destination,
            "UpdateConfigurationSetEventDestination": self.put_event_destination,
            "SendBounce": self.send_bounce,
        }

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is not None:
            return await fn(ctx, operation, params)
        return await handle_op(ctx, 1, operation, params)

    async def send_email(self, ctx, op, p):
        args = compose.simple(ctx, op, 1, p["Source"], p["Destination"], p["Message"]["Subject"],
                              p["Message"]["Body"], reply_to=p.get("ReplyToAddresses"),
                              return_path=p.get("ReturnPath"), tags=p.get("Tags"),
                              cs=p.get("ConfigurationSetName"))
        return await call(ctx, "ses.Send", args)

    async def send_raw_email(self, ctx, op, p):
        args = compose.raw(ctx, op, 1, p["RawMessage"]["Data"], source=p.get("Source"),
                           destinations=p.get("Destinations"), tags=p.get("Tags"), cs=p.get("ConfigurationSetName"))
        return await call(ctx, "ses.Send", args)

    async def send_templated_email(self, ctx, op, p):
        args = compose.templated(ctx, op, 1, p["Source"], p["Destination"], name=p["Template"],
                                 data=p["TemplateData"], reply_to=p.get("ReplyToAddresses"),
                                 return_path=p.get("ReturnPath"), tags=p.get("Tags"),
                                 cs=p.get("ConfigurationSetName"))
        if not args["rcpt"]:
            raise err("InvalidParameterValue", "Missing final '@domain'")
        return await call(ctx, "ses.Send", args)

    async def send_bulk_templated_email(self, ctx, op, p):
        if len(p["Destinations"]) > 50:
            raise err("MessageRejected", "Too many destinations.")
        args = compose.templated(ctx, op, 1, p["Source"], None, name=p["Template"], data=p["DefaultTemplateData"],
                                 reply_to=p.get("ReplyToAddresses"), return_path=p.get("ReturnPath"),
                                 tags=p.get("DefaultTags"), cs=p.get("ConfigurationSetName"))
        args["bulk"] = compose.bulk_entries(p["Destinations"], False, p["Source"], p.get("ReplyToAddresses"))
        out = await call(ctx, "ses.SendBulk", args)
        return {"Status": out["Results"]}

    async def put_event_destination(self, ctx, op, p):
        topic = (p["EventDestination"].get("SNSDestination") or {}).get("TopicARN")
        if topic:
            await check_sns_topic(ctx, topic)
        out = await handle_op(ctx, 1, op, p)
        if topic and op.startswith("Create"):
            await send_validation_message(ctx, topic)
        return out

    async def send_bounce(self, ctx, op, p):
        return await call(ctx, "ses.SendBounce", {"a": ctx.account_id, "r": ctx.region, "params": p})
