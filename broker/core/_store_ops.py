"""A partition commit as a list of row operations, applied to SQLite and logged.

`SqlitePartitionStore` turns what it staged into ops (rows already sealed), runs
them in one transaction, and at "fsync" hands the same ops, packed, to the
shard's redo log (broker.core.redo). Replaying a partition's logged ops in order
after a power loss rebuilds exactly what its transactions wrote: every op is a
whole-row write or a delete by key, so it needs no state but the rows it names.
"""

from __future__ import annotations

SEQ_BITS = 40            # rid = qid << SEQ_BITS | seq
RUN = 4                  # consecutive rids written by one range statement from this many on

# op codes: (code, args)
DROP, INS, UPD_RANGE, UPD, DEL_RANGE, DEL, ENT_PUT, ENT_DEL, DD_PUT, DD_DEL, META, KEYS = range(12)

_SQL = {
    INS: "INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?,?)",
    UPD_RANGE: "UPDATE messages SET vis=?, rc=?, fr=?, lease=?, st=? WHERE rid BETWEEN ? AND ?",
    UPD: "UPDATE messages SET vis=?, rc=?, fr=?, lease=?, st=? WHERE rid=?",
    DEL_RANGE: "DELETE FROM messages WHERE rid BETWEEN ? AND ?",
    DEL: "DELETE FROM messages WHERE rid=?",
    ENT_PUT: "INSERT OR REPLACE INTO entities VALUES (?,?,?)",
    ENT_DEL: "DELETE FROM entities WHERE kind=? AND key=?",
    DD_PUT: "INSERT OR REPLACE INTO dedup VALUES (?,?,?,?)",
    DD_DEL: "DELETE FROM dedup WHERE qid=? AND k=?",
    META: "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
}

# the key rows a KeyRing writes (broker.core.store._RingStore), by index in KEYS ops
KEY_SQL = (
    "INSERT OR REPLACE INTO datakeys2 VALUES (?,?,?,?,?)",
    "UPDATE datakeys2 SET reserved=? WHERE scope=? AND gen=?",
)


def apply(db, ops) -> None:
    """Run `ops` on `db` (inside the caller's transaction)."""
    execute, many = db.execute, db.executemany
    for code, args in ops:
        if code == DROP:
            lo, hi = args << SEQ_BITS, ((args + 1) << SEQ_BITS) - 1
            execute("DELETE FROM messages WHERE rid BETWEEN ? AND ?", (lo, hi))
            execute("DELETE FROM dedup WHERE qid=?", (args,))
            execute("DELETE FROM datakeys WHERE scope=?", (args,))     # nothing sealed under them is left
            execute("DELETE FROM datakeys2 WHERE scope=?", (args,))
        elif code == KEYS:
            for i, params in args:
                execute(KEY_SQL[i], params)
        elif code == UPD_RANGE or code == DEL_RANGE:
            for params in args:
                execute(_SQL[code], params)
        else:
            many(_SQL[code], args)


def updates(upd: dict, ops: list) -> None:
    """Ops for the staged messages' new state. A run of consecutive rids with the same new
    values (a push consumer's deliveries of one dispatch) is one statement by rid range:
    every rid of the range is staged, so the range touches no other row; SQLite's cost
    per row drops about 4x against a statement per row."""
    singles = []
    run: list = []              # [lo, hi, values]
    runs = []
    for rid in sorted(upd):
        m = upd[rid]
        v = (m.visible_at, m.receive_count, m.first_receive_at, m.lease, m.state)
        if run and rid == run[1] + 1 and v == run[2]:
            run[1] = rid
            continue
        if run:
            runs.append(run)
        run = [rid, rid, v]
    runs.append(run)
    ranges = []
    for lo, hi, v in runs:
        if hi - lo + 1 >= RUN:
            ranges.append((*v, lo, hi))
        else:
            singles.extend((*v, rid) for rid in range(lo, hi + 1))
    if ranges:
        ops.append((UPD_RANGE, ranges))
    if singles:
        ops.append((UPD, singles))


def deletes(rids: set, ops: list) -> None:
    """Ops for the staged removals; a run of consecutive rids (acks of consecutive
    deliveries) is one statement by rid range, touching no other row (all are staged)."""
    singles, ranges = [], []
    order = sorted(rids)
    i, n = 0, len(order)
    while i < n:
        j = i
        while j + 1 < n and order[j + 1] == order[j] + 1:
            j += 1
        if j - i + 1 >= RUN:
            ranges.append((order[i], order[j]))
        else:
            singles.extend((r,) for r in order[i:j + 1])
        i = j + 1
    if ranges:
        ops.append((DEL_RANGE, ranges))
    if singles:
        ops.append((DEL, singles))
