"""Closed executions on disk, not in memory; and their expiry.

The partition store mirrors every record in memory. A running execution's
history tail and its record live there (they change at every step), but a
closed execution is cold: its history chunks and its bulky fields (input,
output, the redrive snapshot) move to a side database of the partition
(``<data_dir>/side/p-NNNN.sfn.db``, sealed, read on demand), leaving a slim
record in memory. Full chunks of a long-running execution move as they fill.

A move is copy-then-delete: the side rows are written and committed first,
and only then are the memory-store copies dropped (or the record slimmed),
so a kill -9 in between leaves a duplicate, never a gap; readers prefer the
memory-store copy of a chunk.

Retention: a closed Standard execution (with its history and Map Runs) is
deleted `stepfunctions.history_retention` seconds after it stopped (AWS keeps
90 days), by a sweep that runs periodically and again after every start.
Closed executions are kept in stop order, so a sweep touches only what
expires.
"""

from __future__ import annotations

from collections import deque

import msgspec

from services.cloudwatch.sidestore import SideStore
from services.stepfunctions import history

DDL = """
CREATE TABLE IF NOT EXISTS hist (arn TEXT, n INTEGER, v BLOB, PRIMARY KEY (arn, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS body (arn TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
"""
BODY_FIELDS = ("input", "output", "redrive_at")
DEFAULT_RETENTION = 90 * 86400.0

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode


