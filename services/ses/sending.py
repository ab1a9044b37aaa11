"""Sending, on the shard that owns the namespace: the checks SES makes before
accepting a message, the mailbox write, and the outcomes that follow.

One call (`send`) serves every path: API v1 and v2 (simple and raw content
arrive as MIME built by the gateway half; template content is rendered
here), bulk sends, and SMTP. Everything it records (the mail, statistics,
event deliveries) is staged in the store and committed before the caller is
answered, so a 200 / ``250 Ok`` means the mail and its events are durable.

Outcomes per recipient follow the mailbox simulator (success, bounce, ooto,
complaint, suppressionlist @simulator.amazonses.com) and the account
suppression list; every other recipient is delivered into the mailbox.
"""

from __future__ import annotations

from services.ses import addresses, events, mime, ops_contacts, ops_identities, templates
from services.ses.errors import config_set_missing, err, not_found, not_verified
from services.ses.events import iso
from services.ses.state import CONFIG_SET, SUPPRESSED, TEMPLATE

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
MAX_RECIPIENTS = 50

BULK_STATUS_V1 = {"MessageRejected": "MessageRejected", "ConfigurationSetDoesNotExist": "ConfigurationSetDoesNotExist",
                  "TemplateDoesNotExist": "TemplateDoesNotExist", "Throttling": "AccountDailyQuotaExceeded",
                  "AccountSendingPausedException": "AccountSendingPaused",
                  "ConfigurationSetSendingPausedException": "ConfigurationSetSendingPaused",
                  "InvalidParameterValue": "InvalidParameterValue"}
BULK_STATUS_V2 = {"MessageRejected": "MESSAGE_REJECTED", "NotFoundException": "CONFIGURATION_SET_NOT_FOUND",
                  "TooManyRequestsException": "ACCOUNT_DAILY_QUOTA_EXCEEDED",
                  "SendingPausedException": "ACCOUNT_SENDING_PAUSED", "BadRequestException": "INVALID_PARAMETER"}


def _v2(a) -> bool:
    return a.get("v") == 2


# -- checks ----------------------------------------------------------------------------

def config_set_of(ctx, ns, a, ident: dict | None) -> dict | None:
    name = a.get("cs") or (ident or {}).get("config_set")
    if not name:
        return None
    cs = ns.get(CONFIG_SET, name)
    if cs is None:
        raise not_found(f"Configuration set <{name}> does not exist.") if _v2(a) else config_set_missing(name)
    if not cs["sending"]:
        raise (err("SendingPausedException", f"Sending is paused for configuration set {name}.") if _v2(a) else
               err("ConfigurationSetSendingPausedException", f"Sending is paused for this configuration set: "
                                                            f"{name}"))
    return cs


def check_account(ns, a) -> None:
    if not ns.setting("sending_enabled", True):
        raise (err("SendingPausedException", "Sending is paused for this account.") if _v2(a) else
               err("AccountSendingPausedException", "Email sending is disabled for your entire Amazon SES "
                                                    "account."))


def authorize(ctx, ns, a) -> dict | None:
    """The identity that authorises the sender(s); MessageRejected if any is not verified."""
    if ctx.cfg["verification"] == "none":
        for s in a["senders"]:
            rec = ops_identities.authorizing_identity(ns, s)
            if rec is not None:
                return rec
        return None
    failed, first = [], None
    for s in dict.fromkeys(a["senders"]):
        rec = ops_identities.authorizing_identity(ns, s)
        if rec is None:
            failed.append(s)
        elif first is None:
            first = rec
    if failed:
        raise not_verified(failed, ns.region)
    return first


def check_sandbox(ctx, ns, rcpts: list[str]) -> None:
    if not ctx.cfg["sandbox"]:
        return
    failed = [r for r in rcpts if addresses.simulator_box(r) is None
              and ops_identities.authorizing_identity(ns, r) is None]
    if failed:
        raise not_verified(failed, ns.region)


def check_quota(ctx, ns, a, n: int) -> None:
    if ns.sent_last_24h(ctx.now_ms()) + n > ctx.cfg["max_24h"]:
        raise (err("TooManyRequestsException", "Daily message quota exceeded.", 429) if _v2(a) else
               err("Throttling", "Daily message quota exceeded."))


def _template(ns, a, tpl: dict) -> dict:
    if tpl.get("inline") is not None:
        return tpl["inline"]
    t = ns.get(TEMPLATE, tpl["name"])
    if t is None:
        raise not_found(f"Template {tpl['name']} does not exist.") if _v2(a) else \
            err("TemplateDoesNotExist", f"Template {tpl['name']} does not exist.")
    return t


