"""Pluggable binding matchers for exchanges.

A matcher holds ``(binding key, destination)`` pairs and answers
``match(routing_key, headers, message)`` with the destinations to route to.
The binding key is plain data whose meaning belongs to the matcher: a string
for direct/topic, an argument table (dict) for headers, an SNS filter policy
or EventBridge pattern (JSON document) for the matchers services plug in.
``message`` is the caller's whole message context (attributes, JSON body...)
and is passed through untouched to matchers that need it.

``canon(key)`` returns a hashable canonical form of a binding key; the
exchange uses it to keep bindings unique and exportable.

Register another kind with ``register_matcher(kind, factory)``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Mapping, Protocol

from .topic import TopicTrie

__all__ = [
    "Matcher", "DirectMatcher", "FanoutMatcher", "TopicMatcher", "HeadersMatcher",
    "MATCHERS", "register_matcher", "make_matcher", "headers_match", "freeze",
]


class Matcher(Protocol):
    kind: str

    def canon(self, key: Any) -> Hashable: ...
    def add(self, key: Any, dest: Hashable) -> bool: ...
    def remove(self, key: Any, dest: Hashable) -> bool: ...
    def match(self, routing_key: str, headers: Mapping[str, Any] | None,
              message: Any) -> Iterable[Hashable]: ...
    def __len__(self) -> int: ...


class DirectMatcher:
    """Exact routing-key equality: one dict lookup."""

    __slots__ = ("_keys", "_n")
    kind = "direct"

    def __init__(self) -> None:
        self._keys: dict[str, dict[Hashable, None]] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def canon(self, key: Any) -> Hashable:
        return key

    def add(self, key: str, dest: Hashable) -> bool:
        ds = self._keys.get(key)
        if ds is None:
            ds = self._keys[key] = {}
        elif dest in ds:
            return False
        ds[dest] = None
        self._n += 1
        return True

    def remove(self, key: str, dest: Hashable) -> bool:
        ds = self._keys.get(key)
        if ds is None or dest not in ds:
            return False
        del ds[dest]
        if not ds:
            del self._keys[key]
        self._n -= 1
        return True

    def match(self, routing_key: str, headers: Any = None, message: Any = None) -> Iterable[Hashable]:
        return self._keys.get(routing_key, ())


class FanoutMatcher:
    """Every binding matches; the key is ignored (but kept, for export)."""

    __slots__ = ("_dests", "_n")
    kind = "fanout"

    def __init__(self) -> None:
        self._dests: dict[Hashable, int] = {}  # dest -> number of keys bound with
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def canon(self, key: Any) -> Hashable:
        return key

    def add(self, key: Any, dest: Hashable) -> bool:
        self._dests[dest] = self._dests.get(dest, 0) + 1
        self._n += 1
        return True  # uniqueness of (key, dest) is the exchange's job

    def remove(self, key: Any, dest: Hashable) -> bool:
        c = self._dests.get(dest)
        if c is None:
            return False
        if c == 1:
            del self._dests[dest]
        else:
            self._dests[dest] = c - 1
        self._n -= 1
        return True

    def match(self, routing_key: str = "", headers: Any = None, message: Any = None) -> Iterable[Hashable]:
        return self._dests.keys()


class TopicMatcher:
    """AMQP topic patterns on a trie (see ``topic.py``)."""

    __slots__ = ("trie",)
    kind = "topic"

    def __init__(self, *, dollar_exempt: bool = False) -> None:
        self.trie = TopicTrie(dollar_exempt=dollar_exempt)

    def __len__(self) -> int:
        return len(self.trie)

    def canon(self, key: Any) -> Hashable:
        return key

    def add(self, key: str, dest: Hashable) -> bool:
        return self.trie.add(key, dest)

    def remove(self, key: str, dest: Hashable) -> bool:
        return self.trie.remove(key, dest)

    def match(self, routing_key: str, headers: Any = None, message: Any = None) -> Iterable[Hashable]:
        return self.trie.match(routing_key)


# ------------------------------------------------------------------ headers
_X_MATCH = "x-match"
_MODES = {"all": (True, False), "any": (False, False),
          "all-with-x": (True, True), "any-with-x": (False, True)}


def _type_class(v: Any) -> int:
    # RabbitMQ compares values only within a type class (rabbit_misc:type_class):
    # booleans, integers, floats and strings are distinct classes.
    if isinstance(v, bool):
        return 1
    if isinstance(v, int):
        return 2
    if isinstance(v, float):
        return 3
    if isinstance(v, (str, bytes, bytearray)):
        return 4
    return 5


def freeze(v: Any) -> Hashable:
    """Hashable canonical form of plain data (dicts sorted, lists as tuples)."""
    if isinstance(v, Mapping):
        return ("d",) + tuple(sorted((str(k), freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return ("l",) + tuple(freeze(x) for x in v)
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return (_type_class(v), v)


class _HeadersBinding:
    __slots__ = ("args", "all", "pairs", "dests")

    def __init__(self, args: Mapping[str, Any]) -> None:
        mode = args.get(_X_MATCH, "all")
        if isinstance(mode, (bytes, bytearray)):
            mode = mode.decode()
        self.all, with_x = _MODES.get(mode, (True, False))
        self.args = dict(args)
        self.pairs = tuple(
            (k, v) for k, v in args.items()
            if k != _X_MATCH and (with_x or not k.startswith("x-"))
        )
        self.dests: dict[Hashable, None] = {}


def headers_match(args: Mapping[str, Any], headers: Mapping[str, Any] | None) -> bool:
    """RabbitMQ headers-exchange rule for one binding's arguments."""
    return _hb_match(_HeadersBinding(args), headers or {})


