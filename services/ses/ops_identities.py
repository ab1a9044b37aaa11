"""Identities (email addresses and domains): verification, DKIM, MAIL FROM,
notification topics, feedback forwarding and sending-authorization policies.

Records are keyed by the lower-cased identity; ``rec["name"]`` keeps what was
given. Verification follows ``ses.verification``: ``auto`` verifies at once,
``click`` leaves identities Pending until the link in the verification mail
(or the admin verify path) is used.
"""

from __future__ import annotations

import base64
import json
import os

from services.ses import addresses
from services.ses.errors import bad_request, err, invalid_parameter, not_found, v2_already_exists
from services.ses.paging import page
from services.ses.state import CONFIG_SET, IDENTITY

V2_STATUS = {"Success": "SUCCESS", "Pending": "PENDING", "Failed": "FAILED", "NotStarted": "NOT_STARTED",
             "TemporaryFailure": "TEMPORARY_FAILURE"}
V2_BEHAVIOR = {"UseDefaultValue": "USE_DEFAULT_VALUE", "RejectMessage": "REJECT_MESSAGE"}
V1_BEHAVIOR = {v: k for k, v in V2_BEHAVIOR.items()}
MAX_POLICIES = 20


# -- records -----------------------------------------------------------------------

def new_identity(ctx, ns, name: str, v2: bool = False) -> tuple[dict, bool]:
    """(record, created) of `name`, made if missing (status per ses.verification)."""
    key = name.lower()
    rec = ns.get(IDENTITY, key)
    if rec is not None:
        return rec, False
    domain = addresses.is_domain(name)
    now = ctx.now_ms()
    status = "Pending" if ctx.cfg["verification"] == "click" else "Success"
    rec = {"name": name.lower() if domain else name, "type": "Domain" if domain else "EmailAddress",
           "created": now, "status": status, "secret": os.urandom(12).hex(), "forwarding": True,
           "notif": {}, "headers": {}, "policies": {}, "tags": [],
           "dkim": {"enabled": False, "tokens": [], "origin": "AWS_SES", "length": "RSA_2048_BIT"},
           "mail_from": {"behavior": "UseDefaultValue"}}
    if domain:
        rec["token"] = base64.b64encode(os.urandom(32)).decode()
        if v2:   # v2 domains get Easy DKIM from the start
            _enable_dkim(ctx, rec)
    ns.put(IDENTITY, key, rec)
    if status == "Pending" and not domain:
        ctx.send_verification_mail(ns, rec)
    return rec, True


def verified(rec: dict | None) -> bool:
    return rec is not None and rec["status"] == "Success"


def find(ns, name: str) -> dict | None:
    return ns.get(IDENTITY, name.lower())


def authorizing_identity(ns, address: str) -> dict | None:
    """The verified identity that lets `address` send: the address itself, else its domain."""
    for cand in addresses.identity_candidates(address):
        rec = ns.get(IDENTITY, cand)
        if verified(rec):
            return rec
    return None


def _enable_dkim(ctx, rec: dict) -> None:
    dk = rec["dkim"]
    dk["enabled"] = True
    if not dk["tokens"]:
        dk["tokens"] = [base64.b32encode(os.urandom(20)).decode().lower() for _ in range(3)]
        dk["generated"] = ctx.now_ms()


def dkim_status(ctx, rec: dict) -> str:
    dk = rec["dkim"]
    if rec["type"] == "EmailAddress" or not dk["tokens"]:
        return "NotStarted"
    return "Success" if rec["status"] == "Success" else "Pending"


def _require(ns, name: str) -> dict:
    rec = find(ns, name)
    if rec is None:
        raise invalid_parameter(f"Identity '{name}' does not exist.")
    return rec


def _save(ns, rec: dict) -> None:
    ns.put(IDENTITY, rec["name"].lower(), rec)


def _each(ns, names: list[str], build) -> dict:
    """{name: build(record)} for the requested identities that exist (AWS leaves the others out)."""
    out = {}
    for name in names:
        rec = find(ns, name)
        if rec is not None:
            out[name] = build(rec)
    return out


def _set_mail_from(rec: dict, domain: str | None, behavior: str) -> None:
    _check_mail_from(rec, domain)
    rec["mail_from"] = {"behavior": behavior}
    if domain:
        rec["mail_from"]["domain"] = domain.lower()


# -- v1 ----------------------------------------------------------------------------

