"""A partition's side database for bulk time-ordered data: metric data points,
log events, CloudTrail events, trace segments.

The partition store mirrors every entity record in memory, which suits
entities (queues, alarms, log groups) but not data that grows with traffic
and lives for days to months under a retention rule. That data goes here:
one SQLite file per partition and name (``<data_dir>/side/p-NNNN.<name>.db``),
read on demand and never held in memory.

- Writes of one loop tick form one transaction (group commit). An op that
  wrote awaits `committed()` before it answers, so an acknowledged write has
  reached the configured durability (the same levels as the store; with
  ``durability = "memory"`` the database is in memory).
- Values are sealed with AES-256-GCM under the side database's data key,
  wrapped by the master key (`seal`/`open`; AAD binds a blob to its row).
- An admin reset wipes the partition store; a marker entity record tells a
  rebuilt side store that its rows belong to the wiped state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from pathlib import Path

from broker.core.crypto import AesGcmKey

log = logging.getLogger("broker.sidestore")

MARKER_KIND = "side.store"


class SideStore:
    def __init__(self, part, name: str, ddl: str, tables: tuple[str, ...]):
        self.part = part
        self.name = name
        self.tables = tables
        store = part.store
        path = getattr(store, "path", None)
        run = getattr(getattr(part, "shard", None), "run", None)
        durability = getattr(run, "durability", "memory") if path is not None else "memory"
        if path is None:
            self.path = None
            self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            folder = Path(path).parent.parent / "side"        # <data_dir>/side, beside partitions/
            folder.mkdir(mode=0o700, exist_ok=True)
            self.path = folder / f"{Path(path).stem}.{name}.db"
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=%s" % ("FULL" if durability == "fsync" else "OFF"))
        self.db.execute("PRAGMA temp_store=MEMORY")
        self.db.executescript("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;\n"
                              + ddl)
        self.key = self._data_key(part.master, part.id)
        self._in_tx = False
        self._waiters: list[asyncio.Future] = []
        self._closed = False
        if store.get(MARKER_KIND, name) is None:
            # new data directory, or the partition was reset: rows here are stale
            for t in tables:
                self.db.execute(f"DELETE FROM {t}")
            store.put(MARKER_KIND, name, 1)

    def _data_key(self, master, pid: int) -> AesGcmKey:
        aad = b"side:%s:%d" % (self.name.encode(), pid)
        row = self.db.execute("SELECT v FROM meta WHERE k='key'").fetchone()
        if row is None:
            material = os.urandom(32)
            self.db.execute("INSERT INTO meta VALUES ('key', ?)", (master.wrap(material, aad),))
        else:
            material = master.unwrap(row[0], aad)
        return AesGcmKey(material, f"side-{self.name}-{pid}")

    # -- sealing --------------------------------------------------------------
    def seal(self, data: bytes, aad: bytes) -> bytes:
        return self.key.seal(data, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        return self.key.open(blob, aad)

    # -- reads and writes -----------------------------------------------------
    def read(self, sql: str, params=()) -> list:
        return self.db.execute(sql, params).fetchall()

    def write(self, sql: str, params=()) -> None:
        self._begin()
        self.db.execute(sql, params)

    def write_many(self, sql: str, rows) -> None:
        self._begin()
        self.db.executemany(sql, rows)

    def _begin(self) -> None:
        if not self._in_tx:
            self.db.execute("BEGIN")
            self._in_tx = True
            asyncio.get_running_loop().call_soon(self._commit)

    def committed(self):
        """An awaitable done once this tick's writes are committed (now, if none are pending)."""
        fut = asyncio.get_running_loop().create_future()
        if self._in_tx:
            self._waiters.append(fut)
        else:
            fut.set_result(None)
        return fut

    def _commit(self) -> None:
        if not self._in_tx or self._closed:
            return
        try:
            self.db.execute("COMMIT")
        except Exception:
            # nothing written this tick may be acknowledged: die, restart from the last commit
            log.critical("event=side_commit_failed store=%s action=exit", self.name, exc_info=True)
            os._exit(70)
        self._in_tx = False
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def answer(self, result):
        """`result`, once this tick's writes are committed: what an op that wrote returns."""
        await self.committed()
        return result

    def every(self, first: float, interval: float, fn) -> None:
        """Run `fn()` in `first` seconds, then every `interval` seconds until the store closes
        (retention sweeps, deliveries); the schedule is rebuilt from nothing on every start."""
        part = self.part

        def tick(_now_ms: int) -> None:
            if self._closed:
                return
            try:
                fn()
            except Exception:
                log.exception("event=side_periodic_failed store=%s", self.name)
            flush = getattr(part, "flush_soon", None)
            if flush is not None:
                flush()
            part.schedule(int((time.time() + interval) * 1000), tick)
        part.schedule(int((time.time() + first) * 1000), tick)

    def close(self) -> None:
        if self._closed:
            return
        self._commit()
        self._closed = True
        self.db.close()
