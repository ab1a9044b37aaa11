"""The ``sns-filter`` exchange matcher: subscriptions' filter policies, indexed.

Binding keys are ``None`` (no filter policy: every message) or
``(scope, policy text)``. Each distinct policy is compiled once
(`filterpolicy.branches`); each of its branches is filed under one *anchor*
path whose conditions are all indexable (exact values, equals-ignore-case,
prefixes, suffixes, ``exists: true``). A message then looks up only the
branches whose anchor its own values hit, plus the few branches with no
indexable path (ranges, anything-but, cidr, ``exists: false`` only), so the
cost of a publish follows the message and the matches, not the number of
filtered subscriptions on the topic.

``match(routing_key, headers, message)`` takes a `MessageView`.
"""

from __future__ import annotations

import json
from typing import Any, Hashable, Iterable

from broker.core.matchers import register_matcher
from services.sns import filterpolicy
from services.sns.filterpolicy import PathTest, _tagged


class MessageView:
    """A published message as filter policies see it (values flattened lazily)."""

    __slots__ = ("_attrs", "_raw_attrs", "_body", "_raw_body")

    def __init__(self, attributes: dict | None, body: str | None):
        self._raw_attrs = attributes or {}
        self._raw_body = body
        self._attrs: dict | None = None
        self._body: dict | bool | None = None

    def attributes(self) -> dict[str, list]:
        """name -> values; String.Array contributes its elements, Binary no value."""
        if self._attrs is None:
            out: dict[str, list] = {}
            for name, (dtype, value) in self._raw_attrs.items():
                base = dtype.split(".", 1)[0]
                if base == "Number":
                    try:
                        out[name] = [float(value)]
                    except (TypeError, ValueError):
                        out[name] = []
                elif base == "String":
                    if dtype == "String.Array":
                        out[name] = _array_values(value)
                    else:
                        out[name] = [value]
                else:
                    out[name] = []
            self._attrs = out
        return self._attrs

    def body(self) -> dict[str, list] | None:
        """flattened path -> values, or None when the body is not a JSON object."""
        if self._body is None:
            try:
                doc = json.loads(self._raw_body) if self._raw_body else None
            except (ValueError, RecursionError):
                doc = None
            if isinstance(doc, dict):
                flat: dict[str, list] = {}
                _flatten(doc, "", flat)
                self._body = flat
            else:
                self._body = False
        return None if self._body is False else self._body


