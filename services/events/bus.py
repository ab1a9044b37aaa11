"""An event bus and its rules: state, records and the bus-level operations.

A bus is an exchange whose bindings are its enabled rules (destination
``rule name``), matched with the core event-pattern index; archives on the
bus are bindings too (``("archive", name)``). The bus record (kind
``events.bus``) holds the bus itself; each rule is its own record (kind
``events.rule``, key ``<bus key>|<rule>``) so a bus with thousands of rules
rewrites one small record per change.

Methods are ``bus_<Operation>(bus, params, info)`` on the shard: they run
against memory, stage records and return the output dict.
"""

from __future__ import annotations

import json

from broker.core.eventpattern import EventPatternMatcher, InvalidPattern, validate

from .names import (
    DEFAULT_BUS, bus_arn, bus_not_found, err, exists, invalid_pattern, limit_exceeded, not_found, paged,
    rule_arn, rule_not_found, validation,
)

KIND_BUS = "events.bus"
KIND_RULE = "events.rule"
MAX_TARGETS_PER_RULE = 5
ALL = ("archive-all",)        # marker: an archive without a pattern takes every event


class Bus:
    __slots__ = ("key", "rec", "rules", "matcher", "archive_all", "persisted")

    def __init__(self, key: str, rec: dict, persisted: bool = True):
        self.key = key
        self.rec = rec
        self.rules: dict[str, dict] = {}
        self.matcher = EventPatternMatcher()
        self.archive_all: dict[str, None] = {}      # archives with no pattern
        self.persisted = persisted

    @property
    def name(self) -> str:
        return self.rec["n"]

    @property
    def arn(self) -> str:
        return bus_arn(self.rec["a"], self.rec["r"], self.rec["n"])

    def rule_arn(self, rule: str) -> str:
        return rule_arn(self.rec["a"], self.rec["r"], self.rec["n"], rule)

    # -- bindings --------------------------------------------------------------
    def bind_rule(self, r: dict) -> None:
        if r.get("st", "ENABLED") != "DISABLED" and r.get("pat"):
            self.matcher.add(r["pat"], r["n"])

    def unbind_rule(self, r: dict) -> None:
        if r.get("pat"):
            self.matcher.remove(r["pat"], r["n"])

    def bind_archive(self, name: str, pattern: str | None) -> None:
        if pattern:
            self.matcher.add(pattern, ("archive", name))
        else:
            self.archive_all[name] = None

    def unbind_archive(self, name: str, pattern: str | None) -> None:
        if pattern:
            self.matcher.remove(pattern, ("archive", name))
        else:
            self.archive_all.pop(name, None)


def new_bus_record(name: str, account: str, region: str, now: int, p: dict | None = None) -> dict:
    p = p or {}
    return {"n": name, "a": account, "r": region, "c": now, "m": now, "d": p.get("Description"),
            "kms": p.get("KmsKeyIdentifier"), "dlc": p.get("DeadLetterConfig"), "log": p.get("LogConfig"),
            "src": p.get("EventSourceName"), "pol": None,
            "tags": {t["Key"]: t.get("Value", "") for t in p.get("Tags") or []}}


def _tags_out(tags: dict) -> list:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _sec(ms):
    return None if ms is None else ms / 1000.0


def rule_view(bus: Bus, r: dict, describe: bool = False) -> dict:
    out = {"Name": r["n"], "Arn": bus.rule_arn(r["n"]), "EventPattern": r.get("pat"),
           "ScheduleExpression": r.get("sched"), "State": r.get("st", "ENABLED"), "Description": r.get("d"),
           "RoleArn": r.get("role"), "ManagedBy": r.get("mb"), "EventBusName": bus.name}
    if describe:
        out["CreatedBy"] = r.get("cb")
    return {k: v for k, v in out.items() if v is not None}


