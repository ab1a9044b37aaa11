"""Reads of the CloudWatch API over one partition's metrics: GetMetricStatistics,
GetMetricData (metric math included) and ListMetrics. Inputs were checked
for shape by the gateway half; timestamps arrive as epoch seconds."""

from __future__ import annotations

import base64
import json
import math

from services.cloudwatch import stats
from services.cloudwatch.errors import invalid_combination, invalid_value, invalid_next_token
from services.cloudwatch.mathexpr import TS, Evaluator, ExprError, Parser, references
from services.cloudwatch.metrics import MetricStore, dims_key
from services.cloudwatch.search import MAX_RESULTS, Search, label_for

MAX_STAT_DATAPOINTS = 1440
DEFAULT_MAX_DATAPOINTS = 100_800
LIST_PAGE = 500
RECENT = {"PT3H": 3 * 3600}


def align_start(start: float, period: int, now: int) -> int:
    """AWS rounds StartTime down: to the period below one minute, else to the minute
    (under 15 days old), 5 minutes (under 63 days) or the hour."""
    s = int(math.floor(start))
    age = now - s
    if period < 60:
        step = period
    elif age <= 15 * 86400:
        step = 60
    elif age <= 63 * 86400:
        step = 300
    else:
        step = 3600
    return s - s % step


def _end(end: float) -> int:
    e = int(math.ceil(end))
    return e


