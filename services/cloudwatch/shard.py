"""CloudWatch shard half: the metrics, alarms and dashboards of the namespaces
(account + region; dashboards: account) whose partition this is.

Ops: ``cloudwatch.Handle`` (one API operation, checked by the gateway half),
``cloudwatch.Ingest`` (telemetry batches from every process),
``cloudwatch.ProcessMetrics`` / ``cloudwatch.RelayProcessMetrics`` (the
Prometheus endpoint's gathering, services/cloudwatch/prometheus.py).
Writes are answered once both the partition store and the side database
have committed them.
"""

from __future__ import annotations

import time

from services.cloudwatch import prometheus, stats
from services.cloudwatch.alarms import HISTORY_DDL, Alarms, describe
from services.cloudwatch.dashboards import Dashboards
from services.cloudwatch.errors import invalid_next_token, resource_not_found
from services.cloudwatch.metrics import MetricStore, dims_key
from services.cloudwatch.sidestore import SideStore
from services.cloudwatch.tsdb import POINTS_DDL, TimeSeriesDB

SWEEP_INTERVAL = 600            # seconds between retention sweeps
WRITES = {"PutMetricData", "PutMetricAlarm", "PutCompositeAlarm", "DeleteAlarms", "SetAlarmState",
          "EnableAlarmActions", "DisableAlarmActions", "TagResource", "UntagResource", "PutDashboard",
          "DeleteDashboards"}


