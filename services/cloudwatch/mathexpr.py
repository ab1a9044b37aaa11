"""CloudWatch metric math: parse an expression and evaluate it over time series.

Values are scalars (float), time series (`TS`: timestamp -> value, label,
period) and arrays of time series (list[TS]). Arithmetic and comparisons
apply point by point (a timestamp missing on either side is missing in the
result), scalars broadcast, and an array op applies to each member, as AWS
documents. Functions: ABS AVG CEIL CONCAT DATAPOINT_COUNT DATE DAY DIFF
DIFF_TIME EPOCH FILL FIRST FLOOR HOUR IF LAST LOG LOG10 MAX METRIC_COUNT
METRICS MIN MINUTE MONTH PERIOD RATE REMOVE_EMPTY RUNNING_SUM SEARCH SLICE
SORT STDDEV SUM TIME_SERIES YEAR. Not: ANOMALY_DETECTION_BAND,
INSIGHT_RULE_METRIC, SERVICE_QUOTA, LAMBDA (they need services this broker
does not have).
"""

from __future__ import annotations

import math
import re
import statistics as _st
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable


class ExprError(Exception):
    pass


@dataclass
class TS:
    points: dict = field(default_factory=dict)     # second -> value
    label: str = ""
    period: int = 60

    def sorted(self) -> list[tuple[int, float]]:
        return sorted(self.points.items())


