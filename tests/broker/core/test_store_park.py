"""A partition store that holds nothing is parked at start (its SQLite connection
closed: memory an idle server need not hold) and opens again on its first use,
with the same keys, so what is written after that reads back after a restart."""

from __future__ import annotations

import os

import pytest

from broker.core.crypto import AesGcmKey
from broker.core.message import QueueConfig
from broker.core.store import SqlitePartitionStore, open_queue

QID = 7


@pytest.fixture
def master():
    return AesGcmKey(os.urandom(32), "test-master")


def _holds_db(path) -> bool:
    """Does this process have the store's database file open?"""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                return True
        except FileNotFoundError:
            pass
    return False


def test_an_empty_store_parks_and_reopens_on_first_write(tmp_path, master):
    path = tmp_path / "p0.db"
    store = SqlitePartitionStore(path, 0, master, "process")
    assert _holds_db(path)
    assert store.park()
    assert not _holds_db(path) and not store.dirty
    assert store.get("k", "a") is None and list(store.scan("k")) == []    # the memory mirror: no reopen
    assert not _holds_db(path)
    store.put("k", "a", {"v": 1})
    q = open_queue(store, QID, QueueConfig(), 0, restore=False)
    q.enqueue(0, b"after the park", 10, msg_id="m1")
    store.commit()
    assert _holds_db(path)
    store.close()
    again = SqlitePartitionStore(path, 0, master, "process")
    assert again.get("k", "a") == {"v": 1}
    q = open_queue(again, QID, QueueConfig(), 0, restore=True)
    got = q.receive(0, 10).messages
    payloads = [m.payload if m.payload is not None else again.load_payload(QID, m.seq) for m in got]
    assert payloads == [b"after the park"]
    again.close()


def test_a_counter_read_reopens_a_parked_store(tmp_path, master):
    store = SqlitePartitionStore(tmp_path / "p0.db", 0, master, "process")
    first = store.allocate_id("qid")
    store.commit()
    assert store.park()
    assert store.allocate_id("qid") == first + 1
    store.close()


@pytest.mark.parametrize("holding", ["entity", "message"])
def test_a_store_holding_anything_stays_open(tmp_path, master, holding):
    path = tmp_path / "p0.db"
    store = SqlitePartitionStore(path, 0, master, "process")
    if holding == "entity":
        store.put("k", "a", 1)
    else:
        open_queue(store, QID, QueueConfig(), 0, restore=False).enqueue(0, b"x", 10, msg_id="m1")
    assert not store.park()                  # staged: not yet committed
    store.commit()
    assert not store.park() and _holds_db(path)
    store.close()


def test_closing_a_parked_store_opens_nothing(tmp_path, master):
    path = tmp_path / "p0.db"
    store = SqlitePartitionStore(path, 0, master, "process")
    assert store.park()
    store.close()
    assert not _holds_db(path)
