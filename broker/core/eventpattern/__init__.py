"""The event-pattern language: JSON patterns matched against JSON documents.

The language EventBridge rules, archives, Pipes and Lambda filter criteria
use (and SNS filter policies resemble): a pattern object mirrors the
document's structure and ends in lists of accepted values: exact values
(numbers compared as numbers), ``prefix``/``suffix`` (plain or
``equals-ignore-case``), ``equals-ignore-case``, ``wildcard`` (with ``\\*``
and ``\\\\`` escapes), ``anything-but`` (a value, a list, or a prefix/suffix/
wildcard/equals-ignore-case set), ``numeric`` ranges, ``exists``, ``cidr``
(IPv4 and IPv6) and ``$or``. Errors carry Event Ruler's messages
(`InvalidPattern.reason`).

    p = EventPattern('{"source": ["orders"], "detail": {"total": [{"numeric": [">", 100]}]}}')
    p.matches({"source": "orders", "detail": {"total": 150}})      # True

`EventPatternMatcher` indexes many patterns for one exchange (kind
``"event-pattern"``): each branch of each pattern is filed under one of its
exact (or case-insensitive, or prefix) values, so matching a document costs
lookups for its own fields plus the few candidates they name, not a scan of
every pattern.
"""

from __future__ import annotations

import json
from typing import Any, Hashable, Iterable

from ..matchers import register_matcher
from ._compile import compile_branches
from ._event import FieldTest, Flat, branch_matches, flatten, prefixes
from ._values import Exact, Prefix, leaf_key
from .errors import InvalidPattern

__all__ = ["EventPattern", "EventPatternMatcher", "InvalidPattern", "compile_branches", "flatten",
           "validate", "KIND"]

KIND = "event-pattern"


def _fields(branch: dict) -> tuple[FieldTest, ...]:
    return tuple(FieldTest(path, values) for path, values in branch.items())


def _as_doc(message: Any) -> dict:
    if isinstance(message, (str, bytes, bytearray)):
        message = json.loads(message)
    return message if isinstance(message, dict) else {}


def validate(text: str) -> None:
    """Raise InvalidPattern if `text` is not a valid pattern."""
    compile_branches(text)


class EventPattern:
    """One compiled pattern."""
    __slots__ = ("text", "branches", "wanted")

    def __init__(self, text: str | dict):
        self.text = text if isinstance(text, str) else json.dumps(text)
        self.branches = [_fields(b) for b in compile_branches(self.text)]
        self.wanted = prefixes(f.path for b in self.branches for f in b)

    def matches(self, doc: Any) -> bool:
        return self.matches_flat(flatten(_as_doc(doc), self.wanted))

    def matches_flat(self, flat: Flat) -> bool:
        return any(branch_matches(b, flat) for b in self.branches)


class _Pattern:
    __slots__ = ("text", "branches", "dests")

    def __init__(self, text: str):
        self.text = text
        self.dests: dict[Hashable, None] = {}
        self.branches = [_Branch(self, _fields(b)) for b in compile_branches(text)]


class _Branch:
    __slots__ = ("pattern", "fields", "anchor")

    def __init__(self, pattern: _Pattern, fields):
        self.pattern = pattern
        self.fields = fields
        self.anchor: tuple | None = None   # (table, path, keys)


