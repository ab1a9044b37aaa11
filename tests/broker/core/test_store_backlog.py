"""A standard queue on the SQLite store keeps only a window of its ready backlog in
memory (broker.core._backlog): the rest is read back in order, counted exactly, purged,
expired and recovered after a restart without holding it all in memory."""

from __future__ import annotations

import os

import pytest

from broker.core import _backlog
from broker.core import store as store_mod
from broker.core.crypto import AesGcmKey
from broker.core.message import QueueConfig
from broker.core.store import SqlitePartitionStore, open_queue

QID = 7


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(_backlog, "WINDOW", 50)
    monkeypatch.setattr(_backlog, "CHUNK", 20)


def _open(path, key, config=None, now=0):
    store = SqlitePartitionStore(path, 0, key, "process")
    q = open_queue(store, QID, config or QueueConfig(), now, restore=True)
    return store, q


def _send(store, q, n, now=0, start=0, **kw):
    for i in range(start, start + n):
        q.enqueue(now, b"body %d" % i, 10 + i % 7, msg_id=f"m{i}", **kw)
        if i % 10 == 9:
            store.commit()          # a tick: spilling needs committed records
    store.commit()


def _hot_consistent() -> bool:
    return store_mod.HOT.bytes == sum(size for _m, size in store_mod.HOT.entries.values())


def _drain(store, q, now=0, unread=None):
    got = []
    while True:
        res = q.receive(now, 10)
        if not res.messages:
            break
        for m in res.messages:
            if unread is not None and m.payload is None:
                unread.append(m.seq)
            payload = m.payload if m.payload is not None else store.load_payload(QID, m.seq)
            got.append(payload)
            q.delete(m.seq, m.lease)
        store.commit()
    return got


def test_backlog_beyond_window_in_order_exactly_once(tmp_path, small):
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key)
    _send(store, q, 500)
    assert q.visible == q.total == 500
    assert q.bytes == sum(10 + i % 7 for i in range(500))
    assert q.spilled >= 400 and len(q._msgs) <= 100     # the rest lives only in the store
    assert [m.msg_id for m in sorted(q.messages(), key=lambda m: m.seq)] == [f"m{i}" for i in range(500)]
    unread: list = []
    got = _drain(store, q, unread=unread)
    assert got == [b"body %d" % i for i in range(500)]
    assert unread == []              # a chunk is read back with its payloads (small ones)
    assert q.total == q.visible == q.bytes == q.spilled == 0
    assert _hot_consistent()
    store.close()


def test_restart_loads_only_the_window(tmp_path, small, monkeypatch):
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key)
    _send(store, q, 300)
    first = q.receive(0, 3).messages            # in flight across the restart
    store.commit()
    store.close()
    read = []
    real = store_mod._message
    monkeypatch.setattr(store_mod, "_message", lambda r: read.append(r.seq) or real(r))
    store, q = _open(tmp_path / "p.db", key)
    assert len(read) < 120                      # the spilled chunks are restored unread
    assert (q.visible, q.inflight, q.total) == (297, 3, 300)
    assert q.spilled >= 200 and len(q._msgs) <= 100
    assert q.bytes == sum(10 + i % 7 for i in range(300))
    got = _drain(store, q)
    assert got == [b"body %d" % i for i in range(3, 300)]
    assert [m.seq for m in first] == [1, 2, 3] and q.inflight == 3
    # a restart after everything was taken and more sent: new seqs follow the old ones
    _send(store, q, 100, start=300)
    store.close()
    store, q = _open(tmp_path / "p.db", key)
    assert _drain(store, q) == [b"body %d" % i for i in range(300, 400)]
    store.close()


def test_purge_and_expiry_reach_the_spilled(tmp_path, small):
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key, QueueConfig(retention_ms=1000))
    _send(store, q, 200, now=0)
    _send(store, q, 200, now=500, start=200)
    assert q.spilled > 0
    assert q.next_deadline() == 1000
    res = q.tick(1000)                           # the first 200 expire, most of them on disk
    store.commit()
    assert sorted(m.msg_id for m in res.expired) == sorted(f"m{i}" for i in range(200))
    assert q.visible == q.total == 200
    assert q.purge() == 200
    store.commit()
    assert q.total == q.visible == q.bytes == 0
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    store.close()
    store, q = _open(tmp_path / "p.db", key, QueueConfig(retention_ms=1000))
    assert q.total == 0
    store.close()


