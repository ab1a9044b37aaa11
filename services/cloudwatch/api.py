"""CloudWatch gateway half (query, JSON 1.0 and CBOR: one codec, three wires).

Checks what the model cannot express (mutually exclusive members, periods,
statistics, time ranges, AWS's limits), turns timestamps into epoch seconds
and sends one op to the partition owning the namespace (account + region;
dashboards: the account, as they are global).
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime

from services.cloudwatch import alarmrule, stats
from services.cloudwatch.errors import invalid_combination, invalid_value, missing, validation
from services.errors import NotImplementedOperation

IMPLEMENTED = frozenset((
    "PutMetricData", "GetMetricData", "GetMetricStatistics", "ListMetrics",
    "PutMetricAlarm", "PutCompositeAlarm", "DescribeAlarms", "DescribeAlarmsForMetric", "DeleteAlarms",
    "SetAlarmState", "DescribeAlarmHistory", "EnableAlarmActions", "DisableAlarmActions",
    "TagResource", "UntagResource", "ListTagsForResource",
    "PutDashboard", "GetDashboard", "ListDashboards", "DeleteDashboards"))
DASHBOARD_OPS = frozenset(("PutDashboard", "GetDashboard", "ListDashboards", "DeleteDashboards"))
MAX_DATUMS = 1000
MAX_VALUES = 150
MAX_QUERIES = 500
PAST_LIMIT = 14 * 86400
FUTURE_LIMIT = 2 * 3600
HIGH_RES_PERIODS = (1, 5, 10, 20, 30)
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def namespace_key(account: str, region: str) -> str:
    return f"cloudwatch/{account}/{region}"


def account_key(account: str) -> str:
    return f"cloudwatch/{account}"


def epoch(v) -> float:
    if isinstance(v, datetime):
        return v.timestamp()
    return float(v)


def valid_period(period: int) -> bool:
    return period in HIGH_RES_PERIODS or (period >= 60 and period % 60 == 0)


def check_stat(stat: str, where: str) -> None:
    if stat not in stats.STATISTICS and not stats.valid_extended(stat):
        raise invalid_value(f"The value {stat} for parameter {where} is not supported.")


def check_dims(dims, where: str) -> None:
    dims = dims or []
    if len(dims) > 30:
        raise invalid_value(f"The collection {where} must not have a size greater than 30.")
    names = [d.get("Name") for d in dims]
    if len(names) != len(set(names)):
        raise invalid_combination("No metric may have duplicate dimension names.")
    for i, d in enumerate(dims, 1):
        for f in ("Name", "Value"):
            if d.get(f) is None:
                raise missing(f"{where}.member.{i}.{f}")


def check_range(start: float, end: float) -> None:
    if start >= end:
        raise invalid_value("The parameter StartTime must be less than the parameter EndTime.")


class CloudWatchApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        if operation not in IMPLEMENTED:
            raise NotImplementedOperation(
                f"This broker does not implement this CloudWatch operation yet (operation {operation}).")
        check = getattr(self, "_check_" + operation, None)
        if check is not None:
            params = check(dict(params))
        key = account_key(ctx.account_id) if operation in DASHBOARD_OPS else \
            namespace_key(ctx.account_id, ctx.region)
        if operation in ("TagResource", "UntagResource", "ListTagsForResource") and \
                ":dashboard/" in params.get("ResourceARN", ""):
            key = account_key(ctx.account_id)
        return await ctx.cluster.call(key, "cloudwatch.Handle", {
            "a": ctx.account_id, "r": ctx.region, "op": operation, "params": params})

    # -- checks (each returns the params as sent to the shard) -------------------------
    def _check_PutMetricData(self, p: dict) -> dict:
        ns = p["Namespace"]
        if ns.startswith("AWS/"):
            raise invalid_value(f"The value {ns} for parameter Namespace is invalid.")
        data = p.get("MetricData") or []
        if not data:
            raise missing("MetricData")
        if len(data) > MAX_DATUMS:
            raise invalid_value(f"The collection MetricData must not have a size greater than {MAX_DATUMS}.")
        now = time.time()
        out = []
        for i, d in enumerate(data, 1):
            d = dict(d)
            where = f"MetricData.member.{i}"
            if not d.get("MetricName"):
                raise missing(f"{where}.MetricName")
            given = [f for f in ("Value", "StatisticValues", "Values") if d.get(f) is not None]
            if len(given) > 1:
                raise invalid_combination(f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually "
                                          "exclusive and you have specified both.")
            if not given:
                raise missing(f"{where}.Value")
            check_dims(d.get("Dimensions"), f"{where}.Dimensions")
            if d.get("Value") is not None:
                _finite(d["Value"], f"{where}.Value")
            if d.get("Values") is not None:
                vals = d["Values"]
                if len(vals) > MAX_VALUES:
                    raise invalid_value(f"The collection {where}.Values must not have a size greater than "
                                        f"{MAX_VALUES}.")
                for v in vals:
                    _finite(v, f"{where}.Values")
                counts = d.get("Counts")
                if counts is not None and len(counts) != len(vals):
                    raise invalid_combination(f"The parameters {where}.Values and {where}.Counts must be of the "
                                              "same size.")
                for c in counts or []:
                    _finite(c, f"{where}.Counts")
            elif d.get("Counts"):
                raise invalid_combination(f"The parameter {where}.Counts must be specified with {where}.Values.")
            sv = d.get("StatisticValues")
            if sv is not None:
                for f in ("SampleCount", "Sum", "Minimum", "Maximum"):
                    if sv.get(f) is None:
                        raise missing(f"{where}.StatisticValues.{f}")
                    _finite(sv[f], f"{where}.StatisticValues.{f}")
                if sv["Minimum"] > sv["Maximum"]:
                    raise invalid_value(f"The parameter {where}.StatisticValues.Maximum must be greater than "
                                        f"{where}.StatisticValues.Minimum.")
                if sv["SampleCount"] <= 0:
                    raise invalid_value(f"The parameter {where}.StatisticValues.SampleCount must be greater than 0.")
            res = d.get("StorageResolution")
            if res is not None and res not in (1, 60):
                raise invalid_value(f"The value {res} for parameter {where}.StorageResolution is invalid.")
            if d.get("Timestamp") is not None:
                ts = epoch(d["Timestamp"])
                if ts < now - PAST_LIMIT:
                    raise invalid_value(f"The parameter {where}.Timestamp must specify a time no more than two "
                                        "weeks in the past.")
                if ts > now + FUTURE_LIMIT:
                    raise invalid_value(f"The parameter {where}.Timestamp must specify a time no more than two "
                                        "hours in the future.")
                d["Timestamp"] = ts
            out.append(d)
        return {"Namespace": ns, "MetricData": out}

    def _check_GetMetricStatistics(self, p: dict) -> dict:
        for f in ("Namespace", "MetricName", "StartTime", "EndTime", "Period"):
            if p.get(f) is None:
                raise missing(f)
        plain, ext = p.get("Statistics") or [], p.get("ExtendedStatistics") or []
        if not plain and not ext:
            raise invalid_combination("Must specify either Statistics or ExtendedStatistics, but not both.")
        if plain and ext:
            raise invalid_combination("Must specify either Statistics or ExtendedStatistics, but not both.")
        for s in ext:
            if not stats.valid_extended(s):
                raise invalid_value(f"The value {s} for parameter ExtendedStatistics is not supported.")
        if not valid_period(p["Period"]):
            raise invalid_value("The parameter Period must be a multiple of 60.")
        check_dims(p.get("Dimensions"), "Dimensions")
        p["StartTime"], p["EndTime"] = epoch(p["StartTime"]), epoch(p["EndTime"])
        check_range(p["StartTime"], p["EndTime"])
        return p

    def _check_GetMetricData(self, p: dict) -> dict:
        queries = p.get("MetricDataQueries") or []
        if not queries:
            raise missing("MetricDataQueries")
        if len(queries) > MAX_QUERIES:
            raise invalid_value(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
        p["MetricDataQueries"] = check_queries(queries, "MetricDataQueries")
        p["StartTime"], p["EndTime"] = epoch(p["StartTime"]), epoch(p["EndTime"])
        check_range(p["StartTime"], p["EndTime"])
        if p.get("MaxDatapoints") is not None and p["MaxDatapoints"] <= 0:
            raise invalid_value("The parameter MaxDatapoints must be greater than 0.")
        return p

    def _check_ListMetrics(self, p: dict) -> dict:
        if len(p.get("Dimensions") or []) > 10:
            raise invalid_value("The collection Dimensions must not have a size greater than 10.")
        if p.get("RecentlyActive") not in (None, "PT3H"):
            raise invalid_value(f"The value {p['RecentlyActive']} for parameter RecentlyActive is invalid.")
        return p

    def _check_PutMetricAlarm(self, p: dict) -> dict:
        metrics = p.get("Metrics")
        single = [f for f in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period",
                              "Unit") if p.get(f) is not None]
        if metrics:
            if single and single != ["Dimensions"] or (p.get("Dimensions")):
                raise invalid_combination("The parameters MetricName, Namespace, Statistic, ExtendedStatistic, "
                                          "Dimensions, Period and Unit cannot be specified with Metrics.")
            p["Metrics"] = check_queries(metrics, "Metrics")
            returned = [q for q in p["Metrics"] if q.get("ReturnData", True)
                        and q["Id"] != p.get("ThresholdMetricId")]
            if len(returned) != 1:
                raise validation("Exactly one element of the metrics list should return data.")
        else:
            for f in ("MetricName", "Namespace", "Period"):
                if p.get(f) is None:
                    raise missing(f)
            if (p.get("Statistic") is None) == (p.get("ExtendedStatistic") is None):
                raise invalid_combination("Exactly one of Statistic and ExtendedStatistic must be specified.")
            if p.get("ExtendedStatistic") is not None and not stats.valid_extended(p["ExtendedStatistic"]):
                raise invalid_value(f"The value {p['ExtendedStatistic']} for parameter ExtendedStatistic is not "
                                    "supported.")
            if p["Period"] not in (10, 20, 30) and (p["Period"] < 60 or p["Period"] % 60):
                raise invalid_value("The parameter Period must be 10, 20, 30 or a multiple of 60.")
            check_dims(p.get("Dimensions"), "Dimensions")
        if p.get("EvaluationPeriods") is None:
            raise missing("EvaluationPeriods")
        if p.get("ComparisonOperator") is None:
            raise missing("ComparisonOperator")
        band = p["ComparisonOperator"] in ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold",
                                           "GreaterThanUpperThreshold")
        if band and not p.get("ThresholdMetricId"):
            raise validation("ThresholdMetricId must be specified for anomaly detection comparison operators.")
        if not band and p.get("Threshold") is None:
            raise validation("Threshold must be specified.")
        if p.get("DatapointsToAlarm") is not None and p["DatapointsToAlarm"] > p["EvaluationPeriods"]:
            raise validation("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
        if p.get("TreatMissingData") not in (None, "breaching", "notBreaching", "ignore", "missing"):
            raise validation(f"The value {p['TreatMissingData']} for parameter TreatMissingData is not valid. "
                             "Valid values: breaching, notBreaching, ignore, missing.")
        if p.get("EvaluateLowSampleCountPercentile") not in (None, "evaluate", "ignore"):
            raise validation("EvaluateLowSampleCountPercentile must be one of: evaluate, ignore.")
        _check_actions(p)
        return p

    def _check_PutCompositeAlarm(self, p: dict) -> dict:
        alarmrule.parse(p["AlarmRule"])
        if p["AlarmName"] in alarmrule.children(alarmrule.parse(p["AlarmRule"])):
            raise validation("An alarm rule cannot reference the alarm itself.")
        _check_actions(p)
        return p

    def _check_DescribeAlarmHistory(self, p: dict) -> dict:
        for f in ("StartDate", "EndDate"):
            if p.get(f) is not None:
                p[f] = epoch(p[f])
        return p

    def _check_DeleteAlarms(self, p: dict) -> dict:
        if len(p.get("AlarmNames") or []) > 100:
            raise invalid_value("The collection AlarmNames must not have a size greater than 100.")
        return p


def _finite(v: float, where: str) -> None:
    if not math.isfinite(v) or abs(v) > 2.0 ** 360:
        raise invalid_value(f"The value {v} for parameter {where} is invalid.")


def _check_actions(p: dict) -> None:
    for f in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        for arn in p.get(f) or []:
            parts = arn.split(":")
            if len(parts) < 6 or parts[0] != "arn":
                raise validation(f"Invalid arn syntax: {arn}")


def check_queries(queries: list, where: str) -> list:
    ids = set()
    out = []
    for i, q in enumerate(queries, 1):
        q = dict(q)
        qid = q.get("Id") or ""
        if not _QUERY_ID.match(qid):
            raise validation(f"The value {qid} for parameter {where}.member.{i}.Id is not valid. It must start "
                             "with a lowercase letter and contain only letters, numbers and underscores.")
        if qid in ids:
            raise validation(f"The values for parameter id in {where} are not unique.")
        ids.add(qid)
        has_stat, has_expr = q.get("MetricStat") is not None, q.get("Expression") is not None
        if has_stat == has_expr:
            raise validation(f"Exactly one element of the {where}.member.{i}.MetricStat and "
                             f"{where}.member.{i}.Expression parameters must be specified.")
        if has_stat:
            st = q["MetricStat"]
            if not valid_period(st["Period"]):
                raise validation(f"The value {st['Period']} for parameter {where}.member.{i}.MetricStat.Period "
                                 "must be 1, 5, 10, 20, 30, or a multiple of 60.")
            check_stat(st["Stat"], f"{where}.member.{i}.MetricStat.Stat")
            check_dims(st["Metric"].get("Dimensions"), f"{where}.member.{i}.MetricStat.Metric.Dimensions")
        elif q.get("Period") is not None and not valid_period(q["Period"]):
            raise validation(f"The value {q['Period']} for parameter {where}.member.{i}.Period must be 1, 5, 10, 20, "
                             "30, or a multiple of 60.")
        out.append(q)
    return out