# -- the send ---------------------------------------------------------------------------

def send(ctx, ns, a) -> dict:
    rcpts = a["rcpt"]
    if len(rcpts) > MAX_RECIPIENTS:
        raise err("BadRequestException" if _v2(a) else "InvalidParameterValue", "Recipient count exceeds 50.")
    check_account(ns, a)
    ident = authorize(ctx, ns, a)
    cs = config_set_of(ctx, ns, a, ident)
    check_sandbox(ctx, ns, rcpts)
    check_quota(ctx, ns, a, len(rcpts))
    tpl = a.get("tpl")
    template = _template(ns, a, tpl) if tpl else None
    data = None
    if tpl:
        try:
            data = templates.parse_data(tpl.get("data"))
        except templates.RenderError as exc:
            raise err("BadRequestException" if _v2(a) else exc.code, exc.message) from None
    return {"MessageId": _accept(ctx, ns, a, cs, ident, template, data)}


def send_bulk(ctx, ns, a) -> dict:
    """SendBulkTemplatedEmail / SendBulkEmail: request-level checks raise; per-entry ones become statuses."""
    check_account(ns, a)
    ident = authorize(ctx, ns, a)
    cs = config_set_of(ctx, ns, a, ident)
    tpl = a["tpl"]
    template = _template(ns, a, tpl)
    try:
        default = templates.parse_data(tpl.get("data"))
    except templates.RenderError as exc:
        raise err("BadRequestException" if _v2(a) else exc.code, exc.message) from None
    statuses = BULK_STATUS_V2 if _v2(a) else BULK_STATUS_V1
    out = []
    for entry in a["bulk"]:
        try:
            if len(entry["rcpt"]) > MAX_RECIPIENTS:
                raise err("BadRequestException" if _v2(a) else "InvalidParameterValue", "Recipient count exceeds 50.")
            check_sandbox(ctx, ns, entry["rcpt"])
            check_quota(ctx, ns, a, len(entry["rcpt"]))
            data = dict(default)
            if entry.get("data"):
                data.update(templates.parse_data(entry["data"]))
            one = {**a, **{k: entry[k] for k in ("rcpt", "to", "cc", "bcc") if k in entry},
                   "tags": _merge_tags(a.get("tags") or [], entry.get("tags") or [])}
            one["tpl"] = {**tpl, "hdrs": entry["tpl_hdrs"]}
            mid = _accept(ctx, ns, one, cs, ident, template, data)
            out.append({"Status": "SUCCESS" if _v2(a) else "Success", "MessageId": mid})
        except templates.RenderError as exc:
            out.append({"Status": "INVALID_PARAMETER" if _v2(a) else "InvalidParameterValue", "Error": exc.message})
        except Exception as exc:
            code = getattr(exc, "code", "")
            if not code:
                raise
            out.append({"Status": statuses.get(code, "FAILED" if _v2(a) else "Failed"),
                        "Error": getattr(exc, "message", str(exc))})
    return {"Results": out}


def _merge_tags(default: list, replacement: list) -> list:
    out = {n: v for n, v in default}
    out.update({n: v for n, v in replacement})
    return [[n, v] for n, v in out.items()]


def _tags(ns, a, cs: dict | None, from_domain: str | None) -> dict:
    tags: dict[str, list[str]] = {"ses:operation": [a["op"]]}
    if cs is not None:
        tags["ses:configuration-set"] = [cs["name"]]
    tags["ses:source-ip"] = [a.get("ip") or events.SOURCE_IP]
    if from_domain:
        tags["ses:from-domain"] = [from_domain]
    for n, v in a.get("tags") or []:
        tags.setdefault(n, []).append(v)
    tags["ses:caller-identity"] = [a.get("caller") or "root"]
    return tags


