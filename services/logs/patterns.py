"""CloudWatch Logs filter and pattern syntax.

Three forms, as AWS documents them:

- terms: ``ERROR``, ``"Failed to connect"`` (exact phrase), ``ERROR Exception``
  (all), ``?ERROR ?WARN`` (any), ``-DEBUG`` (none), ``%regex%``; matching
  is case-sensitive;
- JSON: ``{ $.level = "error" && ($.latency > 100 || $.user.id = 7) }``
  with = != < <= > >=, ``*`` wildcards in strings, ``%regex%``, ``IS NULL``,
  ``NOT EXISTS``, ``IS TRUE``/``IS FALSE``, ``[n]`` and ``[*]`` in selectors;
- space-delimited: ``[ip, user, ..., status = 4*, bytes > 1000]`` over
  fields separated by spaces ("quoted" and [bracketed] values are one
  field), with conditions combined by && and ||.

`compile_pattern(text)` returns a `Pattern` with `match(message) -> bool`
and `extract(message) -> dict` (the named fields, for metric filters and
TestMetricFilter); a malformed pattern raises PatternError.
"""

from __future__ import annotations

import json
import math
import re

from services.cloudwatch.search import split_commas


class PatternError(ValueError):
    pass


def compile_pattern(text: str | None):
    text = (text or "").strip()
    if not text:
        return _All()
    if text.startswith("{"):
        return JsonPattern(text)
    if text.startswith("["):
        return SpacePattern(text)
    return TermPattern(text)


class _All:
    def match(self, message: str) -> bool:
        return True

    def extract(self, message: str) -> dict:
        return {}


# -- values shared by JSON and space-delimited conditions ------------------------------------
def _wild(value: str):
    """A string value with * wildcards -> compiled regex (full match)."""
    return re.compile("^" + ".*".join(re.escape(p) for p in value.split("*")) + "$", re.S)


def _value_token(tok: str):
    """('num', float) | ('str', str, regex|None) | ('re', regex)."""
    if len(tok) >= 2 and tok[0] == tok[-1] == "%":
        try:
            return ("re", re.compile(tok[1:-1]))
        except re.error as exc:
            raise PatternError(f"Invalid regular expression: {exc}") from None
    if len(tok) >= 2 and tok[0] == tok[-1] == '"':
        s = tok[1:-1].replace('\\"', '"')
        return ("str", s, _wild(s) if "*" in s else None)
    try:
        return ("num", float(tok))
    except ValueError:
        return ("str", tok, _wild(tok) if "*" in tok else None)


def _compare(actual, op: str, value) -> bool:
    if actual is None:
        return False
    if value[0] == "re":
        return op in ("=", "!=") and (bool(value[1].search(str(actual))) == (op == "="))
    if value[0] == "num":
        if isinstance(actual, bool):
            return False
        try:
            a = float(actual)
        except (TypeError, ValueError):
            return op == "!="
        if math.isnan(a):
            return False
        b = value[1]
        return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op not in ("=", "!="):
        return False
    s = actual if isinstance(actual, str) else json.dumps(actual) if not isinstance(actual, (int, float)) else \
        (str(int(actual)) if float(actual).is_integer() else str(actual))
    hit = bool(value[2].match(s)) if value[2] is not None else s == value[1]
    return hit == (op == "=")


# -- terms -------------------------------------------------------------------------------------
_TERM = re.compile(r'\s*([?-]?)("(?:[^"\\]|\\.)*"|%[^%]+%|[^\s"]+)')


class TermPattern:
    def __init__(self, text: str):
        self.all, self.any, self.none = [], [], []
        pos = 0
        while pos < len(text):
            m = _TERM.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip():
                    raise PatternError("Invalid character(s) in term")
                break
            sign, term = m.group(1), m.group(2)
            if term.startswith('"'):
                matcher = ("sub", term[1:-1].replace('\\"', '"'))
            elif len(term) > 2 and term.startswith("%") and term.endswith("%"):
                try:
                    matcher = ("re", re.compile(term[1:-1]))
                except re.error as exc:
                    raise PatternError(f"Invalid regular expression: {exc}") from None
            else:
                if not re.fullmatch(r"[\w.:/@*+=,-]+", term):
                    raise PatternError("Invalid character(s) in term")
                matcher = ("sub", term)
            {"": self.all, "?": self.any, "-": self.none}[sign].append(matcher)
            pos = m.end()

    @staticmethod
    def _hit(m, message: str) -> bool:
        return m[1] in message if m[0] == "sub" else bool(m[1].search(message))

    def match(self, message: str) -> bool:
        if not all(self._hit(m, message) for m in self.all):
            return False
        if self.any and not any(self._hit(m, message) for m in self.any):
            return False
        return not any(self._hit(m, message) for m in self.none)

    def extract(self, message: str) -> dict:
        return {}


