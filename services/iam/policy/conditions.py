"""Condition operators: the `Condition` element of a policy statement.

A block holds operators; each operator holds keys; each key holds values.
All operators must hold (AND), every key of an operator must hold (AND), and a
key holds when the request's value matches any of the policy's values (OR).

Rules (AWS's "Condition operators" and "Single-valued vs. multivalued context
keys" pages):

* a key absent from the request: a positive operator is false, a negated one
  (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``...) is true;
* ``...IfExists``: an absent key is true, a present one is tested as usual;
* ``Null``: ``true`` holds when the key is absent, ``false`` when present;
* ``ForAllValues:`` holds when every request value matches some policy value
  (an absent or empty key holds); ``ForAnyValue:`` when at least one does (an
  absent key does not). With a negated operator each request value must (or
  one must) match none of the policy values;
* a plain operator on a multivalued key matches when any request value does.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from functools import lru_cache
from typing import Any, Callable

from services.iam.policy.patterns import compile_pattern, has_variables, literal, substitute


class ConditionError(ValueError):
    """An operator name this evaluator (and IAM) does not know."""


def _as_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(v)


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _date(v: Any) -> float | None:
    if isinstance(v, datetime.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=datetime.timezone.utc)).timestamp()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    s = str(v).strip()
    if s.lstrip("-").isdigit():
        return float(s)
    try:
        d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        try:
            d = datetime.datetime.strptime(s, "%Y-%m-%d")
        except ValueError:
            return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


@lru_cache(maxsize=1024)
def _ip_cached(v: str):
    try:
        return ipaddress.ip_address(v.strip())
    except ValueError:
        return None


def _ip(v: Any):
    if isinstance(v, str):
        return _ip_cached(v)
    try:
        return ipaddress.ip_address(str(v).strip())
    except ValueError:
        return None


def _net(v: Any):
    try:
        return ipaddress.ip_network(str(v).strip(), strict=False)
    except ValueError:
        return None


# -- value matchers: (request value, policy value) -> bool --------------------

def _str_eq(a, b):
    return _as_str(a) == b


def _str_eq_ic(a, b):
    return _as_str(a).lower() == b.lower()


def _str_like(a, b):
    return compile_pattern(b).match(_as_str(a))


def _num_cmp(op):
    def f(a, y):
        x = _num(a)
        return x is not None and y is not None and op(x, y)
    return f


def _date_cmp(op):
    def f(a, y):
        x = _date(a)
        return x is not None and y is not None and op(x, y)
    return f


def _bool(a, b):
    return _as_str(a).lower() == b.lower()


def _binary(a, b):
    if isinstance(a, (bytes, bytearray)):
        a = base64.b64encode(a).decode()
    return _as_str(a) == b


def _ip_in(a, net):
    ip = _ip(a)
    return ip is not None and net is not None and ip.version == net.version and ip in net


def _arn_like(a, b):
    """Each of the six ARN parts matched on its own (wildcards stay in their part)."""
    got = _as_str(a).split(":", 5)
    want = b.split(":", 5)
    if len(got) != 6 or len(want) != 6:
        return False
    return all(compile_pattern(w).match(g) for g, w in zip(got, want))


_EQ = lambda x, y: x == y  # noqa: E731
_LT = lambda x, y: x < y  # noqa: E731
_LE = lambda x, y: x <= y  # noqa: E731
_GT = lambda x, y: x > y  # noqa: E731
_GE = lambda x, y: x >= y  # noqa: E731

# operator -> (value matcher, negated, substitutes variables in policy values); the matcher
# takes (request value, prepared policy value), see PREPARE
OPERATORS: dict[str, tuple[Callable[[Any, Any], bool], bool, bool]] = {
    "stringequals": (_str_eq, False, True),
    "stringnotequals": (_str_eq, True, True),
    "stringequalsignorecase": (_str_eq_ic, False, True),
    "stringnotequalsignorecase": (_str_eq_ic, True, True),
    "stringlike": (_str_like, False, True),
    "stringnotlike": (_str_like, True, True),
    "numericequals": (_num_cmp(_EQ), False, False),
    "numericnotequals": (_num_cmp(_EQ), True, False),
    "numericlessthan": (_num_cmp(_LT), False, False),
    "numericlessthanequals": (_num_cmp(_LE), False, False),
    "numericgreaterthan": (_num_cmp(_GT), False, False),
    "numericgreaterthanequals": (_num_cmp(_GE), False, False),
    "dateequals": (_date_cmp(_EQ), False, False),
    "datenotequals": (_date_cmp(_EQ), True, False),
    "datelessthan": (_date_cmp(_LT), False, False),
    "datelessthanequals": (_date_cmp(_LE), False, False),
    "dategreaterthan": (_date_cmp(_GT), False, False),
    "dategreaterthanequals": (_date_cmp(_GE), False, False),
    "bool": (_bool, False, True),
    "binaryequals": (_binary, False, False),
    "ipaddress": (_ip_in, False, False),
    "notipaddress": (_ip_in, True, False),
    "arnequals": (_arn_like, False, True),
    "arnlike": (_arn_like, False, True),
    "arnnotequals": (_arn_like, True, True),
    "arnnotlike": (_arn_like, True, True),
}


def _prepare_for(fn) -> Callable[[str], Any] | None:
    """How an operator's policy values are parsed once, at compile time."""
    if fn is _ip_in:
        return _net
    if fn in _NUMERIC:
        return _num
    if fn in _DATES:
        return _date
    return None


