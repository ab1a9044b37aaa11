"""Wildcard patterns and policy variables, as IAM reads them.

`*` matches any run of characters (also across ``:`` and ``/``), `?` exactly
one. Actions compare case-insensitively, resources and condition values
case-sensitively. A pattern may hold policy variables (``${aws:username}``,
``${aws:PrincipalTag/team}``, ``${aws:username, 'fallback'}``, and the escapes
``${*}``, ``${?}``, ``${$}``); they are substituted from the request context
before matching, and a variable that has no value (and no default) makes the
pattern match nothing, as AWS does.
"""

from __future__ import annotations

import re
from functools import lru_cache

_VAR = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "\x00", "?": "\x01", "$": "$"}


class Pattern:
    """One compiled wildcard pattern (no variables in it)."""
    __slots__ = ("text", "exact", "rx", "any")

    def __init__(self, text: str, ignore_case: bool):
        self.text = text
        self.any = text == "*"
        if "*" not in text and "?" not in text and "\x00" not in text and "\x01" not in text:
            self.exact = text.lower() if ignore_case else text
            self.rx = None
        else:
            self.exact = None
            out = []
            for ch in text:
                if ch == "*":
                    out.append(".*")
                elif ch == "?":
                    out.append(".")
                elif ch == "\x00":
                    out.append(re.escape("*"))
                elif ch == "\x01":
                    out.append(re.escape("?"))
                else:
                    out.append(re.escape(ch))
            self.rx = re.compile("".join(out), re.S | (re.I if ignore_case else 0))

    def match(self, value: str, folded: str | None = None) -> bool:
        if self.any:
            return True
        if self.rx is None:
            return (folded if folded is not None else value) == self.exact
        return self.rx.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def compile_pattern(text: str, ignore_case: bool = False) -> Pattern:
    return Pattern(text, ignore_case)


def has_variables(text: str) -> bool:
    return "${" in text


def _variable(body: str, context) -> str | None:
    name, sep, default = body.partition(",")
    name = name.strip()
    if name in _ESCAPES and not sep:
        return _ESCAPES[name]
    value = context.get(name) if context is not None else None
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if value is None or value == "":
        if sep:
            d = default.strip()
            if len(d) >= 2 and d[0] == d[-1] == "'":
                return d[1:-1]
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def substitute(text: str, context) -> str | None:
    """`text` with its variables replaced; None when one has no value.

    Escaped ``*``/``?`` come back as ``\\x00``/``\\x01`` so that wildcard
    compilation treats them as literal characters.
    """
    missing = False

    def repl(m):
        nonlocal missing
        v = _variable(m.group(1), context)
        if v is None:
            missing = True
            return ""
        return v
    out = _VAR.sub(repl, text)
    return None if missing else out


def literal(text: str) -> str:
    """A substituted string as plain text (escape markers back to characters)."""
    return text.replace("\x00", "*").replace("\x01", "?")
