"""SES v2 (rest-json) gateway half: the same shard state as v1, v2's shapes and errors."""

from __future__ import annotations

from datetime import datetime

from services.ses import compose
from services.ses.api import call, check_sns_topic, handle_op, send_validation_message
from services.ses.errors import bad_request


def _plain(v):
    """Params as msgpack carries them: datetimes as epoch seconds."""
    if isinstance(v, datetime):
        return v.timestamp()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _template_name(t: dict) -> str | None:
    if t.get("TemplateName"):
        return t["TemplateName"]
    if t.get("TemplateArn"):
        return t["TemplateArn"].rsplit("/", 1)[-1]
    return None


def _inline(t: dict) -> dict | None:
    c = t.get("TemplateContent")
    if not c:
        return None
    return {"subject": c.get("Subject"), "text": c.get("Text"), "html": c.get("Html")}


class SesV2Api:
    def __init__(self, gateway):
        self.gateway = gateway
        self._ops = {
            "SendEmail": self.send_email, "SendBulkEmail": self.send_bulk_email,
            "CreateConfigurationSetEventDestination": self.put_event_destination,
            "UpdateConfigurationSetEventDestination": self.put_event_destination,
        }

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is not None:
            return await fn(ctx, operation, params)
        return await handle_op(ctx, 2, operation, _plain(params))

    async def send_email(self, ctx, op, p):
        content = p["Content"]
        source = p.get("FromEmailAddress")
        common = {"tags": p.get("EmailTags"), "cs": p.get("ConfigurationSetName")}
        if content.get("Raw"):
            dest = p.get("Destination") or {}
            dests = [a for k in ("ToAddresses", "CcAddresses", "BccAddresses") for a in dest.get(k) or []]
            args = compose.raw(ctx, op, 2, content["Raw"]["Data"], source=source, destinations=dests or None,
                               **common)
        else:
            if not source:
                raise bad_request("Missing required parameter FromEmailAddress.")
            if content.get("Simple"):
                s = content["Simple"]
                args = compose.simple(ctx, op, 2, source, p.get("Destination"), s["Subject"], s["Body"],
                                      reply_to=p.get("ReplyToAddresses"),
                                      return_path=p.get("FeedbackForwardingEmailAddress"),
                                      headers=s.get("Headers"), attachments=s.get("Attachments"), **common)
            elif content.get("Template"):
                t = content["Template"]
                if not _template_name(t) and not _inline(t):
                    raise bad_request("Template name or content must be specified.")
                args = compose.templated(ctx, op, 2, source, p.get("Destination"), name=_template_name(t),
                                         inline=_inline(t), data=t.get("TemplateData"),
                                         reply_to=p.get("ReplyToAddresses"),
                                         return_path=p.get("FeedbackForwardingEmailAddress"),
                                         headers=t.get("Headers"), attachments=t.get("Attachments"), **common)
                if not args["rcpt"]:
                    raise bad_request("Destination must contain at least one address.")
            else:
                raise bad_request("Content must contain Simple, Raw or Template.")
        if p.get("FeedbackForwardingEmailAddress"):
            args["feedback"] = p["FeedbackForwardingEmailAddress"]
        if p.get("ListManagementOptions"):
            args["list"] = dict(p["ListManagementOptions"])
        return {"MessageId": (await call(ctx, "ses.Send", args))["MessageId"]}

    async def send_bulk_email(self, ctx, op, p):
        source = p.get("FromEmailAddress")
        if not source:
            raise bad_request("Missing required parameter FromEmailAddress.")
        t = (p["DefaultContent"] or {}).get("Template") or {}
        if not _template_name(t) and not _inline(t):
            raise bad_request("Template name or content must be specified.")
        if not p["BulkEmailEntries"] or len(p["BulkEmailEntries"]) > 50:
            raise bad_request("Bulk email entries must contain between 1 and 50 entries.")
        args = compose.templated(ctx, op, 2, source, None, name=_template_name(t), inline=_inline(t),
                                 data=t.get("TemplateData"), reply_to=p.get("ReplyToAddresses"),
                                 return_path=p.get("FeedbackForwardingEmailAddress"), tags=p.get("DefaultEmailTags"),
                                 cs=p.get("ConfigurationSetName"), headers=t.get("Headers"),
                                 attachments=t.get("Attachments"))
        args["bulk"] = compose.bulk_entries(p["BulkEmailEntries"], True, source, p.get("ReplyToAddresses"))
        out = await call(ctx, "ses.SendBulk", args)
        return {"BulkEmailEntryResults": out["Results"]}

    async def put_event_destination(self, ctx, op, p):
        topic = (p["EventDestination"].get("SnsDestination") or {}).get("TopicArn")
        if topic:
            await check_sns_topic(ctx, topic, v2=True)
        out = await handle_op(ctx, 2, op, _plain(p))
        if topic and op.startswith("Create"):
            await send_validation_message(ctx, topic)
        return out