def _accept(ctx, ns, a, cs, ident, template: dict | None, data: dict | None) -> str:
    """Render (templates), store, count, and publish the outcomes of one message; its SES message id."""
    now = ctx.now_ms()
    mid = mime.ses_message_id(now)
    rcpts = a["rcpt"]
    skip = ops_contacts.unsubscribed(ns, a.get("list"), rcpts)      # raises before anything is written
    from_hdr = a.get("from_hdr") or []
    from_domain = addresses.domain_of(from_hdr[0]) if from_hdr else None
    tags = _tags(ns, a, cs, from_domain)
    source = a["source"]
    source_arn = ns.arn("identity", ident["name"]) if ident else None
    dims = {("MESSAGE_TAG", k): v[0] for k, v in tags.items()}

    def mail_obj(hdrs: list, with_arn: bool = True) -> dict:
        hmap = mime.header_map(hdrs)
        m = {"timestamp": iso(now), "source": source}
        if source_arn and with_arn:
            m["sourceArn"] = source_arn
        m.update({"sendingAccountId": ns.account, "messageId": mid, "destination": list(rcpts),
                  "headersTruncated": False, "headers": [{"name": n, "value": v} for n, v in hdrs],
                  "commonHeaders": events.common_headers(hmap, mid, mime.decode_value), "tags": tags})
        return m

    if template is not None:
        send_hdrs = [tuple(h) for h in a["tpl"].get("hdrs") or []] + [("MIME-Version", "1.0")]
        try:
            subject, text, html = templates.render(template, data or {})
        except templates.RenderError as exc:
            ctx.publisher.event(ns, cs, "RENDERING_FAILURE", lambda: events.event(
                "RENDERING_FAILURE", mail_obj(send_hdrs, False),
                events.rendering_failure_detail(a["tpl"].get("name") or "", exc.message)), mid, dims)
            return mid
        raw, final_hdrs = mime.build_message([tuple(h) for h in a["tpl"].get("hdrs") or []], subject, text, html,
                                             attachments=a["tpl"].get("attachments"), date=True)
        send_event_hdrs, delivery_hdrs, send_arn = send_hdrs, final_hdrs, False
    else:
        raw = a["raw"]
        send_event_hdrs = delivery_hdrs = [tuple(h) for h in a.get("hdrs") or []]
        subject = a.get("subject")
        send_arn = True
    for h in delivery_hdrs:
        if h[0].lower() == "subject":
            subject = mime.decode_value(h[1])
    mid_header = mime.message_id_header(mid, ns.region)
    prepend = [("Message-ID", mid_header)]
    if a.get("list"):
        lst = a["list"]
        prepend += [("List-Unsubscribe", f"<https://unsubscribe.{ns.region}.amazonses.com/v1/{mid}?list="
                                         f"{lst['ContactListName']}&topic={lst.get('TopicName') or ''}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    if not any(h[0].lower() == "date" for h in delivery_hdrs):
        from email.utils import formatdate
        prepend.append(("Date", formatdate(now / 1000, usegmt=False).replace("-0000", "+0000")))
    stored = mime.set_headers(raw, mime.SES_HEADERS + ("message-id",), prepend)

    ctx.publisher.event(ns, cs, "SEND", lambda: events.event("SEND", mail_obj(send_event_hdrs, send_arn), {}), mid,
                        dims)
    if EICAR in raw:
        ctx.publisher.event(ns, cs, "REJECT", lambda: events.event("REJECT", mail_obj(delivery_hdrs),
                                                                   {"reason": "Bad content"}), mid, dims)
        ns.count(now, rejects=1)
        return mid

    outcome = _outcomes(ns, rcpts, skip)
    status = {r: o for r, o in outcome.items()}
    rec = {"id": mid, "ns": ns.key, "account": ns.account, "region": ns.region, "ts": now,
           "direction": "outbound", "op": a.get("mailbox_op") or a["op"], "source": source, "from": from_hdr,
           "to": list(a.get("to") or []), "cc": list(a.get("cc") or []), "bcc": list(a.get("bcc") or []),
           "destination": list(rcpts), "subject": subject, "cs": cs["name"] if cs else None,
           "tags": {n: v for n, v in a.get("tags") or []} or None, "status": status, "mid_header": mid_header}
    if a.get("tpl") and a["tpl"].get("name"):
        rec["template"] = a["tpl"]["name"]
        rec["template_data"] = a["tpl"].get("data")
    if "tls" in a:
        rec["tls"] = bool(a["tls"])
    ctx.mailbox.add(rec, stored)

    d_tags = {**tags, "ses:outgoing-ip": [events.OUTGOING_IP]}
    delivered = [r for r, o in outcome.items() if o in ("Delivery", "Complaint", "OutOfOffice")]
    bounced = {sub: [r for r, o in outcome.items() if o == sub] for sub in
               ("General", "Suppressed", "OnAccountSuppressionList")}
    complained = [r for r, o in outcome.items() if o == "Complaint"]
    feedback_to = a.get("feedback") or a.get("return_path") or addresses.addr_spec(source)
    notif_identity = ident

    def notif_mail(kind: str) -> dict:
        m = {"timestamp": iso(now), "source": source}
        if source_arn:
            m["sourceArn"] = source_arn
        m.update({"sourceIp": a.get("ip") or events.SOURCE_IP, "callerIdentity": a.get("caller") or "root",
                  "sendingAccountId": ns.account, "messageId": mid, "destination": list(rcpts)})
        if notif_identity and notif_identity["headers"].get(kind):
            full = mail_obj(delivery_hdrs)
            m.update({k: full[k] for k in ("headersTruncated", "headers", "commonHeaders")})
        return m

    if delivered:
        detail = events.delivery_detail(delivered, ctx.now_ms(), now)

        def delivery_event():
            m = mail_obj(delivery_hdrs)
            m["tags"] = d_tags
            return events.event("DELIVERY", m, detail)
        ctx.publisher.event(ns, cs, "DELIVERY", delivery_event, mid, dims, n=len(delivered))
        ctx.publisher.notify(ns, notif_identity, "Delivery",
                             lambda: events.notification("Delivery", notif_mail("Delivery"), detail), mid)
    all_bounced = []
    for sub, who in bounced.items():
        if not who:
            continue
        diag = {"General": "smtp; 550 5.1.1 user unknown", "Suppressed": events.SUPPRESSED_DIAGNOSTIC,
                "OnAccountSuppressionList": events.ACCOUNT_SUPPRESSED_DIAGNOSTIC}[sub]
        recips = [events.bounced_recipient(r, diag) for r in who]
        all_bounced.extend(recips)
        detail = events.bounce_detail(recips, ctx.now_ms(), sub)
        ctx.publisher.event(ns, cs, "BOUNCE", lambda d=detail: events.event("BOUNCE", mail_obj(delivery_hdrs), d),
                            mid, dims, n=len(recips))
        ctx.publisher.notify(ns, notif_identity, "Bounce",
                             lambda d=detail: events.notification("Bounce", notif_mail("Bounce"), d), mid)
    for r in complained:
        detail = events.complaint_detail([r], ctx.now_ms())
        ctx.publisher.event(ns, cs, "COMPLAINT", lambda d=detail: events.event("COMPLAINT", mail_obj(delivery_hdrs),
                                                                               d), mid, dims)
        ctx.publisher.notify(ns, notif_identity, "Complaint",
                             lambda d=detail: events.notification("Complaint", notif_mail("Complaint"), d), mid)
    ns.count(now, attempts=len(rcpts), bounces=len(all_bounced), complaints=len(complained), sent=len(rcpts))
    forwarding = ident is None or ident["forwarding"]
    if forwarding and all_bounced:
        ctx.store_system_mail(ns, mime_from=None, to=feedback_to, raw=_feedback_bounce(feedback_to, subject,
                                                                                         all_bounced, mid),
                              kind="feedback")
    if forwarding and complained:
        from services.ses.system_mail import COMPLAINTS_FROM, complaint_notice
        ctx.store_system_mail(ns, mime_from=COMPLAINTS_FROM, to=feedback_to,
                              raw=complaint_notice(feedback_to, complained, mid), kind="feedback")
    for r, o in outcome.items():
        if o == "OutOfOffice":
            from services.ses.system_mail import out_of_office
            ctx.store_system_mail(ns, mime_from=r, to=feedback_to, raw=out_of_office(r, feedback_to, subject),
                                  kind="auto-reply")
    ctx.relay(a, delivered, stored)
    return mid


def _feedback_bounce(to: str, subject: str | None, bounced: list[dict], mid: str) -> bytes:
    from services.ses.system_mail import bounce_notice
    return bounce_notice(to, subject, bounced, mid)


def _outcomes(ns, rcpts: list[str], unsubscribed: set[str]) -> dict[str, str]:
    out = {}
    for r in rcpts:
        box = addresses.simulator_box(r)
        if r in unsubscribed:
            out[r] = "Unsubscribed"       # list management: SES does not send to them
        elif box == "bounce":
            out[r] = "General"
        elif box == "suppressionlist":
            out[r] = "Suppressed"
        elif box == "complaint":
            out[r] = "Complaint"
        elif box == "ooto":
            out[r] = "OutOfOffice"
        elif box is None and ns.get(SUPPRESSED, r.lower()) is not None:
            out[r] = "OnAccountSuppressionList"
        else:
            out[r] = "Delivery"
    return out