class BusOps:
    """Bus-level operations (mixed into the shard half)."""

    # -- buses ------------------------------------------------------------------
    def bus_CreateEventBus(self, bus: Bus | None, p: dict, info: dict):
        if bus is not None:
            raise exists(f"Event bus {info['name']} already exists.")
        now = self.part.now_ms()
        rec = new_bus_record(info["name"], info["a"], info["r"], now, p)
        bus = self._add_bus(info["k"], rec)
        self._save_bus(bus)
        out = {"EventBusArn": bus.arn, "Description": rec["d"], "KmsKeyIdentifier": rec["kms"],
               "DeadLetterConfig": rec["dlc"], "LogConfig": rec["log"]}
        return {k: v for k, v in out.items() if v is not None}

    def bus_DeleteEventBus(self, bus: Bus | None, p: dict, info: dict):
        if info["name"] == DEFAULT_BUS:
            raise validation("Cannot delete event bus default.")
        if bus is None:
            return {}
        for r in list(bus.rules.values()):
            self._delete_rule(bus, r)
        self.store.delete(KIND_BUS, bus.key)
        del self.buses[bus.key]
        return {}

    def bus_DescribeEventBus(self, bus: Bus | None, p: dict, info: dict):
        bus = self._need(bus, info)
        rec = bus.rec
        out = {"Name": rec["n"], "Arn": bus.arn, "Description": rec.get("d"), "KmsKeyIdentifier": rec.get("kms"),
               "DeadLetterConfig": rec.get("dlc"), "LogConfig": rec.get("log"),
               "Policy": json.dumps(rec["pol"]) if rec.get("pol") else None,
               "CreationTime": _sec(rec["c"]), "LastModifiedTime": _sec(rec["m"])}
        return {k: v for k, v in out.items() if v is not None}

    def bus_UpdateEventBus(self, bus: Bus | None, p: dict, info: dict):
        bus = self._need(bus, info)
        rec = bus.rec
        for param, field in (("Description", "d"), ("KmsKeyIdentifier", "kms"), ("DeadLetterConfig", "dlc"),
                             ("LogConfig", "log")):
            if param in p:
                rec[field] = p[param] or None
        rec["m"] = self.part.now_ms()
        self._save_bus(bus)
        out = {"Arn": bus.arn, "Name": rec["n"], "KmsKeyIdentifier": rec.get("kms"), "Description": rec.get("d"),
               "DeadLetterConfig": rec.get("dlc"), "LogConfig": rec.get("log")}
        return {k: v for k, v in out.items() if v is not None}

    def bus_PutPermission(self, bus: Bus | None, p: dict, info: dict):
        bus = self._need(bus, info)
        rec = bus.rec
        if p.get("Policy"):
            try:
                doc = json.loads(p["Policy"])
            except ValueError:
                raise validation("Policy is not valid JSON.") from None
            rec["pol"] = doc
        else:
            for name in ("Action", "Principal", "StatementId"):
                if not p.get(name):
                    raise validation(f"Parameter {name} must be specified.")
            if p["Action"] != "events:PutEvents":
                raise validation("Provided value in parameter 'action' is not supported.")
            principal = p["Principal"]
            stmt = {"Sid": p["StatementId"], "Effect": "Allow",
                    "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
                    "Action": p["Action"], "Resource": bus.arn}
            cond = p.get("Condition")
            if cond:
                stmt["Condition"] = {"StringEquals": {cond["Key"]: cond["Value"]}}
            pol = rec.get("pol") or {"Version": "2012-10-17", "Statement": []}
            pol["Statement"] = [s for s in pol.get("Statement", []) if s.get("Sid") != p["StatementId"]] + [stmt]
            rec["pol"] = pol
        rec["m"] = self.part.now_ms()
        self._save_bus(bus)
        return {}

    def bus_RemovePermission(self, bus: Bus | None, p: dict, info: dict):
        bus = self._need(bus, info)
        rec = bus.rec
        if p.get("RemoveAllPermissions"):
            rec["pol"] = None
        else:
            sid = p.get("StatementId")
            stmts = (rec.get("pol") or {}).get("Statement", [])
            kept = [s for s in stmts if s.get("Sid") != sid]
            if not sid or len(kept) == len(stmts):
                raise not_found("Statement with the provided id does not exist.")
            rec["pol"] = {**rec["pol"], "Statement": kept} if kept else None
        rec["m"] = self.part.now_ms()
        self._save_bus(bus)
        return {}

    # -- rules --------------------------------------------------------------------
    def bus_PutRule(self, bus: Bus | None, p: dict, info: dict):
        bus = self._need(bus, info)
        name = p["Name"]
        r = bus.rules.get(name)
        pattern = p.get("EventPattern")
        if pattern is not None:
            try:
                validate(pattern)
            except InvalidPattern as exc:
                raise invalid_pattern(exc.reason) from None
        if r is None:
            if len(bus.rules) >= self.max_rules:
                raise limit_exceeded()
            r = {"n": name, "t": [], "cb": info["a"], "c": self.part.now_ms(),
                 "tags": {t["Key"]: t.get("Value", "") for t in p.get("Tags") or []}}
        else:
            bus.unbind_rule(r)
            for t in p.get("Tags") or []:
                r["tags"][t["Key"]] = t.get("Value", "")
        r["pat"] = pattern
        r["sched"] = p.get("ScheduleExpression")
        r["st"] = p.get("State") or r.get("st") or "ENABLED"
        r["d"] = p.get("Description", r.get("d"))
        r["role"] = p.get("RoleArn", r.get("role"))
        if info.get("managed_by"):
            r["mb"] = info["managed_by"]
        bus.rules[name] = r
        bus.bind_rule(r)
        self._save_rule(bus, r)
        self.rule_schedule_changed(bus, r)
        return {"RuleArn": bus.rule_arn(name)}

    def _rule(self, bus: Bus | None, info: dict, name: str) -> tuple[Bus, dict]:
        if bus is None:
            if info["name"] == DEFAULT_BUS:
                raise rule_not_found(name, info["name"])
            raise bus_not_found(info["name"])
        r = bus.rules.get(name)
        if r is None:
            raise rule_not_found(name, bus.name)
        return bus, r

    def bus_DescribeRule(self, bus: Bus | None, p: dict, info: dict):
        bus, r = self._rule(bus, info, p["Name"])
        return rule_view(bus, r, describe=True)

    def bus_DeleteRule(self, bus: Bus | None, p: dict, info: dict):
        if bus is None:
            return {}
        r = bus.rules.get(p["Name"])
        if r is None:
            return {}
        if r.get("mb") and not p.get("Force"):
            raise validation(f"Rule {r['n']} is managed by {r['mb']} and can't be deleted unless Force is set.")
        if r.get("t"):
            raise validation("Rule can't be deleted since it has targets.")
        self._delete_rule(bus, r)
        return {}

    def _delete_rule(self, bus: Bus, r: dict) -> None:
        bus.unbind_rule(r)
        bus.rules.pop(r["n"], None)
        self.store.delete(KIND_RULE, f"{bus.key}|{r['n']}")
        r["sched"] = None
        self.rule_schedule_changed(bus, r)

    def _set_state(self, bus, p, info, state: str):
        bus, r = self._rule(bus, info, p["Name"])
        bus.unbind_rule(r)
        r["st"] = state
        bus.bind_rule(r)
        self._save_rule(bus, r)
        self.rule_schedule_changed(bus, r)
        return {}

    def bus_EnableRule(self, bus, p, info):
        return self._set_state(bus, p, info, "ENABLED")

    def bus_DisableRule(self, bus, p, info):
        return self._set_state(bus, p, info, "DISABLED")

    def bus_ListRules(self, bus: Bus | None, p: dict, info: dict):
        bus = self._need(bus, info)
        prefix = p.get("NamePrefix") or ""
        names = sorted(n for n in bus.rules if n.startswith(prefix))
        return paged(names, p, "Rules", lambda n: rule_view(bus, bus.rules[n]))

    def bus_ListRuleNamesByTarget(self, bus: Bus | None, p: dict, info: dict):
        bus = self._need(bus, info)
        arn = p["TargetArn"]
        names = sorted(n for n, r in bus.rules.items() if any(t.get("Arn") == arn for t in r.get("t", ())))
        return paged(names, p, "RuleNames")

    # -- targets --------------------------------------------------------------------
    def bus_PutTargets(self, bus: Bus | None, p: dict, info: dict):
        bus, r = self._rule(bus, info, p["Rule"])
        targets = {t["Id"]: t for t in r.get("t", [])}
        for t in p["Targets"]:
            targets[t["Id"]] = t
        if len(targets) > MAX_TARGETS_PER_RULE:
            raise limit_exceeded()
        r["t"] = list(targets.values())
        self._save_rule(bus, r)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def bus_RemoveTargets(self, bus: Bus | None, p: dict, info: dict):
        bus, r = self._rule(bus, info, p["Rule"])
        ids = set(p["Ids"])
        r["t"] = [t for t in r.get("t", []) if t["Id"] not in ids]
        self._save_rule(bus, r)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def bus_ListTargetsByRule(self, bus: Bus | None, p: dict, info: dict):
        bus, r = self._rule(bus, info, p["Rule"])
        return paged(r.get("t", []), p, "Targets", lambda t: {k: v for k, v in t.items() if not k.startswith("_")})

    # -- tags -------------------------------------------------------------------------
    def _tag_holder(self, bus: Bus | None, info: dict) -> tuple[Bus, dict, callable]:
        rule = info.get("rule")
        if rule is None:
            bus = self._need(bus, info)
            return bus, bus.rec["tags"], lambda: self._save_bus(bus)
        bus, r = self._rule(bus, info, rule)
        r.setdefault("tags", {})
        return bus, r["tags"], lambda: self._save_rule(bus, r)

    def bus_TagResource(self, bus, p, info):
        _, tags, save = self._tag_holder(bus, info)
        for t in p["Tags"]:
            tags[t["Key"]] = t.get("Value", "")
        if len(tags) > 50:
            raise err("TooManyTagsException", "Tag limit exceeded.")
        save()
        return {}

    def bus_UntagResource(self, bus, p, info):
        _, tags, save = self._tag_holder(bus, info)
        for k in p["TagKeys"]:
            tags.pop(k, None)
        save()
        return {}

    def bus_ListTagsForResource(self, bus, p, info):
        _, tags, _save = self._tag_holder(bus, info)
        return {"Tags": _tags_out(tags)}

    # -- helpers ----------------------------------------------------------------------
    def _need(self, bus: Bus | None, info: dict) -> Bus:
        if bus is None:
            raise bus_not_found(info["name"])
        return bus
