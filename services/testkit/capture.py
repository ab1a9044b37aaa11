"""HTTP capture endpoints: a place for SNS, EventBridge API destinations and
Step Functions HTTP tasks to deliver to, which tests then assert on.

``ANY /_capture/<name>[/...][?status=NNN]`` records the request (method,
path, query, headers, body) in the partition that owns ``<name>`` and
answers ``status`` (default 200) once the record is committed, so an
endpoint that fails on purpose (``?status=503``) still shows every retry.
Records are kept per name, the newest `MAX_PER_NAME`; a wait on a name is
woken by the commit that makes a matching request durable (no polling).

Shard ops (``testkit.<Name>``): ``Capture``, ``Captured`` (list, optionally
deleting), ``Wait`` / ``CancelWait``.
"""

from __future__ import annotations

import asyncio
import base64
import json

KIND = "testkit.capture"
MAX_PER_NAME = 1000
MAX_NAME = 256


def capture_key(name: str) -> str:
    return f"capture/{name}"


def view(key: str, rec: dict) -> dict:
    """A captured request as the admin API shows it (JSON bodies parsed too)."""
    body: bytes = bytes(rec.get("body") or b"")
    out = {"id": key, "name": rec["name"], "timestamp": rec["ts"] / 1000.0, "method": rec["method"],
           "path": rec["path"], "query": rec.get("query", ""), "headers": dict(rec.get("headers") or [])}
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
        self.by_name: dict[str, list[str]] = {}          # name -> record keys, oldest first
        for key, rec in self.store.scan(KIND):
            self.by_name.setdefault(rec["name"], []).append(key)
        self.waiters: dict[str, tuple[str, dict, asyncio.Future]] = {}   # wait id -> (name, query, future)

    def close(self) -> None:
        for _name, _q, fut in self.waiters.values():
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()

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
        self.store.put(KIND, key, {"name": name, "ts": self.part.now_ms(), "method": a["method"], "path": a["path"],
                                   "query": a.get("query", ""), "headers": a.get("headers") or [],
                                   "body": bytes(a.get("body") or b"")})
        keys = self.by_name.setdefault(name, [])
        keys.append(key)
        while len(keys) > MAX_PER_NAME:
            self.store.delete(KIND, keys.pop(0))
        if any(n == name for n, _q, _f in self.waiters.values()):
            self.part.after_commit(lambda: self._wake(name))
        return {"id": key, "count": len(keys)}

    def op_Captured(self, a):
        found = self._matching(a["name"], a.get("q") or {})
        if a.get("delete"):
            gone = {k for k, _ in found}
            for k in gone:
                self.store.delete(KIND, k)
            self.by_name[a["name"]] = [k for k in self.by_name.get(a["name"], ()) if k not in gone]
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
