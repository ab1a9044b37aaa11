"""IAM's Marker/MaxItems paging and its URL-encoded policy documents."""

from __future__ import annotations

from urllib.parse import quote

from services.iam.errors import invalid


def page(items: list, params: dict, key: str) -> dict:
    """IAM's Marker/MaxItems paging over a sorted list."""
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            start = int(marker)
        except ValueError:
            raise invalid("Invalid Marker.") from None
    n = params.get("MaxItems") or 100
    chunk = items[start:start + n]
    out = {key: chunk, "IsTruncated": start + n < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = str(start + n)
    return out


def encode_doc(text: str) -> str:
    """Policy documents leave IAM URL-encoded (botocore decodes them)."""
    return quote(text, safe="")
