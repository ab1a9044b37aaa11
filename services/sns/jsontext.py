"""JSON documents that arrive as attribute strings (filter, redrive and delivery
policies), with parse errors worded the way AWS's Java parser (Jackson) words
them, since clients and snapshots compare those messages."""

from __future__ import annotations

import json
import re

_TOKEN = re.compile(r"[A-Za-z0-9_$]+")
_VALUE = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_SOURCE = "REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled)"


class JsonTextError(ValueError):
    """``reason`` is Jackson's sentence plus its location line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _where(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _describe(text: str, exc: json.JSONDecodeError) -> str:
    pos = exc.pos
    ch = text[pos] if pos < len(text) else ""
    if not text.strip():
        return "No content to map due to end-of-input", pos
    if exc.msg.startswith("Expecting property name"):
        return (f"Unexpected character ('{ch}' (code {ord(ch)})): was expecting double-quote to start field name",
                pos)
    if exc.msg.startswith("Expecting value"):
        if not ch:
            return f"Unexpected end-of-input: expected a valid value {_VALUE}", pos
        m = _TOKEN.match(text, pos)
        if m:
            # Jackson reads the whole bare word and reports the column after it
            return f"Unrecognized token '{m.group(0)}': was expecting {_VALUE}", m.end()
        return f"Unexpected character ('{ch}' (code {ord(ch)})): expected a valid value {_VALUE}", pos
    if exc.msg.startswith("Extra data"):
        return (f"Unexpected character ('{ch}' (code {ord(ch)})): expected end-of-input", pos)
    if ch:
        return f"Unexpected character ('{ch}' (code {ord(ch)})): {exc.msg.lower()}", pos
    return "Unexpected end-of-input", pos


def loads(text: str):
    """Parse `text`; raise JsonTextError with Jackson's wording on failure."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        sentence, pos = _describe(text, exc)
        line, col = _where(text, pos)
        raise JsonTextError(f"{sentence}\n at [Source: {_SOURCE}; line: {line}, column: {col}]") from None
    except (TypeError, RecursionError):
        raise JsonTextError("Unexpected end-of-input") from None


def dumps(doc) -> str:
    """Compact JSON as AWS returns policy documents."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
