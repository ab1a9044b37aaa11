"""The store's group commit: relaxed writes (a consumer's ack) at durability
"fsync" (a tick holding only relaxed writes commits without a sync of its own;
any other write makes the commit fdatasync the write-ahead log), counters
written only when they move, and the committed payloads kept in memory within
a budget."""

from __future__ import annotations

import os

import pytest

from broker.core import store as store_mod
from broker.core.crypto import AesGcmKey
from broker.core.message import Message
from broker.core.store import MemoryPartitionStore, SqlitePartitionStore


def _hot(store) -> tuple[int, int]:
    """(messages, bytes) of this store in the process's hot-payload budget."""
    sizes = [size for (sid, _rid), (_m, size) in store_mod.HOT.entries.items() if sid == store._hot_id]
    return len(sizes), sum(sizes)


@pytest.fixture
def master():
    return AesGcmKey(os.urandom(32), "test-master")


@pytest.fixture
def syncs(monkeypatch):
    """Descriptors the store fdatasyncs (the write-ahead log's, for a commit made durable)."""
    done: list[int] = []
    real = os.fdatasync

    def fdatasync(fd):
        done.append(fd)
        real(fd)
    monkeypatch.setattr(store_mod.os, "fdatasync", fdatasync)
    return done


def _commit(store, syncs) -> int:
    """fdatasyncs the store's commit made."""
    syncs.clear()
    store.commit()
    return len(syncs)


def test_a_tick_of_relaxed_writes_only_commits_without_fsync(tmp_path, master, syncs):
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "fsync")
    with store.relaxed():
        store.put("k", "a", {"v": 1})
    assert _commit(store, syncs) == 0
    store.put("k", "b", {"v": 2})
    assert _commit(store, syncs) == 1                         # a plain write: the log is synced
    assert os.path.realpath(f"/proc/self/fd/{syncs[0]}") == os.path.realpath(tmp_path / "p0.db-wal")
    store.close()
    again = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "fsync")
    assert again.get("k", "a") == {"v": 1} and again.get("k", "b") == {"v": 2}
    again.close()


@pytest.mark.parametrize("order", ["strict first", "strict after"])
def test_any_other_write_in_the_tick_keeps_the_commit_synchronous(tmp_path, master, syncs, order):
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "fsync")
    if order == "strict first":
        store.put("k", "strict", 1)
    with store.relaxed():
        store.put("k", "lax", 1)
    if order == "strict after":
        store.put("k", "strict", 1)
    assert _commit(store, syncs) == 1
    with store.relaxed():          # the flag starts afresh after each commit
        store.delete("k", "lax")
    assert _commit(store, syncs) == 0
    store.close()


def test_a_split_commit_leaves_the_sync_to_the_caller(tmp_path, master, syncs):
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "fsync")
    store.put("k", "a", 1)
    assert store.needs_fsync
    syncs.clear()                  # the new store's creation was synced
    store.commit(fsync=False)
    assert syncs == [] and not store.needs_fsync and not store.dirty
    store.sync_log()
    assert len(syncs) == 1
    store.close()


def test_process_durability_and_memory_store_never_sync(tmp_path, master, syncs):
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    store.put("k", "a", 1)
    assert not store.needs_fsync
    assert _commit(store, syncs) == 0
    store.close()
    mem = MemoryPartitionStore(0)
    with mem.relaxed():
        mem.put("k", "a", 1)
    assert mem.get("k", "a") == 1


def test_a_counter_is_written_in_the_commit_after_it_moved_only(tmp_path, master):
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    assert store.allocate_id("qid") == 1
    store.commit()
    store.put("k", "a", 1)
    statements = []
    store.db.set_trace_callback(statements.append)
    store.commit()
    assert not [s for s in statements if "meta" in s]
    assert store.allocate_id("qid") == 2
    store.commit()
    assert [s for s in statements if "meta" in s]
    store.db.set_trace_callback(None)
    store.close()
    again = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    assert again.allocate_id("qid") == 3
    again.close()


def _msg(seq: int, body: bytes) -> Message:
    return Message(seq, f"id{seq}", body, len(body), None, None, 0, 0, 0, None)


def test_committed_payloads_stay_in_memory_within_the_budget(tmp_path, master, monkeypatch):
    monkeypatch.setattr(store_mod, "HOT_PAYLOAD_BYTES", 250)
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    msgs = [_msg(i, b"%03d" % i + b"x" * 97) for i in range(1, 5)]          # 100 bytes each
    for m in msgs:
        store.msg_inserted(7, m)
    store.commit()
    # the newest two fit the 250-byte budget; the older ones are read back from disk
    assert [m.payload is not None for m in msgs] == [False, False, True, True]
    assert store.load_payloads(7, [1, 2]) == {1: b"001" + b"x" * 97, 2: b"002" + b"x" * 97}
    # a consumed message lets its payload go at the next commit, making room for a newer one
    store.msg_removed(7, msgs[3])
    newer = _msg(5, b"005" + b"x" * 97)
    store.msg_inserted(7, newer)
    store.commit()
    assert msgs[3].payload is None and msgs[2].payload is not None and newer.payload is not None
    assert store.load_payload(7, 5) == b"005" + b"x" * 97
    store.close()


