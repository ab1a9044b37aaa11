"""EventBridge shard half: the buses and namespaces of one partition.

Ops (``events.<Name>``):
- ``Bus``: a bus-level operation (bus, rules, targets, permissions, tags) on
  the bus at ``k``;
- ``Put``: publish events to the bus at ``k`` (publish.py);
- ``ListBuses`` (broadcast), ``BusExists``, ``AttachArchive``;
- ``Ns``: a namespace operation (archives, replays, connections, API
  destinations, endpoints, partner sources) on the namespace at ``k``;
- ``ArchiveEvents``: events an archive's pattern matched at its bus.

Scheduled rules are durable timers of the bus owner (one record per next
fire time); a fire missed while the server was down runs once at start,
then the schedule continues from now.
"""

from __future__ import annotations

import json
import logging

from broker.core.ids import uuid4
from broker.core.timers import DurableTimers

from . import delivery  # noqa: F401  (registers the delivery kinds in this process)
from .bus import KIND_BUS, KIND_RULE, Bus, BusOps, new_bus_record
from .connections import ConnectionOps
from .names import DEFAULT_BUS, bus_not_found, iso, ns_key, validation
from .namespace import NS_KINDS, Namespace, NamespaceOps
from .publish import Publisher
from .schedules import InvalidExpression, parse

log = logging.getLogger("broker.events")

PURGE_INTERVAL_MS = 3_600_000


class EventsTimers(DurableTimers):
    """This service's own timer records (the routing core keeps kind ``timer``)."""
    KIND = "events.timer"


