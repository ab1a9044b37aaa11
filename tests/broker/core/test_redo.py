"""The shard's redo log at "fsync" (broker.core.redo): one record and one sync per
group commit for every partition of the tick. A power cut is simulated by putting
the partitions' files back to what an earlier sync left on disk (their logs are
not synced per commit), keeping the redo log: reopening the stores with its
entries must give exactly what the commits wrote."""

from __future__ import annotations

import os
import shutil

import pytest

from broker.core import redo as redo_mod
from broker.core.crypto import AesGcmKey
from broker.core.message import QueueConfig
from broker.core.redo import RedoLog, log_path, replay_stale
from broker.core.store import SqlitePartitionStore, open_queue

PARTS = 3
QID = 5


@pytest.fixture
def master():
    return AesGcmKey(os.urandom(32), "test-master")


class Rig:
    """What the shard does with its stores and redo log, without the event loop."""

    def __init__(self, root, master, index=0, shards=1):
        self.root, self.master = root, master
        self.redo = RedoLog(log_path(root, index, shards))
        self.stores = {p: SqlitePartitionStore(root / f"p-{p:04d}.db", p, master, "fsync",
                                               self.redo.entries.get(p, ()))
                       for p in range(index, PARTS, shards)}
        self.replayed = sum(s.replayed for s in self.stores.values())
        for s in self.stores.values():
            s.sync_log()
        self.redo.reset()
        self.queues = {}

    def queue(self, p):
        q = self.queues.get(p)
        if q is None:
            q = self.queues[p] = open_queue(self.stores[p], QID, QueueConfig(), 0, restore=True)
        return q

    def tick(self) -> None:
        parts = [(s, *s.commit(fsync=False, log=True)) for s in self.stores.values() if s.dirty]
        if parts:
            self.redo.append(parts)
            self.redo.sync_log()

    def files(self) -> dict:
        """The partitions' files as they are now (what their last sync left, if taken then)."""
        out = {}
        for p in self.stores:
            for suffix in ("", "-wal"):
                path = self.root / f"p-{p:04d}.db{suffix}"
                if path.exists():
                    out[path.name] = path.read_bytes()
        return out

    def crash(self) -> None:
        """The process ends without closing anything of its own."""
        for s in self.stores.values():
            if "db" in s.__dict__:
                s.db.close()
        self.redo.close()


def _power_cut(rig: Rig, synced: dict) -> None:
    """Partitions' files back to `synced` (their unsynced tails lost); the redo log kept."""
    rig.crash()
    for p in rig.stores:
        for suffix in ("", "-wal"):
            path = rig.root / f"p-{p:04d}.db{suffix}"
            if path.name in synced:
                path.write_bytes(synced[path.name])
            elif path.exists():
                path.unlink()


def _copy(root, name: str, redo: bool = True):
    """The data files as they are now, in a new directory under `root`."""
    to = root / name
    to.mkdir()
    for f in root.iterdir():
        if f.is_file() and (redo or not f.name.startswith("redo-")):
            shutil.copy(f, to / f.name)
    return to


def _state(root, master) -> dict:
    """Everything the partitions hold, read back (replaying the redo log as the shard does)."""
    rig = Rig(root, master)
    out = {}
    for p, s in rig.stores.items():
        ents = {kind: dict(s.scan(kind)) for kind in s.kinds()}
        msgs = [(r.seq, r.receive_count, r.state, r.ident[0], s.load_payload(QID, r.seq))
                for r in s.iter_messages(QID)]
        out[p] = (ents, msgs, s.allocate_id("ctr"))
    rig.crash()
    return out


def _work(rig: Rig, ticks: range) -> None:
    for t in ticks:
        for p, s in rig.stores.items():
            s.put("thing", f"t{t}", {"tick": t, "p": p})
            if t % 3 == 2:
                s.delete("thing", f"t{t - 1}")
            s.allocate_id("ctr")
            q = rig.queue(p)
            for i in range(4):
                q.enqueue(0, b"m%d-%d-%d" % (p, t, i), 8, msg_id=f"id-{t}-{i}")
            got = q.receive(0, 3, lease_ms=60_000).messages     # state updates
            q.delete(got[0].seq, got[0].lease)                  # a removal
        lax = rig.stores[max(rig.stores)]
        with lax.relaxed():                 # relaxed writes are logged too, in order
            lax.put("lax", f"t{t}", t)
        rig.tick()


def test_a_power_cut_loses_nothing_a_synced_redo_record_holds(tmp_path, master):
    rig = Rig(tmp_path, master)
    _work(rig, range(0, 3))
    synced = rig.files()           # say the partitions' logs were last synced here
    _work(rig, range(3, 9))
    expected = _state(_copy(tmp_path, "intact"), master)
    _power_cut(rig, synced)
    without = _copy(tmp_path, "without-redo", redo=False)
    assert _state(without, master) != expected        # the cut did lose the partitions' tails
    after = Rig(tmp_path, master)
    assert after.replayed == PARTS * 6
    after.crash()
    assert _state(tmp_path, master) == expected
    # what a replay wrote is synced and the log started over: nothing is replayed twice
    again = Rig(tmp_path, master)
    assert again.replayed == 0 and again.redo.records == 0
    again.crash()


