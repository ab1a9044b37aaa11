"""SNS subscription filter policies: validation and compilation.

A policy is validated exactly as SNS does (AWS's messages, its key limit and
its complexity arithmetic), then compiled into *branches*: the policy with
every ``$or`` expanded, each branch a conjunction of `PathTest`s. A PathTest
holds the OR of the conditions listed for one flattened property path
(``"a.b"`` for ``{"a": {"b": [...]}}``, as SNS joins nested keys with dots).

Message values are plain Python: ``str``, ``float`` (every JSON number),
``bool`` and ``None``; a path's values are a list (arrays contribute each
element) or None when the path is absent. `matcher.py` indexes branches;
this module decides what one branch means.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Callable

from broker.core.eventpattern import InvalidPattern, compile_branches
from services.sns.jsontext import JsonTextError, loads

MAX_KEYS = 5
MAX_COMBINATIONS = 150
MAX_POLICY_BYTES = 256 * 1024
SCOPES = ("MessageAttributes", "MessageBody")


class PolicyError(ValueError):
    """``reason`` is what follows "Invalid parameter: " (or "... Attributes Reason: ")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _bad(text: str) -> PolicyError:
    return PolicyError(f"FilterPolicy: {text}")


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- validation -------------------------------------------------------------------
#
# The grammar is Event Ruler's (the library SNS checks policies with, in its
# earlier form: `compile_branches(..., extensions=False)`), run on the policy
# re-serialized compactly, as AWS does: its messages quote that text and the
# parser's position in it. SNS then applies its own limits.

def parse(text: str, scope: str = "MessageAttributes") -> dict:
    """The policy document, validated for `scope`; PolicyError otherwise."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise _bad("Filter policy is too long")
    try:
        doc = loads(text)
    except JsonTextError as exc:
        raise _bad(f"failed to parse JSON. {exc.reason}") from None
    try:
        compile_branches(json.dumps(doc, separators=(",", ":"), ensure_ascii=False), extensions=False)
    except InvalidPattern as exc:
        raise _bad(exc.reason) from None
    if len(doc) > MAX_KEYS:
        raise _bad(f"Filter policy can not have more than {MAX_KEYS} keys")
    if _combinations(doc, scope, 1, 1) > MAX_COMBINATIONS:
        raise _bad("Filter policy is too complex")
    return doc


def _combinations(obj: dict, scope: str, depth: int, combos: int) -> int:
    """SNS's combination count: each value list weighs its length times its
    nesting depth, ``$or`` alternatives add up (a nested policy with 4, 3 and
    3 values at depths 3, 2 and 1 counts 4*3 x 3*2 x 3*1 = 216: refused)."""
    for key, value in obj.items():
        if isinstance(value, dict):
            combos = _combinations(value, scope, depth + 1, combos)
        elif key == "$or":
            combos = sum(_combinations(alt, scope, depth, combos) for alt in value)
        else:
            combos = combos * len(value) * depth
    if scope == "MessageAttributes" and depth > 1:
        raise PolicyError("Filter policy scope MessageAttributes does not support nested filter policy")
    return combos


# -- compilation ---------------------------------------------------------------------

Values = list | None
Test = Callable[[Any], bool]


def _tagged(v):
    """Dictionary key of a literal: strings as themselves, others tagged so that
    True, 1 and 1.0 stay distinct (they hash alike in Python)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return ("b", v)
    if v is None:
        return ("z",)
    return ("n", float(v))


class PathTest:
    """OR of the conditions on one path. Indexable conditions are also kept as
    (kind, key) pairs: ``eq`` (tagged literal), ``ic`` (lower-cased string),
    ``pre``/``suf`` (string), ``exists``."""

    __slots__ = ("path", "tests", "exists_true", "exists_false", "index_keys", "indexable")

    def __init__(self, path: str, rules: list):
        self.path = path
        self.tests: list[Test] = []
        self.exists_true = self.exists_false = False
        keys: list[tuple[str, Any]] = []
        indexable = True
        for rule in rules:
            kind, key, test = _compile_rule(rule)
            if kind == "exists":
                if key:
                    self.exists_true = True
                    keys.append(("exists", None))
                else:
                    self.exists_false = True
                    indexable = False
                continue
            self.tests.append(test)
            if kind is None:
                indexable = False
            else:
                keys.append((kind, key))
        self.index_keys = tuple(keys)
        self.indexable = indexable and bool(keys)

    def ok(self, values: Values) -> bool:
        if values is None:
            return self.exists_false
        if self.exists_true:
            return True
        for test in self.tests:
            for v in values:
                if test(v):
                    return True
        return False


def _compile_rule(rule) -> tuple[str | None, Any, Test | None]:
    """(index kind or None, index key, value test) of one validated rule."""
    if not isinstance(rule, dict):
        key = _tagged(rule)
        if isinstance(rule, str):
            return "eq", key, lambda v, s=rule: v == s
        return "eq", key, lambda v, k=key: not isinstance(v, str) and _tagged(v) == k
    (op, value), = rule.items()
    if op == "exactly":
        return _compile_rule(value)
    if op == "exists":
        return "exists", value, None
    if op == "prefix":
        return "pre", value, lambda v, p=value: isinstance(v, str) and v.startswith(p)
    if op == "suffix":
        return "suf", value, lambda v, p=value: isinstance(v, str) and v.endswith(p)
    if op == "equals-ignore-case":
        low = value.lower()
        return "ic", low, lambda v, s=low: isinstance(v, str) and v.lower() == s
    if op == "anything-but":
        return None, None, _anything_but(value)
    if op == "numeric":
        return _numeric(value)
    if op == "cidr":
        net = ipaddress.ip_network(value, strict=False)
        return None, None, lambda v, n=net: _in_network(v, n)
    raise ValueError(f"unvalidated rule {rule!r}")


def _anything_but(value) -> Test:
    if isinstance(value, dict):
        prefix = value["prefix"]
        return lambda v: isinstance(v, str) and not v.startswith(prefix)
    excluded = frozenset(_tagged(x) for x in (value if isinstance(value, list) else [value]))
    return lambda v: v is not None and _tagged(v) not in excluded


def _numeric(spec: list) -> tuple[str | None, Any, Test]:
    lo, lo_inc, hi, hi_inc = float("-inf"), False, float("inf"), False
    for i in range(0, len(spec), 2):
        op, x = spec[i], float(spec[i + 1])
        if op == "=":
            return "eq", ("n", x), lambda v, x=x: _is_num(v) and float(v) == x
        if op in (">", ">="):
            lo, lo_inc = x, op == ">="
        else:
            hi, hi_inc = x, op == "<="

    def test(v) -> bool:
        if not _is_num(v):
            return False
        return (v > lo or (lo_inc and v == lo)) and (v < hi or (hi_inc and v == hi))
    return None, None, test


def _in_network(v, net) -> bool:
    if not isinstance(v, str):
        return False
    try:
        return ipaddress.ip_address(v) in net
    except ValueError:
        return False


def branches(doc: dict) -> list[tuple[PathTest, ...]]:
    """The policy's ``$or``-expanded conjunctions of path tests."""
    return [tuple(PathTest(path, rules) for path, rules in b.items()) for b in _expand(doc, "")]


def _expand(obj: dict, prefix: str) -> list[dict]:
    out: list[dict] = [{}]
    for key, value in obj.items():
        if key == "$or":
            alts = [b for alt in value for b in _expand(alt, prefix)]
            out = [{**base, **alt} for base in out for alt in alts]
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            subs = _expand(value, path)
            out = [{**base, **sub} for base in out for sub in subs]
        else:
            out = [{**base, path: value} for base in out]
    return out
