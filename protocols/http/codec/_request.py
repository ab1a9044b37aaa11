"""Request-side parsing helpers: form/query parameters, header lists, CBOR paths."""
from __future__ import annotations

import re
from urllib.parse import unquote_plus

from ._types import HttpRequest
from ._values import MalformedInput

_CBOR_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)")


def _parse_form(text: str) -> list[tuple[str, str]]:
    pairs = []
    if not text:
        return pairs
    try:
        for part in text.split("&"):
            if not part:
                continue
            k, _, v = part.partition("=")
            if "%" in k or "+" in k:
                k = unquote_plus(k, errors="strict")
            if "%" in v or "+" in v:
                v = unquote_plus(v, errors="strict")
            pairs.append((k, v))
    except UnicodeDecodeError:
        # percent-escapes that are not UTF-8 (MessageBody=%FF%FE): rejected, never stored as U+FFFD
        raise MalformedInput("The request contains a parameter that is not valid UTF-8.",
                             code="MalformedQueryString") from None
    return pairs


def _parse_qs_multi(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in _parse_form(text):
        out.setdefault(k, []).append(v)
    return out


def _split_header_list(v: str) -> list[str]:
    out, cur, q, esc = [], [], False, False
    for ch in v:
        if esc:
            cur.append(ch); esc = False
        elif ch == "\\" and q:
            esc = True
        elif ch == '"':
            q = not q
        elif ch == "," and not q:
            out.append("".join(cur).strip()); cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def _is_form(request: HttpRequest) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


def query_params_of(request: HttpRequest) -> list[tuple[str, str]]:
    pairs = _parse_form(request.query)
    if request.body and (request.method == "POST" and (_is_form(request) or not request.headers.get("content-type"))):
        try:
            pairs += _parse_form(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedInput("Request body is not valid UTF-8", code="MalformedQueryString")
    return pairs
