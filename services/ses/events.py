"""SES's event and notification JSON.

Two shapes reach subscribers (AWS's "Amazon SES notification contents" and
"event publishing" pages):

- event publishing (configuration-set destinations): ``{"eventType": "Send",
  "mail": {...}, "send": {}}``; to SNS with the subject "Amazon SES Email
  Event Notification", to EventBridge as the detail of "Email Sent", ...
- identity notifications (SetIdentityNotificationTopic): ``{"notificationType":
  "Bounce", "mail": {...}, "bounce": {...}}``; only Bounce, Complaint and
  Delivery; headers only when enabled for that identity and type.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

SNS_EVENT_SUBJECT = "Amazon SES Email Event Notification"
VALIDATION_MESSAGE = "Successfully validated SNS topic for Amazon SES event publishing."
REPORTING_MTA = "a8-77.smtp-out.amazonses.com"
OUTGOING_IP = "54.240.8.77"
SOURCE_IP = "127.0.0.1"

# canonical (v2) event type -> (eventType in JSON, detail key, v1 name, EventBridge detail-type)
EVENT_TYPES = {
    "SEND": ("Send", "send", "send", "Email Sent"),
    "REJECT": ("Reject", "reject", "reject", "Email Rejected"),
    "BOUNCE": ("Bounce", "bounce", "bounce", "Email Bounced"),
    "COMPLAINT": ("Complaint", "complaint", "complaint", "Email Complaint Received"),
    "DELIVERY": ("Delivery", "delivery", "delivery", "Email Delivered"),
    "OPEN": ("Open", "open", "open", "Email Opened"),
    "CLICK": ("Click", "click", "click", "Email Clicked"),
    "RENDERING_FAILURE": ("Rendering Failure", "failure", "renderingFailure", "Email Rendering Failed"),
    "DELIVERY_DELAY": ("DeliveryDelay", "deliveryDelay", "deliveryDelay", "Email Delivery Delayed"),
    "SUBSCRIPTION": ("Subscription", "subscription", "subscription", "Email Subscribed"),
}
V1_TO_CANON = {v[2]: k for k, v in EVENT_TYPES.items()}
NOTIFICATION_TYPES = ("Bounce", "Complaint", "Delivery")

SUPPRESSED_DIAGNOSTIC = ("Amazon SES has suppressed sending to this address because it has a recent history of "
                         "bouncing as an invalid address. For more information about how to remove an address "
                         "from the suppression list, see the Amazon SES Developer Guide: "
                         "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html ")
ACCOUNT_SUPPRESSED_DIAGNOSTIC = ("Amazon SES did not send the message to this address because it is on the "
                                 "suppression list for your account. For more information about removing "
                                 "addresses from the suppression list, see the Amazon SES Developer Guide at "
                                 "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-"
                                 "list.html")


def iso(ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if ms is None else ms
    d = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def feedback_id(now_ms: int) -> str:
    r = os.urandom(16).hex()
    return f"0100{now_ms:012x}-{r[:8]}-{r[8:12]}-{r[12:16]}-{r[16:20]}-{r[20:32]}-000000"


def common_headers(hmap: dict[str, list[str]], message_id: str, decode) -> dict:
    """commonHeaders from a lower-cased header map, in SES's key order."""
    from services.ses.addresses import header_addresses
    out: dict = {}
    if "return-path" in hmap:
        out["returnPath"] = header_addresses(hmap["return-path"])[0] if header_addresses(hmap["return-path"]) \
            else hmap["return-path"][0]
    if "from" in hmap:
        out["from"] = [decode(v) for v in hmap["from"]]
    if "date" in hmap:
        out["date"] = hmap["date"][0]
    for key, name in (("to", "to"), ("cc", "cc"), ("bcc", "bcc"), ("reply-to", "replyTo")):
        if key in hmap:
            out[name] = [decode(a.strip()) for v in hmap[key] for a in _split_list(v)]
    out["messageId"] = message_id
    if "subject" in hmap:
        out["subject"] = decode(hmap["subject"][0])
    return out


def _split_list(value: str) -> list[str]:
    """Split an address list on commas outside quotes and angle brackets."""
    out, cur, quote, angle = [], [], False, 0
    for ch in value:
        if ch == '"':
            quote = not quote
        elif ch == "<" and not quote:
            angle += 1
        elif ch == ">" and not quote:
            angle -= 1
        if ch == "," and not quote and angle <= 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return [s for s in (x.strip() for x in out) if s]


def event(canon: str, mail: dict, detail: dict) -> dict:
    name, key, _v1, _eb = EVENT_TYPES[canon]
    return {"eventType": name, "mail": mail, key: detail}


def notification(kind: str, mail: dict, detail: dict | None) -> dict:
    out = {"notificationType": kind, "mail": mail}
    if detail is not None:
        out[kind.lower()] = detail
    return out


def delivery_detail(recipients: list[str], now_ms: int, sent_ms: int) -> dict:
    return {"timestamp": iso(now_ms), "processingTimeMillis": max(0, now_ms - sent_ms), "recipients": recipients,
            "smtpResponse": "250 2.6.0 Message received", "remoteMtaIp": OUTGOING_IP,
            "reportingMTA": REPORTING_MTA}


def bounce_detail(recipients: list[dict], now_ms: int, sub_type: str = "General",
                  bounce_type: str = "Permanent") -> dict:
    return {"feedbackId": feedback_id(now_ms), "bounceType": bounce_type, "bounceSubType": sub_type,
            "bouncedRecipients": recipients, "timestamp": iso(now_ms), "remoteMtaIp": OUTGOING_IP,
            "reportingMTA": f"dns; {REPORTING_MTA}"}


def bounced_recipient(address: str, diagnostic: str, status: str = "5.1.1") -> dict:
    return {"emailAddress": address, "action": "failed", "status": status, "diagnosticCode": diagnostic}


def complaint_detail(recipients: list[str], now_ms: int) -> dict:
    return {"feedbackId": feedback_id(now_ms), "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": r} for r in recipients], "timestamp": iso(now_ms),
            "userAgent": "Amazon SES Mailbox Simulator", "complaintFeedbackType": "abuse",
            "arrivalDate": iso(now_ms)}


def rendering_failure_detail(template: str, message: str) -> dict:
    return {"errorMessage": message, "templateName": template}