def test_a_message_left_behind_does_not_grow_the_hot_list(tmp_path, master, monkeypatch):
    monkeypatch.setattr(store_mod, "HOT_MESSAGES", 10)
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    stuck = _msg(1, b"stuck")
    store.msg_inserted(7, stuck)
    store.commit()
    for seq in range(2, 200):           # each consumed in the tick after its commit
        m = _msg(seq, b"body")
        store.msg_inserted(7, m)
        store.commit()
        store.msg_removed(7, m)
    store.commit()
    # consumed messages leave the hot list at once: only the one left behind stays (within budget)
    assert _hot(store) == (1, len(b"stuck"))
    assert stuck.payload == b"stuck" and store.load_payload(7, 1) == b"stuck"
    store.close()


class _Ref:
    """A removal by sequence number only (SES's mailbox keeps no Message objects)."""
    __slots__ = ("seq",)

    def __init__(self, seq: int):
        self.seq = seq


def test_removal_by_bare_reference_commits(tmp_path, master):
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    store.msg_inserted(7, _msg(1, b"mail"))
    store.commit()
    store.msg_removed(7, _Ref(1))
    store.commit()                      # nothing to let go on a bare reference; the delete lands
    assert _hot(store) == (0, 0)
    store.close()
    again = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    assert again.load_payloads(7, [1]) == {}
    again.close()


def test_a_read_back_payload_removed_keeps_the_budget_exact(tmp_path, master, monkeypatch):
    monkeypatch.setattr(store_mod, "HOT_PAYLOAD_BYTES", 250)
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    msgs = [_msg(i, b"x" * 100) for i in range(1, 5)]
    for m in msgs:
        store.msg_inserted(7, m)
    store.commit()
    assert _hot(store) == (2, 200)
    old = msgs[0]
    old.payload = store.load_payload(7, 1)           # read back for a delivery, then consumed
    store.msg_removed(7, old)
    store.commit()
    # the read-back payload was never counted: the budget still holds the two newest
    assert _hot(store) == (2, 200) and old.payload is None
    assert msgs[2].payload is not None and msgs[3].payload is not None
    store.close()


def test_the_budget_is_shared_by_the_process_s_partitions(tmp_path, master, monkeypatch):
    monkeypatch.setattr(store_mod, "HOT_PAYLOAD_BYTES", 250)
    a = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    b = SqlitePartitionStore(tmp_path / "p1.db", 1, master, "process")
    older = [_msg(i, b"a" * 100) for i in (1, 2)]
    for m in older:
        a.msg_inserted(7, m)
    a.commit()
    newer = [_msg(i, b"b" * 100) for i in (1, 2)]
    for m in newer:
        b.msg_inserted(7, m)
    b.commit()
    # four payloads, room for two in the process: the other partition's older ones went
    assert [m.payload is not None for m in older + newer] == [False, False, True, True]
    assert a.load_payload(7, 1) == b"a" * 100
    a.close()
    b.close()
    assert _hot(b) == (0, 0) and store_mod.HOT.bytes >= 0


def test_runs_of_consecutive_updates_and_removals_touch_only_their_rows(tmp_path, master):
    """Updates and removals of consecutive seqs are written by rid range (one statement
    per run); rows between runs, other queues' rows and differing updates stay exact."""
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    for qid in (7, 8):
        for i in range(1, 31):
            store.msg_inserted(qid, _msg(i, b"m%d" % i))
    store.commit()
    msgs = {i: _msg(i, b"m%d" % i) for i in range(1, 31)}
    for i in list(range(3, 13)) + [14, 20, 21]:          # a run of 10, a single, a run of 2
        m = msgs[i]
        m.state, m.receive_count, m.lease, m.first_receive_at = 2, 1, 1, 1000
        if i == 8:
            m.receive_count = 4                            # splits the run in two
        store.msg_updated(7, m)
    for i in list(range(22, 30)) + [1, 16, 17]:           # a run of 8, a single, a run of 2
        store.msg_removed(7, msgs[i])
    store.commit()
    store.close()
    again = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    got = {r.seq: (r.state, r.receive_count, r.lease, r.first_receive_at) for r in again.iter_messages(7)}
    want = {}
    for i in range(1, 31):
        if i in (1, 16, 17) or 22 <= i <= 29:
            continue
        if 3 <= i <= 12 or i in (14, 20, 21):
            want[i] = (2, 4 if i == 8 else 1, 1, 1000)
        else:
            want[i] = (1, 0, 0, None)
    assert got == want
    assert [r.seq for r in again.iter_messages(8)] == list(range(1, 31))
    again.close()
