"""Email templates (v1 and v2), rendering tests, and custom verification email templates."""

from __future__ import annotations

import re

from services.ses import mime, templates
from services.ses.errors import (
    already_exists, bad_request, err, invalid_parameter, not_found, template_missing, v2_already_exists,
)
from services.ses.paging import page
from services.ses.state import CUSTOM_TEMPLATE, TEMPLATE

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TEMPLATE_BYTES = 500 * 1024
MAX_TEMPLATES = 20000


def _check(ctx, ns, name: str, subject, text, html, v2: bool) -> None:
    if not _NAME.match(name or ""):
        msg = "Template name must be 1-64 characters of letters, numbers, underscores and dashes."
        raise bad_request(msg) if v2 else invalid_parameter(msg)
    size = sum(len((s or "").encode()) for s in (subject, text, html))
    if size > MAX_TEMPLATE_BYTES:
        msg = "Template size exceeds the maximum of 500 KB."
        raise bad_request(msg) if v2 else err("InvalidTemplate", msg)
    try:
        for part in (subject, text, html):
            templates.check_syntax(part)
    except templates.RenderError as exc:
        raise bad_request(exc.message) if v2 else exc.as_service_error()


def _record(ctx, name, subject, text, html, tags=None, created=None) -> dict:
    return {"name": name, "subject": subject, "text": text, "html": html, "tags": list(tags or []),
            "created": created or ctx.now_ms()}


def rendered(tpl: dict, data_json: str | None) -> str:
    """TestRenderTemplate's MIME text; raises RenderError."""
    data = templates.parse_data(data_json)
    subject, text, html = templates.render(tpl, data)
    raw, _ = mime.build_message([], subject, text, html, date=True)
    return raw.decode("utf-8", "replace")


# -- v1 ----------------------------------------------------------------------------

def create_template(ctx, ns, p):
    t = p["Template"]
    name = t["TemplateName"]
    _check(ctx, ns, name, t.get("SubjectPart"), t.get("TextPart"), t.get("HtmlPart"), False)
    if ns.get(TEMPLATE, name) is not None:
        raise already_exists(f"Template {name} already exists.")
    if len(ns.tables[TEMPLATE]) >= MAX_TEMPLATES:
        raise err("LimitExceeded", f"Maximum number of templates ({MAX_TEMPLATES}) exceeded.")
    ns.put(TEMPLATE, name, _record(ctx, name, t.get("SubjectPart"), t.get("TextPart"), t.get("HtmlPart")))
    return {}


def update_template(ctx, ns, p):
    t = p["Template"]
    name = t["TemplateName"]
    old = ns.get(TEMPLATE, name)
    if old is None:
        raise template_missing(name)
    _check(ctx, ns, name, t.get("SubjectPart"), t.get("TextPart"), t.get("HtmlPart"), False)
    ns.put(TEMPLATE, name, _record(ctx, name, t.get("SubjectPart"), t.get("TextPart"), t.get("HtmlPart"),
                                   old.get("tags"), old["created"]))
    return {}


def get_template(ctx, ns, p):
    t = ns.get(TEMPLATE, p["TemplateName"])
    if t is None:
        raise template_missing(p["TemplateName"])
    out = {"TemplateName": t["name"]}
    for key, part in (("SubjectPart", "subject"), ("TextPart", "text"), ("HtmlPart", "html")):
        if t.get(part) is not None:
            out[key] = t[part]
    return {"Template": out}


def delete_template(ctx, ns, p):
    ns.delete(TEMPLATE, p["TemplateName"])
    return {}


def list_templates(ctx, ns, p):
    recs = dict(ns.items(TEMPLATE))
    names, token = page(sorted(recs), p.get("NextToken"), p.get("MaxItems"), 10, 100)
    return {"TemplatesMetadata": [{"Name": n, "CreatedTimestamp": recs[n]["created"] / 1000.0} for n in names],
            **({"NextToken": token} if token else {})}