class Archive:
    def __init__(self, engine):
        self.engine = engine
        self.part = engine.part
        self.store = engine.store
        self.side = SideStore(self.part, "sfn", DDL, ("hist", "body"))
        self.closed: deque[tuple[int, str]] = deque()     # (stop ms, arn), oldest first
        run = getattr(engine.host, "run", None)
        self.retention = float(run.config.get("stepfunctions.history_retention", DEFAULT_RETENTION)) \
            if run is not None else DEFAULT_RETENTION
        interval = min(600.0, max(1.0, self.retention / 4))
        self.side.every(min(interval, 5.0), interval, self.sweep)

    def close(self) -> None:
        self.side.close()

    # -- history chunks ------------------------------------------------------------------
    def _aad(self, arn: str, n) -> bytes:
        return f"{arn}|{n}".encode()

    def spill(self, ex_arn: str, chunks: list[int]) -> None:
        """Move full history chunks of an execution to disk."""
        self._copy(ex_arn, chunks, None)

    def chunks(self, arn: str) -> dict[int, list]:
        out = {}
        for n, v in self.side.read("SELECT n, v FROM hist WHERE arn=?", (arn,)):
            out[n] = _unpack(self.side.open(v, self._aad(arn, n)))
        return out

    def events(self, rec: dict) -> list[dict]:
        """Every event of a Standard execution, in order (memory-store chunks win over disk copies)."""
        arn, last = rec["arn"], rec.get("chunk", 0)
        cold = None
        out: list[dict] = []
        for n in range(last + 1):
            chunk = self.store.get(history.KIND_HISTORY, history.chunk_key(arn, n))
            if chunk is None:
                if cold is None:
                    cold = self.chunks(arn)
                chunk = cold.get(n) or []
            out.extend(chunk)
        return out

    def tail(self, rec: dict) -> list[dict]:
        """The last (open) chunk of an execution, wherever it is."""
        n = rec.get("chunk", 0)
        chunk = self.store.get(history.KIND_HISTORY, history.chunk_key(rec["arn"], n))
        if chunk is None:
            rows = self.side.read("SELECT v FROM hist WHERE arn=? AND n=?", (rec["arn"], n))
            chunk = _unpack(self.side.open(rows[0][0], self._aad(rec["arn"], n))) if rows else []
        return list(chunk)

    # -- closed executions ---------------------------------------------------------------
    def closed_execution(self, rec: dict) -> None:
        """An execution stopped: its history and bulky fields go to disk, its record slims down."""
        self.closed.append((rec["stop"], rec["arn"]))
        chunks = list(range(rec.get("chunk", 0) + 1)) if rec["type"] != "EXPRESS" else []
        self._copy(rec["arn"], chunks, {k: rec.get(k) for k in BODY_FIELDS})

    def _copy(self, arn: str, chunks: list[int], body: dict | None) -> None:
        side = self.side
        rows = []
        for n in chunks:
            chunk = self.store.get(history.KIND_HISTORY, history.chunk_key(arn, n))
            if chunk is not None:
                rows.append((arn, n, side.seal(_pack(chunk), self._aad(arn, n))))
        if rows:
            side.write_many("INSERT OR REPLACE INTO hist VALUES (?,?,?)", rows)
        if body is not None:
            side.write("INSERT OR REPLACE INTO body VALUES (?,?)", (arn, side.seal(_pack(body), self._aad(arn, "b"))))
        from services.stepfunctions.execution import KIND_EXEC
        rec = self.store.get(KIND_EXEC, arn) or {}
        gen = rec.get("redrive", 0)
        side.committed().add_done_callback(
            lambda _f: self._copied(arn, [r[1] for r in rows], body is not None, gen))

    def _copied(self, arn: str, chunks: list[int], slim: bool, gen: int) -> None:
        """The disk copies are committed: drop what memory held."""
        if self.engine.closed:
            return
        from services.stepfunctions.execution import KIND_EXEC, RUNNING
        rec = self.store.get(KIND_EXEC, arn)
        if rec is None:
            return
        # redriven meanwhile: its tail is live again, and its body is newer than this copy
        live = rec["status"] == RUNNING or rec.get("redrive", 0) != gen
        for n in chunks:
            if live and n == rec.get("chunk", 0):
                continue
            self.store.delete(history.KIND_HISTORY, history.chunk_key(arn, n))
        if slim and not live and any(k in rec for k in BODY_FIELDS):
            slimmed = {k: v for k, v in rec.items() if k not in BODY_FIELDS and v is not None}
            slimmed["cold"] = 1
            self.store.put(KIND_EXEC, arn, slimmed)
        self.part.flush_soon()

    def body(self, rec: dict) -> dict:
        """input/output/redrive_at of an execution (from its record while it is still warm)."""
        if not rec.get("cold"):
            return {k: rec.get(k) for k in BODY_FIELDS}
        rows = self.side.read("SELECT v FROM body WHERE arn=?", (rec["arn"],))
        if not rows:
            return {k: None for k in BODY_FIELDS}
        return _unpack(self.side.open(rows[0][0], self._aad(rec["arn"], "b")))

    def warm(self, rec: dict) -> dict:
        """The full record of an execution (bulky fields read back from disk if it is cold)."""
        if not rec.get("cold"):
            return rec
        full = {k: v for k, v in rec.items() if k != "cold"}
        full.update(self.body(rec))
        return full

    # -- retention -------------------------------------------------------------------------
    def sweep(self) -> None:
        from services.stepfunctions.execution import KIND_EXEC, TERMINAL
        cutoff = self.engine.now_ms() - int(self.retention * 1000)
        q = self.closed
        while q and q[0][0] < cutoff:
            _stop, arn = q.popleft()
            rec = self.store.get(KIND_EXEC, arn)
            if rec is None or rec["status"] not in TERMINAL or rec.get("stop", 0) >= cutoff:
                continue                                  # redriven since (queued again when it stops)
            if rec.get("maprun") and self.store.get("sfn.maprun", rec["maprun"]) is not None:
                continue                                  # a Map Run's children go with their parent
            self.expire(rec)

    def expire(self, rec: dict) -> None:
        """Delete a closed execution: record, history, Map Runs and their children."""
        from services.stepfunctions.execution import KIND_EXEC
        arn = rec["arn"]
        for run_arn in rec.get("runs") or ():
            self.engine.mapruns.expire(run_arn)
        self.store.delete(KIND_EXEC, arn)
        for n in range(rec.get("chunk", 0) + 1):
            self.store.delete(history.KIND_HISTORY, history.chunk_key(arn, n))
        self.side.write("DELETE FROM hist WHERE arn=?", (arn,))
        self.side.write("DELETE FROM body WHERE arn=?", (arn,))
        self.engine.forget(rec)

    def settle(self, rec: dict) -> None:
        """After a restart: finish moving a closed execution to disk (a kill -9 came in between)."""
        if rec["type"] == "EXPRESS" and not rec.get("maprun"):
            return
        arn = rec["arn"]
        chunks = [n for n in range(rec.get("chunk", 0) + 1)
                  if self.store.get(history.KIND_HISTORY, history.chunk_key(arn, n)) is not None]
        if chunks or not rec.get("cold"):
            self._copy(arn, chunks, None if rec.get("cold") else {k: rec.get(k) for k in BODY_FIELDS})

    def recovered(self, closed: list[tuple[int, str]]) -> None:
        self.closed.extend(sorted(closed))