class EventPatternMatcher:
    """Binding matcher over event patterns (see the module docstring)."""

    kind = KIND

    def __init__(self) -> None:
        self._patterns: dict[str, _Pattern] = {}
        self._exact: dict[str, dict[Any, set[_Branch]]] = {}     # path -> leaf key -> branches
        self._lower: dict[str, dict[str, set[_Branch]]] = {}     # path -> lower-cased value -> branches
        self._prefix: dict[str, dict[str, set[_Branch]]] = {}    # path -> prefix -> branches
        self._scan: set[_Branch] = set()                         # branches with no indexable field
        self._path_use: dict[str, int] = {}                      # path -> branches testing it
        self._wanted: frozenset | None = frozenset()             # prefixes of those paths (None: stale)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def canon(self, key: Any) -> Hashable:
        return key if isinstance(key, str) else json.dumps(key, sort_keys=True, separators=(",", ":"))

    # -- bindings ---------------------------------------------------------------------
    def add(self, key: Any, dest: Hashable) -> bool:
        text = self.canon(key)
        p = self._patterns.get(text)
        if p is None:
            p = _Pattern(text)          # raises InvalidPattern before anything is filed
            self._patterns[text] = p
            for b in p.branches:
                self._file(b)
        elif dest in p.dests:
            return False
        p.dests[dest] = None
        self._n += 1
        return True

    def remove(self, key: Any, dest: Hashable) -> bool:
        text = self.canon(key)
        p = self._patterns.get(text)
        if p is None or dest not in p.dests:
            return False
        del p.dests[dest]
        self._n -= 1
        if not p.dests:
            del self._patterns[text]
            for b in p.branches:
                self._unfile(b)
        return True

    def _file(self, b: _Branch) -> None:
        for f in b.fields:
            n = self._path_use.get(f.path, 0)
            if n == 0:
                self._wanted = None
            self._path_use[f.path] = n + 1
        best = None
        for f in b.fields:
            if f.absent_ok or not f.values:
                continue
            vals = f.values
            if all(isinstance(v, Exact) for v in vals):
                table, keys = self._exact, tuple(v.key for v in vals)
                rank = 0
            elif all(v.lower is not None for v in vals):
                table, keys = self._lower, tuple(v.lower for v in vals)
                rank = 1
            elif all(isinstance(v, Prefix) and not v.ci for v in vals):
                table, keys = self._prefix, tuple(v.s for v in vals)
                rank = 2
            else:
                continue
            postings = table.get(f.path, {})
            load = sum(len(postings.get(k, ())) for k in keys)
            score = (rank, load, len(keys), self._path_use.get(f.path, 0))
            if best is None or score < best[0]:
                best = (score, table, f.path, keys)
        if best is None:
            self._scan.add(b)
            return
        _, table, path, keys = best
        postings = table.setdefault(path, {})
        for k in keys:
            postings.setdefault(k, set()).add(b)
        b.anchor = (table, path, keys)

    def _unfile(self, b: _Branch) -> None:
        for f in b.fields:
            n = self._path_use.get(f.path, 0) - 1
            if n > 0:
                self._path_use[f.path] = n
            else:
                self._path_use.pop(f.path, None)
                self._wanted = None
        if b.anchor is None:
            self._scan.discard(b)
            return
        table, path, keys = b.anchor
        postings = table.get(path, {})
        for k in keys:
            s = postings.get(k)
            if s is not None:
                s.discard(b)
                if not s:
                    del postings[k]
        if not postings:
            table.pop(path, None)

    # -- matching -----------------------------------------------------------------------
    def _groups(self, flat: Flat) -> list:
        """Sets of branches worth evaluating for a document: the ones filed under its
        values (exact, lower-cased, or any prefix of a string), and the unindexed."""
        groups = [self._scan] if self._scan else []
        exact, lower, prefix = self._exact, self._lower, self._prefix
        for path, leaves in flat.items():
            t = exact.get(path)
            if t is not None:
                for leaf, _m in leaves:
                    s = t.get(leaf_key(leaf))
                    if s:
                        groups.append(s)
            t = lower.get(path)
            if t is not None:
                for leaf, _m in leaves:
                    if isinstance(leaf, str):
                        s = t.get(leaf.lower())
                        if s:
                            groups.append(s)
            t = prefix.get(path)
            if t is not None:
                for leaf, _m in leaves:
                    if isinstance(leaf, str):
                        for i in range(len(leaf) + 1):
                            s = t.get(leaf[:i])
                            if s:
                                groups.append(s)
        return groups

    def candidates(self, flat: Flat) -> set:
        out: set = set()
        for g in self._groups(flat):
            out |= g
        return out

    def match_flat(self, flat: Flat) -> dict[Hashable, None]:
        out: dict[Hashable, None] = {}
        done: set[int] = set()
        for group in self._groups(flat):
            for b in group:
                p = b.pattern
                if id(p) not in done and branch_matches(b.fields, flat):
                    done.add(id(p))
                    out.update(p.dests)
        return out

    def wanted(self) -> frozenset:
        """Paths any pattern tests, and their prefixes: all a document needs flattened."""
        w = self._wanted
        if w is None:
            w = self._wanted = prefixes(self._path_use)
        return w

    def flatten(self, doc: dict) -> Flat:
        return flatten(doc, self.wanted())

    def match(self, routing_key: str = "", headers: Any = None, message: Any = None) -> Iterable[Hashable]:
        return self.match_flat(self.flatten(_as_doc(message)))

    def scan_size(self) -> int:
        """Branches with no indexable field (evaluated for every document)."""
        return len(self._scan)


register_matcher(KIND, EventPatternMatcher)
