"""Choice rules of JSONPath Choice states: comparisons, And/Or/Not, Is* tests.

A comparison whose variable has the wrong type is false, never an error
(StringEquals on a number, TimestampLessThan on a non-timestamp string);
only a missing Variable path fails the state, as at AWS.
"""

from __future__ import annotations

import re
from datetime import datetime

from services.stepfunctions.asl import jsonpath
from services.stepfunctions.asl.payload import evaluate_path_value

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

COMPARATORS = {
    "StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals", "StringGreaterThanEquals",
    "StringMatches", "NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals",
    "NumericGreaterThanEquals", "BooleanEquals", "TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
    "TimestampLessThanEquals", "TimestampGreaterThanEquals",
    "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp",
}
PATH_COMPARATORS = {c + "Path" for c in COMPARATORS if not c.startswith("Is") and c != "StringMatches"}


def parse_timestamp(value) -> datetime | None:
    if not isinstance(value, str) or not _TS.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ordered(kind: str):
    def check(a, b, op):
        if kind == "String":
            if not isinstance(a, str) or not isinstance(b, str):
                return False
        elif kind == "Numeric":
            if not _is_number(a) or not _is_number(b):
                return False
        else:
            a, b = parse_timestamp(a), parse_timestamp(b)
            if a is None or b is None:
                return False
        if op == "Equals":
            return a == b
        if op == "LessThan":
            return a < b
        if op == "GreaterThan":
            return a > b
        if op == "LessThanEquals":
            return a <= b
        return a >= b
    return check


_CHECKS = {k: _ordered(k) for k in ("String", "Numeric", "Timestamp")}


def _string_matches(value, pattern) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.fullmatch("".join(out), value, re.S) is not None


def compare(op: str, value, operand) -> bool:
    """One comparison (operand already resolved for *Path operators)."""
    if op == "BooleanEquals":
        return isinstance(value, bool) and isinstance(operand, bool) and value is operand
    if op == "StringMatches":
        return _string_matches(value, operand)
    for kind in ("String", "Numeric", "Timestamp"):
        if op.startswith(kind):
            return _CHECKS[kind](value, operand, op[len(kind):])
    raise ValueError(op)


class Rule:
    """A compiled Choice rule (top-level rules carry `next`)."""
    __slots__ = ("kind", "variable", "op", "operand", "is_path", "children", "next")

    def __init__(self, spec: dict):
        self.next = spec.get("Next")
        self.variable = spec.get("Variable")
        self.children = None
        self.op = None
        self.operand = None
        self.is_path = False
        if "And" in spec:
            self.kind = "And"
            self.children = [Rule(s) for s in spec["And"]]
        elif "Or" in spec:
            self.kind = "Or"
            self.children = [Rule(s) for s in spec["Or"]]
        elif "Not" in spec:
            self.kind = "Not"
            self.children = [Rule(spec["Not"])]
        else:
            self.kind = "Compare"
            for k, v in spec.items():
                if k in COMPARATORS:
                    self.op, self.operand = k, v
                elif k in PATH_COMPARATORS:
                    self.op, self.operand, self.is_path = k[:-4], v, True

    def evaluate(self, state_input, context, variables=None) -> bool:
        kind = self.kind
        if kind == "And":
            return all(c.evaluate(state_input, context, variables) for c in self.children)
        if kind == "Or":
            return any(c.evaluate(state_input, context, variables) for c in self.children)
        if kind == "Not":
            return not self.children[0].evaluate(state_input, context, variables)
        op = self.op
        try:
            value = evaluate_path_value(self.variable, state_input, context, variables)
            present = True
        except jsonpath.PathError:
            value, present = None, False
        if op == "IsPresent":
            return present is bool(self.operand)
        if not present:
            from services.stepfunctions.asl.errors import runtime_error
            raise runtime_error(f"Invalid path '{self.variable}': The choice state's condition path references an "
                                "invalid value.")
        if op.startswith("Is"):
            want = bool(self.operand)
            if op == "IsNull":
                got = value is None
            elif op == "IsNumeric":
                got = _is_number(value)
            elif op == "IsString":
                got = isinstance(value, str)
            elif op == "IsBoolean":
                got = isinstance(value, bool)
            else:
                got = parse_timestamp(value) is not None
            return got is want
        operand = self.operand
        if self.is_path:
            try:
                operand = evaluate_path_value(operand, state_input, context, variables)
            except jsonpath.PathError:
                from services.stepfunctions.asl.errors import runtime_error
                raise runtime_error(f"Invalid path '{self.operand}': The choice state's condition path references "
                                    "an invalid value.") from None
        return compare(op, value, operand)
