"""Shape compilers: turn botocore shapes into closures once.

Every ``compile_*`` function is dispatched on ``shape.type_name`` and cached
per (shape name, member-ref traits) in a dict owned by the caller (one per
service codec and wire format), so recursive shapes terminate and each shape
is compiled once.  The closures never touch botocore objects at request time.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from ._values import (
    SerializationError, UTC, b64decode, b64encode, bool_in_str, float_in_str,
    float_out, lower_camel, parse_timestamp, ts_from_epoch, xml_escape,
    TS_FORMATTERS,
)

_INT_TYPES = ("integer", "long", "short", "byte")
_FLOAT_TYPES = ("float", "double")


def _key(shape) -> tuple:
    ser = shape.serialization
    return (shape.name, ser.get("name"), ser.get("flattened"), ser.get("timestampFormat"),
            ser.get("jsonvalue"), ser.get("location"))


def _cached(fn):
    def wrapper(shape, cache, *args):
        k = (_key(shape),) + args
        if k in cache:
            return cache[k]
        hit = fn(shape, cache, *args)
        cache[k] = hit
        return hit
    wrapper.__name__ = fn.__name__
    return wrapper


def _sorted_items(d: dict) -> list:
    try:
        return [d[k] for k in sorted(d, key=int)]
    except ValueError:
        return list(d.values())


# =============================================================================
# validation
# =============================================================================

def _fmt_value(v) -> str:
    if v is None:
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
    return f"'{v}'" if not isinstance(v, (int, float)) else str(v)


def _fmt_plain(v) -> str:
    return v if isinstance(v, str) else _fmt_value(v)


def format_violations(violations: list[tuple[str, str, Any]]) -> str:
    parts = [f"Value {_fmt_value(v)} at '{p}' failed to satisfy constraint: {c}" for p, c, v in violations]
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
        if not checks and item is None:
            return None

        def v_list(v, path, errs):
            n = len(v)
            for bad, msg in checks:
                if bad(n):
                    errs.append((path, msg, v))
            if item is not None:
                for i, x in enumerate(v, 1):
                    if x is not None:
                        item(x, f"{path}.{i}.member", errs)
        return v_list
    if t == "map":
        checks = _length_checks(md)
        kv = compile_validator(shape.key, cache)
        vv = compile_validator(shape.value, cache)
        if not checks and kv is None and vv is None:
            return None

        def v_map(v, path, errs):
            n = len(v)
            for bad, msg in checks:
                if bad(n):
                    errs.append((path, msg, v))
            for k, x in v.items():
                if kv is not None:
                    kv(k, f"{path}.{k}.key", errs)
                if vv is not None and x is not None:
                    vv(x, f"{path}.{k}.value", errs)
        return v_map
    if t in ("string", "blob"):
        checks = _length_checks(md)
        pat = md.get("pattern") if t == "string" else None
        match = _compile_pattern(pat) if pat else None
        enum = frozenset(md.get("enum", ())) if t == "string" else frozenset()
        enum_msg = "Member must satisfy enum value set: [" + ", ".join(md.get("enum", ())) + "]"
        pat_msg = f"Member must satisfy regular expression pattern: {pat}"
        if not checks and match is None and not enum:
            return None

        def v_str(v, path, errs):
            if checks:
                n = len(v)
                for bad, msg in checks:
                    if bad(n):
                        errs.append((path, msg, v))
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


# =============================================================================
# JSON-like body values (json 1.0/1.1, rest-json bodies, rpc-v2 CBOR)
# =============================================================================

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
            if ms.serialization.get("location") in ("header", "headers", "uri", "querystring", "statusCode"):
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
            if ms.serialization.get("location") in ("header", "headers", "uri", "querystring", "statusCode"):
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


# =============================================================================
# query (form) decoding: a tree of dicts built from dotted keys
# =============================================================================

def build_query_tree(pairs) -> dict:
    root: dict = {}
    for k, v in pairs:
        parts = k.split(".")
        node = root
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {} if nxt is None or nxt == "" else {"": nxt}
                node[p] = nxt
            node = nxt
        last = parts[-1]
        if isinstance(node.get(last), dict):
            if v != "":
                node[last][""] = v
        else:
            node[last] = v
    return root


def query_member_key(ms, name: str) -> str:
    if ms.type_name == "list" and ms.serialization.get("flattened"):
        mn = ms.member.serialization.get("name")
        if mn:
            return mn
    return ms.serialization.get("name", name)


def _bad_query(v, path, what):
    from services.errors import ValidationError
    err = ValidationError(f"1 validation error detected: Value '{v}' at '{path}' failed to satisfy constraint: Member must be {what}")
    err.violations = [(path, f"Member must be {what}", v)]
    raise err


@_cached
def compile_query_decoder(shape, cache):
    """fn(tree_node, path) -> python value.  Tree leaves are str."""
    t = shape.type_name
    if t == "structure":
        members: list = []

        def q_struct(node, path):
            if not isinstance(node, dict):
                return {}
            out = {}
            for name, key, camel, fn, empty_list in members:
                x = node.get(key)
                if x is not None:
                    r = fn(x, path + "." + camel if path else camel)
                    if r is not None:
                        out[name] = r
                elif empty_list and node.get(name) == "":
                    # SDKs send an empty flattened list as "Name=" (member name)
                    out[name] = []
            return out
        cache[(_key(shape),)] = q_struct
        for name, ms in shape.members.items():
            key = query_member_key(ms, name)
            members.append((name, key, lower_camel(name), compile_query_decoder(ms, cache),
                            ms.type_name == "list" and key != name))
        return q_struct
    if t == "list":
        item = compile_query_decoder(shape.member, cache)
        flat = bool(shape.serialization.get("flattened"))
        mname = shape.member.serialization.get("name", "member")

        def q_list(node, path):
            if not isinstance(node, dict):
                return [] if node == "" else [item(node, path + ".1.member")] if flat else []
            if not flat:
                node = node.get(mname)
                if not isinstance(node, dict):
                    return []
            return [item(x, f"{path}.{i}.member") for i, x in enumerate(_sorted_items({k: x for k, x in node.items() if k}), 1)]
        return q_list
    if t == "map":
        flat = bool(shape.serialization.get("flattened"))
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        kf = compile_query_decoder(shape.key, cache)
        vf = compile_query_decoder(shape.value, cache)

        def q_map(node, path):
            if not isinstance(node, dict):
                return {}
            if not flat:
                node = node.get("entry")
                if not isinstance(node, dict):
                    return {}
            out = {}
            for entry in _sorted_items({k: x for k, x in node.items() if k}):
                if not isinstance(entry, dict) or kname not in entry:
                    continue
                k = kf(entry[kname], path)
                x = entry.get(vname)
                out[k] = None if x is None else vf(x, f"{path}.{k}")
            return out
        return q_map
    conv = scalar_from_str(shape)

    def q_scalar(node, path):
        if isinstance(node, dict):
            node = node.get("", "")
        return conv(node, path)
    return q_scalar


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


# =============================================================================
# XML (query responses, rest-xml bodies)
# =============================================================================

def xml_member_tag(ms, name: str) -> str:
    return query_member_key(ms, name)


@_cached
def compile_xml_encoder(shape, cache):
    """fn(out: list[str], tag: str, value) appends XML for <tag>value</tag>."""
    t = shape.type_name
    ns = shape.serialization.get("xmlNamespace")
    ns_attr = ""
    if isinstance(ns, dict):
        ns_attr = f' xmlns{":" + ns["prefix"] if ns.get("prefix") else ""}="{ns["uri"]}"'
    elif isinstance(ns, str):
        ns_attr = f' xmlns="{ns}"'
    if t == "structure":
        members: list = []
        attrs: list = []

        def x_struct(out, tag, v):
            a = ns_attr
            for name, aname in attrs:
                x = v.get(name)
                if x is not None:
                    a += f' {aname}="{xml_escape(str(x))}"'
            out.append(f"<{tag}{a}>")
            for name, mtag, fn in members:
                x = v.get(name)
                if x is not None:
                    fn(out, mtag, x)
            out.append(f"</{tag}>")
        cache[(_key(shape),)] = x_struct
        for name, ms in shape.members.items():
            if ms.serialization.get("location") in ("header", "headers", "uri", "querystring", "statusCode"):
                continue
            if ms.serialization.get("xmlAttribute"):
                attrs.append((name, ms.serialization["name"]))
                continue
            members.append((name, xml_member_tag(ms, name), compile_xml_encoder(ms, cache)))
        return x_struct
    if t == "list":
        item = compile_xml_encoder(shape.member, cache)
        if shape.serialization.get("flattened"):
            def x_flat(out, tag, v):
                for x in v:
                    item(out, tag, x)
            return x_flat
        mname = shape.member.serialization.get("name", "member")

        def x_list(out, tag, v):
            out.append(f"<{tag}{ns_attr}>")
            for x in v:
                item(out, mname, x)
            out.append(f"</{tag}>")
        return x_list
    if t == "map":
        kf = compile_xml_encoder(shape.key, cache)
        vf = compile_xml_encoder(shape.value, cache)
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        if shape.serialization.get("flattened"):
            def x_fmap(out, tag, v):
                for k, x in v.items():
                    out.append(f"<{tag}>")
                    kf(out, kname, k)
                    if x is not None:
                        vf(out, vname, x)
                    out.append(f"</{tag}>")
            return x_fmap

        def x_map(out, tag, v):
            out.append(f"<{tag}{ns_attr}>")
            for k, x in v.items():
                out.append("<entry>")
                kf(out, kname, k)
                if x is not None:
                    vf(out, vname, x)
                out.append("</entry>")
            out.append(f"</{tag}>")
        return x_map
    if t == "string":
        def x_str(out, tag, v):
            out.append(f"<{tag}{ns_attr}>{xml_escape(v)}</{tag}>")
        return x_str
    conv = scalar_to_str(shape, "iso8601")

    def x_scalar(out, tag, v):
        out.append(f"<{tag}{ns_attr}>{xml_escape(conv(v))}</{tag}>")
    return x_scalar


def _tag(el) -> str:
    t = el.tag
    return t.rsplit("}", 1)[1] if t[:1] == "{" else t


@_cached
def compile_xml_decoder(shape, cache):
    """fn(element, path) -> python value (rest-xml request bodies)."""
    t = shape.type_name
    if t == "structure":
        members: list = []
        attrs: list = []

        def xd_struct(el, path):
            groups: dict = {}
            for child in el:
                groups.setdefault(_tag(child), []).append(child)
            out = {}
            for name, tag, camel, flat, fn in members:
                els = groups.get(tag)
                if els:
                    out[name] = fn(els if flat else els[0], path + "." + camel if path else camel)
            for name, aname in attrs:
                for k, x in el.attrib.items():
                    if k == aname or k.rsplit("}", 1)[-1] == aname.split(":")[-1]:
                        out[name] = x
            return out
        cache[(_key(shape),)] = xd_struct
        for name, ms in shape.members.items():
            if ms.serialization.get("location") in ("header", "headers", "uri", "querystring", "statusCode"):
                continue
            if ms.serialization.get("xmlAttribute"):
                attrs.append((name, ms.serialization["name"]))
                continue
            flat = ms.type_name in ("list", "map") and bool(ms.serialization.get("flattened"))
            members.append((name, xml_member_tag(ms, name), lower_camel(name), flat, compile_xml_decoder(ms, cache)))
        return xd_struct
    if t == "list":
        item = compile_xml_decoder(shape.member, cache)
        if shape.serialization.get("flattened"):
            return lambda els, path: [item(e, f"{path}.{i}.member") for i, e in enumerate(els, 1)]
        mname = shape.member.serialization.get("name", "member")
        return lambda el, path: [item(e, f"{path}.{i}.member") for i, e in enumerate(
            [c for c in el if _tag(c) == mname], 1)]
    if t == "map":
        kf = compile_xml_decoder(shape.key, cache)
        vf = compile_xml_decoder(shape.value, cache)
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        flat = bool(shape.serialization.get("flattened"))

        def xd_map(el, path):
            entries = el if flat else [c for c in el if _tag(c) == "entry"]
            out = {}
            for e in entries:
                kv = {_tag(c): c for c in e}
                if kname in kv:
                    k = kf(kv[kname], path)
                    out[k] = vf(kv[vname], f"{path}.{k}") if vname in kv else None
            return out
        return xd_map
    conv = scalar_from_str(shape)
    return lambda el, path: conv(el.text or "", path)
