"""Exchanges: bindings from a matcher to destinations, and routing through
exchange-to-exchange bindings.

A destination is a small hashable tuple: ``("queue", qid)``,
``("exchange", name)`` or ``("sink", sink_id)`` (any other tag is treated
as a final destination too). ``ExchangeTable.route`` follows
``("exchange", name)`` destinations with a visited set, so cycles end, and
returns the deduplicated set of final destinations.

Bindings export as plain data (lists of tuples) for the store and for the
read copies held by gateways: ``Exchange.bindings()`` ->
``[(key, dest), ...]``; ``ExchangeTable.export()`` ->
``[(name, kind, [(key, dest), ...]), ...]``. msgpack turns tuples into
lists; ``load`` accepts either.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Mapping

from .matchers import make_matcher

__all__ = ["Exchange", "ExchangeTable", "EXCHANGE", "QUEUE", "SINK"]

QUEUE = "queue"
EXCHANGE = "exchange"
SINK = "sink"


def _dest(d: Any) -> Hashable:
    return tuple(d) if isinstance(d, list) else d


class Exchange:
    __slots__ = ("name", "kind", "matcher", "_bindings", "_by_dest", "props")

    def __init__(self, name: str, kind: str = "direct", matcher: Any = None, props: dict | None = None) -> None:
        self.name = name
        self.kind = kind
        self.props = props or {}   # the front-end's declaration (flags, alternate exchange...)
        self.matcher = matcher if matcher is not None else make_matcher(kind)
        self._bindings: dict[tuple[Hashable, Hashable], Any] = {}  # (canon key, dest) -> key
        self._by_dest: dict[Hashable, set[Hashable]] = {}          # dest -> canon keys

    def __len__(self) -> int:
        return len(self._bindings)

    def bind(self, key: Any, dest: Hashable) -> bool:
        """Add a binding; False if it already exists (idempotent, like queue.bind)."""
        dest = _dest(dest)
        c = self.matcher.canon(key)
        if (c, dest) in self._bindings:
            return False
        self.matcher.add(key, dest)
        self._bindings[(c, dest)] = key
        self._by_dest.setdefault(dest, set()).add(c)
        return True

    def unbind(self, key: Any, dest: Hashable) -> bool:
        dest = _dest(dest)
        c = self.matcher.canon(key)
        k = self._bindings.pop((c, dest), _MISSING)
        if k is _MISSING:
            return False
        self.matcher.remove(k, dest)
        cs = self._by_dest[dest]
        cs.discard(c)
        if not cs:
            del self._by_dest[dest]
        return True

    def unbind_dest(self, dest: Hashable) -> int:
        """Remove every binding to ``dest`` (its queue or exchange was deleted)."""
        dest = _dest(dest)
        cs = self._by_dest.pop(dest, None)
        if not cs:
            return 0
        for c in cs:
            k = self._bindings.pop((c, dest))
            self.matcher.remove(k, dest)
        return len(cs)

    def has_dest(self, dest: Hashable) -> bool:
        return _dest(dest) in self._by_dest

    def match(self, routing_key: str = "", headers: Mapping[str, Any] | None = None,
              message: Any = None) -> Iterable[Hashable]:
        """Direct matches of this exchange only (exchange destinations not followed)."""
        return self.matcher.match(routing_key, headers, message)

    def bindings(self) -> list[tuple[Any, Hashable]]:
        return [(k, d) for (_, d), k in self._bindings.items()]

    def load_bindings(self, data: Iterable[tuple[Any, Any] | list]) -> None:
        for key, dest in data:
            self.bind(key, dest)

    def __repr__(self) -> str:
        return f"Exchange({self.name!r}, {self.kind!r}, bindings={len(self._bindings)})"


_MISSING = object()


class ExchangeTable:
    """Exchanges of one namespace, looked up by name; routes across e2e bindings."""

    __slots__ = ("_ex", "_factory")

    def __init__(self, matcher_factory: Callable[[str], Any] | None = None) -> None:
        self._ex: dict[str, Exchange] = {}
        self._factory = matcher_factory or make_matcher

    def __contains__(self, name: str) -> bool:
        return name in self._ex

    def __len__(self) -> int:
        return len(self._ex)

    def get(self, name: str) -> Exchange | None:
        return self._ex.get(name)

    def names(self) -> list[str]:
        return list(self._ex)

    def declare(self, name: str, kind: str, matcher: Any = None, props: dict | None = None) -> Exchange:
        """Create, or return the existing exchange of the same kind (ValueError otherwise)."""
        ex = self._ex.get(name)
        if ex is not None:
            if ex.kind != kind:
                raise ValueError(f"exchange {name!r} exists with kind {ex.kind!r}")
            return ex
        ex = self._ex[name] = Exchange(name, kind, matcher if matcher is not None else self._factory(kind),
                                       props)
        return ex

    def delete(self, name: str, *, unbind_sources: bool = True) -> Exchange | None:
        """Delete; also drop bindings other exchanges hold to it (O(exchanges), admin path)."""
        ex = self._ex.pop(name, None)
        if ex is not None and unbind_sources:
            d = (EXCHANGE, name)
            for other in self._ex.values():
                other.unbind_dest(d)
        return ex

    def route(self, name: str, routing_key: str = "", headers: Mapping[str, Any] | None = None,
              message: Any = None) -> set[Hashable]:
        """Final destinations (queues, sinks) for a message published to ``name``."""
        ex = self._ex.get(name)
        if ex is None:
            return set()
        out: set[Hashable] = set()
        visited: set[str] | None = None
        stack: list[Exchange] | None = None
        while True:
            for d in ex.matcher.match(routing_key, headers, message):
                if d[0] == EXCHANGE:
                    if visited is None:
                        visited = {name}
                        stack = []
                    n = d[1]
                    if n not in visited:
                        visited.add(n)
                        nxt = self._ex.get(n)
                        if nxt is not None:
                            stack.append(nxt)
                else:
                    out.add(d)
            if not stack:
                return out
            ex = stack.pop()

    def export(self) -> list[tuple[str, str, list[tuple[Any, Hashable]]]]:
        return [(ex.name, ex.kind, ex.bindings()) for ex in self._ex.values()]

    def load(self, data: Iterable[tuple[str, str, Iterable[Any]] | list]) -> None:
        """Import ``export()`` output (exchanges first, so e2e bindings resolve lazily)."""
        for name, kind, bindings in data:
            self.declare(name, kind).load_bindings(bindings)
