"""HTTP capture endpoints: a place for SNS, EventBridge API destinations and
Step Functions HTTP tasks to deliver to, which tests then assert on.

``ANY /_capture/<name>[/...][?status=NNN]`` records the request (method,
path, query, headers, body) in the partition that owns ``<name>`` and
answers ``status`` (default 200) once the record is committed, so an
endpoint that fails on purpose (``?status=503``) still shows every retry.
Records are kept per name, the newest `MAX_PER_NAME`, and per partition at
most `MAX_BYTES` of bodies (the oldest go first; a body past `MAX_BODY` is
kept truncated), so an endpoint anyone may post to stays bounded. A wait on
a name is woken by the commit that makes a matching request durable (no
polling).

Shard ops (``testkit.<Name>``): ``Capture``, ``Captured`` (list, optionally
deleting), ``Wait`` / ``CancelWait``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque

KIND = "testkit.capture"
MAX_PER_NAME = 1000
MAX_NAME = 256
MAX_BODY = 1 << 20                 # bytes of one request body kept
MAX_BYTES = 64 << 20               # bytes of bodies kept per partition


def capture_key(name: str) -> str:
    return f"capture/{name}"


def view(key: str, rec: dict) -> dict:
    """A captured request as the admin API shows it (JSON bodies parsed too)."""
    body: bytes = bytes(rec.get("body") or b"")
    out = {"id": key, "name": rec["name"], "timestamp": rec["ts"] / 1000.0, "method": rec["method"],
           "path": rec["path"], "query": rec.get("query", ""), "headers": dict(rec.get("headers") or [])}
    if rec.get("size", len(body)) > len(body):
        out["size"], out["truncated"] = rec["size"], True
    try:
        out["body"] = body.decode()
    except UnicodeDecodeError:
        out["body"], out["bodyEncoding"] = base64.b64encode(body).decode(), "base64"
        return out
    try:
        out["json"] = json.loads(body) if body else None
    except ValueError:
        pass
    return out


def _size(rec: dict) -> int:
    """Bytes a record holds, roughly: body, headers, path and query."""
    return (len(rec.get("body") or b"") + sum(len(k) + len(v) for k, v in rec.get("headers") or ())
            + len(rec["path"]) + len(rec.get("query", "")) + 64)


def matches(rec: dict, q: dict) -> bool:
    method = q.get("method")
    if method and rec["method"].upper() != method.upper():
        return False
    text = q.get("text")
    if text and text.lower() not in bytes(rec.get("body") or b"").decode(errors="replace").lower():
        return False
    return True


class TestkitShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.by_name: dict[str, deque[str]] = {}       # name -> record keys, oldest first
        self.sizes: dict[str, int] = {}                # key -> bytes it holds
        self.order: deque[str] = deque()               # keys oldest first (lazily pruned)
        self.bytes = 0
        for key, rec in self.store.scan(KIND):         # keys are sequence numbers: oldest first
            self._index(key, rec["name"], _size(rec))
        self.waiters: dict[str, tuple[str, dict, asyncio.Future]] = {}   # wait id -> (name, query, future)

    def close(self) -> None:
        for _name, _q, fut in self.waiters.values():
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()

    def _index(self, key: str, name: str, size: int) -> None:
        self.by_name.setdefault(name, deque()).append(key)
        self.sizes[key] = size
        self.order.append(key)
        self.bytes += size

    def _drop(self, key: str) -> None:
        """Forget one record (its key stays in `order` until pruned)."""
        self.store.delete(KIND, key)
        self.bytes -= self.sizes.pop(key, 0)
        if len(self.order) > 2 * len(self.sizes) + 1000:
            self.order = deque(k for k in self.order if k in self.sizes)

    def _unname(self, name: str, key: str) -> None:
        keys = self.by_name.get(name)
        if keys is not None:
            if keys and keys[0] == key:
                keys.popleft()
            else:
                keys.remove(key)
            if not keys:
                del self.by_name[name]

    def _matching(self, name: str, q: dict) -> list[tuple[str, dict]]:
        out = []
        for key in self.by_name.get(name, ()):
            rec = self.store.get(KIND, key)
            if rec is not None and matches(rec, q):
                out.append((key, rec))
        return out

    def op_Capture(self, a):
        name = a["name"]
        seq = self.store.allocate_id(KIND)
        key = f"{seq:016x}"
        body = bytes(a.get("body") or b"")
        rec = {"name": name, "ts": self.part.now_ms(), "method": a["method"], "path": a["path"],
               "query": a.get("query", ""), "headers": a.get("headers") or [], "body": body[:MAX_BODY],
               "size": len(body)}
        self.store.put(KIND, key, rec)
        self._index(key, name, _size(rec))
        keys = self.by_name[name]
        if len(keys) > MAX_PER_NAME:
            self._drop(keys[0])
            self._unname(name, keys[0])
        while self.bytes > MAX_BYTES and len(self.sizes) > 1:
            old = self.order.popleft()
            if old in self.sizes:
                rec_old = self.store.get(KIND, old)
                self._drop(old)
                if rec_old is not None:
                    self._unname(rec_old["name"], old)
        if any(n == name for n, _q, _f in self.waiters.values()):
            self.part.after_commit(lambda: self._wake(name))
        return {"id": key, "count": len(self.by_name.get(name, ()))}

    def op_Captured(self, a):
        found = self._matching(a["name"], a.get("q") or {})
        if a.get("delete") and found:
            gone = {k for k, _ in found}
            for k in gone:
                self._drop(k)
                self._unname(a["name"], k)
        return [view(k, rec) for k, rec in found]

    def _result(self, name: str, q: dict) -> dict | None:
        found = self._matching(name, q)
        if len(found) < int(q.get("count") or 1):
            return None
        return {"count": len(found), "requests": [view(k, rec) for k, rec in found]}

    def _wake(self, name: str) -> None:
        for n, q, fut in list(self.waiters.values()):
            if n == name and not fut.done():
                r = self._result(n, q)
                if r is not None:
                    fut.set_result(r)

    def op_Wait(self, a):
        """The matching requests once there are at least q["count"] of them (already or
        within a["timeout"] s); on timeout {"count": n, "requests": None}."""
        name, q = a["name"], a.get("q") or {}
        ready = self._result(name, q)
        if ready is not None:
            return ready
        fut = asyncio.get_running_loop().create_future()
        self.waiters[a["wait_id"]] = (name, q, fut)

        async def run():
            try:
                r = await asyncio.wait_for(fut, float(a.get("timeout", 0)))
            except asyncio.TimeoutError:
                r = None
            finally:
                self.waiters.pop(a["wait_id"], None)
            return r if r is not None else {"count": len(self._matching(name, q)), "requests": None}
        return run()

    def op_CancelWait(self, a):
        w = self.waiters.pop(a["wait_id"], None)
        if w is not None and not w[2].done():
            w[2].set_result(None)
        return w is not None