# -- JSON --------------------------------------------------------------------------------------
_JTOK = re.compile(r'\s*(?:(?P<sel>\$(?:\.[A-Za-z0-9_@\-]+|\[(?:\d+|\*)\])*)|(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))'
                   r'|(?P<kw>IS\s+NULL|IS\s+TRUE|IS\s+FALSE|NOT\s+EXISTS|EXISTS)\b'
                   r'|(?P<val>"(?:[^"\\]|\\.)*"|%[^%]*%|[^\s()&|=<>!]+))')


def _select(doc, path: str):
    """Values a selector picks ($.a.b[0], $.list[*].x): a list (empty when absent)."""
    parts = re.findall(r"\.([A-Za-z0-9_@\-]+)|\[(\d+|\*)\]", path[1:])
    cur = [doc]
    for name, idx in parts:
        nxt = []
        for c in cur:
            if name:
                if isinstance(c, dict) and name in c:
                    nxt.append(c[name])
            elif idx == "*":
                if isinstance(c, list):
                    nxt.extend(c)
            elif isinstance(c, list) and int(idx) < len(c):
                nxt.append(c[int(idx)])
        cur = nxt
    return cur


class JsonPattern:
    def __init__(self, text: str):
        body = text.strip()
        if not body.endswith("}"):
            raise PatternError("Invalid JSON filter pattern: missing closing brace")
        toks, pos, inner = [], 0, body[1:-1]
        while pos < len(inner):
            m = _JTOK.match(inner, pos)
            if m is None or m.end() == pos:
                if inner[pos:].strip():
                    raise PatternError(f"Invalid JSON filter pattern near '{inner[pos:pos + 20].strip()}'")
                break
            kind = m.lastgroup
            toks.append((kind, re.sub(r"\s+", " ", m.group(kind))))
            pos = m.end()
        self.toks, self.i = toks, 0
        if not toks:
            raise PatternError("Invalid JSON filter pattern: empty condition")
        self.tree = self._or()
        if self.i != len(toks):
            raise PatternError("Invalid JSON filter pattern: unexpected token")

    def _peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def _or(self):
        node = self._and()
        while self._peek() == ("op", "||"):
            self.i += 1
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._atom()
        while self._peek() == ("op", "&&"):
            self.i += 1
            node = ("and", node, self._atom())
        return node

    def _atom(self):
        k, v = self._peek()
        self.i += 1
        if (k, v) == ("op", "("):
            node = self._or()
            if self._peek() != ("op", ")"):
                raise PatternError("Invalid JSON filter pattern: unbalanced parentheses")
            self.i += 1
            return node
        if k != "sel":
            raise PatternError("Invalid JSON filter pattern: expected a selector such as $.field")
        k2, op = self._peek()
        self.i += 1
        if k2 == "kw":
            return ("kw", v, op)
        if k2 != "op" or op not in ("=", "!=", "<", "<=", ">", ">="):
            raise PatternError("Invalid JSON filter pattern: expected a comparison operator")
        k3, val = self._peek()
        self.i += 1
        if k3 != "val":
            raise PatternError("Invalid JSON filter pattern: expected a value")
        value = _value_token(val)
        if value[0] == "str" and op not in ("=", "!="):
            raise PatternError("Invalid JSON filter pattern: strings compare with = or != only")
        return ("cmp", v, op, value)

    def _doc(self, message: str):
        try:
            doc = json.loads(message)
        except ValueError:
            return None
        return doc if isinstance(doc, (dict, list)) else None

    def match(self, message: str) -> bool:
        doc = self._doc(message)
        return doc is not None and self._eval(self.tree, doc)

    def _eval(self, n, doc) -> bool:
        if n[0] == "or":
            return self._eval(n[1], doc) or self._eval(n[2], doc)
        if n[0] == "and":
            return self._eval(n[1], doc) and self._eval(n[2], doc)
        vals = _select(doc, n[1])
        if n[0] == "kw":
            kw = n[2]
            if kw == "IS NULL":
                return any(v is None for v in vals)
            if kw == "NOT EXISTS":
                return not vals
            if kw == "EXISTS":
                return bool(vals)
            return any(v is (kw == "IS TRUE") for v in vals)
        _, _, op, value = n
        if op == "!=":
            return bool(vals) and all(_compare(v, "!=", value) for v in vals)
        return any(_compare(v, op, value) for v in vals)

    def extract(self, message: str) -> dict:
        doc = self._doc(message)
        if doc is None:
            return {}
        out = {}
        for _, v in self.toks:
            if v.startswith("$"):
                vals = _select(doc, v)
                if vals:
                    out[v] = vals[0]
        return out


