"""Pattern text -> branches, with Event Ruler's grammar and error messages.

A pattern compiles to a list of *branches* (one per way through its ``$or``
alternatives); a branch maps a dotted field path to the list of value
matchers any one of which the field must satisfy. Paths join nested keys
with ``.``, so ``{"a": {"b": [1]}}`` and ``{"a.b": [1]}`` are the same field,
and a later duplicate of a path replaces the earlier one (JSON's last key
wins, as in EventBridge).

The walk follows the token stream the way Event Ruler's compiler does, so
every error is raised at the same parser position and worded the same.
"""

from __future__ import annotations

from . import _jsonlex as J
from ._values import (
    AnythingBut, AnythingButString, EqualsIgnoreCase, Exact, Exists, Numeric, Prefix, Suffix, Value,
    Wildcard, check_wildcard, cidr, wildcard_complexity,
)
from .errors import InvalidPattern

OR = "$or"
# Operator names a field inside an $or branch may not take (they would read as a match expression).
RESERVED_IN_OR = frozenset({"exactly", "prefix", "suffix", "anything-but", "numeric", "exists", "cidr",
                            "equals-ignore-case", "wildcard"})
WILDCARD_COMPLEXITY_LIMIT = 10
TOO_COMPLEX = ("Rule is too complex - try using fewer wildcard characters or fewer repeating character "
               "sequences after a wildcard character")

Branch = dict[str, list[Value]]


def compile_branches(text: str, *, extensions: bool = True) -> list[Branch]:
    """Compile pattern text; raises InvalidPattern with AWS's reason text.

    ``extensions=False`` is the earlier Ruler grammar (the one SNS filter
    policies are still checked with): no ``wildcard``, no ``equals-ignore-case``
    inside ``prefix``/``suffix``, and only ``prefix`` inside ``anything-but``."""
    try:
        rules = _Compiler(text, extensions).run()
    except J.JsonSyntaxError as exc:
        raise InvalidPattern(str(exc)) from None
    _check_complexity(rules)
    return rules


