"""Events as the matcher sees them: dotted paths to leaf values.

``flatten(doc)`` walks a parsed JSON object and returns ``{path: [(leaf,
membership), ...]}``. Only scalars are leaves: an object or an empty array at
a path is not a value there (so ``exists`` tests leaves only, as in AWS).
Arrays contribute each element at the same path. ``membership`` records, for
a leaf inside arrays, which element of which array it came from; a branch
that tests several fields of an array of objects must find its values in
the same element (Event Ruler's array consistency).
"""

from __future__ import annotations

from ._values import Value

Flat = dict[str, list[tuple[object, tuple | None]]]


_SCALARS = (str, int, float, bool, type(None))


def flatten(doc: dict, wanted: frozenset | set | None = None) -> Flat:
    """Leaves of `doc` by dotted path; with `wanted` (paths and every prefix of
    them), only those subtrees are walked."""
    out: Flat = {}
    counter = [0]

    def walk_dict(node: dict, prefix: str, member: tuple | None) -> None:
        for k, v in node.items():
            path = prefix + k if prefix else k
            if wanted is not None and path not in wanted:
                continue
            if type(v) in _SCALARS:
                lst = out.get(path)
                if lst is None:
                    out[path] = [(v, member)]
                else:
                    lst.append((v, member))
            else:
                walk(v, path, member)

    def walk(node, path: str, member: tuple | None) -> None:
        if isinstance(node, dict):
            walk_dict(node, path + ".", member)
        elif isinstance(node, list):
            counter[0] += 1
            aid = counter[0]
            for i, v in enumerate(node):
                walk(v, path, (member or ()) + ((aid, i),))
        else:
            lst = out.get(path)
            if lst is None:
                out[path] = [(node, member)]
            else:
                lst.append((node, member))

    walk_dict(doc, "", None)
    return out


def prefixes(paths) -> frozenset:
    """Every path and each of its dotted prefixes (what `flatten` must walk)."""
    out = set()
    for p in paths:
        parts = p.split(".")
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return frozenset(out)


class FieldTest:
    """One field of a branch: accepted values, and whether absence is accepted."""
    __slots__ = ("path", "values", "absent_ok")

    def __init__(self, path: str, values: list[Value]):
        self.path = path
        self.values = tuple(v for v in values if not v.absent)
        self.absent_ok = any(v.absent for v in values)

    def candidates(self, leaves) -> list:
        vals = self.values
        return [m for leaf, m in leaves if any(v.test(leaf) for v in vals)]


def branch_matches(fields: tuple[FieldTest, ...], flat: Flat) -> bool:
    picks: list[list] | None = None
    for f in fields:
        leaves = flat.get(f.path)
        if not leaves:
            if f.absent_ok:
                continue
            return False
        vals = f.values
        if len(leaves) == 1:                      # the common case: one value at the path
            leaf, m = leaves[0]
            for v in vals:
                if v.test(leaf):
                    break
            else:
                return False
            if m is not None:
                if picks is None:
                    picks = []
                picks.append([m])
            continue
        cands = f.candidates(leaves)
        if not cands:
            return False
        if any(m for m in cands):
            if picks is None:
                picks = []
            picks.append(cands)
    if picks is None or len(picks) < 2:
        return True
    return _consistent(picks, 0, {})


def _consistent(picks: list[list], i: int, chosen: dict) -> bool:
    """Is there one candidate per field whose array elements agree?"""
    if i == len(picks):
        return True
    for m in picks[i]:
        if m is None:
            return _consistent(picks, i + 1, chosen)
        added = []
        ok = True
        for aid, idx in m:
            have = chosen.get(aid)
            if have is None:
                chosen[aid] = idx
                added.append(aid)
            elif have != idx:
                ok = False
                break
        if ok and _consistent(picks, i + 1, chosen):
            return True
        for aid in added:
            del chosen[aid]
    return False
