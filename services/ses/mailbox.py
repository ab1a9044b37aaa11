"""The mailbox: every mail SES accepted (API or SMTP), received mail, and the
mails SES itself writes (verification, bounces, auto-replies), durable and
encrypted at rest, for tests and developers to assert on.

Per partition, summaries are entity records (``ses.mail``, in memory) and
raw messages live in the store's message table under one queue id, so the
bytes are sealed with AES-GCM and leave memory after the commit. Searching
text loads the raw messages it must look at. Long-poll waiters are kept per
process (a wait covers every partition this shard owns) and are woken after
the commit that made a matching mail durable.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

from broker.core.message import Message

KIND_MAIL = "ses.mail"
KIND_META = "ses.meta"

_MAILBOXES: list["Mailbox"] = []          # this process's partitions
_WAITERS: dict[str, tuple[dict, asyncio.Future]] = {}
_wait_ids = itertools.count(1)


class Mailbox:
    def __init__(self, part, max_per_ns: int):
        self.part = part
        self.store = part.store
        self.max_per_ns = max_per_ns
        meta = self.store.get(KIND_META, "mailbox")
        if meta is None:
            meta = {"qid": self.store.allocate_id("qid")}
            self.store.put(KIND_META, "mailbox", meta)
        self.qid = meta["qid"]
        self.records: dict[str, dict] = {}          # message id -> summary (insertion = arrival order)
        self.by_ns: dict[str, deque[str]] = {}
        self.mem_raw: dict[str, bytes] = {}        # durability=memory keeps raw here
        for _key, rec in self.store.scan(KIND_MAIL):
            self._index(rec)
        _MAILBOXES.append(self)

    def close(self) -> None:
        try:
            _MAILBOXES.remove(self)
        except ValueError:
            pass

    def _index(self, rec: dict) -> None:
        self.records[rec["id"]] = rec
        self.by_ns.setdefault(rec["ns"], deque()).append(rec["id"])

    # -- writes ----------------------------------------------------------------------
    def add(self, rec: dict, raw: bytes) -> None:
        """Store one mail (committed with the tick); waiters hear of it after the commit."""
        now = self.part.now_ms()
        seq = self.store.allocate_id("ses.mail")
        rec["seq"] = seq
        rec["size"] = len(raw)
        self.store.msg_inserted(self.qid, Message(seq, rec["id"], raw, len(raw), None, None, 0, now, now, None))
        if not self.store.durable:
            self.mem_raw[rec["id"]] = raw
        self.store.put(KIND_MAIL, f"{seq:016x}", rec)
        self._index(rec)
        ids = self.by_ns[rec["ns"]]
        while len(ids) > self.max_per_ns:
            self.delete(ids[0])
        if _WAITERS:
            self.part.after_commit(lambda: _wake(rec, self))

    def delete(self, mail_id: str) -> bool:
        rec = self.records.pop(mail_id, None)
        if rec is None:
            return False
        ids = self.by_ns.get(rec["ns"])
        if ids:
            try:
                ids.remove(mail_id)
            except ValueError:
                pass
        self.store.msg_removed(self.qid, _Ref(rec["seq"]))
        self.store.delete(KIND_MAIL, f"{rec['seq']:016x}")
        self.mem_raw.pop(mail_id, None)
        return True

    # -- reads -----------------------------------------------------------------------
    def raw(self, mail_id: str) -> bytes | None:
        rec = self.records.get(mail_id)
        if rec is None:
            return None
        if mail_id in self.mem_raw:
            return self.mem_raw[mail_id]
        return self.store.load_payload(self.qid, rec["seq"])

    def find(self, q: dict) -> list[dict]:
        ids = self.by_ns.get(q["ns"], ()) if q.get("ns") else self.records
        return [r for r in (self.records[i] for i in ids) if matches(r, q, self)]


class _Ref:
    __slots__ = ("seq",)

    def __init__(self, seq: int):
        self.seq = seq


def _contains(values, needle: str) -> bool:
    return any(needle in (v or "").lower() for v in values)


def matches(rec: dict, q: dict, box: Mailbox | None) -> bool:
    """Does summary `rec` satisfy query `q` (all given filters, case-insensitive substrings)?"""
    if q.get("id") and rec["id"] != q["id"]:
        return False
    if q.get("account") and rec["account"] != q["account"]:
        return False
    if q.get("region") and rec["region"] != q["region"]:
        return False
    if q.get("direction") and rec.get("direction") != q["direction"]:
        return False
    if q.get("since") and rec["ts"] < q["since"]:
        return False
    if q.get("source") and q["source"] != rec.get("source"):
        return False
    if q.get("from") and not _contains([rec.get("source")] + rec.get("from", []), q["from"].lower()):
        return False
    if q.get("to") and not _contains(rec.get("destination", []) + rec.get("to", []) + rec.get("cc", []),
                                     q["to"].lower()):
        return False
    if q.get("subject") and q["subject"].lower() not in (rec.get("subject") or "").lower():
        return False
    if q.get("text"):
        needle = q["text"].lower()
        if needle in (rec.get("subject") or "").lower():
            return True
        raw = box.raw(rec["id"]) if box is not None else None
        if raw is None:
            return False
        from services.ses.mailview import body_text
        return needle in body_text(raw).lower()
    return True


# -- long-poll waiters (per process) -------------------------------------------------

def find_everywhere(q: dict) -> list[dict]:
    out = []
    for box in _MAILBOXES:
        out.extend(box.find(q))
    out.sort(key=lambda r: (r["ts"], r["seq"]))
    return out


def box_of(mail_id: str) -> Mailbox | None:
    for box in _MAILBOXES:
        if mail_id in box.records:
            return box
    return None


def wait(q: dict, timeout: float, wait_id: str):
    """An awaitable: the first mail matching `q` (existing or new), or None after `timeout`."""
    found = find_everywhere(q)
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    if found:
        fut.set_result(found[0])
        return fut
    _WAITERS[wait_id] = (q, fut)

    async def run():
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            _WAITERS.pop(wait_id, None)
    return run()


def cancel(wait_id: str) -> bool:
    entry = _WAITERS.pop(wait_id, None)
    if entry is None:
        return False
    if not entry[1].done():
        entry[1].set_result(None)
    return True


def _wake(rec: dict, box: Mailbox) -> None:
    for wid, (q, fut) in list(_WAITERS.items()):
        if not fut.done() and matches(rec, q, box):
            fut.set_result(rec)
            _WAITERS.pop(wid, None)


def new_wait_id() -> str:
    return f"w{next(_wait_ids)}"
