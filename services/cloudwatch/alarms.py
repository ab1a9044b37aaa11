"""Metric and composite alarms of one partition: configuration, state, evaluation
on their period, history and actions.

Alarm records (kind ``cw.alarm``) hold configuration and state; history items
live in the side database (two weeks, as at AWS). Every alarm is evaluated
every min(Period, 60) seconds: the schedule is derived from the records, so
after a restart every alarm is re-armed and evaluated at once (late, never
lost). A state change records history, re-evaluates the composite alarms
that name the alarm, and submits the actions of the new state as durable
deliveries (services/cloudwatch/actions.py).
"""

from __future__ import annotations

import math
import time

import msgspec

from services.cloudwatch import actions, alarmrule, stats
from services.cloudwatch.alarmeval import ALARM, INSUFFICIENT, OK, evaluate, iso
from services.cloudwatch.errors import invalid_value, validation

KIND_ALARM = "cw.alarm"
HISTORY_DAYS = 14
ALARM_TYPES = ("MetricAlarm", "CompositeAlarm")
METRIC_FIELDS = ("AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
                 "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
                 "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
                 "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")
COMPOSITE_FIELDS = ("AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
                    "AlarmRule", "ActionsSuppressor", "ActionsSuppressorWaitPeriod",
                    "ActionsSuppressorExtensionPeriod")

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS history (acct TEXT, region TEXT, ts REAL, seq INTEGER, name TEXT, type TEXT, v BLOB,
                                    PRIMARY KEY (acct, region, ts, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS history_age ON history (ts);
"""

_enc = msgspec.json.encode
_dec = msgspec.json.decode


def alarm_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


def _key(account, region, name) -> str:
    return f"{account}/{region}/{name}"


class Alarms:
    def __init__(self, part, side, metrics):
        self.part = part
        self.store = part.store
        self.side = side
        self.metrics = metrics
        self.alarms: dict[str, dict] = {}
        self.gen: dict[str, int] = {}
        self._seq = 0
        self.closed = False
        now = time.time()
        for key, rec in self.store.scan(KIND_ALARM):
            self.alarms[key] = rec
        for key in self.alarms:
            self._arm(key, now + 1)

    def close(self) -> None:
        self.closed = True

    # -- scheduling -----------------------------------------------------------------
    def _arm(self, key: str, due: float) -> None:
        rec = self.alarms.get(key)
        if rec is None or rec["type"] != "MetricAlarm":
            return
        g = self.gen[key] = self.gen.get(key, 0) + 1
        self.part.schedule(int(due * 1000), lambda now_ms, k=key, g=g: self._tick(k, g))

    def _tick(self, key: str, g: int) -> None:
        if self.closed or self.gen.get(key) != g or key not in self.alarms:
            return
        rec = self.alarms[key]
        now = time.time()
        try:
            self.evaluate(rec, now)
        finally:
            period = rec["cfg"].get("Period") or _metrics_period(rec["cfg"]) or 60
            self._arm(key, now + min(period, 60))

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self, rec: dict, now: float) -> None:
        cfg = rec["cfg"]
        points, band = self._datapoints(rec, now)
        out = evaluate(cfg, points, rec["state"]["value"], now, band)
        if out is None:
            return
        state, reason, data = out
        if state != rec["state"]["value"]:
            self.transition(rec, state, reason, data, now)

    def _datapoints(self, rec: dict, now: float) -> tuple[list, dict | None]:
        cfg = rec["cfg"]
        n = cfg.get("EvaluationPeriods") or 1
        period = cfg.get("Period") or _metrics_period(cfg) or 60
        t = int(now)
        current = t - t % period
        start, end = current - n * period, current + period
        if cfg.get("Metrics"):
            pts, band = self._math_points(rec, start, end, now)
            counts = {}
        else:
            stat = cfg.get("Statistic") or cfg.get("ExtendedStatistic")
            s = self.metrics.find(rec["account"], rec["region"], cfg.get("Namespace"), cfg.get("MetricName"),
                                  cfg.get("Dimensions"))
            pts, counts, band = {}, {}, None
            if s is not None:
                for b, slot in self.metrics.buckets(s, start, end, period, cfg.get("Unit"), t).items():
                    v = stats.statistic(slot, stat)
                    if v is not None:
                        pts[b] = v
                        counts[b] = slot[0]
        buckets = list(range(start, end, period))
        if current not in pts:
            buckets = buckets[:-1]
        buckets = buckets[-n:]
        return [(b, pts.get(b), counts.get(b)) for b in buckets], band

    def _math_points(self, rec, start, end, now):
        from services.cloudwatch.queries import MetricDataRun
        from services.cloudwatch.mathexpr import TS
        cfg = rec["cfg"]
        run = MetricDataRun(self.metrics, rec["account"], rec["region"], cfg["Metrics"], start, end, int(now))
        main = [q for q in cfg["Metrics"] if q.get("ReturnData", True) and q["Id"] != cfg.get("ThresholdMetricId")]
        v = run.value(main[0]["Id"]) if main else TS()
        pts = v.points if isinstance(v, TS) else {}
        band = None
        if cfg.get("ThresholdMetricId"):
            bv = run.value(cfg["ThresholdMetricId"])
            if isinstance(bv, list) and len(bv) >= 2:
                band = {t: (bv[0].points[t], bv[1].points.get(t, math.inf)) for t in bv[0].points}
            elif isinstance(bv, TS):
                band = {t: (x, x) for t, x in bv.points.items()}
        return pts, band

    def transition(self, rec: dict, state: str, reason: str, data: str | None, now: float,
                   manual: bool = False) -> None:
        old = rec["state"]
        rec["state"] = {"value": state, "reason": reason, "data": data, "updated": now,
                        "transitioned": now if state != old["value"] else old.get("transitioned", now)}
        self._save(rec)
        history = {"version": "1.0",
                   "oldState": {"stateValue": old["value"], "stateReason": old["reason"],
                                **({"stateReasonData": _dec(old["data"])} if old.get("data") else {})},
                   "newState": {"stateValue": state, "stateReason": reason,
                                **({"stateReasonData": _dec(data)} if data and not manual else {})}}
        self.history(rec, "StateUpdate", f"Alarm updated from {old['value']} to {state}", history, now)
        if state != old["value"]:
            if rec["cfg"].get("ActionsEnabled", True):
                actions.fire(self, rec, old["value"], now)
            self._update_parents(rec, now)

    def _update_parents(self, child: dict, now: float) -> None:
        for rec in list(self.alarms.values()):
            if rec["type"] == "CompositeAlarm" and rec["account"] == child["account"] \
                    and rec["region"] == child["region"] and \
                    ({child["name"], child["arn"]} & rec.get("children", set())):
                self.evaluate_composite(rec, now, child)

    def evaluate_composite(self, rec: dict, now: float, trigger: dict | None = None) -> None:
        tree = alarmrule.parse(rec["cfg"]["AlarmRule"])

        def state_of(ref: str):
            name = ref.rsplit(":alarm:", 1)[1] if ref.startswith("arn:") else ref
            r = self.alarms.get(_key(rec["account"], rec["region"], name))
            return r["state"]["value"] if r is not None else None
        state = ALARM if alarmrule.evaluate(tree, state_of) else OK
        if state == rec["state"]["value"]:
            return
        when = datetime_text(now)
        if trigger is not None:
            reason = f"{trigger['arn']} transitioned to {trigger['state']['value']} at {when}"
        else:
            reason = f"arn:aws:cloudwatch:{rec['region']}:{rec['account']}:alarm:{rec['name']} was created and " \
                     f"its alarm rule evaluates to {state}"
        triggering = [{"arn": trigger["arn"], "state": {"value": trigger["state"]["value"],
                                                         "timestamp": iso(now)}}] if trigger else []
        data = _enc({"triggeringAlarms": triggering}).decode()
        self.transition(rec, state, reason, data, now)

    # -- persistence and history ------------------------------------------------------------
    def _save(self, rec: dict) -> None:
        stored = {k: v for k, v in rec.items() if k != "children"}
        self.store.put(KIND_ALARM, _key(rec["account"], rec["region"], rec["name"]), stored)

    def history(self, rec: dict, kind: str, summary: str, data, now: float) -> None:
        self._seq += 1
        item = {"AlarmName": rec["name"], "AlarmType": rec["type"], "Timestamp": now, "HistoryItemType": kind,
                "HistorySummary": summary,
                "HistoryData": data if isinstance(data, str) else _enc(data).decode()}
        aad = f"{rec['account']}/{rec['region']}/{now!r}/{self._seq}".encode()
        self.side.write("INSERT OR REPLACE INTO history VALUES (?,?,?,?,?,?,?)",
                        (rec["account"], rec["region"], now, self._seq, rec["name"], rec["type"],
                         self.side.seal(_enc(item), aad)))

    def read_history(self, account, region, p: dict) -> list[dict]:
        lo = p.get("StartDate") or 0
        hi = p.get("EndDate") or 1e12
        sql = "SELECT ts, seq, v FROM history WHERE acct=? AND region=? AND ts>=? AND ts<=?"
        args: list = [account, region, lo, hi]
        if p.get("AlarmName"):
            sql += " AND name=?"
            args.append(p["AlarmName"])
        desc = p.get("ScanBy", "TimestampDescending") != "TimestampAscending"
        sql += " ORDER BY ts %s, seq %s" % (("DESC", "DESC") if desc else ("ASC", "ASC"))
        out = []
        for ts, seq, blob in self.side.read(sql, args):
            item = _dec(self.side.open(blob, f"{account}/{region}/{ts!r}/{seq}".encode()))
            out.append(item)
        return out

    def sweep(self, now: float) -> None:
        self.side.write("DELETE FROM history WHERE ts<?", (now - HISTORY_DAYS * 86400,))

    # -- API ------------------------------------------------------------------------------
    def get(self, account, region, name) -> dict | None:
        return self.alarms.get(_key(account, region, name))

    def in_namespace(self, account, region):
        return [r for r in self.alarms.values() if r["account"] == account and r["region"] == region]

    def put(self, account, region, p: dict, kind: str, now: float) -> None:
        name = p["AlarmName"]
        key = _key(account, region, name)
        fields = METRIC_FIELDS if kind == "MetricAlarm" else COMPOSITE_FIELDS
        cfg = {f: p[f] for f in fields if p.get(f) is not None}
        cfg.setdefault("ActionsEnabled", True)
        for f in ("OKActions", "AlarmActions", "InsufficientDataActions"):
            cfg.setdefault(f, [])
        if kind == "MetricAlarm":
            cfg.setdefault("Dimensions", [])
        rec = self.alarms.get(key)
        created = rec is None
        if rec is not None and rec["type"] != kind:
            raise validation(f"An alarm named {name} already exists with a different type.")
        if created:
            rec = {"type": kind, "account": account, "region": region, "name": name,
                   "arn": alarm_arn(account, region, name),
                   "state": {"value": INSUFFICIENT, "reason": "Unchecked: Initial alarm creation", "data": None,
                             "updated": now, "transitioned": now},
                   "tags": {t["Key"]: t["Value"] for t in p.get("Tags") or []}}
            self.alarms[key] = rec
        else:
            for t in p.get("Tags") or []:
                rec["tags"][t["Key"]] = t["Value"]
        rec["cfg"] = cfg
        rec["config_updated"] = now
        if kind == "CompositeAlarm":
            rec["children"] = alarmrule.children(alarmrule.parse(cfg["AlarmRule"]))
        self._save(rec)
        desc = {"type": "Create" if created else "Update", "version": "1.0",
                ("createdAlarm" if created else "updatedAlarm"): describe(rec)}
        self.history(rec, "ConfigurationUpdate", f"Alarm \"{name}\" {'created' if created else 'updated'}",
                     _jsonable(desc), now)
        if kind == "MetricAlarm":
            self._arm(key, now + 1)
        else:
            self.evaluate_composite(rec, now)

    def delete(self, account, region, names: list[str], now: float) -> None:
        missing = [n for n in names if _key(account, region, n) not in self.alarms]
        if missing:
            raise _not_found(missing)
        for n in names:
            key = _key(account, region, n)
            rec = self.alarms.pop(key)
            self.gen.pop(key, None)
            self.store.delete(KIND_ALARM, key)
            self.history(rec, "ConfigurationUpdate", f"Alarm \"{n}\" deleted",
                         {"type": "Delete", "version": "1.0", "deletedAlarm": _jsonable(describe(rec))}, now)

    def set_state(self, account, region, p: dict, now: float) -> None:
        rec = self.get(account, region, p["AlarmName"])
        if rec is None:
            raise _not_found([p["AlarmName"]])
        data = p.get("StateReasonData")
        if data:
            try:
                _dec(data)
            except msgspec.DecodeError:
                raise invalid_value("The value for parameter StateReasonData must be a valid JSON document.") \
                    from None
        self.transition(rec, p["StateValue"], p["StateReason"], data or None, now, manual=True)

    def set_actions_enabled(self, account, region, names: list[str], enabled: bool) -> None:
        for n in names:
            rec = self.get(account, region, n)
            if rec is not None:
                rec["cfg"]["ActionsEnabled"] = enabled
                self._save(rec)


def _not_found(names):
    from services.errors import ServiceError
    return ServiceError(f"Could not find alarm(s): {', '.join(names)}" if len(names) > 1 else
                        f"Alarm {names[0]} does not exist", code="ResourceNotFound", status=404, sender_fault=True)


def _metrics_period(cfg: dict) -> int | None:
    periods = [q["MetricStat"]["Period"] for q in cfg.get("Metrics") or [] if q.get("MetricStat")]
    periods += [q["Period"] for q in cfg.get("Metrics") or [] if q.get("Period")]
    return min(periods) if periods else None


def datetime_text(ts: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%A %d %B, %Y %H:%M:%S UTC")


def _jsonable(doc):
    if isinstance(doc, dict):
        return {k: _jsonable(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_jsonable(v) for v in doc]
    if isinstance(doc, set):
        return sorted(doc)
    return doc


def describe(rec: dict) -> dict:
    """The alarm as DescribeAlarms shows it (MetricAlarm or CompositeAlarm shape)."""
    st = rec["state"]
    out = {"AlarmName": rec["name"], "AlarmArn": rec["arn"],
           "AlarmConfigurationUpdatedTimestamp": rec["config_updated"]}
    out.update({k: v for k, v in rec["cfg"].items()})
    out.update({"StateValue": st["value"], "StateReason": st["reason"], "StateUpdatedTimestamp": st["updated"],
                "StateTransitionedTimestamp": st.get("transitioned", st["updated"])})
    if st.get("data"):
        out["StateReasonData"] = st["data"]
    return out