# -- space-delimited ---------------------------------------------------------------------------
_FIELD_SPLIT = re.compile(r'"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\S+')


def split_fields(message: str) -> list[str]:
    out = []
    for tok in _FIELD_SPLIT.findall(message):
        if len(tok) >= 2 and ((tok[0] == tok[-1] == '"') or (tok[0] == "[" and tok[-1] == "]")):
            tok = tok[1:-1]
        out.append(tok)
    return out


class SpacePattern:
    def __init__(self, text: str):
        if not text.endswith("]"):
            raise PatternError("Invalid space-delimited filter pattern: missing closing bracket")
        self.fields: list = []          # [(name or None, condition or None, is_ellipsis)]
        for raw in split_commas(text[1:-1]):
            raw = raw.strip()
            if not raw:
                raise PatternError("Invalid space-delimited filter pattern: empty field")
            if raw == "...":
                self.fields.append((None, None, True))
                continue
            name = re.match(r"^[A-Za-z_][A-Za-z0-9_]*", raw)
            if name is None:
                raise PatternError(f"Invalid space-delimited filter pattern near '{raw}'")
            self.fields.append((name.group(0), self._condition(raw), False))

    @staticmethod
    def _condition(raw: str):
        alts = []
        for alt in raw.split("||"):
            conj = []
            for part in alt.split("&&"):
                part = part.strip()
                m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:(!=|<=|>=|=|<|>)\s*(.+))?$", part, re.S)
                if m is None:
                    raise PatternError(f"Invalid space-delimited filter pattern near '{part}'")
                if m.group(2):
                    conj.append((m.group(2), _value_token(m.group(3).strip())))
            if conj:
                alts.append(conj)
        return alts or None

    def _bind(self, message: str) -> dict | None:
        values = split_fields(message)
        pats = self.fields
        if not any(e for _, _, e in pats):
            if len(values) < len(pats):
                return None
            if len(values) > len(pats):
                values = values[:len(pats) - 1] + [" ".join(values[len(pats) - 1:])]
            return {n: v for (n, _, _), v in zip(pats, values)}
        # with ellipses: named fields before the first ellipsis bind from the left, after the last from the right
        first = next(i for i, (_, _, e) in enumerate(pats) if e)
        last = max(i for i, (_, _, e) in enumerate(pats) if e)
        head, tail = pats[:first], pats[last + 1:]
        if len(values) < len(head) + len(tail):
            return None
        bound = {n: v for (n, _, _), v in zip(head, values)}
        if tail:
            bound.update({n: v for (n, _, _), v in zip(tail, values[len(values) - len(tail):])})
        return bound

    def match(self, message: str) -> bool:
        bound = self._bind(message)
        if bound is None:
            return False
        for name, cond, ell in self.fields:
            if ell or cond is None:
                continue
            v = bound.get(name)
            if not any(all(_compare(v, op, val) for op, val in conj) for conj in cond):
                return False
        return True

    def extract(self, message: str) -> dict:
        return {f"${k}": v for k, v in (self._bind(message) or {}).items()}