def _norm(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def _array_values(text) -> list:
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        return []
    if not isinstance(doc, list):
        return []
    return [_norm(v) for v in doc if not isinstance(v, (list, dict))]


def _flatten(obj, path: str, out: dict) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(obj, list):
        for v in obj:
            _flatten(v, path, out)
    else:
        out.setdefault(path, []).append(_norm(obj))


class _Policy:
    __slots__ = ("scope", "branches", "dests")

    def __init__(self, scope: str, branches: list):
        self.scope = scope
        self.branches = branches          # list of _Branch
        self.dests: dict[Hashable, None] = {}


class _Branch:
    __slots__ = ("policy", "tests", "anchor")

    def __init__(self, policy: _Policy, tests: tuple[PathTest, ...]):
        self.policy = policy
        self.tests = tests
        anchors = [t for t in tests if t.indexable]
        # the anchor with the fewest index entries narrows candidates best
        self.anchor = min(anchors, key=lambda t: len(t.index_keys)) if anchors else None

    def ok(self, values_of) -> bool:
        for t in self.tests:
            if not t.ok(values_of(t.path)):
                return False
        return True


class _PathIndex:
    __slots__ = ("eq", "ic", "pre", "suf", "exists", "pre_lens", "suf_lens")

    def __init__(self):
        self.eq: dict[Any, set] = {}
        self.ic: dict[str, set] = {}
        self.pre: dict[str, set] = {}
        self.suf: dict[str, set] = {}
        self.exists: set = set()
        self.pre_lens: dict[int, int] = {}     # prefix length -> how many prefixes have it
        self.suf_lens: dict[int, int] = {}

    def empty(self) -> bool:
        return not (self.eq or self.ic or self.pre or self.suf or self.exists)

    def candidates(self, values: list, out: set) -> None:
        if self.exists:
            out.update(self.exists)
        for v in values:
            if self.eq:
                hit = self.eq.get(_tagged(v))
                if hit:
                    out.update(hit)
            if not isinstance(v, str):
                continue
            if self.ic:
                hit = self.ic.get(v.lower())
                if hit:
                    out.update(hit)
            n = len(v)
            for ln in self.pre_lens:
                if ln <= n:
                    hit = self.pre.get(v[:ln])
                    if hit:
                        out.update(hit)
            for ln in self.suf_lens:
                if ln <= n:
                    hit = self.suf.get(v[n - ln:])
                    if hit:
                        out.update(hit)


class _ScopeIndex:
    """Branches of one filter scope, filed by anchor path."""

    __slots__ = ("paths", "scan", "size")

    def __init__(self):
        self.paths: dict[str, _PathIndex] = {}
        self.scan: set = set()
        self.size = 0

    def add(self, b: _Branch) -> None:
        self.size += 1
        if b.anchor is None:
            self.scan.add(b)
            return
        pi = self.paths.get(b.anchor.path)
        if pi is None:
            pi = self.paths[b.anchor.path] = _PathIndex()
        for kind, key in b.anchor.index_keys:
            if kind == "exists":
                pi.exists.add(b)
                continue
            table = getattr(pi, kind)
            bucket = table.get(key)
            if bucket is None:
                bucket = table[key] = set()
                if kind in ("pre", "suf"):
                    lens = pi.pre_lens if kind == "pre" else pi.suf_lens
                    lens[len(key)] = lens.get(len(key), 0) + 1
            bucket.add(b)

    def remove(self, b: _Branch) -> None:
        self.size -= 1
        if b.anchor is None:
            self.scan.discard(b)
            return
        path = b.anchor.path
        pi = self.paths[path]
        for kind, key in b.anchor.index_keys:
            if kind == "exists":
                pi.exists.discard(b)
                continue
            table = getattr(pi, kind)
            bucket = table.get(key)
            if bucket is None:
                continue
            bucket.discard(b)
            if not bucket:
                del table[key]
                if kind in ("pre", "suf"):
                    lens = pi.pre_lens if kind == "pre" else pi.suf_lens
                    left = lens[len(key)] - 1
                    if left:
                        lens[len(key)] = left
                    else:
                        del lens[len(key)]
        if pi.empty():
            del self.paths[path]

    def match(self, values: dict[str, list], out: dict) -> None:
        cands: set = set(self.scan)
        paths = self.paths
        if len(values) <= len(paths):
            for path, vals in values.items():
                pi = paths.get(path)
                if pi is not None:
                    pi.candidates(vals, cands)
        else:
            for path, pi in paths.items():
                vals = values.get(path)
                if vals is not None:
                    pi.candidates(vals, cands)
        if not cands:
            return
        get = values.get
        done: set = set()
        for b in cands:
            p = b.policy
            if p in done:
                continue
            if b.ok(get):
                done.add(p)
                out.update(p.dests)


class SnsFilterMatcher:
    """core Matcher: key None (no policy) or (scope, policy text)."""

    kind = "sns-filter"
    __slots__ = ("_always", "_policies", "_attrs", "_body", "_n")

    def __init__(self) -> None:
        self._always: dict[Hashable, None] = {}
        self._policies: dict[tuple[str, str], _Policy] = {}
        self._attrs = _ScopeIndex()
        self._body = _ScopeIndex()
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def canon(self, key: Any) -> Hashable:
        return None if key is None else (key[0], key[1])

    def add(self, key: Any, dest: Hashable) -> bool:
        self._n += 1
        if key is None:
            self._always[dest] = None
            return True
        ck = self.canon(key)
        p = self._policies.get(ck)
        if p is None:
            scope, text = ck
            doc = json.loads(text)
            p = self._policies[ck] = _Policy(scope, [])
            index = self._body if scope == "MessageBody" else self._attrs
            for tests in filterpolicy.branches(doc):
                b = _Branch(p, tests)
                p.branches.append(b)
                index.add(b)
        p.dests[dest] = None
        return True

    def remove(self, key: Any, dest: Hashable) -> bool:
        if key is None:
            if self._always.pop(dest, 0) is None:
                self._n -= 1
                return True
            return False
        ck = self.canon(key)
        p = self._policies.get(ck)
        if p is None or dest not in p.dests:
            return False
        del p.dests[dest]
        self._n -= 1
        if not p.dests:
            index = self._body if p.scope == "MessageBody" else self._attrs
            for b in p.branches:
                index.remove(b)
            del self._policies[ck]
        return True

    def match(self, routing_key: str = "", headers: Any = None,
              message: MessageView | None = None) -> Iterable[Hashable]:
        out: dict[Hashable, None] = dict(self._always)
        if message is None:
            return out
        if self._attrs.size:
            self._attrs.match(message.attributes(), out)
        if self._body.size:
            body = message.body()
            if body is not None:
                self._body.match(body, out)
        return out

    def filtered(self) -> int:
        """Bindings that carry a filter policy."""
        return self._n - len(self._always)


register_matcher("sns-filter", SnsFilterMatcher)
