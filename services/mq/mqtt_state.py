"""MQTT sessions and retained messages on the shards (mixed into MqShard).

A session lives in the partition of its queue (``mqtt-subscription-<client
id>`` in the broker's namespace, key ``cq/<ns>/<name>``), so its ops
(``mq.Mqtt*``, addressed by that key) change the session record and the core
queue in one group commit:

- ``MqttConnect`` takes the session over: the previous connection's consumer
  is cancelled (its unacknowledged deliveries go back in place, its gateway
  is told with ``core.cancel`` and closes that client), a clean session
  starts empty (transient queue), a persistent one is found or created
  (durable queue, ``present``);
- ``MqttSubs`` keeps the subscriptions (the bindings themselves are the
  core's, on ``amq.topic``);
- QoS 2 state: inbound messages are stored until PUBREL (``MqttStore2``),
  then handed durably to the exchange's owner (``MqttRelease2``: outbox, in
  the commit that forgets the packet id), so a re-sent PUBLISH or PUBREL is
  never published twice; outbound packet ids are recorded before the PUBLISH
  is written (``MqttOut2``) and moved to "released" with the ack of the
  message (``MqttSettle``), so a reconnecting client gets the same ids and a
  PUBREL, never a second PUBLISH after one.

A clean session's record is kept in memory only; its queue is deleted when
its connection ends or its gateway goes.

The will of the connection holding a session is kept in its record (given
with ``MqttConnect``) and published from here, through the outbox like a
released QoS 2 message: on an abnormal ``MqttDisconnect``, on a takeover, and
when the gateway process holding the connection dies (the shard's
connection-lost hook, as the core reaps that gateway's consumers), so a
kill -9 of a gateway still publishes the wills of its clients.

Bounds (Mosquitto's): the session's queue holds at most ``max_queued``
messages beyond those in flight (reject-publish: newer ones are dropped for
it); QoS 0 messages (``volatile``) are dropped while no connection consumes
it (broker/runtime/routing.py ``drop_volatile_idle``).

Retained messages of a namespace live in the partition of
``mqtt/retained/<ns>``: one record per topic (sealed like every record) and
an in-memory level tree walked by a subscription's filter.
"""

from __future__ import annotations

import logging

from broker.runtime.sinks import deliveries

log = logging.getLogger("broker.mq")

KIND_SESSION = "mq.mqtt_session"
KIND_RETAINED = "mq.mqtt_retained"


def retained_key(ns: str) -> str:
    return f"mqtt/retained/{ns}"


def _new_session(clean: bool) -> dict:
    return {"clean": clean, "tag": None, "subs": {}, "out2": {}, "rel": [], "in2": {}, "will": None}


LIMITS = ("drop_volatile_idle", "max_length", "overflow")


def _queue_config(clean: bool, max_queued: int | None) -> dict:
    config = {"transient": True} if clean else {"meta": {"mqtt": True}}
    config["drop_volatile_idle"] = True
    if max_queued:
        config["max_length"] = max_queued
        config["overflow"] = "reject-publish"
    return config


class _Level:
    __slots__ = ("children", "value")

    def __init__(self):
        self.children: dict[str, _Level] = {}
        self.value = None            # (qos, body) of the retained message on exactly this topic


