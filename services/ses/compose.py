"""Gateway-side preparation of a send: validate addresses and tags, build the
MIME of simple messages, read raw ones, and produce the compact args of the
shard's ``ses.Send`` / ``ses.SendBulk`` (services/ses/sending.py).

Shared by the v1 and v2 API halves and the SMTP handler, so every path
applies the same rules: at most 50 recipients, SES's tag rules, size limits
(10 MB for v1, 40 MB for v2 and SMTP), X-SES-CONFIGURATION-SET and
X-SES-MESSAGE-TAGS headers.
"""

from __future__ import annotations

import re

from services.ses import addresses, mime
from services.ses.errors import err

V1_MAX_BYTES = 10 * 1024 * 1024
V2_MAX_BYTES = 40 * 1024 * 1024
_TAG_NAME = re.compile(r"^[A-Za-z0-9_-]*$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_\-.@]*$")


def _bad(v2: bool, message: str):
    return err("BadRequestException" if v2 else "InvalidParameterValue", message)


def caller_name(principal_arn: str | None) -> str:
    if not principal_arn:
        return "root"
    return principal_arn.rsplit("/", 1)[-1] if "/" in principal_arn else principal_arn.rsplit(":", 1)[-1]


def check_tags(tags, v2: bool = False) -> list[list[str]]:
    out = []
    for t in tags or []:
        name, value = t.get("Name", ""), t.get("Value", "")
        if name == "":
            raise _bad(v2, "The tag name must be specified.")
        if value == "":
            raise _bad(v2, "The tag value must be specified.")
        if len(name) > 255:
            raise _bad(v2, "Tag name cannot exceed 255 characters.")
        if not _TAG_NAME.match(name.removeprefix("ses:")):
            raise _bad(v2, f"Invalid tag name <{name}>: only alphanumeric ASCII characters, '_',  '-' are allowed.")
        if len(value) > 255:
            raise _bad(v2, "Tag value cannot exceed 255 characters.")
        if not _TAG_VALUE.match(value):
            raise _bad(v2, f"Invalid tag value <{value}>: only alphanumeric ASCII characters, '_',  '-' , '.', "
                           f"'@' are allowed.")
        out.append([name, value])
    return out


def destination(dest: dict | None, v2: bool = False) -> tuple[list, list, list, list[str]]:
    """(to, cc, bcc, bare recipients) of a Destination; every address validated."""
    dest = dest or {}
    to, cc, bcc = (list(dest.get(k) or []) for k in ("ToAddresses", "CcAddresses", "BccAddresses"))
    try:
        rcpts = [addresses.check_address(a) for a in to + cc + bcc]
    except Exception as exc:
        raise _bad(v2, getattr(exc, "message", str(exc))) from None
    if len(rcpts) > 50:
        raise _bad(v2, "Recipient count exceeds 50.")
    return to, cc, bcc, rcpts


def _base(ctx, op: str, v) -> dict:
    return {"a": ctx.account_id, "r": ctx.region, "v": v, "op": op, "caller": caller_name(ctx.principal_arn),
            "ip": getattr(ctx, "source_ip", None)}


def _address_headers(source: str, to, cc, reply_to) -> list[list[str]]:
    hdrs = [["From", mime.encode_header_value(source)]]
    if reply_to:
        hdrs.append(["Reply-To", ", ".join(reply_to)])
    if to:
        hdrs.append(["To", ", ".join(to)])
    if cc:
        hdrs.append(["Cc", ", ".join(cc)])
    return hdrs


def _source(value: str, v2: bool) -> str:
    try:
        return addresses.check_address(value)
    except Exception as exc:
        raise _bad(v2, getattr(exc, "message", str(exc))) from None


# -- simple -------------------------------------------------------------------------------

def simple(ctx, op: str, v, source: str, dest: dict | None, subject: dict, body: dict, *, reply_to=None,
           return_path=None, tags=None, cs=None, headers=None, attachments=None) -> dict:
    v2 = v == 2
    bare = _source(source, v2)
    to, cc, bcc, rcpts = destination(dest, v2)
    if not rcpts:
        raise _bad(v2, "Missing final '@domain'" if not v2 else "Destination must contain at least one address.")
    for r in reply_to or []:
        _source(r, v2)
    hdrs = _address_headers(source, to, cc, reply_to) + [[h["Name"], h["Value"]] for h in headers or []]
    text, html = body.get("Text"), body.get("Html")
    raw, sent_hdrs = mime.build_message([tuple(h) for h in hdrs], subject.get("Data", ""),
                                        text["Data"] if text else None, html["Data"] if html else None,
                                        subject_charset=subject.get("Charset"),
                                        text_charset=(text or {}).get("Charset"),
                                        html_charset=(html or {}).get("Charset"), attachments=attachments)
    limit = V2_MAX_BYTES if v2 else V1_MAX_BYTES
    if len(raw) > limit:
        raise err("MessageRejected", f"Message length is more than {limit} bytes long: '{len(raw)}'.")
    senders = [bare] + ([_source(return_path, v2)] if return_path else [])
    return {**_base(ctx, op, v), "source": source, "senders": senders, "rcpt": rcpts, "to": to, "cc": cc,
            "bcc": bcc, "from_hdr": [bare], "raw": raw, "hdrs": [list(h) for h in sent_hdrs],
            "subject": subject.get("Data", ""), "tags": check_tags(tags, v2), "cs": cs,
            "return_path": return_path}


