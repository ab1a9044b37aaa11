"""A commit's row operations (broker.core._store_ops): the rid-range statements that
stand for runs of consecutive staged rows must change exactly the rows a statement per
row would, and packing them for the redo log must not change what they do."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import msgspec
from hypothesis import given, settings, strategies as st

from broker.core import _store_ops as ops

ROWS = range(0, 60)


def _db():
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE messages (rid INTEGER PRIMARY KEY, vis INTEGER, rc INTEGER, fr INTEGER, "
               "lease INTEGER, st INTEGER, ident BLOB, payload BLOB)")
    db.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?)",
                   [(rid, 0, 0, 0, 0, 0, b"i", b"p") for rid in ROWS])
    return db


def _rows(db):
    return db.execute("SELECT * FROM messages ORDER BY rid").fetchall()


def _msg(v):
    return SimpleNamespace(visible_at=v[0], receive_count=v[1], first_receive_at=v[2], lease=v[3], state=v[4])


staged_updates = st.dictionaries(st.sampled_from(ROWS), st.sampled_from([(1, 1, 5, 7, 1), (2, 1, 5, 8, 1)]),
                                 max_size=40)
staged_deletes = st.sets(st.sampled_from(ROWS), max_size=40)


@settings(max_examples=200, deadline=None)
@given(staged_updates, staged_deletes, st.booleans())
def test_range_statements_change_exactly_the_staged_rows(upd, dels, packed):
    expected = _db()
    for rid, v in upd.items():
        expected.execute("UPDATE messages SET vis=?, rc=?, fr=?, lease=?, st=? WHERE rid=?", (*v, rid))
    for rid in dels:
        expected.execute("DELETE FROM messages WHERE rid=?", (rid,))
    got = _db()
    out: list = []
    if upd:
        ops.updates({rid: _msg(v) for rid, v in upd.items()}, out)
    if dels:
        ops.deletes(dels, out)
    if packed:        # what a replay reads back from the redo log
        out = msgspec.msgpack.decode(msgspec.msgpack.encode(out))
    ops.apply(got, out)
    assert _rows(got) == _rows(expected)


def test_a_run_of_consecutive_rows_is_one_statement():
    out: list = []
    ops.updates({rid: _msg((1, 1, 5, 7, 1)) for rid in range(10, 20)}, out)
    ops.deletes(set(range(30, 40)) | {50}, out)
    assert [(code, len(args)) for code, args in out] == [
        (ops.UPD_RANGE, 1), (ops.DEL_RANGE, 1), (ops.DEL, 1)]