def _hb_match(b: _HeadersBinding, headers: Mapping[str, Any]) -> bool:
    if b.all:
        for k, v in b.pairs:
            if k not in headers:
                return False
            if v is None:
                continue
            h = headers[k]
            if _type_class(h) != _type_class(v) or h != v:
                return False
        return True
    for k, v in b.pairs:
        if k in headers:
            if v is None:
                return True
            h = headers[k]
            if _type_class(h) == _type_class(v) and h == v:
                return True
    return False


class HeadersMatcher:
    """x-match all / any / all-with-x / any-with-x; a void (None) binding value
    tests presence only. Cost is linear in distinct argument tables (as in RabbitMQ)."""

    __slots__ = ("_bindings", "_n")
    kind = "headers"

    def __init__(self) -> None:
        self._bindings: dict[Hashable, _HeadersBinding] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def canon(self, key: Any) -> Hashable:
        return freeze(key or {})

    def add(self, key: Mapping[str, Any] | None, dest: Hashable) -> bool:
        c = self.canon(key)
        b = self._bindings.get(c)
        if b is None:
            b = self._bindings[c] = _HeadersBinding(key or {})
        elif dest in b.dests:
            return False
        b.dests[dest] = None
        self._n += 1
        return True

    def remove(self, key: Mapping[str, Any] | None, dest: Hashable) -> bool:
        c = self.canon(key)
        b = self._bindings.get(c)
        if b is None or dest not in b.dests:
            return False
        del b.dests[dest]
        if not b.dests:
            del self._bindings[c]
        self._n -= 1
        return True

    def match(self, routing_key: str = "", headers: Mapping[str, Any] | None = None,
              message: Any = None) -> Iterable[Hashable]:
        h = headers or {}
        out: dict[Hashable, None] = {}
        for b in self._bindings.values():
            if _hb_match(b, h):
                out.update(b.dests)
        return out


MATCHERS: dict[str, Callable[[], Any]] = {
    "direct": DirectMatcher,
    "fanout": FanoutMatcher,
    "topic": TopicMatcher,
    "headers": HeadersMatcher,
}


def register_matcher(kind: str, factory: Callable[[], Any]) -> None:
    """Plug in a matcher kind (e.g. ``"sns-filter"``, ``"event-pattern"``)."""
    MATCHERS[kind] = factory


def make_matcher(kind: str) -> Any:
    try:
        return MATCHERS[kind]()
    except KeyError:
        raise ValueError(f"unknown exchange kind {kind!r}") from None
