"""Exchanges of the routing core in a shard (mixed into CoreShard).

The exchange's owner holds the authoritative bindings (one durable record per
binding) and replicates every change to the gateways that subscribed
(``edge.apply``), waiting for their acknowledgement before it answers: a
binding is visible in every gateway before the bind is confirmed.

An exchange carries ``props``: plain data the front-end declared it with
(returned on a re-declare so the front-end can check equivalence, and copied
to every edge). The core reads three of them: ``alternate`` (exchange that
takes what matches nothing), ``auto_delete`` (deleted when its last binding
goes) and ``transient`` (not persisted).

``core.Publish`` routes one message at the owner itself, durably: dead
letters bound for an exchange arrive this way through the outbox, and every
hop (to a queue or through an exchange-to-exchange binding) is another
outbox hand-off, so a dead-lettered message is never lost between hops.
"""

from __future__ import annotations

import asyncio
import logging

from broker.core.errors import OpError
from broker.core.exchange import EXCHANGE, QUEUE, Exchange

log = logging.getLogger("broker.routing")

KIND_EXCHANGE = "core.exchange"
KIND_BINDING = "core.binding"
REPLICATION_TIMEOUT = 5.0


def _binding_id(key, dest) -> str:
    return repr((key if not isinstance(key, dict) else sorted(key.items()), tuple(dest)))


