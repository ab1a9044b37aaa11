"""Query (form) decoding: a tree of dicts built from dotted keys."""
from __future__ import annotations

from ._values import lower_camel
from ._common import _cached, _key, _sorted_items
from ._scalars import scalar_from_str


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
                # a form entry with no value sent is an empty one (a JSON null has no form spelling)
                out[k] = vf("" if x is None else x, f"{path}.{k}")
            return out
        return q_map
    conv = scalar_from_str(shape)

    def q_scalar(node, path):
        if isinstance(node, dict):
            node = node.get("", "")
        return conv(node, path)
    return q_scalar
