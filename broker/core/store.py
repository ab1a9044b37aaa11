"""Per-partition store with group commit and encryption at rest.

One SQLite database (WAL mode) per partition; hot state lives in memory and
this store only persists changes. Writes are *staged* in memory and applied
in one transaction by `commit()`, which the shard calls once per loop tick
before it releases that tick's replies (group commit). Staging coalesces:
a message inserted and deleted in the same tick never reaches disk.

Durability levels:
- "fsync":   the WAL is fdatasynced after every commit holding a strict write
             (SQLite runs synchronous=NORMAL, which keeps its own syncs where
             order matters: checkpoints, the WAL header on restart; our
             fdatasync of the log after the commit makes it FULL).
- "process": synchronous=OFF, committed data is in the OS page cache and
             survives kill -9 of the process (not power loss).
- "memory":  no database at all (`MemoryPartitionStore`).

Writes staged inside ``with store.relaxed():`` need no fsync of their own (a
consumer's ack, which no client waits on): a commit holding nothing else is
not synced, so it survives kill -9 but may be lost to a power cut; the next
synced commit covers it (the WAL is written in order).

At "fsync" the shard does not sync each partition's log: it commits with
``commit(fsync=False, log=True)``, which writes the transaction and returns its
row operations (broker.core._store_ops), and appends those of every partition
of the tick to its one redo log (broker.core.redo), whose single fdatasync
makes the tick durable. The partitions' own logs (synchronous=NORMAL: after a
power cut each holds a prefix of its transactions) are synced when the redo
log is reset; each transaction records its redo sequence number, so at start
a store replays the logged commits it lacks (``replay``). Writes made outside
a logged commit (the store's creation, `wipe`) are fdatasynced on the spot.
Without a redo log, ``commit()`` fdatasyncs the store's own log after a strict
commit, or ``commit(fsync=False)`` leaves that to the caller (`sync_log()`).

The database is opened in exclusive locking mode (one connection in one
process owns it): a transaction takes no file locks and the WAL index lives
in the process's memory, not a shared-memory file.

Encryption: every message payload, message identity record and entity value
is sealed with AES-256-GCM under a per-entity data key. Data keys are wrapped
by the partition's KMS key, whose material is wrapped by the master key.
AAD binds each blob to its row so blobs cannot be swapped between rows.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import msgspec

from broker.core import _store_ops as _ops
from broker.core._store_keys import ENTITY_SCOPE, _Keys
from broker.core._store_ops import SEQ_BITS
from broker.core.crypto import AesGcmKey

log = logging.getLogger("broker.store")

SCHEMA_VERSION = 1
# Committed payloads kept in memory, newest first, within one budget per process
# (not per partition: a shard holds many), so a consumer that keeps up does not
# read and decrypt them back; a consumed message's goes at once.
HOT_PAYLOAD_BYTES = 8 << 20
HOT_MESSAGES = 32768


class _HotPayloads:
    """The process's committed payloads still in memory, oldest first, across its stores."""

    def __init__(self):
        self.entries: OrderedDict[tuple[int, int], tuple] = OrderedDict()  # (store, rid) -> (message, size)
        self.bytes = 0
        self.lock = threading.Lock()     # partitions commit side by side in threads at "fsync"

    def add(self, key: tuple[int, int], m, size: int) -> None:
        self.entries[key] = (m, size)
        self.bytes += size

    def discard(self, key: tuple[int, int]) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def trim(self) -> None:
        entries, popitem, n = self.entries, self.entries.popitem, self.bytes
        limit, count = HOT_PAYLOAD_BYTES, HOT_MESSAGES
        while entries and (n > limit or len(entries) > count):
            _key, (m, size) = popitem(False)
            m.payload = None
            n -= size
        self.bytes = n

    def forget(self, store: int) -> None:
        with self.lock:
            for key in [k for k in self.entries if k[0] == store]:
                self.discard(key)


HOT = _HotPayloads()