def verify_email_identity(ctx, ns, p):
    address = addresses.check_address(p["EmailAddress"])
    rec, created = new_identity(ctx, ns, address)
    if not created and rec["status"] == "Pending":
        ctx.send_verification_mail(ns, rec)
    return {}


def verify_domain_identity(ctx, ns, p):
    domain = p["Domain"].lower().rstrip(".")
    if not addresses.check_domain(domain):
        raise invalid_parameter(f"Invalid domain name {p['Domain']}.")
    rec, _ = new_identity(ctx, ns, domain)
    return {"VerificationToken": rec["token"]}


def verify_domain_dkim(ctx, ns, p):
    domain = p["Domain"].lower().rstrip(".")
    if not addresses.check_domain(domain):
        raise invalid_parameter(f"Invalid domain name {p['Domain']}.")
    rec, _ = new_identity(ctx, ns, domain)
    _enable_dkim(ctx, rec)
    _save(ns, rec)
    return {"DkimTokens": list(rec["dkim"]["tokens"])}


def delete_identity(ctx, ns, p):
    ns.delete(IDENTITY, p["Identity"].lower())
    return {}


def delete_verified_email_address(ctx, ns, p):
    ns.delete(IDENTITY, p["EmailAddress"].lower())
    return {}


def list_identities(ctx, ns, p):
    kind = p.get("IdentityType")
    names = sorted(r["name"] for _, r in ns.items(IDENTITY) if not kind or r["type"] == kind)
    out, token = page(names, p.get("NextToken"), p.get("MaxItems"), 1000, 1000)
    return {"Identities": out, **({"NextToken": token} if token else {})}


def list_verified_email_addresses(ctx, ns, p):
    return {"VerifiedEmailAddresses": sorted(r["name"] for _, r in ns.items(IDENTITY)
                                             if r["type"] == "EmailAddress" and verified(r))}


def _verification_attrs(rec: dict) -> dict:
    attrs = {"VerificationStatus": rec["status"]}
    if rec["type"] == "Domain":
        attrs["VerificationToken"] = rec["token"]
    return attrs


def get_identity_verification_attributes(ctx, ns, p):
    return {"VerificationAttributes": _each(ns, p["Identities"], _verification_attrs)}


def get_identity_dkim_attributes(ctx, ns, p):
    def build(rec):
        attrs = {"DkimEnabled": bool(rec["dkim"]["enabled"]), "DkimVerificationStatus": dkim_status(ctx, rec)}
        if rec["type"] == "Domain" and rec["dkim"]["tokens"]:
            attrs["DkimTokens"] = list(rec["dkim"]["tokens"])
        return attrs
    return {"DkimAttributes": _each(ns, p["Identities"], build)}


def set_identity_dkim_enabled(ctx, ns, p):
    rec = _require(ns, p["Identity"])
    if p["DkimEnabled"]:
        if rec["type"] == "Domain":
            _enable_dkim(ctx, rec)
        else:
            rec["dkim"]["enabled"] = True
    else:
        rec["dkim"]["enabled"] = False
    _save(ns, rec)
    return {}


def _mail_from_attrs(rec: dict) -> dict:
    mf = rec["mail_from"]
    attrs = {}
    if mf.get("domain"):
        attrs["MailFromDomain"] = mf["domain"]
        attrs["MailFromDomainStatus"] = "Success" if verified(rec) else "Pending"
    attrs["BehaviorOnMXFailure"] = mf.get("behavior", "UseDefaultValue")
    return attrs


def get_identity_mail_from_domain_attributes(ctx, ns, p):
    return {"MailFromDomainAttributes": _each(ns, p["Identities"], _mail_from_attrs)}


def _check_mail_from(rec: dict, domain: str | None) -> None:
    if not domain:
        return
    base = rec["name"] if rec["type"] == "Domain" else addresses.domain_of(rec["name"])
    if not domain.lower().endswith("." + base):
        raise invalid_parameter(f"Provided MAIL-FROM domain '{domain}' is not subdomain of the domain of the "
                                f"identity '{base}'.")


def set_identity_mail_from_domain(ctx, ns, p):
    rec = _require(ns, p["Identity"])
    _set_mail_from(rec, p.get("MailFromDomain"), p.get("BehaviorOnMXFailure") or "UseDefaultValue")
    _save(ns, rec)
    return {}