def test_expired_chunks_go_unread(tmp_path, small, monkeypatch):
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key, QueueConfig(retention_ms=1000))
    _send(store, q, 400, now=0)
    spilled = q.spilled
    assert spilled >= 300
    read = []
    real = store_mod._message
    monkeypatch.setattr(store_mod, "_message", lambda r: read.append(r.seq) or real(r))
    res = q.tick(1000, keep_expired=False)
    store.commit()
    assert read == []                            # removed by rid, never decrypted
    assert len(res.expired) == 400 - spilled     # only those in memory are handed back
    assert q.total == q.visible == q.bytes == q.spilled == 0
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert next(iter(store.scan(store_mod.KIND_BACKLOG)), None) is None
    store.close()


def test_uncommitted_messages_stay_in_memory(tmp_path, small):
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key)
    for i in range(400):                     # one long tick: nothing committed yet
        q.enqueue(0, b"x", 1, msg_id=str(i))
    assert q.spilled == 0 and len(q._msgs) == 400
    store.commit()
    q.enqueue(0, b"x", 1, msg_id="400")      # the next call may spill what is committed
    assert q.spilled > 0
    assert q.total == 401
    store.close()


def test_delayed_and_leased_messages_between_spilled_ones(tmp_path, small):
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key, QueueConfig(lease_ms=100))
    for i in range(300):
        q.enqueue(0, b"%d" % i, 1, msg_id=str(i), delay_ms=50 if i % 5 == 0 else None)
        if i % 10 == 9:
            store.commit()
    store.commit()
    assert q.spilled > 0 and q.delayed == 60
    q.tick(50)                                   # the delayed ones are ready now, in memory
    store.commit()
    got = _drain(store, q, now=50)
    assert got == [b"%d" % i for i in range(300)]
    assert _hot_consistent()
    store.close()


def test_ordered_reads_the_backlog_only_as_far_as_consumed(tmp_path, small, monkeypatch):
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key)
    _send(store, q, 400)
    read = []
    real = store_mod._message
    monkeypatch.setattr(store_mod, "_message", lambda r: read.append(r.seq) or real(r))
    it = q.ordered()
    first = [next(it) for _ in range(120)]
    assert [m.msg_id for m in first] == [f"m{i}" for i in range(120)]
    assert len(read) <= 100 < q.spilled         # the chunks reached, not the whole backlog
    assert [m.msg_id for m in first + list(it)] == [f"m{i}" for i in range(400)]
    store.close()


def test_read_ahead_brings_the_next_chunk_back_before_the_window_runs_dry(tmp_path, small):
    """``read_ahead`` (a push consumer's shard calls it after a dispatch) reads the oldest
    chunk back once the window is down to a chunk, after the window, in seq order; the
    receives that follow find every message in memory and order and counts stay exact."""
    key = AesGcmKey(os.urandom(32))
    store, q = _open(tmp_path / "p.db", key)
    _send(store, q, 200)
    spilled = q.spilled
    assert spilled >= 100 and not q.ahead_due() and not q.read_ahead()     # a full window
    got = []
    while not q.ahead_due():
        res = q.receive(0, 10)
        for m in res.messages:
            got.append(m.payload)
            q.delete(m.seq, m.lease)
        store.commit()
    assert q.spilled == spilled and q.read_ahead() and q.spilled == spilled - _backlog.CHUNK
    store.commit()                      # the chunk's record goes in this tick's commit
    got += _drain(store, q)
    assert got == [b"body %d" % i for i in range(200)]
    assert q.total == q.visible == q.bytes == q.spilled == 0
    store.close()
    store, q = _open(tmp_path / "p.db", key)          # nothing left behind on disk
    assert q.total == 0 and list(store.scan(store_mod.KIND_BACKLOG)) == []
    store.close()
