"""A shard's redo log: one file and one fdatasync per group commit at "fsync".

A tick's commit touches several partitions, each a SQLite database with its own
write-ahead log; syncing every one of those logs costs this kind of disk 3-4x a
single sync. Instead the shard appends the tick's row operations of every
partition it wrote (broker.core._store_ops) as one record to this file and
fdatasyncs it alone; the partitions' logs are synced only when the file is
reset (it is full, the shard stops, or after a replay at start).

After a power cut each partition holds a prefix of its transactions
(synchronous=NORMAL), and each transaction recorded its partition's redo
sequence number; the store replays the logged commits past it, in order
(`SqlitePartitionStore(replay=...)`).

File layout: a header (magic, generation, crc) in the first block, then records
from `HEADER` on: ``REC`` (magic, generation, body length, crc32) and a msgpack
body ``[[partition, redo_seq, packed ops], ...]``. A reset syncs the partitions'
logs, then writes a new generation into the header and syncs it: older records
left further on are not read (their generation differs), and reading stops at
the first record that is torn or stale. Once written, the file is overwritten
in place, so a sync writes no file metadata; it grows by `GROW` at a time.

The file is ``redo-<index>-of-<shards>.log`` next to the partitions: a server
started with another shard count (or another durability) first replays the
files of the old layout itself (`replay_stale`, from the supervisor) and
removes them.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import zlib
from pathlib import Path

import msgspec

log = logging.getLogger("broker.redo")

HEADER = 4096                # records start on the second block
LIMIT = 32 << 20             # a reset once the records reach this size
GROW = 1 << 20               # the file is extended by this much of zeros at a time
_FILE = struct.Struct("<8sQI")           # magic, generation, crc32
_REC = struct.Struct("<4sQII")           # magic, generation, body length, crc32
_FILE_MAGIC, _REC_MAGIC = b"BRKREDO1", b"REC1"
_NAME = re.compile(r"redo-(\d+)-of-(\d+)\.log$")

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode


def log_path(partitions_dir: Path, index: int, shards: int) -> Path:
    return Path(partitions_dir) / f"redo-{index}-of-{shards}.log"


class RedoLog:
    """Open (creating it if needed) and read one redo log: `entries` holds, per
    partition, the (redo_seq, packed ops) of the records found; `reset` starts over."""

    def __init__(self, path: Path):
        self.path = Path(path)
        new = not self.path.exists()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if new:
            _sync_dir(self.path.parent)
        self.size = os.fstat(self.fd).st_size
        self.offset = HEADER
        self.touched: dict[int, object] = {}       # partition -> store written since the reset
        self.entries: dict[int, list] = {}
        self.records = 0
        raw = os.pread(self.fd, _FILE.size, 0)
        gen = None
        if len(raw) == _FILE.size:
            magic, g, crc = _FILE.unpack(raw)
            if magic == _FILE_MAGIC and crc == zlib.crc32(raw[:-4]):
                gen = g
        # a new file, or a header torn by a power cut during a reset (whose partitions
        # were synced first): nothing to read; a random generation matches no old record
        self.gen = gen if gen is not None else int.from_bytes(os.urandom(7), "big")
        if gen is not None:
            self._read()

    def _read(self) -> None:
        fd, off, gen = self.fd, HEADER, self.gen
        while True:
            head = os.pread(fd, _REC.size, off)
            if len(head) < _REC.size:
                break
            magic, g, n, crc = _REC.unpack(head)
            if magic != _REC_MAGIC or g != gen or n > self.size - off - _REC.size:
                break
            body = os.pread(fd, n, off + _REC.size)
            if len(body) != n or zlib.crc32(body, zlib.crc32(head[:-4])) != crc:
                break
            for p, seq, packed in _unpack(body):
                self.entries.setdefault(p, []).append((seq, packed))
            self.records += 1
            off += _REC.size + n
        self.offset = off

    # -- the shard's side (a store-like object for its sync step)
    def wal_fd(self) -> int:
        return self.fd

    def sync_log(self) -> None:
        os.fdatasync(self.fd)

    def append(self, parts) -> None:
        """Write one record of ``parts``: (store, redo_seq, packed ops) of one commit each."""
        body = _pack([(store.partition, seq, packed) for store, seq, packed in parts])
        n = len(body)
        if self.offset + _REC.size + n > LIMIT and self.offset > HEADER:
            self.reset()
        head = _REC.pack(_REC_MAGIC, self.gen, n, 0)[:-4]
        rec = head + struct.pack("<I", zlib.crc32(body, zlib.crc32(head))) + body
        end = self.offset + len(rec)
        if end > self.size:          # grow by zeros: later syncs of this stretch write no metadata
            size = max(end, self.size + GROW)
            os.pwrite(self.fd, bytes(size - self.size), self.size)
            self.size = size
        os.pwrite(self.fd, rec, self.offset)
        self.offset = end
        touched = self.touched
        for store, _seq, _packed in parts:
            touched[store.partition] = store

    def reset(self) -> None:
        """Make every partition written since the last reset durable in its own log, then
        start a new generation (what the file held is not needed any more)."""
        for store in self.touched.values():
            try:
                store.sync_log()
            except FileNotFoundError:       # its log was checkpointed and removed on close
                pass
        self.touched.clear()
        self.entries.clear()
        self.gen = (self.gen + 1) & ((1 << 63) - 1)
        head = _FILE.pack(_FILE_MAGIC, self.gen, 0)[:-4]
        os.pwrite(self.fd, head + struct.pack("<I", zlib.crc32(head)), 0)
        if self.size < HEADER:
            self.size = HEADER
            os.ftruncate(self.fd, HEADER)
        os.fdatasync(self.fd)
        self.offset = HEADER
        self.records = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replay_stale(partitions_dir: Path, shards: int, durability: str, open_partition) -> int:
    """Replay and remove the redo logs no shard of this start will read (another shard
    count, or durability other than "fsync"). ``open_partition(p, entries)`` opens
    partition `p`'s store replaying `entries` and returns it. Returns the commits replayed."""
    done = 0
    for path in sorted(Path(partitions_dir).glob("redo-*-of-*.log")):
        m = _NAME.match(path.name)
        if m is None:
            continue
        index, count = int(m.group(1)), int(m.group(2))
        if durability == "fsync" and count == shards and index < shards:
            continue            # its shard replays it
        redo = RedoLog(path)
        try:
            for p, entries in sorted(redo.entries.items()):
                store = open_partition(p, entries)
                done += store.replayed
                store.close()
        finally:
            redo.close()
        path.unlink()
        _sync_dir(path.parent)
        log.info("event=redo_stale_replayed file=%s records=%d", path.name, redo.records)
    return done