def _notification_attrs(rec: dict) -> dict:
    attrs = {f"{kind}Topic": rec["notif"][kind] for kind in ("Bounce", "Complaint", "Delivery")
             if rec["notif"].get(kind)}
    attrs["ForwardingEnabled"] = bool(rec["forwarding"])
    for kind in ("Bounce", "Complaint", "Delivery"):
        attrs[f"HeadersIn{kind}NotificationsEnabled"] = bool(rec["headers"].get(kind, False))
    return attrs


def get_identity_notification_attributes(ctx, ns, p):
    return {"NotificationAttributes": _each(ns, p["Identities"], _notification_attrs)}


def _check_type(kind: str) -> None:
    if kind not in ("Bounce", "Complaint", "Delivery"):
        raise invalid_parameter(f"Invalid notification type: {kind}. Valid values are: Bounce, Complaint, Delivery.")


def set_identity_notification_topic(ctx, ns, p):
    kind = p["NotificationType"]
    _check_type(kind)
    rec = find(ns, p["Identity"])
    if rec is None:
        raise invalid_parameter(f"Identity <{p['Identity']}> does not exist.")
    if p.get("SnsTopic"):
        rec["notif"][kind] = p["SnsTopic"]
    else:
        rec["notif"].pop(kind, None)
        if kind in ("Bounce", "Complaint") and not rec["forwarding"]:
            rec["forwarding"] = True     # AWS turns forwarding back on rather than lose feedback
    _save(ns, rec)
    return {}


def set_identity_feedback_forwarding_enabled(ctx, ns, p):
    rec = find(ns, p["Identity"])
    if rec is None:
        raise invalid_parameter(f"Identity <{p['Identity']}> does not exist.")
    enabled = bool(p["ForwardingEnabled"])
    if not enabled and not (rec["notif"].get("Bounce") and rec["notif"].get("Complaint")):
        raise invalid_parameter("Feedback notification topic not set for all notification types. Please set a "
                                "feedback notification topic for all notification types, or enable feedback "
                                "forwarding.")
    rec["forwarding"] = enabled
    _save(ns, rec)
    return {}


def set_identity_headers_in_notifications_enabled(ctx, ns, p):
    kind = p["NotificationType"]
    _check_type(kind)
    rec = find(ns, p["Identity"])
    if rec is None:
        raise err("MessageRejected", f"Identity {p['Identity']} is not verified or does not exist.")
    rec["headers"][kind] = bool(p["Enabled"])
    _save(ns, rec)
    return {}


def _check_policy(doc: str, v2: bool = False) -> None:
    try:
        parsed = json.loads(doc)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or "Statement" not in parsed:
        raise (bad_request("Policy is not valid JSON.") if v2 else
               err("InvalidPolicy", "Policy is not valid JSON."))


def put_identity_policy(ctx, ns, p):
    rec = find(ns, p["Identity"])
    if rec is None:
        raise invalid_parameter(f"Identity <{p['Identity']}> does not exist.")
    _check_policy(p["Policy"])
    if p["PolicyName"] not in rec["policies"] and len(rec["policies"]) >= MAX_POLICIES:
        raise err("LimitExceeded", f"Policy limit of {MAX_POLICIES} exceeded for identity {p['Identity']}.")
    rec["policies"][p["PolicyName"]] = p["Policy"]
    _save(ns, rec)
    return {}


def get_identity_policies(ctx, ns, p):
    rec = find(ns, p["Identity"])
    pols = rec["policies"] if rec else {}
    return {"Policies": {n: pols[n] for n in p["PolicyNames"] if n in pols}}


def list_identity_policies(ctx, ns, p):
    rec = find(ns, p["Identity"])
    return {"PolicyNames": sorted(rec["policies"]) if rec else []}


def delete_identity_policy(ctx, ns, p):
    rec = find(ns, p["Identity"])
    if rec is not None and rec["policies"].pop(p["PolicyName"], None) is not None:
        _save(ns, rec)
    return {}


V1 = {
    "VerifyEmailIdentity": verify_email_identity, "VerifyEmailAddress": verify_email_identity,
    "VerifyDomainIdentity": verify_domain_identity, "VerifyDomainDkim": verify_domain_dkim,
    "DeleteIdentity": delete_identity, "DeleteVerifiedEmailAddress": delete_verified_email_address,
    "ListIdentities": list_identities, "ListVerifiedEmailAddresses": list_verified_email_addresses,
    "GetIdentityVerificationAttributes": get_identity_verification_attributes,
    "GetIdentityDkimAttributes": get_identity_dkim_attributes, "SetIdentityDkimEnabled": set_identity_dkim_enabled,
    "GetIdentityMailFromDomainAttributes": get_identity_mail_from_domain_attributes,
    "SetIdentityMailFromDomain": set_identity_mail_from_domain,
    "GetIdentityNotificationAttributes": get_identity_notification_attributes,
    "SetIdentityNotificationTopic": set_identity_notification_topic,
    "SetIdentityFeedbackForwardingEnabled": set_identity_feedback_forwarding_enabled,
    "SetIdentityHeadersInNotificationsEnabled": set_identity_headers_in_notifications_enabled,
    "PutIdentityPolicy": put_identity_policy, "GetIdentityPolicies": get_identity_policies,
    "ListIdentityPolicies": list_identity_policies, "DeleteIdentityPolicy": delete_identity_policy,
}


