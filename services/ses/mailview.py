"""Views of a stored mail for the admin API: parsed (headers, text, HTML,
attachments), LocalStack's ``/_aws/ses`` shape, and plain text for search."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy

from services.ses.events import iso


def _parse(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


def _parts(msg) -> tuple[str | None, str | None, list]:
    text = html = None
    attachments = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disp = part.get_content_disposition()
        if disp in ("attachment", "inline") and (part.get_filename() or disp == "attachment"):
            payload = part.get_payload(decode=True) or b""
            attachments.append({"filename": part.get_filename(), "contentType": ctype, "disposition": disp,
                                "contentId": (part.get("Content-ID") or "").strip("<>") or None,
                                "size": len(payload), "content": base64.b64encode(payload).decode()})
            continue
        try:
            content = part.get_content()
        except Exception:
            content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        if isinstance(content, bytes):
            continue
        if ctype == "text/plain" and text is None:
            text = content
        elif ctype == "text/html" and html is None:
            html = content
    return text, html, attachments


def body_text(raw: bytes) -> str:
    try:
        text, html, _ = _parts(_parse(raw))
    except Exception:
        return raw.decode("utf-8", "replace")
    return "\n".join(p for p in (text, html) if p)


def parsed(rec: dict, raw: bytes) -> dict:
    msg = _parse(raw)
    text, html, attachments = _parts(msg)
    return {**summary(rec), "headers": [{"name": k, "value": str(v)} for k, v in msg.items()],
            "text": text, "html": html, "attachments": attachments}


def summary(rec: dict) -> dict:
    out = {"id": rec["id"], "timestamp": iso(rec["ts"]), "account": rec["account"], "region": rec["region"],
           "direction": rec.get("direction", "outbound"), "operation": rec.get("op"),
           "source": rec.get("source"), "from": rec.get("from", []), "to": rec.get("to", []),
           "cc": rec.get("cc", []), "bcc": rec.get("bcc", []), "destination": rec.get("destination", []),
           "subject": rec.get("subject"), "size": rec.get("size"), "messageIdHeader": rec.get("mid_header")}
    for key, name in (("cs", "configurationSet"), ("tags", "tags"), ("status", "status"),
                      ("template", "template"), ("template_data", "templateData"), ("tls", "tls"),
                      ("rules", "receiptRules")):
        if rec.get(key) is not None:
            out[name] = rec[key]
    return out


def localstack(rec: dict, raw: bytes | None) -> dict:
    """One entry of LocalStack's /_aws/ses ``messages`` list."""
    out = {"Id": rec["id"], "Region": rec["region"], "Timestamp": iso(rec["ts"])[:19],
           "Source": rec.get("source")}
    dest = {}
    for key, name in (("to", "ToAddresses"), ("cc", "CcAddresses"), ("bcc", "BccAddresses")):
        if rec.get(key):
            dest[name] = list(rec[key])
    if not dest and rec.get("destination"):
        dest["ToAddresses"] = list(rec["destination"])
    out["Destination"] = dest
    if rec.get("op") in ("SendRawEmail", "SMTP") or rec.get("direction") == "inbound":
        out["RawData"] = raw.decode("utf-8", "replace") if raw is not None else None
        return out
    out["Subject"] = rec.get("subject")
    if rec.get("template"):
        out["Template"] = rec["template"]
        out["TemplateData"] = rec.get("template_data")
    if raw is not None:
        try:
            text, html, _ = _parts(_parse(raw))
        except Exception:
            text, html = None, None
        out["Body"] = {"text_part": _crlf_free(text), "html_part": _crlf_free(html)}
    return out


def _crlf_free(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.replace("\r\n", "\n")
    return s[:-1] if s.endswith("\n") and not s.endswith("\n\n") else s