KIND_BACKLOG = "core.backlog"   # a queue's spilled chunk (broker.core._backlog): "<qid>:<lo seq>"

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode

_DDL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entities (kind TEXT, key TEXT, v BLOB, PRIMARY KEY (kind, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS datakeys (scope INTEGER PRIMARY KEY, wrapped BLOB);
CREATE TABLE IF NOT EXISTS datakeys2 (scope INTEGER, gen INTEGER, wrapped BLOB, created REAL, reserved INTEGER,
                                      PRIMARY KEY (scope, gen)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    rid INTEGER PRIMARY KEY,   -- qid << 40 | seq
    vis INTEGER, rc INTEGER, fr INTEGER, lease INTEGER, st INTEGER,
    ident BLOB,                -- sealed: msg_id, group, dedup, priority, enqueued_at, expires_at, size
    payload BLOB               -- sealed payload
);
CREATE TABLE IF NOT EXISTS dedup (qid INTEGER, k TEXT, exp INTEGER, ref BLOB, PRIMARY KEY (qid, k)) WITHOUT ROWID;
"""


class StoreError(Exception):
    pass


class MessageRecord:
    """What recovery hands back for one persisted message."""
    __slots__ = ("seq", "visible_at", "receive_count", "first_receive_at", "lease", "state", "ident")

    def __init__(self, seq, visible_at, receive_count, first_receive_at, lease, state, ident):
        self.seq = seq
        self.visible_at = visible_at
        self.receive_count = receive_count
        self.first_receive_at = first_receive_at
        self.lease = lease
        self.state = state
        self.ident = ident   # tuple: msg_id, group, dedup, priority, enqueued_at, expires_at, size


def _ident(m) -> tuple:
    return (m.msg_id, m.group, m.dedup, m.priority, m.enqueued_at, m.expires_at, m.size)


class PartitionStore:
    """Interface shared by the SQLite and memory stores."""

    partition: int
    durable: bool

    # entity records (broker.core.entities.EntityStore)
    def get(self, kind: str, key: str) -> Any | None: raise NotImplementedError
    def put(self, kind: str, key: str, value: Any) -> None: raise NotImplementedError
    def delete(self, kind: str, key: str) -> None: raise NotImplementedError
    def scan(self, kind: str, prefix: str = "") -> Iterator[tuple[str, Any]]: raise NotImplementedError
    def kinds(self) -> list[str]:
        """Entity kinds that hold at least one record."""
        return [k for k, recs in self._entities.items() if recs]
    def allocate_id(self, counter: str) -> int: raise NotImplementedError
    # messages
    def journal(self, qid: int) -> "QueueJournal": return QueueJournal(self, qid)
    def load_messages(self, qid: int) -> list[MessageRecord]: return []
    def iter_messages(self, qid: int) -> Iterator[MessageRecord]: return iter(())
    def pager(self, qid: int):
        """The store's side of a queue's backlog left on disk (broker.core._backlog), or None."""
        return None
    def restore_stream(self, qid: int, chunks: bool) -> Iterator:
        return iter(())
    def load_payload(self, qid: int, seq: int) -> bytes | None: raise NotImplementedError
    def drop_queue(self, qid: int) -> None: pass
    # journal hooks
    def msg_inserted(self, qid, m) -> None: pass
    def msg_updated(self, qid, m) -> None: pass
    def msg_removed(self, qid, m) -> None: pass
    def dedup_put(self, qid: int, key: str, expires: int, ref) -> None: pass
    def dedup_del(self, qid: int, key: str) -> None: pass
    def load_dedup(self, qid: int) -> list[tuple[int, tuple]]: return []
    # commit
    def relaxed(self):
        """Writes staged in this block need no fsync before replies (see module doc)."""
        return contextlib.nullcontext()
    @property
    def dirty(self) -> bool: return False
    @property
    def needs_fsync(self) -> bool:
        """The next commit must reach stable storage before replies."""
        return False
    def commit(self, fsync: bool = True, log: bool = False): return None
    def close(self) -> None: pass
    def wipe(self) -> None: raise NotImplementedError


class QueueJournal:
    """broker.core.queue.Journal bound to one queue id."""
    __slots__ = ("store", "qid")

    def __init__(self, store: PartitionStore, qid: int):
        self.store, self.qid = store, qid

    def inserted(self, q, m) -> None:
        self.store.msg_inserted(self.qid, m)

    def updated(self, q, m) -> None:
        self.store.msg_updated(self.qid, m)

    def removed(self, q, m) -> None:
        self.store.msg_removed(self.qid, m)

    def dedup_added(self, q, rec) -> None:
        self.store.dedup_put(self.qid, _dedup_key(rec.key), rec.expires_at, rec.to_record())

    def dedup_expired(self, q, rec) -> None:
        self.store.dedup_del(self.qid, _dedup_key(rec.key))


def _dedup_key(key) -> str:
    # keys are a dedup id, or (group, dedup id) with DeduplicationScope=messageGroup
    return key if isinstance(key, str) else "\0".join("" if k is None else str(k) for k in key)


class MemoryPartitionStore(PartitionStore):
    """durability = "memory": nothing on disk; payloads stay in memory."""

    durable = False

    def __init__(self, partition: int):
        self.partition = partition
        self._entities: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}

    def get(self, kind, key):
        return self._entities.get(kind, {}).get(key)

    def put(self, kind, key, value):
        self._entities.setdefault(kind, {})[key] = value

    def delete(self, kind, key):
        self._entities.get(kind, {}).pop(key, None)

    def scan(self, kind, prefix=""):
        for k, v in sorted(self._entities.get(kind, {}).items()):
            if k.startswith(prefix):
                yield k, v

    def allocate_id(self, counter):
        n = self._counters.get(counter, 0) + 1
        self._counters[counter] = n
        return n

    def load_payload(self, qid, seq):
        return None  # payloads are never evicted in memory mode

    def wipe(self):
        self._entities.clear()
        self._counters.clear()


class SqlitePartitionStore(PartitionStore):
    durable = True
    queue_window = 0      # ready messages a standard queue keeps in memory (0: _backlog.WINDOW)

    def __init__(self, path: Path, partition: int, master: AesGcmKey, durability: str = "process",
                 replay=()):
        self.partition = partition
        self.path = Path(path)
        self._master, self._durability = master, durability
        self._wal_fd: int | None = None   # for sync_log
        self._connect()
        self.replayed = self._replay(replay) if replay else 0
        # staged changes, applied by commit()
        self._ins: dict[int, tuple] = {}      # rid -> (qid, message)
        self._upd: dict[int, Any] = {}        # rid -> message
        self._del: set[int] = set()
        self._ent: dict[tuple[str, str], Any] = {}   # (kind,key) -> value | _DELETED
        self._dd: dict[tuple[int, str], Any] = {}    # (qid,key) -> (exp, ref) | _DELETED
        self._drops: list[int] = []
        self._counters: dict[str, int] = {}   # latest value of each counter read or allocated
        self._ctr_dirty: set[str] = set()       # counters allocated since the last commit
        self._dirty = False
        self._strict = False     # something staged outside relaxed(): fsync before replies
        self._hot_id = id(self)      # this store's keys in HOT
        self._gone: list = []        # (rid, message) committed, removed this tick (their payload is let go)
        # memory mirror of entities (reads never hit disk after start)
        self._entities: dict[str, dict[str, Any]] = {}
        for kind, key, blob in self.db.execute("SELECT kind, key, v FROM entities"):
            value = _unpack(self._ekey.open(blob, f"{kind}\0{key}".encode()))
            self._entities.setdefault(kind, {})[key] = value

    def _connect(self) -> None:
        """Open the connection and the partition's keys (at start, or a parked store's first use)."""
        path, partition, master, durability = self.path, self.partition, self._master, self._durability
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db = self.db
        # one connection, one process: no file locks or shared-memory index per transaction
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        # at "fsync", NORMAL plus our own fdatasync of the log after a strict commit is FULL
        db.execute("PRAGMA synchronous=%s" % ("NORMAL" if durability == "fsync" else "OFF"))
        self._fsync = durability == "fsync"
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("PRAGMA cache_size=-2048")     # 2 MB per partition (SQLite's default); reads go through mmap
        # reads of evicted payloads go through the page cache without a syscall each
        db.execute("PRAGMA mmap_size=1073741824")
        db.executescript(_DDL)
        version = self._meta_get("schema")
        if version is None:
            self._meta_put_now("schema", str(SCHEMA_VERSION).encode())
            self._meta_put_now("partition", str(partition).encode())
        elif int(version) != SCHEMA_VERSION:
            raise StoreError(f"{path}: store schema version {int(version)}, this broker uses {SCHEMA_VERSION}")
        self._keys = _Keys(master, partition, self._meta_get, self._meta_put_now, db)
        self._ekey = self._keys.data_key(ENTITY_SCOPE)
        # commits logged to the shard's redo log (broker.core.redo) so far
        self.redo_seq = int(self._meta_get("redo") or 0)
        if version is None and self._fsync:
            self.sync_log()      # its keys: what a replayed row is sealed under must outlive a power cut

    def park(self) -> bool:
        """Close the connection of a store that holds nothing (a partition nobody has
        used: its connection, page cache and keys are about 0.2 MB); its first use opens
        it again (``__getattr__``). False, and nothing closed, if it holds anything."""
        if self._dirty or any(self._entities.values()) or self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM dedup)").fetchone()[0]:
            return False
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        self.db.close()
        del self.db, self._keys, self._ekey
        return True

    def __getattr__(self, name):
        # reached only for a missing attribute: the connection and keys of a parked store
        if name in ("db", "_keys", "_ekey") and "_master" in self.__dict__:
            self._connect()
            return self.__dict__[name]
        raise AttributeError(name)

    # -- meta and keys (written immediately: rare, needed before first commit)
    def _meta_get(self, k):
        row = self.db.execute("SELECT v FROM meta WHERE k=?", (k,)).fetchone()
        return row[0] if row else None

    def _meta_put_now(self, k, v):
        self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (k, v))

    # -- entities
    def get(self, kind, key):
        return self._entities.get(kind, {}).get(key)

    def put(self, kind, key, value):
        self._entities.setdefault(kind, {})[key] = value
        self._ent[(kind, key)] = value
        self._dirty = self._strict = True

    def delete(self, kind, key):
        self._entities.get(kind, {}).pop(key, None)
        self._ent[(kind, key)] = _DELETED
        self._dirty = self._strict = True

    def scan(self, kind, prefix=""):
        for k, v in sorted(self._entities.get(kind, {}).items()):
            if k.startswith(prefix):
                yield k, v

    def allocate_id(self, counter):
        n = self._counters.get(counter)
        if n is None:
            raw = self._meta_get("ctr:" + counter)
            n = int(raw) if raw else 0
        n += 1
        self._counters[counter] = n
        self._ctr_dirty.add(counter)
        self._dirty = self._strict = True
        return n

    # -- messages
    def msg_inserted(self, qid, m):
        rid = (qid << SEQ_BITS) | m.seq
        self._ins[rid] = (qid, m)
        self._dirty = self._strict = True

    def msg_updated(self, qid, m):
        rid = (qid << SEQ_BITS) | m.seq
        if rid not in self._ins:
            self._upd[rid] = m
            self._dirty = self._strict = True

    def msg_removed(self, qid, m):
        rid = (qid << SEQ_BITS) | m.seq
        if self._ins.pop(rid, None) is None:
            self._upd.pop(rid, None)
            self._del.add(rid)
            self._gone.append((rid, m))
            self._dirty = self._strict = True

    def dedup_put(self, qid, key, expires, ref):
        self._dd[(qid, self._keys.lookup_key(qid, key))] = (expires, ref)
        self._dirty = self._strict = True

    def dedup_del(self, qid, key):
        self._dd[(qid, self._keys.lookup_key(qid, key))] = _DELETED
        self._dirty = self._strict = True

    def drop_queue(self, qid):
        for k, _rec in list(self.scan(KIND_BACKLOG, f"{qid}:")):
            self.delete(KIND_BACKLOG, k)
        lo, hi = qid << SEQ_BITS, ((qid + 1) << SEQ_BITS) - 1
        for rid in [r for r in self._ins if lo <= r <= hi]:
            del self._ins[rid]
        for rid in [r for r in self._upd if lo <= r <= hi]:
            del self._upd[rid]
        self._drops.append(qid)
        self._dirty = self._strict = True

    def load_messages(self, qid):
        return list(self.iter_messages(qid))

    def iter_messages(self, qid, lo_seq: int = 0, hi_seq: int = (1 << SEQ_BITS) - 1):
        """Committed message records of one queue in seq order (lo_seq..hi_seq), as a stream."""
        base = qid << SEQ_BITS
        key = self._keys.data_key(qid)
        mask = (1 << SEQ_BITS) - 1
        for rid, vis, rc, fr, lease, st, ident in self.db.execute(
                "SELECT rid, vis, rc, fr, lease, st, ident FROM messages WHERE rid BETWEEN ? AND ? ORDER BY rid",
                (base | lo_seq, base | hi_seq)):
            yield MessageRecord(rid & mask, vis, rc, fr, lease, st, tuple(_unpack(key.open(ident, b"i%d" % rid))))

    def pager(self, qid):
        return _QueuePager(self, qid)

    def restore_stream(self, qid: int, chunks: bool):
        """A queue's messages in seq order for ``Queue.restore(ordered=True)``; with ``chunks``,
        a spilled chunk's record stands in place of its messages, which are not read."""
        recs = [rec for _k, rec in self.scan(KIND_BACKLOG, f"{qid}:")] if chunks else []
        pos = 0
        for rec in recs:
            lo, hi = rec[0], rec[1]
            if lo > pos:
                yield from map(_message, self.iter_messages(qid, pos, lo - 1))
            yield rec
            if rec[6] is not None:      # messages that stayed in memory lie between its members
                from broker.core._backlog import _Chunk
                c = _Chunk.from_record(rec)
                yield from (_message(r) for r in self.iter_messages(qid, lo, hi) if r.seq not in c)
            pos = hi + 1
        yield from map(_message, self.iter_messages(qid, pos))

    def load_payload(self, qid, seq):
        rid = (qid << SEQ_BITS) | seq
        staged = self._ins.get(rid)
        if staged is not None:
            return staged[1].payload
        row = self.db.execute("SELECT payload FROM messages WHERE rid=?", (rid,)).fetchone()
        if row is None:
            return None
        return self._keys.data_key(qid).open(row[0], b"p%d" % rid)

    def load_payloads(self, qid, seqs) -> dict:
        """{seq: payload} of several messages of one queue, read in few statements."""
        out = {}
        key = self._keys.data_key(qid)
        rest = []
        for seq in seqs:
            rid = (qid << SEQ_BITS) | seq
            staged = self._ins.get(rid)
            if staged is not None:
                out[seq] = staged[1].payload
            else:
                rest.append(rid)
        mask = (1 << SEQ_BITS) - 1
        for i in range(0, len(rest), 500):
            chunk = rest[i:i + 500]
            q = "SELECT rid, payload FROM messages WHERE rid IN (%s)" % ",".join("?" * len(chunk))
            for rid, blob in self.db.execute(q, chunk):
                out[rid & mask] = key.open(blob, b"p%d" % rid)
        return out

    def load_dedup(self, qid):
        """[(expires_at, DedupRecord.to_record() tuple)] of one queue."""
        key = self._keys.data_key(qid)
        return [(exp, tuple(_unpack(key.open(ref, b"d%d:" % qid + k.encode()))))
                for k, exp, ref in self.db.execute("SELECT k, exp, ref FROM dedup WHERE qid=?", (qid,))]

    # -- group commit
    @contextlib.contextmanager
    def relaxed(self):
        strict = self._strict
        try:
            yield
        finally:
            self._strict = strict

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def needs_fsync(self) -> bool:
        return self._fsync and self._strict

    def commit(self, fsync: bool = True, log: bool = False):
        """Apply the staged writes in one transaction. ``fsync=False``: the caller
        makes it durable (`sync_log`) before any reply.
        ``log``: returns ``(redo_seq, packed ops)`` for the shard's redo log, which the
        caller syncs instead of this store's log (None if nothing was staged)."""
        if not self._dirty:
            return None
        seq = self.redo_seq + 1 if log else 0
        packed = self._write(self.db, self._keys, seq)
        if fsync and self._fsync and self._strict and not log:
            self.sync_log()
        if log:
            self.redo_seq = seq
        self._keep_hot()
        self._ins.clear()
        self._upd.clear()
        self._del.clear()
        self._ent.clear()
        self._dd.clear()
        self._drops.clear()
        self._ctr_dirty.clear()
        self._dirty = self._strict = False
        return (seq, packed) if log else None

    def _replay(self, entries) -> int:
        """Apply the logged commits this store's transactions lack (a power cut took its
        log's tail), in order: ``entries`` are (redo_seq, packed ops). Returns how many."""
        done = 0
        db = self.db
        for seq, packed in entries:
            if seq <= self.redo_seq:
                continue
            if seq != self.redo_seq + 1:
                log.warning("event=redo_gap partition=%d have=%d next=%d", self.partition, self.redo_seq, seq)
                break
            db.execute("BEGIN")
            try:
                _ops.apply(db, _unpack(packed))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self.redo_seq = seq
            done += 1
        if done:
            # key rows may have been replayed: read them again (what the rings made before
            # the replay and kept in the database is made durable just below)
            self._keys = _Keys(self._master, self.partition, self._meta_get, self._meta_put_now, db)
            self._ekey = self._keys.data_key(ENTITY_SCOPE)
            self.sync_log()
            log.info("event=redo_replayed partition=%d commits=%d", self.partition, done)
        return done

    def sync_log(self) -> None:
        """fdatasync the write-ahead log: makes a ``commit(fsync=False)`` durable (FULL's step).
        Thread-safe: touches no SQLite state."""
        os.fdatasync(self.wal_fd())

    def wal_fd(self) -> int:
        """A descriptor of the write-ahead log, to fdatasync it (after a commit: the log exists)."""
        fd = self._wal_fd
        if fd is None:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
            dfd = os.open(self.path.parent, os.O_RDONLY)    # the log's directory entry, once (as SQLite does)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self._wal_fd = fd
        return fd

    def _keep_hot(self) -> None:
        """Committed: payloads live on disk now. The newest stay in memory too, within
        the process's budget (HOT_PAYLOAD_BYTES, HOT_MESSAGES); removed messages (read
        in the tick that removed them, e.g. to dead-letter) let theirs go."""
        sid = self._hot_id
        with HOT.lock:
            for rid, m in self._gone:
                HOT.discard((sid, rid))
                if getattr(m, "payload", None) is not None:   # a read-back payload is let go too
                    m.payload = None
            entries, n = HOT.entries, 0
            for rid, (_qid, m) in self._ins.items():      # HOT.add, inlined: once per message
                size = len(m.payload)
                entries[(sid, rid)] = (m, size)
                n += size
            HOT.bytes += n
            if HOT.bytes > HOT_PAYLOAD_BYTES or len(entries) > HOT_MESSAGES:
                HOT.trim()
        self._gone.clear()

    def _write(self, db, keys, seq: int = 0) -> bytes | None:
        """One transaction of the staged writes; with `seq` (a logged commit) the ops packed."""
        db.execute("BEGIN")
        try:
            ops = self._ops(keys, seq)
            _ops.apply(db, ops)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return _pack(ops) if seq else None

    def _ops(self, keys, seq: int) -> list:
        ops: list = []
        for qid in self._drops:
            ops.append((_ops.DROP, qid))
            keys.forget(qid)
        if self._ins:  # dedup ids are message identity: sealed like the rest
            rows = []
            for rid, (qid, m) in self._ins.items():
                key = keys.data_key(qid)
                rows.append((rid, m.visible_at, m.receive_count, m.first_receive_at, m.lease, m.state,
                             key.seal(_pack(_ident(m)), b"i%d" % rid),
                             key.seal(m.payload, b"p%d" % rid)))
            ops.append((_ops.INS, rows))
        if self._upd:
            _ops.updates(self._upd, ops)
        if self._del:
            _ops.deletes(self._del, ops)
        if self._ent:
            puts, dels, seal = [], [], self._ekey.seal
            for (kind, key), value in self._ent.items():
                if value is _DELETED:
                    dels.append((kind, key))
                else:
                    puts.append((kind, key, seal(_pack(value), f"{kind}\0{key}".encode())))
            if dels:
                ops.append((_ops.ENT_DEL, dels))
            if puts:
                ops.append((_ops.ENT_PUT, puts))
        if self._dd:
            puts, dels = [], []
            for (qid, k), value in self._dd.items():
                if value is _DELETED:
                    dels.append((qid, k))
                else:
                    puts.append((qid, k, value[0], keys.data_key(qid).seal(_pack(value[1]),
                                                                          b"d%d:" % qid + k.encode())))
            if dels:
                ops.append((_ops.DD_DEL, dels))
            if puts:
                ops.append((_ops.DD_PUT, puts))
        meta = [("ctr:" + name, str(self._counters[name]).encode()) for name in self._ctr_dirty]
        if seq:
            meta.append(("redo", str(seq).encode()))
        if meta:
            ops.append((_ops.META, meta))
        if keys.keyops:         # key rows written since the last commit (already in the database)
            ops.insert(0, (_ops.KEYS, keys.keyops[:]))
            keys.keyops.clear()
        return ops

    def close(self) -> None:
        try:
            self.commit()
        finally:
            HOT.forget(self._hot_id)
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
            if "db" in self.__dict__:       # a parked store has nothing to close
                self.db.close()

    def wipe(self) -> None:
        """Delete every entity, message and dedup record (admin reset); keys stay."""
        self._ins.clear(); self._upd.clear(); self._del.clear()
        self._ent.clear(); self._dd.clear(); self._drops.clear()
        HOT.forget(self._hot_id); self._gone.clear()
        self._entities.clear()
        db = self.db
        db.execute("BEGIN")
        db.execute("DELETE FROM entities")
        db.execute("DELETE FROM messages")
        db.execute("DELETE FROM dedup")
        db.execute("COMMIT")
        if self._fsync:
            self.sync_log()      # not logged: a replay of later commits must find it done
        self._dirty = self._strict = False


class _QueuePager:
    """broker.core._backlog.Pager of one queue: its spilled backlog is read back from, and
    removed in, this store; staged writes count (a staged removal hides a record)."""
    __slots__ = ("store", "qid", "base", "window", "chunk")

    def __init__(self, store: SqlitePartitionStore, qid: int):
        from broker.core._backlog import CHUNK, WINDOW
        self.store, self.qid, self.base = store, qid, qid << SEQ_BITS
        self.window, self.chunk = store.queue_window or WINDOW, CHUNK

    def settled(self, seq: int) -> bool:
        rid = self.base | seq
        store = self.store
        return rid not in store._ins and rid not in store._upd

    def spilled(self, msgs, chunk) -> None:
        sid, base = self.store._hot_id, self.base
        with HOT.lock:
            for m in msgs:
                HOT.discard((sid, base | m.seq))
        self.store.put(KIND_BACKLOG, self._key(chunk), chunk.record())

    def paged_in(self, chunk) -> None:
        self.store.delete(KIND_BACKLOG, self._key(chunk))

    def _key(self, chunk) -> str:
        return f"{self.qid}:{chunk.lo:013d}"

    def load(self, lo: int, hi: int, payloads: bool = False, member=None) -> list:
        """With ``payloads``, read in the same scan and kept within the process's hot-payload
        budget (HOT), so receiving them needs no read of its own."""
        store = self.store
        gone, base, mask = store._del, self.base, (1 << SEQ_BITS) - 1
        key = store._keys.data_key(self.qid)
        from broker.core.message import Message
        out, hot = [], []
        open_ = key.open
        for row in store.db.execute(
                "SELECT rid, vis, rc, fr, lease, st, ident%s FROM messages WHERE rid BETWEEN ? AND ? ORDER BY rid"
                % (", payload" if payloads else ""), (base | lo, base | hi)):
            rid = row[0]
            if (gone and rid in gone) or (member is not None and not member(rid & mask)):
                continue
            msg_id, group, dedup, prio, enq, exp, size = _unpack(open_(row[6], b"i%d" % rid))
            m = Message(rid & mask, msg_id, None, size, group, dedup, prio, enq, row[1], exp,
                        row[2], row[3], row[4], row[5], None)
            if payloads:
                m.payload = open_(row[7], b"p%d" % rid)
                hot.append(m)
            out.append(m)
        if hot:
            sid = store._hot_id
            with HOT.lock:                  # HOT.add, inlined: once per message
                entries, n = HOT.entries, 0
                for m in hot:
                    size = len(m.payload)
                    entries[(sid, base | m.seq)] = (m, size)
                    n += size
                HOT.bytes += n
                if HOT.bytes > HOT_PAYLOAD_BYTES or len(entries) > HOT_MESSAGES:
                    HOT.trim()
        return out

    def drop(self, chunk) -> None:
        store = self.store
        gone, base, mask = store._del, self.base, (1 << SEQ_BITS) - 1
        for (rid,) in store.db.execute("SELECT rid FROM messages WHERE rid BETWEEN ? AND ?",
                                       (base | chunk.lo, base | chunk.hi)):
            if (rid & mask) in chunk:
                gone.add(rid)
        store.delete(KIND_BACKLOG, self._key(chunk))


def _message(r: MessageRecord):
    from broker.core.message import Message
    msg_id, group, dedup, prio, enq, exp, size = r.ident
    return Message(r.seq, msg_id, None, size, group, dedup, prio, enq, r.visible_at, exp,
                   r.receive_count, r.first_receive_at, r.lease, r.state, None)


class _Deleted:
    __slots__ = ()

    def __repr__(self):
        return "<deleted>"


_DELETED = _Deleted()


def open_store(path: Path | None, partition: int, master: AesGcmKey, durability: str,
               replay=()) -> PartitionStore:
    """``replay``: the (redo_seq, packed ops) a redo log holds for this partition."""
    if durability == "memory":
        return MemoryPartitionStore(partition)
    return SqlitePartitionStore(path, partition, master, durability, replay)


def open_queue(store: PartitionStore, qid: int, config, now: int, *, restore: bool):
    """A core Queue journaled to `store`; with `restore`, rebuilt from its persisted
    messages and dedup records (leases keep their deadlines)."""
    from broker.core.message import DedupRecord
    from broker.core.queue import Queue
    queue = Queue(qid, config, store.journal(qid), pager=store.pager(qid))
    if restore:
        # a stream: a long standard queue keeps only its window in memory as it loads, and
        # its chunks left on disk are restored from their records without reading them
        queue.restore(store.restore_stream(qid, queue.pages), now,
                      [DedupRecord.from_record(rec) for _exp, rec in store.load_dedup(qid)], ordered=True)
    return queue