# -- v2 ----------------------------------------------------------------------------

def _v2_require(ns, name: str) -> dict:
    rec = find(ns, name)
    if rec is None:
        raise not_found(f"Email identity {name} does not exist.")
    return rec


def _v2_dkim(ctx, rec: dict) -> dict:
    dk = rec["dkim"]
    out = {"SigningEnabled": bool(dk["enabled"]), "Status": V2_STATUS[dkim_status(ctx, rec)],
           "SigningAttributesOrigin": dk.get("origin", "AWS_SES")}
    if dk["tokens"]:
        out["Tokens"] = list(dk["tokens"])
    if rec["type"] == "Domain":
        out["CurrentSigningKeyLength"] = dk.get("length", "RSA_2048_BIT")
        out["NextSigningKeyLength"] = dk.get("length", "RSA_2048_BIT")
        if dk.get("generated"):
            out["LastKeyGenerationTimestamp"] = dk["generated"] / 1000.0
    return out


def _v2_type(rec: dict) -> str:
    return "DOMAIN" if rec["type"] == "Domain" else "EMAIL_ADDRESS"


def create_email_identity(ctx, ns, p):
    name = p["EmailIdentity"]
    if "@" in name:
        name = addresses.check_address(name)
    elif not addresses.check_domain(name.rstrip(".")):
        raise bad_request(f"Invalid domain name {name}.")
    if find(ns, name) is not None:
        raise v2_already_exists(f"Email identity {name} already exist.")
    cs = p.get("ConfigurationSetName")
    if cs and ns.get(CONFIG_SET, cs) is None:
        raise not_found(f"Configuration set <{cs}> does not exist.")
    rec, _ = new_identity(ctx, ns, name, v2=True)
    sa = p.get("DkimSigningAttributes") or {}
    if sa and rec["type"] == "Domain":
        rec["dkim"]["origin"] = sa.get("DomainSigningAttributesOrigin") or (
            "EXTERNAL" if sa.get("DomainSigningPrivateKey") else "AWS_SES")
        if sa.get("NextSigningKeyLength"):
            rec["dkim"]["length"] = sa["NextSigningKeyLength"]
    rec["tags"] = [dict(t) for t in p.get("Tags") or []]
    if cs:
        rec["config_set"] = cs
    _save(ns, rec)
    return {"IdentityType": _v2_type(rec), "VerifiedForSendingStatus": verified(rec),
            "DkimAttributes": _v2_dkim(ctx, rec)}