class ExchangesMixin:
    def _load_exchanges(self) -> None:
        for key, rec in self.store.scan(KIND_EXCHANGE):
            self.exchanges[key] = (rec["ns"], Exchange(rec["name"], rec["kind"], props=rec.get("props")))
        for _bid, rec in self.store.scan(KIND_BINDING):
            entry = self.exchanges.get(rec["x"])
            if entry is not None:
                entry[1].bind(rec["key"], tuple(rec["dest"]))

    def _x(self, key: str) -> tuple[str, Exchange]:
        entry = self.exchanges.get(key)
        if entry is None:
            from broker.runtime.routing import not_found
            raise not_found(f"exchange '{key}'")
        return entry

    def op_ExchangeDeclare(self, a):
        key, ns, name, kind = a["k"], a["ns"], a["name"], a["kind"]
        props = a.get("props") or {}
        entry = self.exchanges.get(key)
        if entry is not None:
            if entry[1].kind != kind:
                raise OpError(f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{name}': received "
                              f"'{kind}' but current is '{entry[1].kind}'", code="PreconditionFailed", status=406)
            return {"created": False, "props": entry[1].props}
        self.exchanges[key] = (ns, Exchange(name, kind, props=props))
        if not props.get("transient"):
            self.store.put(KIND_EXCHANGE, key, {"ns": ns, "name": name, "kind": kind, "props": props})
        return self._replicate({"op": "declare", "ns": ns, "x": name, "kind": kind, "props": props},
                               {"created": True, "props": props})

    def op_ExchangeInfo(self, a):
        """{"kind", "props", "bindings"} of an exchange (passive declare, if-unused)."""
        _ns, ex = self._x(a["k"])
        return {"kind": ex.kind, "props": ex.props, "bindings": len(ex)}

    def op_ExchangeDelete(self, a):
        ns, ex = self._x(a["k"])
        if a.get("if_unused") and len(ex):
            raise OpError(f"PRECONDITION_FAILED - exchange '{ex.name}' in use", code="InUse", status=406)
        return self._delete_exchange(a["k"], ns, ex)

    def _delete_exchange(self, key, ns, ex):
        del self.exchanges[key]
        self.store.delete(KIND_EXCHANGE, key)
        for bkey, dest in ex.bindings():
            self.store.delete(KIND_BINDING, key + "|" + _binding_id(bkey, dest))
        replicated = self._replicate({"op": "delete", "ns": ns, "x": ex.name}, True)

        async def unbind_everywhere():
            if not isinstance(replicated, bool):
                await replicated
            await self.part.call_all("core.UnbindDest", {"ns": ns, "dest": [EXCHANGE, ex.name]})
            return True
        return unbind_everywhere()

    def op_Bind(self, a):
        ns, ex = self._x(a["k"])
        key, dest = a["key"], tuple(a["dest"])
        changed = ex.bind(key, dest)
        if not changed:
            return False
        if not a.get("transient") and not ex.props.get("transient"):
            self.store.put(KIND_BINDING, a["k"] + "|" + _binding_id(key, dest),
                           {"x": a["k"], "key": key, "dest": dest})
        return self._replicate({"op": "bind", "ns": ns, "x": ex.name, "key": key, "dest": dest}, True)

    def op_Unbind(self, a):
        ns, ex = self._x(a["k"])
        key, dest = a["key"], tuple(a["dest"])
        changed = ex.unbind(key, dest)
        if not changed:
            return False
        self.store.delete(KIND_BINDING, a["k"] + "|" + _binding_id(key, dest))
        replicated = self._replicate({"op": "unbind", "ns": ns, "x": ex.name, "key": key, "dest": dest}, True)
        if ex.props.get("auto_delete") and not len(ex):
            deleted = self._delete_exchange(a["k"], ns, ex)

            async def both():
                if not isinstance(replicated, bool):
                    await replicated
                await deleted
                return True
            return both()
        return replicated

    def op_UnbindDest(self, a):
        """Remove every binding of this partition's exchanges in namespace ``ns``
        to ``dest`` (a deleted queue or exchange), here and at every edge."""
        ns, dest = a["ns"], tuple(a["dest"])
        waits = []
        for xkey, (xns, ex) in list(self.exchanges.items()):
            if xns != ns or not ex.has_dest(dest):
                continue
            for bkey, bdest in ex.bindings():
                if tuple(bdest) == dest:
                    self.store.delete(KIND_BINDING, xkey + "|" + _binding_id(bkey, dest))
            ex.unbind_dest(dest)
            r = self._replicate({"op": "unbind_dest", "ns": ns, "x": ex.name, "dest": list(dest)}, True)
            if not isinstance(r, bool):
                waits.append(r)
            if ex.props.get("auto_delete") and not len(ex):
                waits.append(self._delete_exchange(xkey, ns, ex))
        if not waits:
            return True

        async def wait_all():
            await asyncio.gather(*waits)
            return True
        return wait_all()

    def op_Subscribe(self, a):
        """A gateway's read copy: register the caller for updates; snapshot this partition."""
        self.shard.replicas.add(self.shard.current_conn)
        return [[ns, ex.name, ex.kind, ex.bindings(), ex.props] for ns, ex in self.exchanges.values()]

    def _replicate(self, update: dict, result):
        replicas = [c for c in self.shard.replicas if not c.closed]
        if not replicas:
            return result

        async def wait_all():
            futs = [c.call_nowait("edge.apply", update) for c in replicas]
            self.part.flush_soon()
            done, pending = await asyncio.wait(futs, timeout=REPLICATION_TIMEOUT)
            for c, f in zip(replicas, futs):
                if f in pending or (f.done() and f.exception() is not None):
                    # A replica that cannot confirm is cut off; it resubscribes
                    # (fresh snapshot) when it reconnects.
                    log.warning("event=replica_dropped reason=%s", "timeout" if f in pending else f.exception())
                    self.shard.replicas.discard(c)
                    c.close()
            return result
        return wait_all()

    # -- routing at the owner (durable hops) ---------------------------------------
    def op_Publish(self, a):
        """Route one message {"k", "rks": [routing keys], "h": headers, "m": entry,
        "seen": [exchange names]} from this exchange: queues get it through
        core.Enqueue, exchanges through core.Publish, each hop durable."""
        from broker.runtime.routing import exchange_key, queue_key
        ns, ex = self._x(a["k"])
        seen = set(a.get("seen") or ())
        seen.add(ex.name)
        dests = set()
        headers = a.get("h")
        for rk in a.get("rks") or ("",):
            dests.update(ex.match(rk, headers, None))
        if not dests and ex.props.get("alternate"):
            dests.add((EXCHANGE, ex.props["alternate"]))
        entry = a["m"]
        for d in dests:
            if d[0] == QUEUE:
                key = queue_key(ns, d[1])
                if key in self.queues:
                    self.op_Enqueue({"k": key, "m": [entry]})
                else:
                    self.outbox.send(key, "core.Enqueue", {"k": key, "m": [entry]})
            elif d[0] == EXCHANGE and d[1] not in seen:
                key = exchange_key(ns, d[1])
                args = {"k": key, "rks": a.get("rks"), "h": headers, "m": entry, "seen": sorted(seen)}
                if key in self.exchanges:
                    self.op_Publish(args)
                else:
                    self.outbox.send(key, "core.Publish", args)
        return len(dests)
