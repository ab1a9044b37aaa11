"""Inbound mail: IP filters, the active receipt rule set, and its actions.

Runs on the shard owning the receiving namespace (aws.default_account /
aws.default_region: inbound SMTP carries no credentials). Rules apply in
order to the recipients they match (an address, a domain, or ``.domain`` for
its subdomains; no recipients = all); actions run in order: AddHeader
changes the message for the actions after it, S3 writes
``<data_dir>/s3/<bucket>/<prefix><messageId>`` (the S3 service does not
exist yet; the file is the object), SNS publishes AWS's "Received"
notification (content UTF-8 or Base64, up to 150 KB), Bounce writes a bounce
to the sender's mailbox entry, Stop ends the rule set, Lambda invokes the
function with SES's event through the Lambda API (Event: a durable
asynchronous invocation; RequestResponse: awaited, and the ``disposition``
STOP_RULE / STOP_RULE_SET it returns is obeyed). WorkMail and Connect actions
are recorded but not run (no such services here).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
from pathlib import Path

from services.ses import events, mime
from services.ses.errors import err
from services.ses.events import iso
from services.ses.state import FILTER, RULE_SET

log = logging.getLogger("broker.ses")
MAX_SNS_CONTENT = 150 * 1024


def receipt_message_id() -> str:
    return base64.b32encode(os.urandom(25)).decode().lower()


def _matches(rule: dict, rcpt: str) -> bool:
    pats = rule.get("Recipients")
    if not pats:
        return True
    r = rcpt.lower()
    domain = r.rpartition("@")[2]
    for p in pats:
        p = p.lower()
        if "@" in p:
            if r == p:
                return True
        elif p.startswith("."):
            if domain.endswith(p):
                return True
        elif domain == p:
            return True
    return False


def active_rules(ns) -> list[dict]:
    name = ns.setting("active_rule_set")
    rs = ns.get(RULE_SET, name) if name else None
    return [r for r in rs["rules"] if r["Enabled"]] if rs else []


def ip_allowed(ns, ip: str | None) -> bool:
    if not ip:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return True
    blocked = False
    for _n, f in ns.items(FILTER):
        net = ipaddress.ip_network(f["IpFilter"]["Cidr"], strict=False)
        if addr in net:
            if f["IpFilter"]["Policy"] == "Allow":
                return True
            blocked = True
    return not blocked


def check_recipient(ns, rcpt: str, tls: bool, ip: str | None) -> str | None:
    """None if `rcpt` is accepted, else the SMTP reply that refuses it."""
    if not ip_allowed(ns, ip):
        return "554 Transaction failed: Access denied"
    rules = [r for r in active_rules(ns) if _matches(r, rcpt)]
    if not rules:
        return "550 5.1.1 Requested action not taken: mailbox unavailable"
    if not tls and any(r["TlsPolicy"] == "Require" for r in rules):
        return "530 Must issue a STARTTLS command first"
    return None


async def receive(ctx, ns, a) -> dict:
    rcpts = a["rcpts"]
    if not ip_allowed(ns, a.get("ip")):
        raise err("MessageRejected", "Access denied")
    now = ctx.now_ms()
    mid = receipt_message_id()
    raw = a["raw"]
    hdrs = mime.read_headers(raw)
    hmap = mime.header_map(hdrs)
    virus = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in raw
    applied = []
    matched_any: set[str] = set()
    stop = False
    scanned = False
    for rule in active_rules(ns):
        who = [r for r in rcpts if _matches(rule, r)]
        if not who:
            continue
        if rule.get("ScanEnabled") and not scanned:     # the verdicts travel with the message, as at SES
            scanned = True
            raw = mime.set_headers(raw, (), [("X-SES-Spam-Verdict", "PASS"),
                                             ("X-SES-Virus-Verdict", "FAIL" if virus else "PASS")])
            hdrs = mime.read_headers(raw)
            hmap = mime.header_map(hdrs)
        matched_any.update(who)
        applied.append(rule["Name"])
        receipt_base = {"timestamp": iso(now), "processingTimeMillis": max(0, ctx.now_ms() - now),
                        "recipients": who, **_verdicts(rule, virus)}
        for action in rule["Actions"]:
            (kind, body), = action.items()
            if kind == "AddHeaderAction":
                raw = mime.set_headers(raw, (), [(body["HeaderName"], body["HeaderValue"])])
                hdrs = mime.read_headers(raw)
                hmap = mime.header_map(hdrs)
                continue
            mail = {"timestamp": iso(now), "source": a["mail_from"], "messageId": mid, "destination": rcpts,
                    "headersTruncated": False, "headers": [{"name": n, "value": v} for n, v in hdrs],
                    "commonHeaders": events.common_headers(hmap, mid, mime.decode_value)}
            if kind == "S3Action":
                key = (body.get("ObjectKeyPrefix") or "") + mid
                path = Path(ctx.data_dir) / "s3" / body["BucketName"] / key
                ctx.publisher.s3(str(path), raw)
                _notify(ctx, ns, body, mail, receipt_base, {"type": "S3", "bucketName": body["BucketName"],
                                                            "objectKeyPrefix": body.get("ObjectKeyPrefix", ""),
                                                            "objectKey": key}, mid)
            elif kind == "SNSAction":
                enc = body.get("Encoding", "UTF-8")
                if len(raw) > MAX_SNS_CONTENT:
                    log.info("event=ses_inbound_too_large_for_sns size=%d", len(raw))
                    continue
                content = base64.b64encode(raw).decode() if enc == "Base64" else raw.decode("utf-8", "replace")
                doc = {"notificationType": "Received", "mail": mail,
                       "receipt": {**receipt_base, "action": {"type": "SNS", "topicArn": body["TopicArn"],
                                                              "encoding": enc}},
                       "content": content}
                ctx.publisher.sns(body["TopicArn"], json.dumps(doc, separators=(",", ":")), None,
                                  f"{mid}/{rule['Name']}", ns.arn("receipt-rule-set", rule["Name"]))
            elif kind == "BounceAction":
                from services.ses.system_mail import bounce_message
                bounce = bounce_message(body["Sender"], a["mail_from"], body.get("Message"),
                                        [{"Recipient": r, "BounceType": body.get("SmtpReplyCode")} for r in who],
                                        mid)
                ctx.store_system_mail(ns, mime_from=body["Sender"], to=a["mail_from"], raw=bounce, kind="bounce")
                _notify(ctx, ns, body, mail, receipt_base, {"type": "Bounce", "smtpReplyCode": body["SmtpReplyCode"],
                                                            "statusCode": body.get("StatusCode", ""),
                                                            "message": body["Message"], "sender": body["Sender"]},
                        mid)
            elif kind == "StopAction":
                _notify(ctx, ns, body, mail, receipt_base, {"type": "Stop"}, mid)
                if body.get("Scope", "RuleSet") == "RuleSet":
                    stop = True
                    break
            elif kind == "LambdaAction":
                invocation = body.get("InvocationType") or "Event"
                event = {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {
                    "mail": mail, "receipt": {**receipt_base, "action": {
                        "type": "Lambda", "functionArn": body["FunctionArn"], "invocationType": invocation}}}}]}
                _notify(ctx, ns, body, mail, receipt_base, {"type": "Lambda", "functionArn": body["FunctionArn"],
                                                            "invocationType": invocation}, mid)
                if invocation != "RequestResponse":
                    ctx.publisher.lambda_event(body["FunctionArn"], event, ns.arn("receipt-rule", rule["Name"]))
                    continue
                disposition = await ctx.invoke_lambda(body["FunctionArn"], event)
                if disposition == "STOP_RULE":
                    break
                if disposition == "STOP_RULE_SET":
                    stop = True
                    break
            else:
                log.info("event=ses_receipt_action_not_run action=%s rule=%s reason=no_such_service", kind,
                         rule["Name"])
        if stop:
            break
    rec = {"id": mid, "ns": ns.key, "account": ns.account, "region": ns.region, "ts": now, "direction": "inbound",
           "op": "Inbound", "source": a["mail_from"], "from": [mime.decode_value(v) for v in hmap.get("from", [])],
           "to": hmap.get("to", []), "cc": hmap.get("cc", []), "bcc": [], "destination": list(rcpts),
           "subject": mime.decode_value(hmap["subject"][0]) if "subject" in hmap else None,
           "status": {r: ("Received" if r in matched_any else "NoRule") for r in rcpts}, "rules": applied,
           "tls": bool(a.get("tls"))}
    ctx.mailbox.add(rec, raw)
    return {"MessageId": mid}


def _verdicts(rule: dict, virus: bool) -> dict:
    if not rule.get("ScanEnabled"):
        return {"spamVerdict": {"status": "DISABLED"}, "virusVerdict": {"status": "DISABLED"},
                "spfVerdict": {"status": "GRAY"}, "dkimVerdict": {"status": "GRAY"},
                "dmarcVerdict": {"status": "GRAY"}}
    return {"spamVerdict": {"status": "PASS"}, "virusVerdict": {"status": "FAIL" if virus else "PASS"},
            "spfVerdict": {"status": "GRAY"}, "dkimVerdict": {"status": "GRAY"}, "dmarcVerdict": {"status": "GRAY"}}


def _notify(ctx, ns, body: dict, mail: dict, receipt: dict, action: dict, mid: str) -> None:
    topic = body.get("TopicArn")
    if not topic:
        return
    doc = {"notificationType": "Received", "mail": mail, "receipt": {**receipt, "action": {**action,
                                                                                           "topicArn": topic}}}
    ctx.publisher.sns(topic, json.dumps(doc, separators=(",", ":")), None, f"{mid}/{action['type']}",
                      ns.arn("receipt", action["type"]))
