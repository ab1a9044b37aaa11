"""Marker-based pagination shared by the KMS List* operations."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Callable

from .validation import _err, _range_check


def _encode_marker(sort_key: str) -> str:
    return base64.urlsafe_b64encode(b"m1:" + sort_key.encode()).decode()


def _decode_marker(marker: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(marker.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"m1:"):
        raise _err("InvalidMarkerException",
                   "The request was rejected because the marker that specifies where "
                   "pagination should next begin is not valid.")
    return raw[3:].decode(errors="replace")


def _paginate(items: list, sort_key: Callable[[Any], str], params: dict, lo: int, hi: int,
              default: int, ordered: bool = True) -> tuple[list, dict]:
    """Pages items (already sorted when `ordered`) after the marker's sort key."""
    limit = _range_check(params, "Limit", lo, hi, default)
    marker = params.get("Marker")
    if marker:
        start_after = _decode_marker(marker)
        if ordered:
            items = [i for i in items if sort_key(i) > start_after]
        else:
            keys = [sort_key(i) for i in items]
            items = items[keys.index(start_after) + 1:] if start_after in keys else []
    page = items[:limit]
    extra: dict = {"Truncated": len(items) > limit}
    if len(items) > limit:
        extra["NextMarker"] = _encode_marker(sort_key(page[-1]))
    return page, extra