class CloudWatchShard:
    def __init__(self, part):
        self.part = part
        self.side = SideStore(part, "cloudwatch", POINTS_DDL + HISTORY_DDL, ("points", "history"))
        self.metrics = MetricStore(part, TimeSeriesDB(self.side))
        self.alarms = Alarms(part, self.side, self.metrics)
        self.dashboards = Dashboards(part.store)
        self.relayed: dict[int, dict] = {}      # gateway index -> its latest process metrics
        self._ops = {
            "PutMetricData": self.put_metric_data, "GetMetricStatistics": self.get_metric_statistics,
            "GetMetricData": self.get_metric_data, "ListMetrics": self.list_metrics,
            "PutMetricAlarm": self.put_metric_alarm, "PutCompositeAlarm": self.put_composite_alarm,
            "DescribeAlarms": self.describe_alarms, "DescribeAlarmsForMetric": self.describe_alarms_for_metric,
            "DeleteAlarms": self.delete_alarms, "SetAlarmState": self.set_alarm_state,
            "DescribeAlarmHistory": self.describe_alarm_history,
            "EnableAlarmActions": lambda a, r, p, now: self.alarms.set_actions_enabled(a, r, p["AlarmNames"], True),
            "DisableAlarmActions": lambda a, r, p, now: self.alarms.set_actions_enabled(a, r, p["AlarmNames"],
                                                                                         False),
            "TagResource": self.tag_resource, "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
            "PutDashboard": lambda a, r, p, now: self.dashboards.put(a, p, now),
            "GetDashboard": lambda a, r, p, now: self.dashboards.get(a, p["DashboardName"]),
            "DeleteDashboards": lambda a, r, p, now: self.dashboards.delete(a, p["DashboardNames"]),
            "ListDashboards": lambda a, r, p, now: self.dashboards.list(a, p),
        }
        self.side.every(5, SWEEP_INTERVAL, self._sweep)

    def close(self) -> None:
        self.alarms.close()
        self.side.close()

    def _sweep(self) -> None:
        now = time.time()
        self.metrics.sweep(int(now))
        self.alarms.sweep(now)

    # -- IPC ops ------------------------------------------------------------------------
    def op_Handle(self, args):
        op = args["op"]
        now = time.time()
        result = self._ops[op](args["a"], args["r"], args["params"], now)
        if op in WRITES:
            return self.side.answer(result or {})
        return result or {}

    def op_Ingest(self, args):
        self.metrics.ingest(args["points"], int(time.time()))
        return None

    def op_ProcessMetrics(self, args):
        return {"self": prometheus.snapshot(self.part.shard), "relayed": list(self.relayed.values())}

    def op_RelayProcessMetrics(self, args):
        self.relayed[args["index"]] = args["snapshot"]
        return None

    # -- metrics --------------------------------------------------------------------------
    def put_metric_data(self, account, region, p, now):
        ns, t = p["Namespace"], int(now)
        for d in p.get("MetricData") or []:
            ts = int(d.get("Timestamp") or now)
            if "StatisticValues" in d and d["StatisticValues"] is not None:
                sv = d["StatisticValues"]
                slot = [sv["SampleCount"], sv["Sum"], sv["Minimum"], sv["Maximum"], {}]
            else:
                slot = stats.new_slot()
                if d.get("Values"):
                    counts = d.get("Counts") or [1.0] * len(d["Values"])
                    for v, n in zip(d["Values"], counts):
                        stats.add_value(slot, v, n)
                else:
                    stats.add_value(slot, d["Value"])
            self.metrics.add(account, region, ns, d["MetricName"], dims_key(d.get("Dimensions")),
                             d.get("Unit") or "None", ts, slot, d.get("StorageResolution") == 1, t)
        self.metrics.flush()
        return {}

    # The query machinery (metric math's parser, SEARCH) loads at the first query: every
    # shard holds this half from the start, since telemetry reaches it within a second.
    def get_metric_statistics(self, account, region, p, now):
        from services.cloudwatch import queries
        return queries.get_metric_statistics(self.metrics, account, region, p, int(now))

    def get_metric_data(self, account, region, p, now):
        from services.cloudwatch import queries
        return queries.get_metric_data(self.metrics, account, region, p, int(now))

    def list_metrics(self, account, region, p, now):
        from services.cloudwatch import queries
        return queries.list_metrics(self.metrics, account, region, p, int(now))

    # -- alarms ----------------------------------------------------------------------------
    def put_metric_alarm(self, account, region, p, now):
        self.alarms.put(account, region, p, "MetricAlarm", now)

    def put_composite_alarm(self, account, region, p, now):
        self.alarms.put(account, region, p, "CompositeAlarm", now)

    def delete_alarms(self, account, region, p, now):
        self.alarms.delete(account, region, p["AlarmNames"], now)

    def set_alarm_state(self, account, region, p, now):
        self.alarms.set_state(account, region, p, now)

    def describe_alarms(self, account, region, p, now):
        recs = sorted(self.alarms.in_namespace(account, region), key=lambda r: r["name"])
        types = p.get("AlarmTypes") or ["MetricAlarm"]
        names = p.get("AlarmNames")
        if p.get("ChildrenOfAlarmName"):
            parent = self.alarms.get(account, region, p["ChildrenOfAlarmName"])
            kids = parent.get("children", set()) if parent else set()
            recs = [r for r in recs if r["name"] in kids or r["arn"] in kids]
        if p.get("ParentsOfAlarmName"):
            child = self.alarms.get(account, region, p["ParentsOfAlarmName"])
            refs = {child["name"], child["arn"]} if child else set()
            recs = [r for r in recs if r.get("children", set()) & refs]
        if names:
            recs = [r for r in recs if r["name"] in names]
        elif p.get("AlarmNamePrefix"):
            recs = [r for r in recs if r["name"].startswith(p["AlarmNamePrefix"])]
        if p.get("StateValue"):
            recs = [r for r in recs if r["state"]["value"] == p["StateValue"]]
        if p.get("ActionPrefix"):
            pre = p["ActionPrefix"]
            recs = [r for r in recs if any(a.startswith(pre) for f in ("AlarmActions", "OKActions",
                                                                        "InsufficientDataActions")
                                           for a in r["cfg"].get(f, []))]
        recs = [r for r in recs if r["type"] in types]
        page, token = _page(recs, p.get("NextToken"), p.get("MaxRecords") or 50, lambda r: r["name"])
        out: dict = {"MetricAlarms": [describe(r) for r in page if r["type"] == "MetricAlarm"],
                     "CompositeAlarms": [describe(r) for r in page if r["type"] == "CompositeAlarm"]}
        if token:
            out["NextToken"] = token
        return out

    def describe_alarms_for_metric(self, account, region, p, now):
        want_dims = dims_key(p.get("Dimensions"))
        out = []
        for r in sorted(self.alarms.in_namespace(account, region), key=lambda r: r["name"]):
            c = r["cfg"]
            if r["type"] != "MetricAlarm" or c.get("MetricName") != p["MetricName"] or \
                    c.get("Namespace") != p["Namespace"]:
                continue
            if p.get("Dimensions") is not None and dims_key(c.get("Dimensions")) != want_dims:
                continue
            if any(p.get(f) is not None and c.get(f) != p[f] for f in ("Statistic", "ExtendedStatistic",
                                                                        "Period", "Unit")):
                continue
            out.append(describe(r))
        return {"MetricAlarms": out}

    def describe_alarm_history(self, account, region, p, now):
        items = self.alarms.read_history(account, region, p)
        if p.get("HistoryItemType"):
            items = [i for i in items if i["HistoryItemType"] == p["HistoryItemType"]]
        types = p.get("AlarmTypes")
        if types:
            items = [i for i in items if i["AlarmType"] in types]
        page, token = _page(items, p.get("NextToken"), p.get("MaxRecords") or 100, None)
        out: dict = {"AlarmHistoryItems": page}
        if token:
            out["NextToken"] = token
        return out

    # -- tags --------------------------------------------------------------------------
    def _tagged(self, account, region, arn: str) -> dict:
        parts = arn.split(":", 6)
        if len(parts) == 7 and parts[5] == "alarm":
            rec = self.alarms.get(parts[4], parts[3], parts[6])
            if rec is not None and parts[4] == account:
                return rec
        raise resource_not_found("alarm", arn, f"Alarm {parts[-1] if parts else arn} does not exist")

    def tag_resource(self, account, region, p, now):
        rec = self._tagged(account, region, p["ResourceARN"])
        tags = dict(rec.get("tags") or {})
        tags.update({t["Key"]: t["Value"] for t in p["Tags"]})
        if len(tags) > 50:
            from services.cloudwatch.errors import limit_exceeded
            raise limit_exceeded("The maximum number of tags for a resource is 50.")
        rec["tags"] = tags
        self.alarms._save(rec)

    def untag_resource(self, account, region, p, now):
        rec = self._tagged(account, region, p["ResourceARN"])
        for k in p["TagKeys"]:
            rec.get("tags", {}).pop(k, None)
        self.alarms._save(rec)

    def list_tags_for_resource(self, account, region, p, now):
        rec = self._tagged(account, region, p["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted((rec.get("tags") or {}).items())]}


def _page(items: list, token: str | None, size: int, key) -> tuple[list, str | None]:
    start = 0
    if token:
        try:
            start = int(token)
        except ValueError:
            raise invalid_next_token() from None
        if start < 0 or start > len(items):
            raise invalid_next_token()
    page = items[start:start + size]
    return page, (str(start + size) if start + size < len(items) else None)
