"""EventBridge Scheduler shard half: groups, schedules and their timers.

A schedule's next invocation is one durable timer (this service's own timer
kind, one record per due time). When it fires, the invocation becomes a
durable delivery (kind ``scheduler.target``, targets.py) with the schedule's
retry policy and dead-letter queue, and the next due time is armed in the
same commit. A due time that passed while the server was down fires once at
start; the schedule then continues from now. ``at()`` schedules fire once;
with ActionAfterCompletion DELETE a schedule is deleted after its last
invocation.
"""

from __future__ import annotations

import random

from broker.core.ids import uuid4
from broker.core.timers import DurableTimers
from broker.runtime import sinks
from services.errors import ServiceError
from services.events.schedules import InvalidExpression, parse

from . import targets  # noqa: F401  (registers the delivery kinds in this process)

K_GROUP = "scheduler.group"
K_SCHEDULE = "scheduler.schedule"
DEFAULT_GROUP = "default"
MAX_RESULTS = 100


def _err(code: str, status: int, message: str) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def not_found(message: str) -> ServiceError:
    return _err("ResourceNotFoundException", 404, message)


def conflict(message: str) -> ServiceError:
    return _err("ConflictException", 409, message)


def _sec(ms):
    return None if ms is None else ms / 1000.0


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _page(items: list, token: str | None, limit: int | None) -> tuple[list, str | None]:
    start = int(token) if token and token.isdigit() else 0
    n = limit or MAX_RESULTS
    nxt = str(start + n) if start + n < len(items) else None
    return items[start:start + n], nxt


class SchedulerTimers(DurableTimers):
    KIND = "scheduler.timer"


class SchedulerShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.closed = False
        self.groups: dict[str, dict] = {}        # "<ns>|<group>" -> record
        self.schedules: dict[str, dict] = {}     # "<ns>|<group>|<name>" -> record
        self.timer_of: dict[str, str] = {}       # schedule key -> live timer id
        for k, rec in self.store.scan(K_GROUP):
            self.groups[k] = rec
        for k, rec in self.store.scan(K_SCHEDULE):
            self.schedules[k] = rec
        self.timers = SchedulerTimers(part, {"fire": self._fire})
        for tid in self.timers.live:
            self.timer_of[tid.rsplit("|", 1)[0][2:]] = tid
        for k, s in self.schedules.items():
            if k not in self.timer_of:
                self._arm(k, s, self.part.now_ms())

    def close(self) -> None:
        self.closed = True

    # -- dispatch ----------------------------------------------------------------
    def op_Handle(self, a):
        return getattr(self, "_" + a["op"])(a["k"], a["q"], a["a"], a["r"])

    # -- groups --------------------------------------------------------------------
    def _group(self, ns: str, name: str | None, account: str, region: str, create_default: bool = True) -> dict:
        name = name or DEFAULT_GROUP
        key = f"{ns}|{name}"
        g = self.groups.get(key)
        if g is None and name == DEFAULT_GROUP and create_default:
            now = self.part.now_ms()
            g = self.groups[key] = {"n": name, "a": account, "r": region, "st": "ACTIVE", "c": now, "m": now,
                                    "tags": {}}
            self.store.put(K_GROUP, key, g)
        if g is None:
            raise not_found(f"Schedule group {name} does not exist.")
        return g

    @staticmethod
    def _group_arn(g: dict) -> str:
        return f"arn:aws:scheduler:{g['r']}:{g['a']}:schedule-group/{g['n']}"

    def _CreateScheduleGroup(self, ns, p, account, region):
        name = p["Name"]
        key = f"{ns}|{name}"
        if key in self.groups or name == DEFAULT_GROUP:
            raise conflict(f"Schedule group {name} already exists.")
        now = self.part.now_ms()
        g = self.groups[key] = {"n": name, "a": account, "r": region, "st": "ACTIVE", "c": now, "m": now,
                                "tags": {t["Key"]: t["Value"] for t in p.get("Tags") or []}}
        self.store.put(K_GROUP, key, g)
        return {"ScheduleGroupArn": self._group_arn(g)}

    def _GetScheduleGroup(self, ns, p, account, region):
        g = self._group(ns, p["Name"], account, region)
        return {"Arn": self._group_arn(g), "Name": g["n"], "State": g["st"], "CreationDate": _sec(g["c"]),
                "LastModificationDate": _sec(g["m"])}

    def _DeleteScheduleGroup(self, ns, p, account, region):
        name = p["Name"]
        if name == DEFAULT_GROUP:
            raise _err("ValidationException", 400, "The default schedule group cannot be deleted.")
        g = self._group(ns, name, account, region)
        for k in [k for k in self.schedules if k.startswith(f"{ns}|{name}|")]:
            self._drop(k)
        del self.groups[f"{ns}|{g['n']}"]
        self.store.delete(K_GROUP, f"{ns}|{g['n']}")
        return {}

    def _ListScheduleGroups(self, ns, p, account, region):
        self._group(ns, DEFAULT_GROUP, account, region)
        prefix = p.get("NamePrefix") or ""
        items = sorted((g for k, g in self.groups.items() if k.startswith(ns + "|") and g["n"].startswith(prefix)),
                       key=lambda g: g["n"])
        page, nxt = _page(items, p.get("NextToken"), p.get("MaxResults"))
        out: dict = {"ScheduleGroups": [{"Arn": self._group_arn(g), "Name": g["n"], "State": g["st"],
                                         "CreationDate": _sec(g["c"]), "LastModificationDate": _sec(g["m"])}
                                        for g in page]}
        if nxt:
            out["NextToken"] = nxt
        return out

    # -- tags (schedule groups) ---------------------------------------------------------
    def _tagged(self, ns, arn: str, account, region) -> dict:
        res = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
        if not res.startswith("schedule-group/"):
            raise _err("ValidationException", 400, f"Invalid ARN {arn}: only schedule groups can be tagged.")
        return self._group(ns, res[len("schedule-group/"):], account, region)

    def _TagResource(self, ns, p, account, region):
        g = self._tagged(ns, p["ResourceArn"], account, region)
        for t in p["Tags"]:
            g["tags"][t["Key"]] = t["Value"]
        self.store.put(K_GROUP, f"{ns}|{g['n']}", g)
        return {}

    def _UntagResource(self, ns, p, account, region):
        g = self._tagged(ns, p["ResourceArn"], account, region)
        for k in p["TagKeys"]:
            g["tags"].pop(k, None)
        self.store.put(K_GROUP, f"{ns}|{g['n']}", g)
        return {}

    def _ListTagsForResource(self, ns, p, account, region):
        g = self._tagged(ns, p["ResourceArn"], account, region)
        return {"Tags": [{"Key": k, "Value": v} for k, v in g["tags"].items()]}

    # -- schedules ----------------------------------------------------------------------
    @staticmethod
    def _arn(s: dict) -> str:
        return f"arn:aws:scheduler:{s['r']}:{s['a']}:schedule/{s['g']}/{s['n']}"

    def _schedule(self, ns, p, account, region) -> tuple[str, dict]:
        g = self._group(ns, p.get("GroupName"), account, region)
        key = f"{ns}|{g['n']}|{p['Name']}"
        s = self.schedules.get(key)
        if s is None:
            raise not_found(f"Schedule {p['Name']} does not exist.")
        return key, s

    def _fill(self, s: dict, p: dict) -> None:
        s.update({"x": p["ScheduleExpression"], "tz": p.get("ScheduleExpressionTimezone") or "UTC",
                  "sd": p.get("StartDate"), "ed": p.get("EndDate"), "d": p.get("Description"),
                  "st": p.get("State") or "ENABLED", "kms": p.get("KmsKeyArn"), "t": p["Target"],
                  "ftw": p["FlexibleTimeWindow"], "aac": p.get("ActionAfterCompletion") or "NONE"})

    def _CreateSchedule(self, ns, p, account, region):
        g = self._group(ns, p.get("GroupName"), account, region)
        key = f"{ns}|{g['n']}|{p['Name']}"
        if key in self.schedules:
            raise conflict(f"Schedule {p['Name']} already exists.")
        now = self.part.now_ms()
        s = {"n": p["Name"], "g": g["n"], "a": account, "r": region, "c": now, "m": now}
        self._fill(s, p)
        self.schedules[key] = s
        self.store.put(K_SCHEDULE, key, s)
        self._arm(key, s, now)
        return {"ScheduleArn": self._arn(s)}

    def _UpdateSchedule(self, ns, p, account, region):
        key, s = self._schedule(ns, p, account, region)
        self._fill(s, p)
        s["m"] = self.part.now_ms()
        s.pop("last", None)
        self.store.put(K_SCHEDULE, key, s)
        self._arm(key, s, s["m"])
        return {"ScheduleArn": self._arn(s)}

    def _GetSchedule(self, ns, p, account, region):
        _key, s = self._schedule(ns, p, account, region)
        return _clean({"Arn": self._arn(s), "GroupName": s["g"], "Name": s["n"], "ScheduleExpression": s["x"],
                       "StartDate": _sec(s.get("sd")), "EndDate": _sec(s.get("ed")), "Description": s.get("d"),
                       "ScheduleExpressionTimezone": s["tz"], "State": s["st"], "CreationDate": _sec(s["c"]),
                       "LastModificationDate": _sec(s["m"]), "KmsKeyArn": s.get("kms"), "Target": s["t"],
                       "FlexibleTimeWindow": s["ftw"], "ActionAfterCompletion": s["aac"]})

    def _DeleteSchedule(self, ns, p, account, region):
        key, _s = self._schedule(ns, p, account, region)
        self._drop(key)
        return {}

    def _ListSchedules(self, ns, p, account, region):
        group = p.get("GroupName")
        if group:
            self._group(ns, group, account, region)
        prefix = p.get("NamePrefix") or ""
        items = sorted((s for k, s in self.schedules.items()
                        if k.startswith(ns + "|") and (not group or s["g"] == group) and s["n"].startswith(prefix)
                        and (not p.get("State") or s["st"] == p["State"])), key=lambda s: (s["g"], s["n"]))
        page, nxt = _page(items, p.get("NextToken"), p.get("MaxResults"))
        out: dict = {"Schedules": [{"Arn": self._arn(s), "Name": s["n"], "GroupName": s["g"], "State": s["st"],
                                    "CreationDate": _sec(s["c"]), "LastModificationDate": _sec(s["m"]),
                                    "Target": {"Arn": s["t"]["Arn"]}} for s in page]}
        if nxt:
            out["NextToken"] = nxt
        return out

    def _drop(self, key: str) -> None:
        self.schedules.pop(key, None)
        self.store.delete(K_SCHEDULE, key)
        tid = self.timer_of.pop(key, None)
        if tid is not None:
            self.timers.cancel(tid)

    # -- timing ---------------------------------------------------------------------------
    def _next_nominal(self, s: dict, after: int) -> int | None:
        """The next invocation time strictly after `after` (ms), within Start/EndDate."""
        try:
            sched = parse(s["x"], allow_at=True)
        except InvalidExpression:
            return None
        if sched.kind == "at":
            due = sched.next_after(-1, s["tz"])
            return due if due is not None and s.get("last") is None else None
        start = s.get("sd")
        if start is not None and after < start - 1:
            after = start - 1
        due = sched.next_after(after, s["tz"], anchor_ms=start if start is not None else s["c"])
        if due is not None and s.get("ed") is not None and due > s["ed"]:
            return None
        return due

    def _arm(self, key: str, s: dict, after: int) -> None:
        old = self.timer_of.pop(key, None)
        if old is not None:
            self.timers.cancel(old)
        if s["st"] != "ENABLED":
            return
        nominal = self._next_nominal(s, after)
        if nominal is None:
            if s.get("last") is not None and s["aac"] == "DELETE":
                self._drop(key)
            return
        ftw = s.get("ftw") or {}
        jitter = 0
        if ftw.get("Mode") == "FLEXIBLE" and ftw.get("MaximumWindowInMinutes"):
            jitter = random.randrange(0, int(ftw["MaximumWindowInMinutes"]) * 60_000)
        due = nominal + jitter
        tid = f"s|{key}|{nominal}"
        self.timers.schedule(tid, due, "fire", {"k": key, "t": nominal})
        self.timer_of[key] = tid

    def _fire(self, tid: str, data: dict) -> None:
        key = data["k"]
        if self.timer_of.get(key) == tid:
            del self.timer_of[key]
        s = self.schedules.get(key)
        if s is None or s["st"] != "ENABLED":
            return
        nominal = data["t"]
        self._invoke(s, nominal)
        s["last"] = nominal
        self.store.put(K_SCHEDULE, key, s)
        now = self.part.now_ms()
        self._arm(key, s, max(nominal, now))

    def _invoke(self, s: dict, nominal: int) -> None:
        t = s["t"]
        rp = t.get("RetryPolicy") or {}
        retries = rp.get("MaximumRetryAttempts", 185)
        policy = sinks.policy(backoff=(retries, 1.0, 60.0, "exponential"),
                              max_age_s=rp.get("MaximumEventAgeInSeconds", 86_400), jitter=True)
        arn = self._arn(s)
        spec = {"arn": t["Arn"], "a": s["a"], "r": s["r"], "schedule": arn, "group": s["g"],
                "sqs": t.get("SqsParameters"), "eb": t.get("EventBridgeParameters"), "role": t.get("RoleArn")}
        body = {"input": t.get("Input"), "time": nominal, "xid": uuid4()}
        dlq = None
        dlc = (t.get("DeadLetterConfig") or {}).get("Arn")
        if dlc:
            dlq = {"kind": "scheduler.dlq", "target": {"arn": dlc, "schedule": arn, "target": t["Arn"],
                                                       "a": s["a"], "r": s["r"], "max": retries,
                                                       "role": t.get("RoleArn")},
                   "policy": sinks.policy(backoff=(10, 1.0, 60.0, "exponential"))}
        sinks.deliveries(self.part).submit("scheduler.target", spec, body, policy=policy, dlq=dlq)