def _token(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode()


def _untoken(t: str) -> dict:
    try:
        d = json.loads(base64.urlsafe_b64decode(t.encode()))
        if isinstance(d, dict):
            return d
    except (ValueError, TypeError):
        pass
    raise invalid_next_token()


# -- GetMetricStatistics ---------------------------------------------------------------------
def get_metric_statistics(ms: MetricStore, account, region, p: dict, now: int) -> dict:
    period = p["Period"]
    start = align_start(p["StartTime"], period, now)
    end = _end(p["EndTime"])
    wanted = list(p.get("Statistics") or []) + list(p.get("ExtendedStatistics") or [])
    n = -(-(end - start) // period)
    if n > MAX_STAT_DATAPOINTS:
        raise invalid_combination(f"You have requested up to {n:,} datapoints, which exceeds the limit of "
                                  f"{MAX_STAT_DATAPOINTS:,}. You may reduce the datapoints requested by increasing "
                                  "Period, or decreasing the time range.")
    out = {"Label": p["MetricName"], "Datapoints": []}
    s = ms.find(account, region, p["Namespace"], p["MetricName"], p.get("Dimensions"))
    if s is None:
        return out
    unit = p.get("Unit")
    for b, by_unit in sorted(ms.buckets(s, start, end, period, unit, now, by_unit=True).items()):
        for u, slot in by_unit.items():
            dp: dict = {"Timestamp": b, "Unit": u}
            for name in p.get("Statistics") or []:
                dp[name] = stats.statistic(slot, name)
            ext = {}
            for name in p.get("ExtendedStatistics") or []:
                v = stats.statistic(slot, name)
                if v is not None:
                    ext[name] = v
            if p.get("ExtendedStatistics"):
                dp["ExtendedStatistics"] = ext
            if wanted:
                out["Datapoints"].append(dp)
    return out


# -- GetMetricData ---------------------------------------------------------------------------
class MetricDataRun:
    """One GetMetricData evaluation (also used by metric-math alarms)."""

    def __init__(self, ms: MetricStore, account, region, queries: list, start: float, end: float, now: int):
        self.ms, self.account, self.region, self.now = ms, account, region, now
        self.queries = {q["Id"]: q for q in queries}
        self.order = [q["Id"] for q in queries]
        self.start, self.end = start, end
        self.values: dict[str, object] = {}
        self.parsed: dict[str, tuple] = {}
        self.labels: dict[str, str] = {}
        self._busy: set[str] = set()
        periods = [q["MetricStat"]["Period"] for q in queries if q.get("MetricStat")] + \
                  [q["Period"] for q in queries if q.get("Period")]
        self.default_period = min(periods) if periods else 60
        for qid, q in self.queries.items():
            if q.get("Expression") is not None:
                try:
                    self.parsed[qid] = Parser(q["Expression"]).parse()
                except ExprError as exc:
                    raise invalid_value(f"Error in expression {qid}: {exc}") from None
                for ref in references(self.parsed[qid]):
                    if ref not in self.queries:
                        raise invalid_value(f"Error in expression {qid}: Unrecognized metric or expression "
                                            f"identifier: {ref}")

    def grid(self, period: int) -> list[int]:
        s = align_start(self.start, period, self.now)
        return list(range(s, _end(self.end), period))

    def value(self, qid: str):
        if qid in self.values:
            return self.values[qid]
        if qid in self._busy:
            raise invalid_value(f"Error in expression {qid}: Circular dependency between expressions")
        self._busy.add(qid)
        q = self.queries[qid]
        if q.get("MetricStat"):
            v = self._metric_stat(q)
        else:
            ev = Evaluator(self.value, self.grid, self._metric_queries, self._search,
                           q.get("Period") or self.default_period)
            try:
                v = ev.eval(self.parsed[qid])
            except ExprError as exc:
                raise invalid_value(f"Error in expression {qid}: {exc}") from None
            if isinstance(v, TS) and not v.label:
                v.label = q.get("Label") or qid
        self._busy.discard(qid)
        self.values[qid] = v
        return v

    def _metric_stat(self, q) -> TS:
        st = q["MetricStat"]
        m = st["Metric"]
        period = st["Period"]
        label = q.get("Label") or m.get("MetricName", "")
        s = self.ms.find(self.account, self.region, m.get("Namespace"), m.get("MetricName"), m.get("Dimensions"))
        if s is None:
            return TS({}, label, period)
        start = align_start(self.start, period, self.now)
        pts = self.ms.series_values(s, start, _end(self.end), period, st["Stat"], st.get("Unit"), self.now)
        return TS(pts, label, period)

    def _metric_queries(self):
        return [(qid, self.value(qid)) for qid in self.order if self.queries[qid].get("MetricStat")]

    def _search(self, text: str, stat: str, period: int) -> list[TS]:
        if not (stats.valid_extended(stat) or stat in stats.STATISTICS):
            raise ExprError(f"Invalid statistic {stat!r} in SEARCH")
        if period <= 0 or (period >= 60 and period % 60) or (period < 60 and period not in (1, 5, 10, 20, 30)):
            raise ExprError(f"Invalid period {period} in SEARCH")
        search = Search(text)
        found = [s for s in self.ms.namespace_series(self.account, self.region, self.now) if search.matches(s)]
        found.sort(key=lambda s: (s.ns, s.name, s.dims))
        found = found[:MAX_RESULTS]
        start = align_start(self.start, period, self.now)
        out = []
        for s in found:
            pts = self.ms.series_values(s, start, _end(self.end), period, stat, None, self.now)
            out.append(TS(pts, label_for(s, found), period))
        return out


def get_metric_data(ms: MetricStore, account, region, p: dict, now: int) -> dict:
    run = MetricDataRun(ms, account, region, p["MetricDataQueries"], p["StartTime"], p["EndTime"], now)
    results = []
    for q in p["MetricDataQueries"]:
        if q.get("ReturnData", True) is False:
            continue
        v = run.value(q["Id"])
        series = v if isinstance(v, list) else [v]
        if not isinstance(v, (list, TS)):
            raise invalid_value(f"Error in expression {q['Id']}: The expression must return a time series "
                                "or an array of time series")
        for ts in series:
            label = q.get("Label") if q.get("Label") and not isinstance(v, list) else ts.label
            results.append((q["Id"], _dynamic_label(label, q, ts), ts))
    descending = p.get("ScanBy", "TimestampDescending") != "TimestampAscending"
    limit = p.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS
    skip = _untoken(p["NextToken"]).get("o", 0) if p.get("NextToken") else 0
    out, budget, seen, truncated = [], limit, 0, False
    for qid, label, ts in results:
        pts = sorted(ts.points.items(), reverse=descending)
        pts = [(t, v) for t, v in pts if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if skip >= len(pts):
            skip -= len(pts)
            seen += len(pts)
            pts_page = []
            status = "Complete"
        else:
            pts = pts[skip:]
            seen += skip
            skip = 0
            pts_page = pts[:budget]
            budget -= len(pts_page)
            seen += len(pts_page)
            status = "Complete" if len(pts_page) == len(pts) else "PartialData"
            truncated = truncated or status == "PartialData"
        out.append({"Id": qid, "Label": label, "Timestamps": [t for t, _ in pts_page],
                    "Values": [v for _, v in pts_page], "StatusCode": status})
    resp: dict = {"MetricDataResults": out, "Messages": []}
    if truncated:
        resp["NextToken"] = _token({"o": seen})
    return resp


def _dynamic_label(label: str, q: dict, ts: TS) -> str:
    if not label or "${" not in label:
        return label
    vals = [v for v in ts.points.values() if v is not None and not math.isnan(v)]
    ordered = [v for _, v in sorted(ts.points.items())]
    subs = {"${AVG}": (sum(vals) / len(vals)) if vals else None, "${MAX}": max(vals) if vals else None,
            "${MIN}": min(vals) if vals else None, "${SUM}": sum(vals) if vals else None,
            "${FIRST}": ordered[0] if ordered else None, "${LAST}": ordered[-1] if ordered else None}
    for k, v in subs.items():
        label = label.replace(k, "" if v is None else f"{v:g}")
    m = q.get("MetricStat")
    if m:
        metric = m["Metric"]
        props = {"MetricName": metric.get("MetricName", ""), "Namespace": metric.get("Namespace", ""),
                 "Period": str(m["Period"]), "Stat": m["Stat"]}
        for d in metric.get("Dimensions") or []:
            props[f"Dim.{d['Name']}"] = d["Value"]
        for k, v in props.items():
            label = label.replace("${PROP('%s')}" % k, v)
    return label


# -- ListMetrics -----------------------------------------------------------------------------
def list_metrics(ms: MetricStore, account, region, p: dict, now: int) -> dict:
    recent = RECENT.get(p.get("RecentlyActive") or "", 14 * 86400)
    ns, name = p.get("Namespace"), p.get("MetricName")
    filters = p.get("Dimensions") or []
    found = []
    for s in ms.namespace_series(account, region, now, recent):
        if ns is not None and s.ns != ns or name is not None and s.name != name:
            continue
        dims = dict(s.dims)
        if all(f["Name"] in dims and (f.get("Value") is None or dims[f["Name"]] == f["Value"]) for f in filters):
            found.append(s)
    found.sort(key=lambda s: (s.ns, s.name, s.dims))
    start = _untoken(p["NextToken"]).get("o", 0) if p.get("NextToken") else 0
    page = found[start:start + LIST_PAGE]
    out: dict = {"Metrics": [s.metric() for s in page]}
    if start + LIST_PAGE < len(found):
        out["NextToken"] = _token({"o": start + LIST_PAGE})
    return out


def check_dims_unique(dims) -> None:
    names = [d["Name"] for d in dims or []]
    if len(names) != len(set(names)):
        raise invalid_combination("No metric may have duplicate dimension names.")
    dims_key(dims)
