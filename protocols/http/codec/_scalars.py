"""String-carried scalars (query, uri, querystring, header): parse and format."""
from __future__ import annotations

from typing import Any, Callable

from ._values import (
    b64decode, b64encode, bool_in_str, float_in_str, float_out, parse_timestamp, TS_FORMATTERS,
)
from ._common import _FLOAT_TYPES, _INT_TYPES


def _bad_query(v, path, what):
    from services.errors import ValidationError
    err = ValidationError(f"1 validation error detected: Value '{v}' at '{path}' failed to satisfy constraint: Member must be {what}")
    err.violations = [(path, f"Member must be {what}", v)]
    raise err


def scalar_from_str(shape) -> Callable[[str, str], Any]:
    """Converter for string-carried scalars (query, uri, querystring, header)."""
    t = shape.type_name
    if t == "string":
        if shape.serialization.get("jsonvalue"):
            import json

            def s_jv(v, path):
                try:
                    return json.loads(b64decode(v).decode())
                except (ValueError, UnicodeDecodeError):
                    return json.loads(v)
            return s_jv
        return lambda v, path: v
    if t in _INT_TYPES:
        def s_int(v, path):
            try:
                return int(v)
            except ValueError:
                _bad_query(v, path, "a number")
        return s_int
    if t in _FLOAT_TYPES:
        def s_float(v, path):
            try:
                return float_in_str(v)
            except ValueError:
                _bad_query(v, path, "a number")
        return s_float
    if t == "boolean":
        def s_bool(v, path):
            try:
                return bool_in_str(v.lower())
            except ValueError:
                _bad_query(v, path, "a boolean")
        return s_bool
    if t == "blob":
        def s_blob(v, path):
            try:
                return b64decode(v)
            except ValueError:
                _bad_query(v, path, "base64-encoded")
        return s_blob
    if t == "timestamp":
        def s_ts(v, path):
            try:
                return parse_timestamp(v)
            except (ValueError, TypeError, OverflowError, OSError):
                _bad_query(v, path, "a timestamp")
        return s_ts
    return lambda v, path: v


def scalar_to_str(shape, default_ts: str) -> Callable[[Any], str]:
    t = shape.type_name
    if t == "boolean":
        return lambda v: "true" if v else "false"
    if t == "timestamp":
        f = TS_FORMATTERS[shape.serialization.get("timestampFormat", default_ts).lower()]
        return lambda v: str(f(v))
    if t == "blob":
        return b64encode
    if t in _FLOAT_TYPES:
        return lambda v: str(float_out(v))
    if t == "string" and shape.serialization.get("jsonvalue"):
        import json
        return lambda v: b64encode(json.dumps(v, separators=(",", ":")))
    return str