_NUMERIC = {OPERATORS[k][0] for k in OPERATORS if k.startswith("numeric")}
_DATES = {OPERATORS[k][0] for k in OPERATORS if k.startswith("date")}


class Condition:
    """One (operator, key, values) triple, compiled."""
    __slots__ = ("operator", "key", "values", "fn", "negated", "if_exists", "qualifier", "null", "dynamic",
                 "prepared")

    def __init__(self, operator: str, key: str, values: list[str]):
        self.operator = operator
        self.key = key.lower()
        self.values = values
        name = operator
        self.qualifier = None
        low = name.lower()
        if low.startswith("forallvalues:"):
            self.qualifier, low = "all", low[len("forallvalues:"):]
        elif low.startswith("foranyvalue:"):
            self.qualifier, low = "any", low[len("foranyvalue:"):]
        self.null = low == "null"
        self.if_exists = False
        if low.endswith("ifexists") and not self.null:
            self.if_exists, low = True, low[:-len("ifexists")]
        if self.null:
            self.fn, self.negated, subst = None, False, False
        else:
            entry = OPERATORS.get(low)
            if entry is None:
                raise ConditionError(operator)
            self.fn, self.negated, subst = entry
        self.dynamic = subst and any(has_variables(v) for v in values)
        prep = None if self.null else _prepare_for(self.fn)
        self.prepared = [prep(v) for v in values] if prep is not None else values

    def holds(self, context) -> bool:
        raw = context.get(self.key)
        present = raw is not None and raw != []
        if self.null:
            want_absent = any(str(v).lower() == "true" for v in self.values)
            return (not present) if want_absent else present
        if not present:
            if self.if_exists:
                return True
            if self.qualifier == "all":
                return True
            if self.qualifier == "any":
                return False
            return self.negated
        values = self.prepared
        if self.dynamic:
            values = [literal(s) if self.fn is not _str_like and self.fn is not _arn_like else s
                      for s in (substitute(v, context) for v in values) if s is not None]
        fn = self.fn
        got = raw if isinstance(raw, list) else [raw]
        if self.qualifier == "all":
            if self.negated:
                return all(not any(fn(g, v) for v in values) for g in got)
            return all(any(fn(g, v) for v in values) for g in got)
        if self.qualifier == "any":
            if self.negated:
                return any(not any(fn(g, v) for v in values) for g in got)
            return any(any(fn(g, v) for v in values) for g in got)
        hit = any(fn(g, v) for g in got for v in values)
        return not hit if self.negated else hit


def compile_block(block: dict) -> list[Condition]:
    """A statement's `Condition` element -> conditions (all must hold)."""
    out = []
    for operator, keys in block.items():
        if not isinstance(keys, dict):
            raise ConditionError(operator)
        for key, values in keys.items():
            vals = values if isinstance(values, list) else [values]
            out.append(Condition(operator, key, [_as_str(v) for v in vals]))
    return out