# -- tokens and parsing ---------------------------------------------------------------------
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/^()<>,\[\]])
    )""", re.X)

_BINARY = {  # operator -> (precedence, right-associative)
    "OR": (1, False), "||": (1, False), "AND": (2, False), "&&": (2, False),
    "==": (3, False), "!=": (3, False), "<": (3, False), "<=": (3, False), ">": (3, False), ">=": (3, False),
    "+": (4, False), "-": (4, False), "*": (5, False), "/": (5, False), "^": (7, True),
}


def tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExprError(f"Unexpected character at position {pos + 1}: {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def expect(self, value: str):
        k, v = self.take()
        if v != value:
            raise ExprError(f"Expected '{value}' but found {v!r}" if v else f"Expected '{value}' at end of expression")

    def parse(self):
        if not self.toks:
            raise ExprError("The expression is empty")
        node = self.expr(0)
        if self.i != len(self.toks):
            raise ExprError(f"Unexpected token {self.toks[self.i][1]!r}")
        return node

    def expr(self, min_prec: int):
        left = self.unary()
        while True:
            k, v = self.peek()
            op = v.upper() if k == "name" else v
            if k not in ("op", "name") or op not in _BINARY:
                return left
            prec, right_assoc = _BINARY[op]
            if prec < min_prec:
                return left
            self.take()
            right = self.expr(prec if right_assoc else prec + 1)
            left = ("bin", op, left, right)

    def unary(self):
        k, v = self.peek()
        if v == "-":
            self.take()
            return ("neg", self.expr(6))
        if v == "+":
            self.take()
            return self.expr(6)
        if k == "name" and v.upper() == "NOT":
            self.take()
            return ("not", self.expr(3))
        return self.primary()

    def primary(self):
        k, v = self.take()
        if k is None:
            raise ExprError("Unexpected end of expression")
        if k == "num":
            return ("num", float(v))
        if k == "str":
            return ("str", bytes(v[1:-1], "utf-8").decode("unicode_escape"))
        if v == "(":
            node = self.expr(0)
            self.expect(")")
            return node
        if v == "[":
            items = []
            if self.peek()[1] != "]":
                items.append(self.expr(0))
                while self.peek()[1] == ",":
                    self.take()
                    items.append(self.expr(0))
            self.expect("]")
            return ("array", items)
        if k == "name":
            if self.peek()[1] == "(":
                self.take()
                args = []
                if self.peek()[1] != ")":
                    args.append(self.expr(0))
                    while self.peek()[1] == ",":
                        self.take()
                        args.append(self.expr(0))
                self.expect(")")
                return ("call", v.upper(), args)
            return ("id", v)
        raise ExprError(f"Unexpected token {v!r}")


def references(node) -> set[str]:
    """Ids an expression names (for evaluation order and cycle checks)."""
    out: set[str] = set()

    def walk(n):
        if n[0] == "id":
            out.add(n[1])
        elif n[0] == "bin":
            walk(n[2]); walk(n[3])
        elif n[0] in ("neg", "not"):
            walk(n[1])
        elif n[0] == "array":
            for x in n[1]:
                walk(x)
        elif n[0] == "call":
            for x in n[2]:
                walk(x)
    walk(node)
    return out


def uses_metrics_function(node) -> bool:
    if node[0] == "call":
        return node[1] == "METRICS" or any(uses_metrics_function(a) for a in node[2])
    if node[0] == "bin":
        return uses_metrics_function(node[2]) or uses_metrics_function(node[3])
    if node[0] in ("neg", "not"):
        return uses_metrics_function(node[1])
    if node[0] == "array":
        return any(uses_metrics_function(a) for a in node[1])
    return False


# -- evaluation -----------------------------------------------------------------------------
_OPS: dict[str, Callable[[float, float], float | None]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b != 0 else (math.nan if a == 0 else math.copysign(math.inf, a) * (1 if b >= 0 else -1)),
    "^": lambda a, b: _pow(a, b),
    "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b), "<": lambda a, b: float(a < b),
    "<=": lambda a, b: float(a <= b), ">": lambda a, b: float(a > b), ">=": lambda a, b: float(a >= b),
    "AND": lambda a, b: float(bool(a) and bool(b)), "&&": lambda a, b: float(bool(a) and bool(b)),
    "OR": lambda a, b: float(bool(a) or bool(b)), "||": lambda a, b: float(bool(a) or bool(b)),
}


def _pow(a, b):
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return math.nan


def _apply(op, a, b):
    fn = _OPS[op]
    if isinstance(a, list) or isinstance(b, list):
        if isinstance(a, list) and isinstance(b, list):
            raise ExprError(f"The operator {op} cannot be applied to two arrays of time series")
        if isinstance(a, list):
            return [_apply(op, x, b) for x in a]
        return [_apply(op, a, x) for x in b]
    if isinstance(a, TS) and isinstance(b, TS):
        pts = {t: fn(v, b.points[t]) for t, v in a.points.items() if t in b.points}
        return TS(pts, a.label, a.period)
    if isinstance(a, TS):
        return TS({t: fn(v, b) for t, v in a.points.items()}, a.label, a.period)
    if isinstance(b, TS):
        return TS({t: fn(a, v) for t, v in b.points.items()}, b.label, b.period)
    return fn(a, b)


def _map(value, fn, name):
    if isinstance(value, list):
        return [_map(x, fn, name) for x in value]
    if isinstance(value, TS):
        return TS({t: fn(v) for t, v in value.points.items()}, value.label, value.period)
    if isinstance(value, (int, float)):
        return fn(value)
    raise ExprError(f"Invalid argument to {name}")


def _safe(fn):
    def g(v):
        try:
            return fn(v)
        except (ValueError, OverflowError):
            return math.nan
    return g


def _reduce(values: list[float], kind: str) -> float | None:
    if not values:
        return None
    if kind == "SUM":
        return math.fsum(values)
    if kind == "AVG":
        return math.fsum(values) / len(values)
    if kind == "MIN":
        return min(values)
    if kind == "MAX":
        return max(values)
    if kind == "STDDEV":
        return _st.pstdev(values) if len(values) > 1 else 0.0
    raise ExprError(f"Unknown function {kind}")


def _aggregate(arg, kind: str):
    """SUM/AVG/MIN/MAX/STDDEV: of one series -> scalar; of an array -> one series, point by point."""
    if isinstance(arg, TS):
        v = _reduce(list(arg.points.values()), kind)
        return v if v is not None else math.nan
    if isinstance(arg, list):
        by_t: dict[int, list[float]] = {}
        for ts in arg:
            for t, v in ts.points.items():
                by_t.setdefault(t, []).append(v)
        period = arg[0].period if arg else 60
        return TS({t: _reduce(vs, kind) for t, vs in by_t.items()}, "", period)
    if isinstance(arg, (int, float)):
        return float(arg)
    raise ExprError(f"Invalid argument to {kind}")


def _series_fn(arg, fn, name):
    if isinstance(arg, list):
        return [_series_fn(a, fn, name) for a in arg]
    if not isinstance(arg, TS):
        raise ExprError(f"The function {name} expects a time series")
    return fn(arg)


def _diff(ts: TS, rate: bool = False, of_time: bool = False) -> TS:
    pts = ts.sorted()
    out = {}
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if of_time:
            out[t1] = float(t1 - t0)
        elif rate:
            out[t1] = (v1 - v0) / (t1 - t0)
        else:
            out[t1] = v1 - v0
    return TS(out, ts.label, ts.period)


def _running_sum(ts: TS) -> TS:
    acc, out = 0.0, {}
    for t, v in ts.sorted():
        acc += v
        out[t] = acc
    return TS(out, ts.label, ts.period)


class Evaluator:
    """Evaluates parsed expressions for one GetMetricData request.

    `resolve(id)` gives another query's value; `grid(period)` the timestamps
    of the request's range at a period; `metrics()` every metric query's
    (id, TS); `search(expr, stat, period)` runs SEARCH.
    """

    def __init__(self, resolve, grid, metrics, search, default_period: int):
        self.resolve, self.grid, self.metrics, self.search = resolve, grid, metrics, search
        self.default_period = default_period

    def eval(self, node) -> Any:
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "str":
            return node[1]
        if kind == "id":
            return self.resolve(node[1])
        if kind == "neg":
            return _map(self.eval(node[1]), lambda v: -v, "-")
        if kind == "not":
            return _map(self.eval(node[1]), lambda v: float(not v), "NOT")
        if kind == "bin":
            return _apply(node[1], self._num(self.eval(node[2])), self._num(self.eval(node[3])))
        if kind == "array":
            out = []
            for item in node[1]:
                v = self.eval(item)
                if isinstance(v, list):
                    out.extend(v)
                elif isinstance(v, TS):
                    out.append(v)
                else:
                    raise ExprError("An array can contain only time series")
            return out
        if kind == "call":
            return self.call(node[1], node[2])
        raise ExprError("Invalid expression")

    @staticmethod
    def _num(v):
        if isinstance(v, str):
            raise ExprError(f"Unexpected string {v!r}")
        return v

    def call(self, name: str, args: list):
        n = len(args)
        if name == "SEARCH":
            if n not in (2, 3) or args[0][0] != "str" or args[1][0] != "str":
                raise ExprError("SEARCH takes a search expression, a statistic and optionally a period")
            period = int(self.eval(args[2])) if n == 3 else self.default_period
            return self.search(args[0][1], args[1][1], period)
        if name == "METRICS":
            flt = args[0][1] if n == 1 and args[0][0] == "str" else None
            if n > 1 or (n == 1 and flt is None):
                raise ExprError("METRICS takes at most one string argument")
            return [ts for mid, ts in self.metrics() if flt is None or flt in mid]
        if name in ("SORT",):
            return self._sort(args)
        if name == "FILL":
            return self._fill(args)
        vals = [self.eval(a) for a in args]
        if name in ("SUM", "AVG", "MIN", "MAX", "STDDEV"):
            if n == 1:
                return _aggregate(vals[0], name)
            return _aggregate(self._as_array(vals, name), name)
        if name in ("ABS", "CEIL", "FLOOR", "LOG", "LOG10"):
            self._arity(name, n, 1)
            fn = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor, "LOG": _safe(math.log),
                  "LOG10": _safe(math.log10)}[name]
            return _map(vals[0], lambda v: float(fn(v)) if math.isfinite(v) else v, name)
        if name in ("DIFF", "RATE", "DIFF_TIME", "RUNNING_SUM"):
            self._arity(name, n, 1)
            fn = {"DIFF": _diff, "RATE": lambda t: _diff(t, rate=True),
                  "DIFF_TIME": lambda t: _diff(t, of_time=True), "RUNNING_SUM": _running_sum}[name]
            return _series_fn(vals[0], fn, name)
        if name == "DATAPOINT_COUNT":
            self._arity(name, n, 1)
            return _series_fn(vals[0], lambda t: float(len(t.points)), name) if isinstance(vals[0], TS) else \
                [float(len(t.points)) for t in vals[0]]
        if name in ("MINUTE", "HOUR", "DAY", "DATE", "MONTH", "YEAR", "EPOCH"):
            self._arity(name, n, 1)
            return _series_fn(vals[0], lambda t: TS({k: _time_part(name, k) for k in t.points}, t.label,
                                                     t.period), name)
        if name == "PERIOD":
            self._arity(name, n, 1)
            if not isinstance(vals[0], TS):
                raise ExprError("PERIOD expects a time series")
            return float(vals[0].period)
        if name == "METRIC_COUNT":
            self._arity(name, n, 1)
            return float(len(vals[0])) if isinstance(vals[0], list) else 1.0
        if name in ("FIRST", "LAST"):
            self._arity(name, n, 1)
            arr = vals[0] if isinstance(vals[0], list) else [vals[0]]
            if not arr:
                return TS()
            return arr[0] if name == "FIRST" else arr[-1]
        if name == "REMOVE_EMPTY":
            self._arity(name, n, 1)
            arr = vals[0] if isinstance(vals[0], list) else [vals[0]]
            return [t for t in arr if t.points]
        if name == "SLICE":
            if n != 3:
                raise ExprError("SLICE takes an array, a start index and an end index")
            arr = vals[0] if isinstance(vals[0], list) else [vals[0]]
            return arr[int(vals[1]):int(vals[2])]
        if name == "CONCAT":
            return self._as_array(vals, name)
        if name == "TIME_SERIES":
            self._arity(name, n, 1)
            if isinstance(vals[0], TS):
                return vals[0]
            return TS({t: float(vals[0]) for t in self.grid(self.default_period)}, "", self.default_period)
        if name == "IF":
            if n not in (2, 3):
                raise ExprError("IF takes a condition, a value and optionally a value")
            return self._if(*vals)
        raise ExprError(f"Unsupported function {name}")

    @staticmethod
    def _arity(name, n, want):
        if n != want:
            raise ExprError(f"The function {name} takes {want} argument{'s' if want != 1 else ''}")

    @staticmethod
    def _as_array(vals, name) -> list:
        out = []
        for v in vals:
            if isinstance(v, list):
                out.extend(v)
            elif isinstance(v, TS):
                out.append(v)
            else:
                raise ExprError(f"Invalid argument to {name}")
        return out

    def _if(self, cond, a, b=None):
        if isinstance(cond, list):
            return [self._if(c, a, b) for c in cond]
        if not isinstance(cond, TS):
            return a if cond else (b if b is not None else TS({}, "", self.default_period))
        out = {}
        for t, c in cond.points.items():
            src = a if c else b
            if src is None:
                continue
            if isinstance(src, TS):
                if t in src.points:
                    out[t] = src.points[t]
            elif isinstance(src, (int, float)):
                out[t] = float(src)
        return TS(out, cond.label, cond.period)

    def _fill(self, args):
        if len(args) != 2:
            raise ExprError("FILL takes a time series and a fill value (a number, REPEAT or LINEAR)")
        target = self.eval(args[0])
        mode = args[1][1].upper() if args[1][0] == "id" and args[1][1].upper() in ("REPEAT", "LINEAR") else None
        value = None if mode else self.eval(args[1])

        def fill(ts: TS) -> TS:
            grid = self.grid(ts.period)
            pts = dict(ts.points)
            known = sorted(pts.items())
            out = {}
            for t in grid:
                if t in pts:
                    out[t] = pts[t]
                elif mode == "REPEAT":
                    prev = [v for k, v in known if k < t]
                    if prev:
                        out[t] = prev[-1]
                elif mode == "LINEAR":
                    before = [(k, v) for k, v in known if k < t]
                    after = [(k, v) for k, v in known if k > t]
                    if before and after:
                        (t0, v0), (t1, v1) = before[-1], after[0]
                        out[t] = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
                elif isinstance(value, TS):
                    if t in value.points:
                        out[t] = value.points[t]
                else:
                    out[t] = float(value)
            return TS(out, ts.label, ts.period)
        return _series_fn(target, fill, "FILL")

    def _sort(self, args):
        if len(args) not in (3, 4):
            raise ExprError("SORT takes an array, a function (AVG, MIN, MAX, SUM), ASC or DESC, and optionally "
                            "a limit")
        arr = self.eval(args[0])
        arr = arr if isinstance(arr, list) else [arr]
        fn = args[1][1].upper() if args[1][0] in ("id", "call") else ""
        if args[1][0] == "call":
            fn = args[1][1]
        order = args[2][1].upper() if args[2][0] == "id" else ""
        if fn not in ("AVG", "MIN", "MAX", "SUM") or order not in ("ASC", "DESC"):
            raise ExprError("SORT takes an array, a function (AVG, MIN, MAX, SUM), ASC or DESC, and optionally "
                            "a limit")

        def key(ts):
            v = _reduce(list(ts.points.values()), fn)
            return -math.inf if v is None else v
        out = sorted(arr, key=key, reverse=order == "DESC")
        if len(args) == 4:
            out = out[:int(self.eval(args[3]))]
        return out


def _time_part(name: str, t: int) -> float:
    if name == "EPOCH":
        return float(t)
    d = datetime.fromtimestamp(t, timezone.utc)
    return float({"MINUTE": d.minute, "HOUR": d.hour, "DAY": d.isoweekday(), "DATE": d.day,
                  "MONTH": d.month, "YEAR": d.year}[name])
