"""Input validation compiled from botocore shape constraints."""
from __future__ import annotations

import re
from typing import Any

from ._values import lower_camel
from ._common import _FLOAT_TYPES, _INT_TYPES, _cached, _key
from ._model import ENUM_MESSAGE_ORDER, MAP_VALUE_LABELS

SERVICE_KEY = "service"   # entry of a validator cache naming its service (for ENUM_MESSAGE_ORDER)


# A violation whose value AWS leaves out of the message (blobs: "Value at 'x' failed ...").
OMIT = object()
# The value of a violation for a null list element or map value (shown as null).
NULL_ELEMENT = object()


def _fmt_value(v) -> str:
    if v is None or v is NULL_ELEMENT:
        return "null"
    if isinstance(v, str):
        return f"'{v}'"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt_plain(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_fmt_plain(k)}={_fmt_plain(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bytes):
        return f"'{v!r}'"
    return f"'{v}'"  # numbers too: AWS writes Value '0'


def _fmt_violation(p: str, c: str, v) -> str:
    if v is OMIT:
        return f"Value at '{p}' failed to satisfy constraint: {c}"
    return f"Value {_fmt_value(v)} at '{p}' failed to satisfy constraint: {c}"


def _fmt_plain(v) -> str:
    return v if isinstance(v, str) else _fmt_value(v)


def format_violations(violations: list[tuple[str, str, Any]]) -> str:
    parts = [_fmt_violation(p, c, v) for p, c, v in violations]
    n = len(parts)
    head = "1 validation error detected: " if n == 1 else f"{n} validation errors detected: "
    return head + "; ".join(parts)


def _compile_pattern(pat: str):
    try:
        return re.compile(pat, re.DOTALL).fullmatch
    except re.error:
        try:  # Java-style \p{..} classes etc. are not in `re`: approximate common ones
            return re.compile(pat.replace(r"\p{L}", "a-zA-Z\u00c0-\uffff").replace(r"\p{N}", "0-9")
                              .replace(r"\p{Z}", r"\s").replace(r"\p{Alnum}", "a-zA-Z0-9")
                              .replace(r"\p{Print}", r"\x20-\x7e"), re.DOTALL).fullmatch
        except re.error:
            return None


def _length_checks(md, noun="length"):
    mn, mx = md.get("min"), md.get("max")
    checks = []
    if mn is not None:
        checks.append((lambda n, m=mn: n < m, f"Member must have {noun} greater than or equal to {int(mn) if float(mn).is_integer() else mn}"))
    if mx is not None:
        checks.append((lambda n, m=mx: n > m, f"Member must have {noun} less than or equal to {int(mx) if float(mx).is_integer() else mx}"))
    return checks


@_cached
def compile_validator(shape, cache):
    """Returns fn(value, path, errs) or None when the shape has no constraints."""
    t = shape.type_name
    md = shape.metadata
    if t == "structure":
        if shape.is_document_type:
            return None
        required = tuple(md.get("required", ()))
        members: list = []

        def v_struct(v, path, errs):
            if not isinstance(v, dict):
                return
            for name, camel in req:
                if v.get(name) is None:
                    errs.append((path + "." + camel if path else camel, "Member must not be null", None))
            for name, camel, fn in members:
                x = v.get(name)
                if x is not None:
                    fn(x, path + "." + camel if path else camel, errs)
        req = tuple((r, lower_camel(r)) for r in required)
        cache[(_key(shape),)] = v_struct
        for name, ms in shape.members.items():
            fn = compile_validator(ms, cache)
            if fn is not None:
                members.append((name, lower_camel(name), fn))
        if not members and not req:
            cache[(_key(shape),)] = None  # only safe if nobody captured it recursively
            return None
        return v_struct
    if t == "list":
        checks = _length_checks(md)
        cache[(_key(shape),)] = None
        item = compile_validator(shape.member, cache)

        def v_list(v, path, errs):
            n = len(v)
            for bad, msg in checks:
                if bad(n):
                    errs.append((path, msg, v))
            for i, x in enumerate(v, 1):
                if x is None:   # a JSON null element: AWS rejects it like a missing member
                    errs.append((f"{path}.{i}.member", "Member must not be null", NULL_ELEMENT))
                elif item is not None:
                    item(x, f"{path}.{i}.member", errs)
        return v_list
    if t == "map":
        checks = _length_checks(md)
        kv = compile_validator(shape.key, cache)
        vv = compile_validator(shape.value, cache)
        label = MAP_VALUE_LABELS.get(cache.get(SERVICE_KEY), "value")

        def v_map(v, path, errs):
            n = len(v)
            for bad, msg in checks:
                if bad(n):
                    errs.append((path, msg, v))
            for k, x in v.items():
                if kv is not None:
                    kv(k, f"{path}.{k}.key", errs)
                if x is None:
                    errs.append((f"{path}.{k}", "Member must not be null", NULL_ELEMENT))
                elif vv is not None:
                    vv(x, f"{path}.{k}.{label}", errs)
        return v_map
    if t in ("string", "blob"):
        checks = _length_checks(md)
        blob = t == "blob"
        pat = md.get("pattern") if t == "string" else None
        match = _compile_pattern(pat) if pat else None
        enum = frozenset(md.get("enum", ())) if t == "string" else frozenset()
        listed = ENUM_MESSAGE_ORDER.get((cache.get(SERVICE_KEY), shape.name)) or md.get("enum", ())
        enum_msg = "Member must satisfy enum value set: [" + ", ".join(listed) + "]"
        pat_msg = f"Member must satisfy regular expression pattern: {pat}"
        if not checks and match is None and not enum:
            return None

        def v_str(v, path, errs):
            if checks:
                n = len(v)
                for bad, msg in checks:
                    if bad(n):
                        errs.append((path, msg, OMIT if blob else v))
            if match is not None and isinstance(v, str) and match(v) is None:
                errs.append((path, pat_msg, v))
            if enum and v not in enum:
                errs.append((path, enum_msg, v))
        return v_str
    if t in _INT_TYPES or t in _FLOAT_TYPES:
        checks = _length_checks(md, noun="value")
        if not checks:
            return None

        def v_num(v, path, errs):
            for bad, msg in checks:
                if bad(v):
                    errs.append((path, msg, v))
        return v_num
    return None