def test_render_template(ctx, ns, p):
    t = ns.get(TEMPLATE, p["TemplateName"])
    if t is None:
        raise template_missing(p["TemplateName"])
    try:
        return {"RenderedTemplate": rendered(t, p["TemplateData"])}
    except templates.RenderError as exc:
        raise exc.as_service_error() from None


# -- custom verification email templates ------------------------------------------

def _cvt_missing(name: str, v2: bool):
    msg = f"Custom verification email template {name} does not exist."
    return not_found(msg) if v2 else err("CustomVerificationEmailTemplateDoesNotExist", msg)


def _cvt_put(ctx, ns, p, v2: bool, creating: bool):
    name = p["TemplateName"]
    old = ns.get(CUSTOM_TEMPLATE, name)
    if creating and old is not None:
        msg = f"Custom verification email template {name} already exists."
        raise v2_already_exists(msg) if v2 else err("CustomVerificationEmailTemplateAlreadyExists", msg)
    if not creating and old is None:
        raise _cvt_missing(name, v2)
    rec = dict(old or {"name": name, "created": ctx.now_ms()})
    for key in ("FromEmailAddress", "TemplateSubject", "TemplateContent", "SuccessRedirectionURL",
                "FailureRedirectionURL"):
        if p.get(key) is not None:
            rec[key] = p[key]
    ns.put(CUSTOM_TEMPLATE, name, rec)
    return {}


def _cvt_get(ctx, ns, p, v2: bool):
    rec = ns.get(CUSTOM_TEMPLATE, p["TemplateName"])
    if rec is None:
        raise _cvt_missing(p["TemplateName"], v2)
    return {"TemplateName": rec["name"], **{k: rec[k] for k in (
        "FromEmailAddress", "TemplateSubject", "TemplateContent", "SuccessRedirectionURL",
        "FailureRedirectionURL") if k in rec}}


def _cvt_delete(ctx, ns, p, v2: bool):
    ns.delete(CUSTOM_TEMPLATE, p["TemplateName"])
    return {}


def _cvt_list(ctx, ns, p, v2: bool):
    recs = dict(ns.items(CUSTOM_TEMPLATE))
    names, token = page(sorted(recs), p.get("NextToken"), p.get("PageSize" if v2 else "MaxResults"), 50, 50, v2)
    items = [{k: v for k, v in _cvt_get(ctx, ns, {"TemplateName": n}, v2).items() if k != "TemplateContent"}
             for n in names]
    return {"CustomVerificationEmailTemplates": items, **({"NextToken": token} if token else {})}


def send_custom_verification_email(ctx, ns, p, v2: bool):
    from services.ses import addresses, ops_identities
    rec = ns.get(CUSTOM_TEMPLATE, p["TemplateName"])
    if rec is None:
        raise _cvt_missing(p["TemplateName"], v2)
    sender = rec.get("FromEmailAddress", "")
    if ctx.cfg["verification"] != "none" and ops_identities.authorizing_identity(ns, sender) is None:
        msg = f"Email address {sender} is not verified."
        raise (bad_request(msg) if v2 else err("FromEmailAddressNotVerified", msg))
    address = addresses.check_address(p["EmailAddress"])
    ident, created = ops_identities.new_identity(ctx, ns, address)
    mid = ctx.send_verification_mail(ns, ident, template=rec, force=True)
    return {"MessageId": mid}


