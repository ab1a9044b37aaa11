"""Listing pages: 100 items, NextToken the base64 offset of the next page."""

from __future__ import annotations

import base64

from services.sns.errors import invalid

PAGE = 100


def offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.b64decode(token).decode())
    except (ValueError, UnicodeDecodeError):
        raise invalid("NextToken") from None


def token_for(start: int) -> str:
    return base64.b64encode(str(start).encode()).decode()


def page(items: list, token: str | None, member: str, size: int = PAGE) -> dict:
    start = offset(token)
    out: dict = {member: items[start:start + size]}
    if start + size < len(items):
        out["NextToken"] = token_for(start + size)
    return out
