"""Partitions: which partition an entity lives in, and what a service sees of one.

Every entity is addressed by a string key (e.g. ``sqs/000000000000/us-east-1/orders``);
its partition is ``crc32(key) % P`` and the owning shard is ``p % K``. P is
fixed when the data directory is created, so K and W may change between
restarts without moving data.
"""

from __future__ import annotations

import zlib
from typing import Any, Awaitable, Callable, Protocol


def partition_of(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


def shard_of(partition: int, shards: int) -> int:
    return partition % shards


class PartitionContext(Protocol):
    """What a service's shard half gets for one partition it runs in."""

    id: int
    store: Any                      # broker.core.store.PartitionStore

    def now_ms(self) -> int: ...
    def schedule(self, due_ms: int, callback: Callable[[int], None]) -> Any:
        """Call `callback(now_ms)` at or after `due_ms` (durable state must be in the store);
        returns a handle for `unschedule`."""
    def unschedule(self, entry: Any) -> None:
        """Cancel a scheduled callback (releasing what it holds)."""
    def flush_soon(self) -> None:
        """Commit pending writes and release held replies at the end of this tick."""
    def call(self, key: str, op: str, args: dict) -> Awaitable[Any]:
        """Call an op on the partition owning `key` (possibly another shard)."""
    def call_partition(self, partition: int, op: str, args: dict) -> Awaitable[Any]: ...
