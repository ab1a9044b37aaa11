"""JSON-like body values (json 1.0/1.1, rest-json bodies, rpc-v2 CBOR): decoders and encoders."""
from __future__ import annotations

from ._values import (
    SerializationError, b64decode, b64encode, float_in_str, float_out, lower_camel, parse_timestamp, TS_FORMATTERS,
)
from ._common import _FLOAT_TYPES, _INT_TYPES, _cached, _key, NON_BODY_LOCATIONS
from ._validate import _fmt_value


def _type_error(expected, v, path):
    raise SerializationError(
        f"Value {_fmt_value(v) if not isinstance(v, (dict, list)) else type(v).__name__} at "
        f"'{path or 'body'}' cannot be converted to {expected}")


@_cached
def compile_json_decoder(shape, cache, cbor: bool):
    """fn(wire_value, path) -> python value; None means 'no conversion, must be str'."""
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return lambda v, path: v
        members: list = []

        def d_struct(v, path):
            if type(v) is not dict:
                _type_error("a structure", v, path)
            out = {}
            for name, wire, camel, fn in members:
                x = v.get(wire)
                if x is not None:
                    if fn is None:
                        if type(x) is not str:
                            _type_error("a string", x, path + "." + camel if path else camel)
                        out[name] = x
                    else:
                        out[name] = fn(x, path + "." + camel if path else camel)
            return out
        cache[(_key(shape), cbor)] = d_struct
        for name, ms in shape.members.items():
            if ms.serialization.get("location") in NON_BODY_LOCATIONS:
                continue
            wire = name if cbor else ms.serialization.get("name", name)
            members.append((name, wire, lower_camel(name), compile_json_decoder(ms, cache, cbor)))
        return d_struct
    if t == "list":
        item = compile_json_decoder(shape.member, cache, cbor)

        def d_list(v, path):
            if type(v) is not list:
                _type_error("a list", v, path)
            if item is None:
                for x in v:
                    if type(x) is not str and x is not None:
                        _type_error("a string", x, path)
                return v
            return [None if x is None else item(x, f"{path}.{i}.member") for i, x in enumerate(v, 1)]
        return d_list
    if t == "map":
        val = compile_json_decoder(shape.value, cache, cbor)

        def d_map(v, path):
            if type(v) is not dict:
                _type_error("a map", v, path)
            if val is None:
                for x in v.values():
                    if type(x) is not str and x is not None:
                        _type_error("a string", x, path)
                return v
            return {k: (None if x is None else val(x, f"{path}.{k}")) for k, x in v.items()}
        return d_map
    if t == "string":
        return None
    if t in _INT_TYPES:
        def d_int(v, path):
            if type(v) is not int:
                if type(v) is float and v.is_integer():
                    return int(v)
                _type_error("an integer", v, path)
            return v
        return d_int
    if t in _FLOAT_TYPES:
        def d_float(v, path):
            tv = type(v)
            if tv is float or tv is int:
                return v
            if tv is str:
                try:
                    return float_in_str(v)
                except ValueError:
                    pass
            _type_error("a number", v, path)
        return d_float
    if t == "boolean":
        def d_bool(v, path):
            if type(v) is not bool:
                _type_error("a boolean", v, path)
            return v
        return d_bool
    if t == "blob":
        if cbor:
            def d_blob_c(v, path):
                if isinstance(v, (bytes, bytearray)):
                    return bytes(v)
                if isinstance(v, str):
                    return v.encode()
                _type_error("a blob", v, path)
            return d_blob_c

        def d_blob(v, path):
            if type(v) is not str:
                _type_error("a blob", v, path)
            try:
                return b64decode(v)
            except ValueError:
                _type_error("a base64 blob", v, path)
        return d_blob
    if t == "timestamp":
        def d_ts(v, path):
            if type(v) is bool:
                _type_error("a timestamp", v, path)
            try:
                return parse_timestamp(v)
            except (ValueError, TypeError, OverflowError, OSError):
                _type_error("a timestamp", v, path)
        return d_ts
    return lambda v, path: v


@_cached
def compile_json_encoder(shape, cache, cbor: bool, default_ts: str = "unixtimestamp"):
    """fn(python_value) -> JSON-able (or CBOR-able) value; None means identity."""
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return None
        members: list = []

        def e_struct(v):
            out = {}
            for name, wire, fn in members:
                x = v.get(name)
                if x is not None:
                    out[wire] = x if fn is None else fn(x)
            return out
        cache[(_key(shape), cbor, default_ts)] = e_struct
        for name, ms in shape.members.items():
            if ms.serialization.get("location") in NON_BODY_LOCATIONS:
                continue
            wire = name if cbor else ms.serialization.get("name", name)
            members.append((name, wire, compile_json_encoder(ms, cache, cbor, default_ts)))
        return e_struct
    if t == "list":
        item = compile_json_encoder(shape.member, cache, cbor, default_ts)
        if item is None:
            return lambda v: list(v)
        return lambda v: [None if x is None else item(x) for x in v]
    if t == "map":
        val = compile_json_encoder(shape.value, cache, cbor, default_ts)
        if val is None:
            return None
        return lambda v: {k: (None if x is None else val(x)) for k, x in v.items()}
    if t == "blob":
        if cbor:
            return lambda v: v.encode() if isinstance(v, str) else bytes(v)
        return b64encode
    if t == "timestamp":
        if cbor:
            def e_ts_c(v):
                d = parse_timestamp(v)
                return d
            return e_ts_c
        fmt = shape.serialization.get("timestampFormat", default_ts).lower()
        return TS_FORMATTERS[fmt]
    if t in _FLOAT_TYPES:
        return None if cbor else float_out
    return None