# -- templated ------------------------------------------------------------------------------

def templated(ctx, op: str, v, source: str, dest: dict | None, *, name=None, inline=None, data=None,
              reply_to=None, return_path=None, tags=None, cs=None, headers=None, attachments=None) -> dict:
    v2 = v == 2
    bare = _source(source, v2)
    to, cc, bcc, rcpts = destination(dest, v2) if dest is not None else ([], [], [], [])
    hdrs = _address_headers(source, to, cc, reply_to) + [[h["Name"], h["Value"]] for h in headers or []]
    tpl = {"name": name, "inline": inline, "data": data, "hdrs": hdrs, "attachments": attachments}
    senders = [bare] + ([_source(return_path, v2)] if return_path else [])
    return {**_base(ctx, op, v), "source": source, "senders": senders, "rcpt": rcpts, "to": to, "cc": cc,
            "bcc": bcc, "from_hdr": [bare], "tpl": tpl, "tags": check_tags(tags, v2), "cs": cs,
            "return_path": return_path}


def bulk_entries(entries: list, v2: bool, source: str, reply_to=None) -> list[dict]:
    out = []
    for e in entries:
        to, cc, bcc, rcpts = destination(e.get("Destination"), v2)
        item = {"to": to, "cc": cc, "bcc": bcc, "rcpt": rcpts,
                "tags": check_tags(e.get("ReplacementTags") or e.get("ReplacementEmailTags"), v2),
                "tpl_hdrs": _address_headers(source, to, cc, reply_to)}
        if v2:
            rt = (e.get("ReplacementEmailContent") or {}).get("ReplacementTemplate") or {}
            item["data"] = rt.get("ReplacementTemplateData")
        else:
            item["data"] = e.get("ReplacementTemplateData")
        out.append(item)
    return out


# -- raw (API and SMTP) ----------------------------------------------------------------------

def parse_ses_tags(values: list[str], v2: bool = False) -> list[list[str]]:
    """X-SES-MESSAGE-TAGS: ``name=value, name2=value2`` (several headers allowed)."""
    tags = []
    for v in values:
        for part in v.split(","):
            if part.strip():
                name, _, value = part.strip().partition("=")
                tags.append({"Name": name.strip(), "Value": value.strip()})
    return check_tags(tags, v2)


def raw(ctx, op: str, v, data: bytes, *, source: str | None = None, destinations: list | None = None,
        tags=None, cs=None, limit: int | None = None) -> dict:
    v2 = v == 2
    limit = limit or (V2_MAX_BYTES if v2 else V1_MAX_BYTES)
    if len(data) > limit:
        raise err("MessageRejected", f"Message length is more than {limit} bytes long: '{len(data)}'.")
    hdrs = mime.read_headers(data)
    hmap = mime.header_map(hdrs)
    from_hdr = addresses.header_addresses(hmap.get("from", []))
    if not source:
        if not from_hdr:
            raise _bad(v2, "Missing required header 'From'.")
        source = hmap["from"][0]
    senders = [_source(source, v2)] + [a for a in from_hdr if a.lower() != addresses.addr_spec(source).lower()]
    for extra in ("sender", "return-path"):
        senders += [a for a in addresses.header_addresses(hmap.get(extra, [])) if a not in senders]
    if destinations:
        rcpts = [addresses.check_address(a) if not v2 else _source(a, v2) for a in destinations]
    else:
        rcpts = addresses.header_addresses(hmap.get("to", []) + hmap.get("cc", []) + hmap.get("bcc", []))
        for r in rcpts:
            _source(r, v2)
    if not rcpts:
        raise _bad(v2, "Missing final '@domain'")
    if len(rcpts) > 50:
        raise _bad(v2, "Recipient count exceeds 50.")
    if not cs and hmap.get("x-ses-configuration-set"):
        cs = hmap["x-ses-configuration-set"][0].strip()
    all_tags = check_tags(tags, v2) + parse_ses_tags(hmap.get("x-ses-message-tags", []), v2)
    subject = mime.decode_value(hmap["subject"][0]) if "subject" in hmap else None
    sent_hdrs = [[n, val] for n, val in hdrs if n.lower() not in mime.SES_HEADERS]
    return {**_base(ctx, op, v), "source": source, "senders": senders, "rcpt": rcpts,
            "to": hmap.get("to", []), "cc": hmap.get("cc", []), "bcc": hmap.get("bcc", []),
            "from_hdr": from_hdr, "raw": data, "hdrs": sent_hdrs, "subject": subject, "tags": all_tags, "cs": cs}
