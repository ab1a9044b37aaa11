"""Amazon MQ shard half: broker and configuration records (one partition each).

Records are plain data committed with the shard's group commit before the
reply. The gateway half (services/mq/api.py) holds the API's rules; these
ops are the atomic read-modify-write steps it needs. Users live inside their
broker's record, passwords only as salted PBKDF2 hashes. A state change
that starts a lifecycle step ("lifecycle": "create" | "reboot" | "delete")
records the step in the same commit; this shard then runs it
(services/mq/lifecycle.py).
"""

from __future__ import annotations

from broker.core.errors import OpError
from broker.runtime import sinks
from services.mq import lifecycle
from services.mq.model import broker_key
from services.mq.mqtt_state import MqttStateMixin

sinks.register_kind(lifecycle.KIND, lifecycle.run_step)

KINDS = ("mq.broker", "mq.config")


def _kind(a) -> str:
    kind = a["kind"]
    if kind not in KINDS:
        raise OpError(f"unknown record kind {kind}", code="InternalFailure", status=500, sender_fault=False)
    return kind


class MqShard(MqttStateMixin):      # MQTT sessions and retained messages: mqtt_state.py
    def __init__(self, part):
        self.part = part
        self.store = part.store

    def op_Create(self, a):
        kind = _kind(a)
        if self.store.get(kind, a["k"]) is not None:
            raise OpError("exists", code="Exists", status=409)
        self.store.put(kind, a["k"], a["v"])
        self._step(a)
        return a["v"]

    def _step(self, a) -> None:
        step = a.get("lifecycle")
        if step is not None:
            lifecycle.submit(self.part, a["k"].rsplit("/", 1)[1], step)

    def op_Get(self, a):
        return self.store.get(_kind(a), a["k"])

    def op_Patch(self, a):
        """Set fields of a record; "when": {field: value} must hold first (else None)."""
        kind = _kind(a)
        rec = self.store.get(kind, a["k"])
        if rec is None:
            return None
        for f, v in (a.get("when") or {}).items():
            if rec.get(f) != v:
                return None
        rec = {**rec, **a["set"]}
        self.store.put(kind, a["k"], rec)
        self._step(a)
        return rec

    def op_Delete(self, a):
        kind = _kind(a)
        if self.store.get(kind, a["k"]) is None:
            return False
        self.store.delete(kind, a["k"])
        return True

    def op_List(self, a):
        kind = _kind(a)
        return [rec for _k, rec in self.store.scan(kind)
                if rec.get("account") == a["account"] and rec.get("region") == a["region"]]

    def op_Tag(self, a):
        kind = _kind(a)
        rec = self.store.get(kind, a["k"])
        if rec is None:
            return None
        tags = dict(rec.get("tags") or {})
        tags.update(a.get("set") or {})
        for key in a.get("remove") or ():
            tags.pop(key, None)
        rec = {**rec, "tags": tags}
        self.store.put(kind, a["k"], rec)
        return rec

    def op_UserPut(self, a):
        """mode "create" (Conflict if present) or "update" (NotFound if absent)."""
        rec = self.store.get("mq.broker", a["k"])
        if rec is None:
            raise OpError("no broker", code="NoBroker", status=404)
        users = dict(rec.get("users") or {})
        name = a["name"]
        if a["mode"] == "create" and name in users:
            raise OpError("user exists", code="UserExists", status=409)
        if a["mode"] == "update":
            if name not in users:
                raise OpError("no user", code="NoUser", status=404)
            users[name] = {**users[name], **a["v"]}
        else:
            users[name] = a["v"]
        self.store.put("mq.broker", a["k"], {**rec, "users": users})
        return True

    def op_UserDelete(self, a):
        rec = self.store.get("mq.broker", a["k"])
        if rec is None:
            raise OpError("no broker", code="NoBroker", status=404)
        users = dict(rec.get("users") or {})
        if users.pop(a["name"], None) is None:
            raise OpError("no user", code="NoUser", status=404)
        self.store.put("mq.broker", a["k"], {**rec, "users": users})
        return True

    def op_ConfigRevise(self, a):
        rec = self.store.get("mq.config", a["k"])
        if rec is None:
            return None
        revs = list(rec["revisions"])
        rev = {**a["rev"], "revision": len(revs) + 1}
        revs.append(rev)
        rec = {**rec, "revisions": revs}
        self.store.put("mq.config", a["k"], rec)
        return rec

    def op_AuthInfo(self, a):
        """What a gateway needs to accept connections on a broker's listeners."""
        rec = self.store.get("mq.broker", broker_key(a["id"]))
        if rec is None or rec.get("state") not in ("RUNNING", "CREATION_IN_PROGRESS", "REBOOT_IN_PROGRESS"):
            return None
        return {"engine": rec["engine"], "state": rec["state"], "settings": rec.get("settings") or {},
                "name": rec["name"], "account": rec["account"], "region": rec["region"],
                "users": {n: [u["salt"], u["hash"]] for n, u in (rec.get("users") or {}).items()}}
