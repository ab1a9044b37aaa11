"""Entity records: the durable key/value face of a partition's store.

Services keep hot state in memory and persist each change as a record
``(kind, key) -> value`` (value: anything msgpack can encode: dict, list,
str, int, float, bytes, bool, None). Writes are staged and committed by the
runtime's group commit at the end of the loop tick; the client is answered
only after that commit. Values are encrypted at rest by the store.

On start a service rebuilds its memory from ``scan(kind)``.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol


class EntityStore(Protocol):
    def get(self, kind: str, key: str) -> Any | None: ...
    def put(self, kind: str, key: str, value: Any) -> None: ...
    def delete(self, kind: str, key: str) -> None: ...
    def scan(self, kind: str, prefix: str = "") -> Iterator[tuple[str, Any]]: ...


class MemoryEntityStore:
    """Dict-backed EntityStore: durability="memory", and unit tests."""

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, Any]] = {}

    def get(self, kind: str, key: str) -> Any | None:
        return self._kinds.get(kind, {}).get(key)

    def put(self, kind: str, key: str, value: Any) -> None:
        self._kinds.setdefault(kind, {})[key] = value

    def delete(self, kind: str, key: str) -> None:
        self._kinds.get(kind, {}).pop(key, None)

    def scan(self, kind: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
        for key, value in sorted(self._kinds.get(kind, {}).items()):
            if key.startswith(prefix):
                yield key, value
