"""Account-level operations: sending quota and statistics, sending switch,
account attributes (v2), the account suppression list, and resource tags."""

from __future__ import annotations

from services.ses.errors import bad_request, not_found
from services.ses.paging import page
from services.ses.state import CONFIG_SET, CONTACT_LIST, IDENTITY, SUPPRESSED, TEMPLATE


def quota(ctx, ns) -> dict:
    return {"Max24HourSend": float(ctx.cfg["max_24h"]), "MaxSendRate": float(ctx.cfg["max_rate"]),
            "SentLast24Hours": float(ns.sent_last_24h(ctx.now_ms()))}


# -- v1 ------------------------------------------------------------------------------

V1 = {
    "GetSendQuota": lambda ctx, ns, p: quota(ctx, ns),
    "GetSendStatistics": lambda ctx, ns, p: {"SendDataPoints": ns.data_points()},
    "GetAccountSendingEnabled": lambda ctx, ns, p: {"Enabled": ns.setting("sending_enabled", True)},
    "UpdateAccountSendingEnabled": lambda ctx, ns, p: ns.set("sending_enabled", bool(p.get("Enabled", False)))
    or {},
}


# -- v2 account ----------------------------------------------------------------------

def get_account(ctx, ns, p):
    out = {"DedicatedIpAutoWarmupEnabled": ns.setting("auto_warmup", False), "EnforcementStatus": "HEALTHY",
           "ProductionAccessEnabled": ns.setting("production", not ctx.cfg["sandbox"]),
           "SendQuota": quota(ctx, ns), "SendingEnabled": ns.setting("sending_enabled", True),
           "SuppressionAttributes": ns.setting("suppression", {"SuppressedReasons": []})}
    for key, name in (("details", "Details"), ("vdm", "VdmAttributes")):
        if ns.setting(key):
            out[name] = ns.setting(key)
    return out


def put_account_details(ctx, ns, p):
    details = {k: p[k] for k in ("MailType", "WebsiteURL", "ContactLanguage", "UseCaseDescription",
                                 "AdditionalContactEmailAddresses") if p.get(k) is not None}
    details["ReviewDetails"] = {"Status": "GRANTED", "CaseId": "case-" + ns.account}
    ns.set("details", details)
    if p.get("ProductionAccessEnabled"):
        ns.set("production", True)
    return {}


# -- suppression list ----------------------------------------------------------------

def put_suppressed_destination(ctx, ns, p):
    address = p["EmailAddress"]
    ns.put(SUPPRESSED, address.lower(), {"EmailAddress": address, "Reason": p["Reason"], "ts": ctx.now_ms()})
    return {}


def suppress(ctx, ns, address: str, reason: str, message_id: str, feedback_id: str) -> None:
    """Add an address automatically (bounce or complaint), as SuppressedReasons says."""
    reasons = (ns.setting("suppression") or {}).get("SuppressedReasons") or []
    if reason in reasons:
        ns.put(SUPPRESSED, address.lower(), {"EmailAddress": address, "Reason": reason, "ts": ctx.now_ms(),
                                             "MessageId": message_id, "FeedbackId": feedback_id})


def get_suppressed_destination(ctx, ns, p):
    rec = ns.get(SUPPRESSED, p["EmailAddress"].lower())
    if rec is None:
        raise not_found(f"Email address {p['EmailAddress']} does not exist on your suppression list.")
    out = {"EmailAddress": rec["EmailAddress"], "Reason": rec["Reason"], "LastUpdateTime": rec["ts"] / 1000.0}
    if rec.get("MessageId"):
        out["Attributes"] = {"MessageId": rec["MessageId"], "FeedbackId": rec.get("FeedbackId", "")}
    return {"SuppressedDestination": out}


def delete_suppressed_destination(ctx, ns, p):
    if not ns.delete(SUPPRESSED, p["EmailAddress"].lower()):
        raise not_found(f"Email address {p['EmailAddress']} does not exist on your suppression list.")
    return {}


def list_suppressed_destinations(ctx, ns, p):
    reasons = set(p.get("Reasons") or [])
    start, end = p.get("StartDate"), p.get("EndDate")
    recs = {}
    for key, rec in ns.items(SUPPRESSED):
        t = rec["ts"] / 1000.0
        if reasons and rec["Reason"] not in reasons or start is not None and t < start or \
                end is not None and t > end:
            continue
        recs[key] = rec
    keys, token = page(sorted(recs), p.get("NextToken"), p.get("PageSize"), 100, 1000, v2=True)
    return {"SuppressedDestinationSummaries": [
        {"EmailAddress": recs[k]["EmailAddress"], "Reason": recs[k]["Reason"],
         "LastUpdateTime": recs[k]["ts"] / 1000.0} for k in keys], **({"NextToken": token} if token else {})}


# -- tags (v2) -----------------------------------------------------------------------

_TAGGABLE = {"configuration-set": CONFIG_SET, "identity": IDENTITY, "template": TEMPLATE,
             "contact-list": CONTACT_LIST}


def _resource(ns, arn: str) -> tuple[str, str, dict]:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ses" or "/" not in parts[5]:
        raise bad_request(f"Invalid ARN: {arn}")
    rtype, _, name = parts[5].partition("/")
    kind = _TAGGABLE.get(rtype)
    if kind is None:
        raise bad_request(f"Invalid ARN: {arn}")
    key = name.lower() if kind == IDENTITY else name
    rec = ns.get(kind, key)
    if rec is None or parts[3] != ns.region or parts[4] != ns.account:
        raise not_found(f"Resource not found: {arn}")
    return kind, key, rec


def tag_resource(ctx, ns, p):
    kind, key, rec = _resource(ns, p["ResourceArn"])
    tags = {t["Key"]: t["Value"] for t in rec.get("tags") or []}
    tags.update({t["Key"]: t["Value"] for t in p["Tags"]})
    if len(tags) > 50:
        raise bad_request("Too many tags: a resource can have at most 50 tags.")
    rec["tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    ns.put(kind, key, rec)
    return {}


def untag_resource(ctx, ns, p):
    kind, key, rec = _resource(ns, p["ResourceArn"])
    drop = set(p["TagKeys"])
    rec["tags"] = [t for t in rec.get("tags") or [] if t["Key"] not in drop]
    ns.put(kind, key, rec)
    return {}


V2 = {
    "GetAccount": get_account,
    "PutAccountSendingAttributes": lambda ctx, ns, p: ns.set("sending_enabled", bool(p.get("SendingEnabled",
                                                                                            False))) or {},
    "PutAccountSuppressionAttributes": lambda ctx, ns, p: ns.set("suppression", {
        "SuppressedReasons": list(p.get("SuppressedReasons") or []),
        **({"ValidationAttributes": p["ValidationAttributes"]} if p.get("ValidationAttributes") else {})}) or {},
    "PutAccountDetails": put_account_details,
    "PutAccountVdmAttributes": lambda ctx, ns, p: ns.set("vdm", p["VdmAttributes"]) or {},
    "PutAccountDedicatedIpWarmupAttributes": lambda ctx, ns, p: ns.set("auto_warmup", bool(
        p.get("AutoWarmupEnabled", False))) or {},
    "PutSuppressedDestination": put_suppressed_destination,
    "GetSuppressedDestination": get_suppressed_destination,
    "DeleteSuppressedDestination": delete_suppressed_destination,
    "ListSuppressedDestinations": list_suppressed_destinations,
    "TagResource": tag_resource, "UntagResource": untag_resource,
    "ListTagsForResource": lambda ctx, ns, p: {"Tags": list(_resource(ns, p["ResourceArn"])[2].get("tags") or [])},
}
