"""MIME as SES writes and reads it: building simple and templated messages,
reading a raw message's headers for events, and stamping SES's own headers.

Building is hand-rolled (no email.message objects) because it runs for every
API send; full parsing (for the mailbox's parsed view) is in mailview.py.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import quopri
import re
from email.header import Header, decode_header, make_header
from email.utils import formatdate

CRLF = b"\r\n"
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# headers SES reads for its own use and removes before delivery
SES_HEADERS = ("x-ses-configuration-set", "x-ses-message-tags", "x-ses-source-arn", "x-ses-from-arn",
               "x-ses-return-path-arn")


def ses_message_id(now_ms: int) -> str:
    """An id shaped like SES's: 0100 + 12 hex digits of epoch ms, a UUID, a counter."""
    r = os.urandom(16).hex()
    return f"0100{now_ms:012x}-{r[:8]}-{r[8:12]}-{r[12:16]}-{r[16:20]}-{r[20:32]}-000000"


def message_id_header(mid: str, region: str) -> str:
    return f"<{mid}@{region}.amazonses.com>"


# -- building -------------------------------------------------------------------

def encode_header_value(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8").encode()


def _body_part(subtype: str, data: str, charset: str | None) -> bytes:
    charset = charset or "UTF-8"
    if data.isascii() and all(len(line) <= 998 for line in data.splitlines()):
        cte, payload = "7bit", data.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    else:
        cte = "quoted-printable"
        payload = quopri.encodestring(data.replace("\r\n", "\n").encode(charset if charset.lower() != "utf-8"
                                                                          else "utf-8")).replace(b"\n", CRLF)
    head = f"Content-Type: text/{subtype}; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    return head.encode() + payload


def _boundary() -> str:
    r = int.from_bytes(os.urandom(6), "big")
    return f"----=_Part_{r % 1000000}_{r // 1000000 % 1000000000}.{int.from_bytes(os.urandom(5), 'big')}"


def _multipart(subtype: str, parts: list[bytes]) -> tuple[str, bytes]:
    b = _boundary()
    body = b"".join(b"--" + b.encode() + CRLF + p + CRLF for p in parts) + b"--" + b.encode() + b"--" + CRLF
    return f'multipart/{subtype}; \r\n\tboundary="{b}"', body


def _attachment_part(att: dict) -> bytes:
    raw = att.get("RawContent") or b""
    if isinstance(raw, str):
        raw = raw.encode()
    name = att.get("FileName") or "attachment"
    ctype = att.get("ContentType") or mimetypes.guess_type(name)[0] or "application/octet-stream"
    disp = (att.get("ContentDisposition") or "ATTACHMENT").lower()
    cte = att.get("ContentTransferEncoding") or "BASE64"
    lines = [f'Content-Type: {ctype}; name="{encode_header_value(name)}"',
             f'Content-Disposition: {disp}; filename="{encode_header_value(name)}"']
    if att.get("ContentId"):
        lines.append(f"Content-ID: <{att['ContentId'].strip('<>')}>")
    if att.get("ContentDescription"):
        lines.append(f"Content-Description: {encode_header_value(att['ContentDescription'])}")
    if cte == "QUOTED_PRINTABLE":
        lines.append("Content-Transfer-Encoding: quoted-printable")
        payload = quopri.encodestring(raw).replace(b"\n", CRLF)
    elif cte == "SEVEN_BIT":
        lines.append("Content-Transfer-Encoding: 7bit")
        payload = raw.replace(b"\r\n", b"\n").replace(b"\n", CRLF)
    else:
        lines.append("Content-Transfer-Encoding: base64")
        payload = base64.encodebytes(raw).replace(b"\n", CRLF)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def build_message(headers: list[tuple[str, str]], subject: str | None, text: str | None, html: str | None,
                  *, subject_charset: str | None = None, text_charset: str | None = None,
                  html_charset: str | None = None, attachments: list | None = None,
                  date: bool = False) -> tuple[bytes, list[tuple[str, str]]]:
    """A message from parts: returns (raw bytes, its headers as (name, value) for events).

    `headers` are the address headers (From, Reply-To, To, Cc) and any custom
    headers, in order; Subject, MIME-Version and the content headers follow.
    """
    hdrs = list(headers)
    if date:
        hdrs.insert(0, ("Date", formatdate(usegmt=False).replace("-0000", "+0000")))
    if subject is not None:
        hdrs.append(("Subject", encode_header_value(subject)))
    hdrs.append(("MIME-Version", "1.0"))
    bodies = []
    if text is not None:
        bodies.append(_body_part("plain", text, text_charset))
    if html is not None:
        bodies.append(_body_part("html", html, html_charset))
    if len(bodies) == 2:
        ctype, body = _multipart("alternative", bodies)
        inner = f"Content-Type: {ctype}\r\n\r\n".encode() + body
    elif bodies:
        inner = bodies[0]
    else:
        inner = _body_part("plain", "", None)
    if attachments:
        ctype, body = _multipart("mixed", [inner] + [_attachment_part(a) for a in attachments])
        head_lines, payload = [("Content-Type", ctype)], body
    else:
        head, _, payload = inner.partition(b"\r\n\r\n")
        head_lines = [tuple(line.split(": ", 1)) for line in head.decode().replace("\r\n\t", "\t").split("\r\n")]
        head_lines = [(n, v.replace("\t", "\r\n\t")) for n, v in head_lines]
    hdrs.extend(head_lines)
    raw = "".join(f"{n}: {v}\r\n" for n, v in hdrs).encode("utf-8") + CRLF + payload
    return raw, [(n, unfold(v)) for n, v in hdrs]


# -- reading ----------------------------------------------------------------------

def unfold(value: str) -> str:
    return value.replace("\r\n", "").replace("\n", "").replace("\t", " ")


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of a raw message; a message without a blank line is all headers."""
    m = _HEADER_END.search(raw)
    if m is None:
        return raw, b""
    return raw[:m.start()], raw[m.end():]


def read_headers(raw: bytes) -> list[tuple[str, str]]:
    """Header fields in order, values unfolded, as SES lists them in events."""
    block, _ = split_message(raw)
    if not _has_header_block(block):
        return []
    out: list[list[str]] = []
    for line in block.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1][1] += " " + line[1:] if line[:1] == "\t" else line
        elif ":" in line:
            name, _, value = line.partition(":")
            out.append([name.strip(), value.lstrip()])
    return [(n, v.rstrip()) for n, v in out]


def decode_value(value: str) -> str:
    """An RFC 2047 encoded header value as text."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def header_map(headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n, v in headers:
        out.setdefault(n.lower(), []).append(v)
    return out


def _has_header_block(block: bytes) -> bool:
    first = block.split(b"\n", 1)[0]
    return bool(block) and block[:1] not in (b" ", b"\t") and b":" in first and b" " not in first.split(b":", 1)[0]


def set_headers(raw: bytes, remove: tuple[str, ...], prepend: list[tuple[str, str]]) -> bytes:
    """`raw` without the headers named in `remove` (lower case), with `prepend` first."""
    block, body = split_message(raw)
    if not _has_header_block(block):
        block, body = b"", raw
    nl = b"\n" if block and b"\r\n" not in block else b"\r\n"
    keep: list[bytes] = []
    skipping = False
    for line in block.split(nl) if block else []:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                keep.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("latin-1")
        skipping = name in remove
        if not skipping:
            keep.append(line)
    head = [f"{n}: {v}".encode("utf-8") for n, v in prepend] + keep
    return nl.join(head) + nl + nl + body