class _Compiler:
    __slots__ = ("lx", "ext")

    def __init__(self, text: str, extensions: bool = True):
        self.lx = J.Lexer(text)
        self.ext = extensions

    def barf(self, message: str, twice: bool = False):
        loc = self.lx.location()
        raise InvalidPattern(message + loc + (loc if twice else ""))

    def run(self) -> list[Branch]:
        if self.lx.next() != J.START_OBJECT:
            self.barf("Filter is not an object")
        rules: list[Branch] = []
        self.parse_object(rules, [], False)
        return rules

    def parse_object(self, rules: list[Branch], path: list[str], in_or: bool) -> None:
        lx = self.lx
        present = False
        while lx.next() != J.END_OBJECT:
            present = True
            name = lx.name()
            if name == OR:
                self.parse_or(rules, path)
                continue
            if in_or and name in RESERVED_IN_OR:
                self.barf(f"{name} is Ruler reserved fieldName which cannot be used inside {OR}.")
            tok = lx.next()
            if tok == J.START_OBJECT:
                path.append(name)
                self.parse_object(rules, path, in_or)
                path.pop()
            elif tok == J.START_ARRAY:
                self.write_values(rules, ".".join(path + [name]))
            else:
                self.barf(f'"{name}" must be an object or an array')
        if not present:
            self.barf("Empty objects are not allowed")

    def parse_or(self, rules: list[Branch], path: list[str]) -> None:
        lx = self.lx
        current = [dict(r) for r in rules]
        rules.clear()
        if lx.next() != J.START_ARRAY:
            self.barf(f"It must be an Array followed with {OR}.")
        count = 0
        while (tok := lx.next()) != J.END_ARRAY:
            count += 1
            if tok != J.START_OBJECT:
                self.barf(f"Only JSON object is allowed in array of {OR} relationship.")
            branch = [dict(r) for r in current] or [{}]
            self.parse_object(branch, path, True)
            rules.extend(branch)
        if count < 2:
            self.barf(f"There must have at least 2 Objects in {OR} relationship.")

    def write_values(self, rules: list[Branch], name: str) -> None:
        lx = self.lx
        values: list[Value] = []
        while (tok := lx.next()) != J.END_ARRAY:
            if tok == J.START_OBJECT:
                values.append(self.match_expression())
            elif tok == J.STRING:
                values.append(Exact(lx.text()))
            elif tok == J.NUMBER_INT:
                values.append(Exact(int(lx.text())))
            elif tok == J.NUMBER_FLOAT:
                values.append(Exact(lx.number()))
            elif tok in (J.TRUE, J.FALSE, J.NULL):
                values.append(Exact({J.TRUE: True, J.FALSE: False, J.NULL: None}[tok]))
            else:
                self.barf("Match value must be String, number, true, false, or null")
        if not values:
            self.barf("Empty arrays are not allowed")
        if not rules:
            rules.append({})
        for r in rules:
            r[name] = values

    # -- match expressions ---------------------------------------------------------
    def _end(self) -> None:
        if self.lx.next() != J.END_OBJECT:
            self.barf("Only one key allowed in match expression")

    def _string(self, message: str) -> str:
        if self.lx.next() != J.STRING:
            self.barf(message)
        return self.lx.text()

    def match_expression(self) -> Value:
        lx = self.lx
        if lx.next() != J.FIELD_NAME:
            self.barf("Match expression name not found")
        op = lx.name()
        if op == "exactly":
            v: Value = Exact(self._string("exact match pattern must be a string"))
        elif op in ("prefix", "suffix"):
            tok = lx.next()
            if tok == J.START_OBJECT and self.ext:
                return self.affix_ignore_case(op)
            if tok != J.STRING:
                self.barf(f"{op} match pattern must be a string")
            v = (Prefix if op == "prefix" else Suffix)(lx.text())
        elif op == "numeric":
            if lx.next() != J.START_ARRAY:
                self.barf("Value of numeric must be an array.")
            v = self.numeric()
            if lx.next() != J.END_OBJECT:
                self.barf("Too many elements in numeric expression")
            return v
        elif op == "anything-but":
            return self.anything_but()
        elif op == "exists":
            tok = lx.next()
            if tok not in (J.TRUE, J.FALSE):
                self.barf("exists match pattern must be either true or false.")
            v = Exists(tok == J.TRUE)
        elif op == "cidr":
            text = self._string("prefix match pattern must be a string")
            v = cidr(text)
        elif op == "equals-ignore-case":
            v = EqualsIgnoreCase(self._string("equals-ignore-case match pattern must be a string"))
        elif op == "wildcard" and self.ext:
            text = self._string("wildcard match pattern must be a string")
            self._checked_wildcard(text)
            v = Wildcard(text)
        else:
            self.barf(f"Unrecognized match type {op}")
        self._end()
        return v

    def _checked_wildcard(self, text: str) -> None:
        try:
            check_wildcard(text)
        except InvalidPattern as exc:
            self.barf(exc.reason)

    def affix_ignore_case(self, op: str) -> Value:
        lx = self.lx
        if lx.next() != J.FIELD_NAME:
            self.barf(f"{op.capitalize()} expression name not found")
        inner = lx.name()
        if inner != "equals-ignore-case":
            self.barf(f"Unsupported {op} pattern: {inner}")
        text = self._string("equals-ignore-case match pattern must be a string")
        self._end()
        self._end()
        return (Prefix if op == "prefix" else Suffix)(text, ignore_case=True)

    def numeric(self) -> Numeric:
        lx = self.lx
        if lx.next() != J.STRING:
            self.barf(f"Invalid member in numeric match: {lx.text()}")
        op = lx.text()
        tok = lx.next()
        if op not in ("=", ">=", ">", "<=", "<"):
            self.barf(f"Unrecognized numeric range operator: {op}")
        if tok not in J.NUMERIC:
            self.barf(f"Value of {'equals' if op == '=' else op} must be numeric")
        val = lx.number()
        if op == "=":
            if lx.next() != J.END_ARRAY:
                self.barf("Too many elements in numeric expression")
            return Numeric(val, False, val, False)
        if op in ("<=", "<"):
            if lx.next() != J.END_ARRAY:
                self.barf("Too many elements in numeric expression")
            return Numeric(None, False, val, op == "<")
        tok = lx.next()
        if tok == J.END_ARRAY:
            return Numeric(val, op == ">", None, False)
        if tok != J.STRING:
            self.barf(f"Bad value in numeric range: {lx.text()}")
        top_op = lx.text()
        if top_op not in ("<", "<="):
            self.barf(f"Bad numeric range operator: {top_op}")
        if lx.next() not in J.NUMERIC:
            self.barf(f"Value of {top_op} must be numeric")
        top = lx.number()
        if lx.next() != J.END_ARRAY:
            self.barf("Too many terms in numeric range expression")
        if top <= val:
            self.barf("Bottom must be less than top")
        return Numeric(val, op == ">", top, top_op == "<")

    def anything_but(self) -> Value:
        lx = self.lx
        kind = None
        tok = lx.next()
        if tok == J.START_OBJECT:
            if lx.next() != J.FIELD_NAME:
                self.barf("Anything-But expression name not found")
            kind = lx.name()
            if kind not in (("equals-ignore-case", "prefix", "suffix", "wildcard") if self.ext else ("prefix",)):
                self.barf(f"Unsupported anything-but pattern: {kind}")
            tok = lx.next()
            if not self.ext and tok != J.STRING:
                self.barf(f"{kind} match pattern must be a string")
        if tok not in (J.START_ARRAY, J.STRING, J.NUMBER_INT, J.NUMBER_FLOAT):
            self.barf("Value of anything-but must be an array or single string/number value.")
        if kind is None:
            v = self._anything_but_list() if tok == J.START_ARRAY else self._anything_but_one(tok)
        else:
            items = self._anything_but_set(kind) if tok == J.START_ARRAY else [self._anything_but_set_one(kind, tok)]
            if kind == "wildcard":
                for text in items:
                    self._checked_wildcard(text)
            v = AnythingButString(kind, items)
        if lx.next() != J.END_OBJECT:
            self.barf("Too many elements in numeric expression")
        if kind is not None and lx.next() != J.END_OBJECT:
            self.barf("Too many elements in numeric expression")
        return v

    def _anything_but_one(self, tok) -> Value:
        if tok == J.STRING:
            return AnythingBut(strings=[self.lx.text()])
        return AnythingBut(numbers=[self.lx.number()])

    def _anything_but_list(self) -> Value:
        # Event Ruler re-raises errors from inside this loop, so their location
        # is quoted twice (as AWS's messages show).
        lx = self.lx
        strings, numbers = [], []
        while (tok := lx.next()) != J.END_ARRAY:
            if tok == J.STRING:
                strings.append(lx.text())
            elif tok in J.NUMERIC:
                numbers.append(lx.number())
            else:
                self.barf("Inside anything but list, start|null|boolean is not supported.", twice=True)
        if bool(strings) == bool(numbers):
            self.barf("Inside anything but list, either all values are number or string, mixed type is not "
                      "supported")
        return AnythingBut(strings, numbers)

    @staticmethod
    def _wrong_type(kind: str) -> str:
        if kind == "equals-ignore-case":
            return "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
        if kind == "wildcard":
            return "wildcard match pattern must be a string"
        return "prefix/suffix match pattern must be a string"

    def _anything_but_set(self, kind: str) -> list[str]:
        lx = self.lx
        items = []
        while (tok := lx.next()) != J.END_ARRAY:
            if tok != J.STRING:
                self.barf(self._wrong_type(kind), twice=True)
            text = lx.text()
            if kind in ("prefix", "suffix") and not text:
                self.barf("Null prefix/suffix not allowed", twice=True)
            items.append(text)
        return items

    def _anything_but_set_one(self, kind: str, tok) -> str:
        if tok != J.STRING:
            self.barf(self._wrong_type(kind))
        text = self.lx.text()
        if kind in ("prefix", "suffix") and not text:
            self.barf("Null prefix/suffix not allowed")
        return text


def _check_complexity(rules: list[Branch]) -> None:
    for branch in rules:
        for values in branch.values():
            for v in values:
                if isinstance(v, Wildcard):
                    texts: tuple = (v.source,)
                elif isinstance(v, AnythingButString) and v.kind == "wildcard":
                    texts = v.items
                else:
                    continue
                for t in texts:
                    if wildcard_complexity(t, WILDCARD_COMPLEXITY_LIMIT) > WILDCARD_COMPLEXITY_LIMIT:
                        raise InvalidPattern(TOO_COMPLEX, located=False)