class MqttStateMixin:
    # -- sessions ------------------------------------------------------------------------
    def _mqtt(self):
        st = getattr(self, "_mqtt_st", None)
        if st is None:
            # owner: session key -> the gateway connection holding it now (memory: after a
            # restart no connection holds a session, and a will left in its record is not fired)
            st = self._mqtt_st = {"sessions": {}, "conns": {}, "owner": {}, "retained": None}
            self.part.shard.conn_lost_hooks.append(self._mqtt_conn_lost)
        return st

    def _session(self, k: str) -> dict | None:
        st = self._mqtt()
        rec = st["sessions"].get(k)
        if rec is None:
            rec = self.store.get(KIND_SESSION, k)
            if rec is not None:
                st["sessions"][k] = rec
        return rec

    def _save_session(self, k: str, rec: dict) -> None:
        if not rec["clean"]:
            self.store.put(KIND_SESSION, k, rec)

    def op_MqttConnect(self, a):
        """{k, ns, name, clean, tag, will, max_queued} -> {present, subs, out2, rel, in2}."""
        k = a["k"]
        core = self.part.services["core"]
        st = self._mqtt()
        rec = self._session(k)
        if rec is not None and rec.get("tag"):
            self._mqtt_kick(core, k, rec["tag"])
            if st["owner"].pop(k, None) is not None:
                self._fire_will(rec)           # taken over: the old connection ends abnormally
        hq = core.queues.get(k)
        waits = None
        present = False
        if a["clean"] or rec is None or rec["clean"] or hq is None:
            if hq is not None:
                waits = core.op_QueueDelete({"k": k, "check_owner": False})
            if rec is not None and not rec["clean"]:
                self.store.delete(KIND_SESSION, k)
            rec = _new_session(bool(a["clean"]))
            core.op_QueueDeclare({"k": k, "ns": a["ns"], "name": a["name"],
                                  "config": _queue_config(bool(a["clean"]), a.get("max_queued"))})
        else:
            present = True
            limits = _queue_config(False, a.get("max_queued"))    # the settings may have changed since
            core.op_QueueReconfigure({"k": k, "set": {f: limits.get(f) for f in LIMITS}})
        rec["tag"] = a["tag"]
        rec["will"] = a.get("will")
        st["sessions"][k] = rec
        st["owner"][k] = self.part.shard.current_conn
        st["conns"].setdefault(self.part.shard.current_conn, set()).add(k)
        self._save_session(k, rec)
        out = {"present": present, "subs": rec["subs"], "out2": rec["out2"], "rel": rec["rel"],
               "in2": sorted(int(p) for p in rec["in2"])}
        if waits is None or isinstance(waits, dict):
            return out

        async def unbound():
            await waits          # bindings of the old queue are gone everywhere before the client subscribes
            return out
        return unbound()

    def _mqtt_kick(self, core, k: str, tag: str) -> None:
        conn = core.consumers.get((k, tag))
        core.op_Cancel({"k": k, "tag": tag})
        if conn is not None and not conn.closed:
            conn.push("core.cancel", [k, tag])

    def _current(self, a) -> dict | None:
        rec = self._session(a["k"])
        if rec is None or rec.get("tag") != a.get("tag"):
            return None
        return rec

    def _fire_will(self, rec: dict) -> None:
        will, rec["will"] = rec.get("will"), None
        if will is not None:
            self._hand_off(will)

    def _hand_off(self, m: list) -> None:
        """Publish a held message [xkey, rk, entry, retain] durably, in this commit."""
        xkey, rk, entry, retain = m
        out = deliveries(self.part)
        out.submit("call", {"key": xkey, "op": "core.Publish", "give_up": ["NotFound"]},
                   {"k": xkey, "rks": [rk], "h": None, "m": entry})
        if retain is not None:
            rkey, ns, topic, qos, body = retain
            out.submit("call", {"key": rkey, "op": "mq.MqttRetain", "give_up": []},
                       {"k": rkey, "ns": ns, "t": topic, "q": qos, "b": body})

    def op_MqttDisconnect(self, a):
        """{k, tag, will}: the connection ended (``will``: abnormally, its will is
        published); a clean session goes with it."""
        k = a["k"]
        rec = self._current(a)
        if rec is None:
            return False
        self._mqtt()["owner"].pop(k, None)
        if a.get("will"):
            self._fire_will(rec)
        rec["will"] = None
        rec["tag"] = None
        if not rec["clean"]:
            self._save_session(k, rec)
            return True
        return self._drop_clean(k)

    def _drop_clean(self, k: str):
        self._mqtt()["sessions"].pop(k, None)
        core = self.part.services["core"]
        if k in core.queues:
            res = core.op_QueueDelete({"k": k, "check_owner": False})
            if not isinstance(res, dict):
                return res
        return True

    def _mqtt_conn_lost(self, conn) -> None:
        """A gateway went: the wills of the connections it held are published, its
        clean sessions end (their queues are deleted), its persistent ones wait."""
        st = self._mqtt_st
        owner = st["owner"]
        for k in st["conns"].pop(conn, ()):
            rec = st["sessions"].get(k)
            if rec is None or owner.get(k) is not conn:
                continue        # ended, or taken over by a connection elsewhere
            del owner[k]
            self._fire_will(rec)
            rec["tag"] = None
            if not rec["clean"]:
                self._save_session(k, rec)
                continue
            res = self._drop_clean(k)
            if not isinstance(res, bool):
                task = self.part.shard.loop.create_task(res)
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self.part.flush_soon()

    def op_MqttSubs(self, a):
        """{k, tag, set: {filter: qos}, remove: [filter]}."""
        rec = self._current(a)
        if rec is None:
            return False
        rec["subs"].update(a.get("set") or {})
        for f in a.get("remove") or ():
            rec["subs"].pop(f, None)
        self._save_session(a["k"], rec)
        return True

    # -- QoS 2, inbound --------------------------------------------------------------------
    def op_MqttStore2(self, a):
        """{k, tag, pid, m: [xkey, rk, entry, retain: [rkey, ns, topic, qos, body] | None]}:
        hold a QoS 2 PUBLISH until its PUBREL (a re-sent one is ignored)."""
        rec = self._current(a)
        if rec is None:
            return False
        pid = str(a["pid"])
        if pid not in rec["in2"]:
            rec["in2"][pid] = a["m"]
            self._save_session(a["k"], rec)
        return True

    def op_MqttRelease2(self, a):
        """{k, tag, pid}: PUBREL; the held message goes to the exchange's owner (and the
        retained store) durably, in this commit."""
        rec = self._current(a)
        if rec is None:
            return False
        m = rec["in2"].pop(str(a["pid"]), None)
        if m is None:
            return True
        self._hand_off(m)
        self._save_session(a["k"], rec)
        return True

    # -- QoS 2, outbound -------------------------------------------------------------------
    def op_MqttOut2(self, a):
        """{k, tag, seq, pids: [[pid, qos]...]}: packet ids of a delivery, before it is written."""
        rec = self._current(a)
        if rec is None:
            return False
        rec["out2"][str(a["seq"])] = a["pids"]
        self._save_session(a["k"], rec)
        return True

    def op_MqttSettle(self, a):
        """{k, tag, seq?, ack?, rel: [pid], comp: [pid]}: PUBRECs (ids now wait for PUBCOMP),
        PUBCOMPs, and the ack of message ``seq`` once all its copies are acknowledged."""
        rec = self._current(a)
        if rec is None:
            return False
        rel = set(rec["rel"])
        rel.update(a.get("rel") or ())
        rel.difference_update(a.get("comp") or ())
        rec["rel"] = sorted(rel)
        if a.get("ack"):
            seq = a["seq"]
            rec["out2"].pop(str(seq), None)
            self.part.services["core"].op_Ack({"k": a["k"], "seqs": [seq]})
        self._save_session(a["k"], rec)
        return True

    # -- retained messages ------------------------------------------------------------------
    def _retained_tree(self, ns: str) -> _Level:
        st = self._mqtt()
        trees = st["retained"]
        if trees is None:
            trees = st["retained"] = {}
            for key, rec in self.store.scan(KIND_RETAINED):
                rns, _, topic = key.partition("|")
                self._retained_set(trees.setdefault(rns, _Level()), topic, (rec["q"], rec["b"]))
        tree = trees.get(ns)
        if tree is None:
            tree = trees[ns] = _Level()
        return tree

    @staticmethod
    def _retained_set(tree: _Level, topic: str, value) -> None:
        node = tree
        path = []
        for lv in topic.split("/"):
            nxt = node.children.get(lv)
            if nxt is None:
                if value is None:
                    return
                nxt = node.children[lv] = _Level()
            path.append((node, lv))
            node = nxt
        node.value = value
        if value is None:       # prune empty branches
            while path and node.value is None and not node.children:
                parent, lv = path.pop()
                del parent.children[lv]
                node = parent

    def op_MqttRetain(self, a):
        """{k, ns, t, q, b}: the retained message of topic t (an empty body clears it)."""
        ns, topic = a["ns"], a["t"]
        body = bytes(a["b"])
        tree = self._retained_tree(ns)
        key = f"{ns}|{topic}"
        if body:
            self.store.put(KIND_RETAINED, key, {"q": a["q"], "b": body})
            self._retained_set(tree, topic, (a["q"], body))
        else:
            self.store.delete(KIND_RETAINED, key)
            self._retained_set(tree, topic, None)
        return True

    def op_MqttRetained(self, a):
        """{k, ns, filters: [filter...]} -> [[filter index, topic, qos, body]...]."""
        tree = self._retained_tree(a["ns"])
        out = []
        for i, flt in enumerate(a["filters"]):
            levels = flt.split("/")
            stack = [(tree, 0, "")]
            while stack:
                node, d, prefix = stack.pop()
                if d == len(levels):
                    if node.value is not None:
                        out.append([i, prefix, node.value[0], node.value[1]])
                    continue
                lv = levels[d]
                wild_root = d == 0 and lv in ("+", "#")     # [MQTT-4.7.2-1]: not $-topics
                if lv == "#":
                    if d and node.value is not None:       # "a/#" matches "a" too
                        out.append([i, prefix, node.value[0], node.value[1]])
                    walk = [(node, prefix)]
                    while walk:
                        n, p = walk.pop()
                        for name, ch in n.children.items():
                            if wild_root and n is tree and name.startswith("$"):
                                continue
                            cp = f"{p}/{name}" if n is not tree else name
                            if ch.value is not None:
                                out.append([i, cp, ch.value[0], ch.value[1]])
                            walk.append((ch, cp))
                elif lv == "+":
                    for name, ch in node.children.items():
                        if wild_root and name.startswith("$"):
                            continue
                        stack.append((ch, d + 1, f"{prefix}/{name}" if d else name))
                else:
                    ch = node.children.get(lv)
                    if ch is not None:
                        stack.append((ch, d + 1, f"{prefix}/{lv}" if d else lv))
        return out