V1 = {
    "CreateTemplate": create_template, "UpdateTemplate": update_template, "GetTemplate": get_template,
    "DeleteTemplate": delete_template, "ListTemplates": list_templates, "TestRenderTemplate": test_render_template,
    "CreateCustomVerificationEmailTemplate": lambda c, n, p: _cvt_put(c, n, p, False, True),
    "UpdateCustomVerificationEmailTemplate": lambda c, n, p: _cvt_put(c, n, p, False, False),
    "GetCustomVerificationEmailTemplate": lambda c, n, p: _cvt_get(c, n, p, False),
    "DeleteCustomVerificationEmailTemplate": lambda c, n, p: _cvt_delete(c, n, p, False),
    "ListCustomVerificationEmailTemplates": lambda c, n, p: _cvt_list(c, n, p, False),
    "SendCustomVerificationEmail": lambda c, n, p: send_custom_verification_email(c, n, p, False),
}


# -- v2 ----------------------------------------------------------------------------

def _v2_tpl(ns, name: str) -> dict:
    t = ns.get(TEMPLATE, name)
    if t is None:
        raise not_found(f"Template {name} does not exist.")
    return t


def create_email_template(ctx, ns, p):
    name, c = p["TemplateName"], p["TemplateContent"]
    _check(ctx, ns, name, c.get("Subject"), c.get("Text"), c.get("Html"), True)
    if ns.get(TEMPLATE, name) is not None:
        raise v2_already_exists(f"Template {name} already exists.")
    ns.put(TEMPLATE, name, _record(ctx, name, c.get("Subject"), c.get("Text"), c.get("Html"), p.get("Tags")))
    return {}


def update_email_template(ctx, ns, p):
    name, c = p["TemplateName"], p["TemplateContent"]
    old = _v2_tpl(ns, name)
    _check(ctx, ns, name, c.get("Subject"), c.get("Text"), c.get("Html"), True)
    ns.put(TEMPLATE, name, _record(ctx, name, c.get("Subject"), c.get("Text"), c.get("Html"), old.get("tags"),
                                   old["created"]))
    return {}


def get_email_template(ctx, ns, p):
    t = _v2_tpl(ns, p["TemplateName"])
    content = {k: t[part] for k, part in (("Subject", "subject"), ("Text", "text"), ("Html", "html"))
               if t.get(part) is not None}
    return {"TemplateName": t["name"], "TemplateContent": content, "Tags": list(t.get("tags") or [])}


def delete_email_template(ctx, ns, p):
    _v2_tpl(ns, p["TemplateName"])
    ns.delete(TEMPLATE, p["TemplateName"])
    return {}


def list_email_templates(ctx, ns, p):
    recs = dict(ns.items(TEMPLATE))
    names, token = page(sorted(recs), p.get("NextToken"), p.get("PageSize"), 10, 100, v2=True)
    return {"TemplatesMetadata": [{"TemplateName": n, "CreatedTimestamp": recs[n]["created"] / 1000.0}
                                  for n in names], **({"NextToken": token} if token else {})}


def test_render_email_template(ctx, ns, p):
    t = _v2_tpl(ns, p["TemplateName"])
    try:
        return {"RenderedTemplate": rendered(t, p["TemplateData"])}
    except templates.RenderError as exc:
        raise bad_request(exc.message) from None


V2 = {
    "CreateEmailTemplate": create_email_template, "UpdateEmailTemplate": update_email_template,
    "GetEmailTemplate": get_email_template, "DeleteEmailTemplate": delete_email_template,
    "ListEmailTemplates": list_email_templates, "TestRenderEmailTemplate": test_render_email_template,
    "CreateCustomVerificationEmailTemplate": lambda c, n, p: _cvt_put(c, n, p, True, True),
    "UpdateCustomVerificationEmailTemplate": lambda c, n, p: _cvt_put(c, n, p, True, False),
    "GetCustomVerificationEmailTemplate": lambda c, n, p: _cvt_get(c, n, p, True),
    "DeleteCustomVerificationEmailTemplate": lambda c, n, p: _cvt_delete(c, n, p, True),
    "ListCustomVerificationEmailTemplates": lambda c, n, p: _cvt_list(c, n, p, True),
    "SendCustomVerificationEmail": lambda c, n, p: send_custom_verification_email(c, n, p, True),
}
