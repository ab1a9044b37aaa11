"""XML (query responses, rest-xml bodies): encoders and decoders."""
from __future__ import annotations

from ._values import lower_camel, xml_escape
from ._common import _cached, _key, NON_BODY_LOCATIONS
from ._query import query_member_key
from ._scalars import scalar_from_str, scalar_to_str


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
            start = len(out)
            out.append(f"<{tag}{a}>")
            for name, mtag, fn in members:
                x = v.get(name)
                if x is not None:
                    fn(out, mtag, x)
            if len(out) == start + 1:   # nothing inside: <ReceiveMessageResult/>, as AWS writes it
                out[start] = f"<{tag}{a}/>"
            else:
                out.append(f"</{tag}>")
        cache[(_key(shape),)] = x_struct
        for name, ms in shape.members.items():
            if ms.serialization.get("location") in NON_BODY_LOCATIONS:
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
            if ms.serialization.get("location") in NON_BODY_LOCATIONS:
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