def test_replay_stops_at_a_torn_record(tmp_path, master):
    rig = Rig(tmp_path, master)
    _work(rig, range(0, 2))
    synced = rig.files()
    _work(rig, range(2, 4))
    expected = _state(_copy(tmp_path, "before-last"), master)     # state after tick 3, written by ticks 0-3
    end = rig.redo.offset
    _work(rig, range(4, 5))
    torn_at = end + (rig.redo.offset - end) // 2
    _power_cut(rig, synced)
    with open(log_path(tmp_path, 0, 1), "r+b") as f:   # the last record half written
        f.seek(torn_at)
        f.write(bytes(rig.redo.offset - torn_at))
    assert _state(tmp_path, master) == expected


def test_a_reset_syncs_the_partitions_and_starts_a_new_generation(tmp_path, master, monkeypatch):
    monkeypatch.setattr(redo_mod, "LIMIT", redo_mod.HEADER + 6000)   # a few records per generation
    rig = Rig(tmp_path, master)
    gen = rig.redo.gen
    syncs = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(os.readlink(f"/proc/self/fd/{fd}")),
                                                     real(fd))[1])
    _work(rig, range(0, 8))
    assert rig.redo.gen > gen                              # it filled and started over
    assert any(s.endswith(".db-wal") for s in syncs)       # the partitions' logs synced first
    expected = _state_live(rig)
    synced = rig.files()
    rig.crash()
    reopened = RedoLog(log_path(tmp_path, 0, 1))
    # only the current generation's records are read, not the older ones further on
    assert 0 < reopened.records < 8
    reopened.close()
    _power_cut(rig, synced)
    assert _state(tmp_path, master) == expected


def _state_live(rig: Rig) -> dict:
    out = {}
    for p, s in rig.stores.items():
        ents = {kind: dict(s.scan(kind)) for kind in s.kinds()}
        msgs = [(r.seq, r.receive_count, r.state, r.ident[0], s.load_payload(QID, r.seq))
                for r in s.iter_messages(QID)]
        out[p] = (ents, msgs, s._counters["ctr"] + 1)
    return out


def test_a_dropped_queue_stays_dropped_after_a_replay(tmp_path, master):
    rig = Rig(tmp_path, master)
    _work(rig, range(0, 2))
    synced = rig.files()
    s = rig.stores[0]
    s.drop_queue(QID)
    rig.queues.pop(0)
    rig.tick()
    _power_cut(rig, synced)
    state = _state(tmp_path, master)
    assert state[0][1] == [] and state[1][1] != []


def test_logs_of_another_shard_count_are_replayed_by_replay_stale(tmp_path, master):
    rigs = [Rig(tmp_path, master, index=i, shards=2) for i in range(2)]
    synced = {}
    for rig in rigs:
        _work(rig, range(0, 1))
        synced[id(rig)] = rig.files()
    for rig in rigs:
        _work(rig, range(1, 4))
    live = {}
    for rig in rigs:
        live.update(_state_live(rig))
    for rig in rigs:
        _power_cut(rig, synced[id(rig)])

    def open_partition(p, entries):
        return SqlitePartitionStore(tmp_path / f"p-{p:04d}.db", p, master, "fsync", entries)

    # a start with one shard: the two logs of the two-shard layout are no shard's
    assert replay_stale(tmp_path, 1, "fsync", open_partition) == PARTS * 3
    assert not list(tmp_path.glob("redo-*-of-2.log"))
    assert _state(tmp_path, master) == live


def test_a_start_with_the_same_layout_leaves_its_shards_logs_alone(tmp_path, master):
    rig = Rig(tmp_path, master, index=0, shards=2)
    _work(rig, range(0, 1))
    rig.crash()
    assert replay_stale(tmp_path, 2, "fsync", lambda p, e: pytest.fail("opened")) == 0
    assert log_path(tmp_path, 0, 2).exists()
    # at another durability no shard reads it: replayed and removed
    n = replay_stale(tmp_path, 2, "process",
                     lambda p, e: SqlitePartitionStore(tmp_path / f"p-{p:04d}.db", p, master, "fsync", e))
    assert n == 0 and not log_path(tmp_path, 0, 2).exists()


def test_data_keys_made_in_the_lost_tail_are_replayed_with_the_rows_they_seal(tmp_path, master, monkeypatch):
    from broker.core import crypto
    monkeypatch.setattr(crypto, "ROTATE_COUNT", 6)      # a new key generation every few seals
    monkeypatch.setattr(crypto, "RESERVE", 2)
    rig = Rig(tmp_path, master)
    _work(rig, range(0, 1))
    synced = rig.files()
    _work(rig, range(1, 5))
    expected = _state_live(rig)
    _power_cut(rig, synced)
    assert _state(tmp_path, master) == expected        # every replayed blob opens