class EventsShard(BusOps, Publisher, NamespaceOps, ConnectionOps):
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.closed = False
        cfg = getattr(getattr(getattr(part, "shard", None), "run", None), "config", None)
        self.max_rules = int(cfg.get("events.max_rules_per_bus", 300)) if cfg is not None else 300
        self.buses: dict[str, Bus] = {}
        self.namespaces: dict[str, Namespace] = {}
        self.rule_timers: dict[tuple[str, str], str] = {}
        for key, rec in list(self.store.scan(KIND_BUS)):
            self.buses[key] = Bus(key, rec)
        for key, r in list(self.store.scan(KIND_RULE)):
            bkey, _, _name = key.partition("|")
            bus = self.buses.get(bkey)
            if bus is None:
                self.store.delete(KIND_RULE, key)
                continue
            bus.rules[r["n"]] = r
            bus.bind_rule(r)
        for kind in NS_KINDS:
            for key, rec in list(self.store.scan(kind)):
                nkey, _, name = key.partition("|")
                ns = self._ns_of_key(nkey, create=True)
                ns.table(kind)[name] = rec
        for ns in self.namespaces.values():
            for arc in ns.archives.values():
                bus = self.buses.get(arc["bus"])
                if bus is not None:
                    bus.bind_archive(arc["n"], arc.get("pat"))
        self.timers = EventsTimers(part, {"rule": self._fire_rule})
        for tid in list(self.timers.live):
            _, bkey, name, _due = tid.split("|", 3)
            self.rule_timers[(bkey, name)] = tid
        for bus in self.buses.values():
            for r in bus.rules.values():
                if r.get("sched") and (bus.key, r["n"]) not in self.rule_timers:
                    self.rule_schedule_changed(bus, r)
        self._purge_armed = False
        self.arm_purge()
        part.after_commit(self.resume_replays)

    def close(self) -> None:
        self.closed = True
        for ns in self.namespaces.values():
            for task in ns.tasks.values():
                task.cancel()

    # -- lookups ---------------------------------------------------------------------
    def _bus(self, key: str) -> Bus | None:
        bus = self.buses.get(key)
        if bus is None and key.endswith("/bus/" + DEFAULT_BUS):
            _, account, region, _b, _n = key.split("/")
            bus = self._add_bus(key, new_bus_record(DEFAULT_BUS, account, region, self.part.now_ms()))
            self._save_bus(bus)
        return bus

    def _add_bus(self, key: str, rec: dict) -> Bus:
        bus = self.buses[key] = Bus(key, rec)
        for ns in self.namespaces.values():      # archives created for this bus before a reset of it
            for arc in ns.archives.values():
                if arc["bus"] == key:
                    bus.bind_archive(arc["n"], arc.get("pat"))
        return bus

    def _save_bus(self, bus: Bus) -> None:
        self.store.put(KIND_BUS, bus.key, bus.rec)

    def _save_rule(self, bus: Bus, r: dict) -> None:
        self.store.put(KIND_RULE, f"{bus.key}|{r['n']}", r)

    def _ns_of_key(self, key: str, create: bool = False) -> Namespace | None:
        ns = self.namespaces.get(key)
        if ns is None and create:
            _, account, region = key.split("/")
            ns = self.namespaces[key] = Namespace(key, account, region)
        return ns

    # -- ops ----------------------------------------------------------------------------
    def op_Bus(self, a):
        key = a["k"]
        op = a["op"]
        bus = self.buses.get(key) if op == "CreateEventBus" else self._bus(key)
        info = {"k": key, "a": a["a"], "r": a["r"], "name": a["name"], "rule": a.get("rule"),
                "managed_by": a.get("mb")}
        fn = getattr(self, "bus_" + op)
        return fn(bus, a.get("q") or {}, info)

    def op_ListBuses(self, a):
        """Broadcast: this partition's buses of a namespace (the default bus always exists)."""
        account, region, prefix = a["a"], a["r"], a.get("prefix") or ""
        default = f"events/{account}/{region}/bus/{DEFAULT_BUS}"
        if a["p"] == self._partition_of(default) and DEFAULT_BUS.startswith(prefix):
            self._bus(default)
        out = []
        for bus in self.buses.values():
            rec = bus.rec
            if rec["a"] == account and rec["r"] == region and rec["n"].startswith(prefix):
                v = {"Name": rec["n"], "Arn": bus.arn, "Description": rec.get("d"),
                     "Policy": json.dumps(rec["pol"]) if rec.get("pol") else None,
                     "CreationTime": rec["c"] / 1000.0, "LastModifiedTime": rec["m"] / 1000.0}
                out.append({k: x for k, x in v.items() if x is not None})
        return out

    def _partition_of(self, key: str) -> int:
        from broker.core.partition import partition_of
        return partition_of(key, self.part.partitions)

    def op_BusExists(self, a):
        return self._bus(a["k"]) is not None

    def op_AttachArchive(self, a):
        bus = self._bus(a["k"])
        if bus is None:
            raise bus_not_found(a["k"].rsplit("/", 1)[1])
        if a["on"]:
            bus.bind_archive(a["name"], a.get("pat"))
        else:
            bus.unbind_archive(a["name"], a.get("pat"))
        return {}

    def op_Ns(self, a):
        ns = self._ns_of_key(a["k"], create=True)
        fn = getattr(self, "ns_" + a["op"])
        return fn(ns, a.get("q") or {}, {"a": a.get("a"), "r": a.get("r")})

    # -- scheduled rules -------------------------------------------------------------------
    def rule_schedule_changed(self, bus: Bus, r: dict) -> None:
        key = (bus.key, r["n"])
        old = self.rule_timers.pop(key, None)
        if old is not None:
            self.timers.cancel(old)
        if not r.get("sched") or r.get("st") == "DISABLED" or r["n"] not in bus.rules:
            return
        try:
            sched = parse(r["sched"])
        except InvalidExpression:
            return
        now = self.part.now_ms()
        due = sched.next_after(now, anchor_ms=r.get("c", now))
        if due is None:
            return
        tid = f"rule|{bus.key}|{r['n']}|{due}"
        self.timers.schedule(tid, due, "rule", {"k": bus.key, "rule": r["n"]})
        self.rule_timers[key] = tid

    def _fire_rule(self, tid: str, data: dict) -> None:
        key = (data["k"], data["rule"])
        if self.rule_timers.get(key) == tid:
            del self.rule_timers[key]
        bus = self.buses.get(data["k"])
        r = bus.rules.get(data["rule"]) if bus else None
        if r is None or not r.get("sched") or r.get("st") == "DISABLED":
            return
        rec = bus.rec
        now = self.part.now_ms()
        ev = {"version": "0", "id": uuid4(), "detail-type": "Scheduled Event", "source": "aws.events",
              "account": rec["a"], "time": iso(now), "region": rec["r"], "resources": [bus.rule_arn(r["n"])],
              "detail": {}}
        self.fan_out(bus, r, ev, None)
        self.rule_schedule_changed(bus, r)

    # -- archive retention ---------------------------------------------------------------------
    def arm_purge(self) -> None:
        if self._purge_armed or self.closed:
            return
        if not any(ns.archives for ns in self.namespaces.values()):
            return
        self._purge_armed = True
        self.part.schedule(self.part.now_ms() + PURGE_INTERVAL_MS, self._purge)

    def _purge(self, now: int) -> None:
        self._purge_armed = False
        if self.closed:
            return
        self.purge_archives(now)
        self.part.flush_soon()
        self.arm_purge()


__all__ = ["EventsShard", "ns_key", "validation"]
