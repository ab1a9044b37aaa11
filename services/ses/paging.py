"""NextToken pagination over a sorted list of names (opaque tokens: the last name returned)."""

from __future__ import annotations

import base64

from services.ses.errors import err


def page(names: list[str], token: str | None, size: int | None, default: int, maximum: int,
         v2: bool = False) -> tuple[list[str], str | None]:
    size = default if not size else min(int(size), maximum)
    start = 0
    if token:
        try:
            last = base64.urlsafe_b64decode(token.encode()).decode()
        except Exception:
            raise (err("BadRequestException", "Invalid NextToken") if v2 else
                   err("InvalidParameterValue", "Invalid NextToken")) from None
        start = next((i for i, n in enumerate(names) if n > last), len(names))
    out = names[start:start + size]
    more = start + size < len(names)
    return out, (base64.urlsafe_b64encode(out[-1].encode()).decode() if more and out else None)
