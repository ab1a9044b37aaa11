"""SEARCH expressions of metric math: which series a search string selects.

    {AWS/SQS,QueueName} MetricName="NumberOfMessagesSent" orders
    {AWS/SQS} (NumberOfMessagesSent OR NumberOfMessagesDeleted) NOT dlq

A schema in braces selects one namespace and an exact set of dimension
names. Terms: a bare word matches part of the namespace, metric name or a
dimension name or value (case-insensitive); a "quoted phrase" matches one of
them exactly; ``Name=value`` / ``Name="value"`` compares a property
(Namespace, MetricName, or a dimension name). Terms combine with AND
(implicit), OR, NOT and parentheses.
"""

from __future__ import annotations

import re

from services.cloudwatch.mathexpr import ExprError

MAX_RESULTS = 500

_TOK = re.compile(r"""\s*(?:
      (?P<schema>\{[^}]*\})
    | (?P<prop>[A-Za-z0-9_.:/\-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^\s()"]+))
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<paren>[()])
    | (?P<word>[^\s()"{}=]+)
    )""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOK.match(text, pos)
        if m is None or m.end() == pos:
            raise ExprError(f"Invalid SEARCH expression near {text[pos:pos + 20]!r}")
        out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    s = s.strip()
    return s[1:-1].replace('\\"', '"') if len(s) >= 2 and s[0] == s[-1] == '"' else s


def _schema(text: str) -> tuple[str, frozenset]:
    parts = [_unquote(p) for p in split_commas(text[1:-1])]
    if not parts or not parts[0]:
        raise ExprError("A SEARCH schema names a namespace first: {Namespace,DimensionName,...}")
    return parts[0], frozenset(p for p in parts[1:] if p)


def split_commas(s: str) -> list[str]:
    """Split on commas outside double quotes."""
    out, cur, q = [], "", False
    for ch in s:
        if ch == '"':
            q = not q
        if ch == "," and not q:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


class Search:
    def __init__(self, text: str):
        toks = _tokens(text)
        self.schemas = [_schema(v) for k, v in toks if k == "schema"]
        rest = [(k, v) for k, v in toks if k != "schema"]
        self.i, self.toks = 0, rest
        self.tree = self._or() if rest else ("true",)
        if self.i != len(rest):
            raise ExprError(f"Invalid SEARCH expression near {rest[self.i][1]!r}")

    # boolean grammar: or := and (OR and)*; and := unary (AND? unary)*; unary := NOT unary | atom
    def _peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def _or(self):
        node = self._and()
        while self._peek()[0] == "word" and self._peek()[1] == "OR":
            self.i += 1
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._unary()
        while True:
            k, v = self._peek()
            if k is None or v == ")" or (k == "word" and v == "OR"):
                return node
            if k == "word" and v == "AND":
                self.i += 1
            node = ("and", node, self._unary())

    def _unary(self):
        k, v = self._peek()
        if k == "word" and v == "NOT":
            self.i += 1
            return ("not", self._unary())
        self.i += 1
        if k == "paren" and v == "(":
            node = self._or()
            if self._peek()[1] != ")":
                raise ExprError("Unbalanced parentheses in SEARCH expression")
            self.i += 1
            return node
        if k == "prop":
            name, _, value = v.partition("=")
            return ("prop", name.strip(), _unquote(value))
        if k == "quoted":
            return ("exact", _unquote(v))
        if k == "word":
            return ("partial", v.lower())
        raise ExprError(f"Invalid SEARCH expression near {v!r}")

    # -- matching -----------------------------------------------------------------------
    def matches(self, s) -> bool:
        if self.schemas:
            names = frozenset(n for n, _ in s.dims)
            if not any(ns == s.ns and dn == names for ns, dn in self.schemas):
                return False
        return self._eval(self.tree, s)

    def _eval(self, node, s) -> bool:
        kind = node[0]
        if kind == "true":
            return True
        if kind == "and":
            return self._eval(node[1], s) and self._eval(node[2], s)
        if kind == "or":
            return self._eval(node[1], s) or self._eval(node[2], s)
        if kind == "not":
            return not self._eval(node[1], s)
        fields = [s.ns, s.name] + [x for d in s.dims for x in d]
        if kind == "exact":
            return node[1] in fields
        if kind == "partial":
            return any(node[1] in f.lower() for f in fields)
        name, value = node[1], node[2]
        if name == "Namespace":
            return s.ns == value
        if name == "MetricName":
            return s.name == value
        return any(n == name and v == value for n, v in s.dims)


def label_for(s, results) -> str:
    """AWS labels SEARCH results by what tells them apart: dimension values, and the metric
    name when the results mix metrics."""
    parts = [v for _, v in s.dims]
    if len({r.name for r in results}) > 1 or not parts:
        parts.append(s.name)
    return " ".join(parts)