def get_email_identity(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    mf = rec["mail_from"]
    out = {"IdentityType": _v2_type(rec), "FeedbackForwardingStatus": bool(rec["forwarding"]),
           "VerifiedForSendingStatus": verified(rec), "DkimAttributes": _v2_dkim(ctx, rec),
           "Policies": dict(rec["policies"]), "Tags": list(rec["tags"]),
           "VerificationStatus": V2_STATUS[rec["status"]]}
    if mf.get("domain"):
        out["MailFromAttributes"] = {"MailFromDomain": mf["domain"],
                                     "MailFromDomainStatus": "SUCCESS" if verified(rec) else "PENDING",
                                     "BehaviorOnMxFailure": V2_BEHAVIOR[mf.get("behavior", "UseDefaultValue")]}
    if rec.get("config_set"):
        out["ConfigurationSetName"] = rec["config_set"]
    if rec["type"] == "Domain" and verified(rec):
        out["VerificationInfo"] = {"LastCheckedTimestamp": rec["created"] / 1000.0,
                                   "LastSuccessTimestamp": rec["created"] / 1000.0}
    return out


def delete_email_identity(ctx, ns, p):
    _v2_require(ns, p["EmailIdentity"])
    ns.delete(IDENTITY, p["EmailIdentity"].lower())
    return {}


def list_email_identities(ctx, ns, p):
    recs = {r["name"]: r for _, r in ns.items(IDENTITY)}
    names, token = page(sorted(recs), p.get("NextToken"), p.get("PageSize"), 100, 1000, v2=True)
    out = [{"IdentityType": _v2_type(recs[n]), "IdentityName": n, "SendingEnabled": verified(recs[n]),
            "VerificationStatus": V2_STATUS[recs[n]["status"]]} for n in names]
    return {"EmailIdentities": out, **({"NextToken": token} if token else {})}


def put_email_identity_dkim_attributes(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    if p.get("SigningEnabled") and rec["type"] == "Domain":
        _enable_dkim(ctx, rec)
    else:
        rec["dkim"]["enabled"] = bool(p.get("SigningEnabled"))
    _save(ns, rec)
    return {}


def put_email_identity_dkim_signing_attributes(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    origin = p["SigningAttributesOrigin"]
    sa = p.get("SigningAttributes") or {}
    rec["dkim"]["origin"] = origin
    if origin == "EXTERNAL":
        rec["dkim"]["tokens"] = [sa.get("DomainSigningSelector") or "selector"]
        rec["dkim"]["enabled"] = True
    else:
        _enable_dkim(ctx, rec)
        if sa.get("NextSigningKeyLength"):
            rec["dkim"]["length"] = sa["NextSigningKeyLength"]
    _save(ns, rec)
    return {"DkimStatus": V2_STATUS[dkim_status(ctx, rec)], "DkimTokens": list(rec["dkim"]["tokens"])}


def put_email_identity_feedback_attributes(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    rec["forwarding"] = bool(p.get("EmailForwardingEnabled", False))
    _save(ns, rec)
    return {}


def put_email_identity_mail_from_attributes(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    try:
        _set_mail_from(rec, p.get("MailFromDomain"),
                       V1_BEHAVIOR.get(p.get("BehaviorOnMxFailure") or "", "UseDefaultValue"))
    except Exception as exc:
        raise bad_request(str(exc)) from None
    _save(ns, rec)
    return {}


def put_email_identity_configuration_set_attributes(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    cs = p.get("ConfigurationSetName")
    if cs and ns.get(CONFIG_SET, cs) is None:
        raise not_found(f"Configuration set <{cs}> does not exist.")
    if cs:
        rec["config_set"] = cs
    else:
        rec.pop("config_set", None)
    _save(ns, rec)
    return {}


def create_email_identity_policy(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    if p["PolicyName"] in rec["policies"]:
        raise v2_already_exists(f"Policy {p['PolicyName']} already exists.")
    _check_policy(p["Policy"], v2=True)
    rec["policies"][p["PolicyName"]] = p["Policy"]
    _save(ns, rec)
    return {}


def update_email_identity_policy(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    if p["PolicyName"] not in rec["policies"]:
        raise not_found(f"Policy {p['PolicyName']} does not exist.")
    _check_policy(p["Policy"], v2=True)
    rec["policies"][p["PolicyName"]] = p["Policy"]
    _save(ns, rec)
    return {}


def get_email_identity_policies(ctx, ns, p):
    return {"Policies": dict(_v2_require(ns, p["EmailIdentity"])["policies"])}


def delete_email_identity_policy(ctx, ns, p):
    rec = _v2_require(ns, p["EmailIdentity"])
    if rec["policies"].pop(p["PolicyName"], None) is None:
        raise not_found(f"Policy {p['PolicyName']} does not exist.")
    _save(ns, rec)
    return {}


V2 = {
    "CreateEmailIdentity": create_email_identity, "GetEmailIdentity": get_email_identity,
    "DeleteEmailIdentity": delete_email_identity, "ListEmailIdentities": list_email_identities,
    "PutEmailIdentityDkimAttributes": put_email_identity_dkim_attributes,
    "PutEmailIdentityDkimSigningAttributes": put_email_identity_dkim_signing_attributes,
    "PutEmailIdentityFeedbackAttributes": put_email_identity_feedback_attributes,
    "PutEmailIdentityMailFromAttributes": put_email_identity_mail_from_attributes,
    "PutEmailIdentityConfigurationSetAttributes": put_email_identity_configuration_set_attributes,
    "CreateEmailIdentityPolicy": create_email_identity_policy,
    "UpdateEmailIdentityPolicy": update_email_identity_policy,
    "GetEmailIdentityPolicies": get_email_identity_policies,
    "DeleteEmailIdentityPolicy": delete_email_identity_policy,
}
