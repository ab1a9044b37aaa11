"""Data keys rotate before AES-GCM's random-nonce bound and by age; every
generation stays readable; restarts never reuse a generation's budget."""

from __future__ import annotations

import os

import pytest

from broker.core import crypto
from broker.core.crypto import AesGcmKey, DecryptError, KeyRing
from broker.core.message import Message
from broker.core.store import SqlitePartitionStore


class MemRingStore:
    def __init__(self, clock):
        self.rows: dict[int, list] = {}
        self.clock = clock

    def new(self, gen):
        raw = os.urandom(32)
        self.rows[gen] = [raw, self.clock[0], 0]
        return raw, self.clock[0]

    def reserve(self, gen, upto):
        self.rows[gen][2] = upto

    def generations(self):
        return {g: tuple(r) for g, r in self.rows.items()}


def test_rotates_by_count_and_age_and_opens_every_generation(monkeypatch):
    monkeypatch.setattr(crypto, "ROTATE_COUNT", 10)
    monkeypatch.setattr(crypto, "RESERVE", 4)
    clock = [1000.0]
    store = MemRingStore(clock)
    ring = KeyRing({}, store, now=lambda: clock[0])
    blobs = [ring.seal(b"m%d" % i, b"aad") for i in range(25)]
    gens = [int.from_bytes(b[1:5], "big") for b in blobs]
    assert gens[0] == 1 and max(gens) == 3           # 10 seals per generation at most
    assert all(gens.count(g) <= 10 for g in set(gens))
    assert [ring.open(b, b"aad") for b in blobs] == [b"m%d" % i for i in range(25)]
    clock[0] += crypto.ROTATE_AGE_S                  # a month later the next seal uses a new key
    gen_before = ring.gen
    while ring.gen == gen_before:
        ring.seal(b"x")
    assert ring.gen == gen_before + 1
    with pytest.raises(DecryptError):
        ring.open(blobs[0], b"other aad")


def test_restart_assumes_reserved_seals_were_used(monkeypatch):
    monkeypatch.setattr(crypto, "ROTATE_COUNT", 100)
    monkeypatch.setattr(crypto, "RESERVE", 30)
    clock = [0.0]
    store = MemRingStore(clock)
    ring = KeyRing({}, store, now=lambda: clock[0])
    for _ in range(5):
        ring.seal(b"x")
    # a restart: the 30 reserved count as used, so 70 more at most under gen 1
    ring2 = KeyRing(store.generations(), store, now=lambda: clock[0])
    assert ring2.gen == 1 and ring2.count == 30
    for _ in range(71):
        ring2.seal(b"y")
    assert ring2.gen == 2


def test_version1_blobs_open_as_generation_zero():
    raw = os.urandom(32)
    old = AesGcmKey(raw).seal(b"legacy", b"a")
    clock = [0.0]
    store = MemRingStore(clock)
    ring = KeyRing({0: (raw, 0.0, 0)}, store, now=lambda: clock[0])
    assert ring.open(old, b"a") == b"legacy"
    assert ring.gen == 1                      # new seals never use the legacy key


def test_store_payloads_survive_rotation_and_reopen(tmp_path, monkeypatch):
    monkeypatch.setattr(crypto, "ROTATE_COUNT", 7)
    monkeypatch.setattr(crypto, "RESERVE", 3)
    master = AesGcmKey(os.urandom(32))
    path = tmp_path / "p.db"
    store = SqlitePartitionStore(path, 0, master, "process")
    qid = store.allocate_id("qid")
    for seq in range(1, 41):
        m = Message(seq, f"id{seq}", b"payload-%d" % seq, 9, None, None, 0, 0, 0, None, 0, None, 0, 1)
        store.msg_inserted(qid, m)
        if seq % 5 == 0:
            store.commit()
    store.commit()
    gens = {g for (g,) in store.db.execute("SELECT gen FROM datakeys2 WHERE scope=?", (qid,))}
    assert len(gens) >= 5
    store.close()
    store = SqlitePartitionStore(path, 0, master, "process")
    assert [store.load_payload(qid, s) for s in range(1, 41)] == [b"payload-%d" % s for s in range(1, 41)]
    store.close()
