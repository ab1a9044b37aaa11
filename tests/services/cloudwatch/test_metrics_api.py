"""CloudWatch metrics through real clients on every wire (JSON 1.0, query, CBOR):
PutMetricData, GetMetricStatistics, GetMetricData with metric math, ListMetrics."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from tests.services.cloudwatch.conftest import error_of


def _now():
    return datetime.now(timezone.utc)


def _ns():
    return f"Test/{uuid.uuid4().hex[:10]}"


def _window():
    now = _now()
    return now - timedelta(minutes=10), now + timedelta(minutes=2)


DIMS = [{"Name": "Service", "Value": "api"}, {"Name": "Env", "Value": "prod"}]


def test_put_and_get_statistics_on_every_wire(any_cw):
    ns = _ns()
    ts = _now() - timedelta(minutes=1)
    any_cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": DIMS, "Value": 10.0, "Unit": "Milliseconds", "Timestamp": ts},
        {"MetricName": "Latency", "Dimensions": DIMS, "Values": [20.0, 30.0], "Counts": [2.0, 1.0],
         "Unit": "Milliseconds", "Timestamp": ts},
        {"MetricName": "Latency", "Dimensions": DIMS, "Unit": "Milliseconds", "Timestamp": ts,
         "StatisticValues": {"SampleCount": 2.0, "Sum": 80.0, "Minimum": 35.0, "Maximum": 45.0}},
    ])
    start, end = _window()
    # dimensions are a set: order does not matter
    out = any_cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=list(reversed(DIMS)),
                                       StartTime=start, EndTime=end, Period=60,
                                       Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"])
    assert out["Label"] == "Latency"
    [dp] = out["Datapoints"]
    assert dp["SampleCount"] == 6 and dp["Sum"] == 160 and dp["Minimum"] == 10 and dp["Maximum"] == 45
    assert abs(dp["Average"] - 160 / 6) < 1e-9
    assert dp["Unit"] == "Milliseconds"
    assert dp["Timestamp"].timestamp() == ts.timestamp() - ts.timestamp() % 60


def test_extended_statistics_from_raw_values(cw):
    ns = _ns()
    values = [float(v) for v in range(1, 101)]
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "T", "Values": values, "Unit": "Seconds"}])
    start, end = _window()
    [dp] = cw.get_metric_statistics(Namespace=ns, MetricName="T", StartTime=start, EndTime=end, Period=300,
                                    ExtendedStatistics=["p50", "p99", "p100"])["Datapoints"]
    ext = dp["ExtendedStatistics"]
    assert abs(ext["p50"] - 50) <= 1 and abs(ext["p99"] - 99) <= 1 and ext["p100"] == 100


def test_unit_filter_and_missing_metric(cw):
    ns = _ns()
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": 1.0, "Unit": "Count"},
                                                 {"MetricName": "M", "Value": 2.0, "Unit": "Bytes"}])
    start, end = _window()
    [dp] = cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=start, EndTime=end, Period=60,
                                    Statistics=["Sum"], Unit="Bytes")["Datapoints"]
    assert dp["Sum"] == 2.0 and dp["Unit"] == "Bytes"
    both = cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=start, EndTime=end, Period=60,
                                    Statistics=["Sum"])["Datapoints"]
    assert sorted((d["Unit"], d["Sum"]) for d in both) == [("Bytes", 2.0), ("Count", 1.0)]
    none = cw.get_metric_statistics(Namespace=ns, MetricName="Nope", StartTime=start, EndTime=end, Period=60,
                                    Statistics=["Sum"])
    assert none["Datapoints"] == [] and none["Label"] == "Nope"


def test_high_resolution_periods(cw):
    ns = _ns()
    now = _now()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "H", "Value": 1.0, "StorageResolution": 1, "Timestamp": now - timedelta(seconds=20)},
        {"MetricName": "H", "Value": 2.0, "StorageResolution": 1, "Timestamp": now - timedelta(seconds=5)}])
    out = cw.get_metric_statistics(Namespace=ns, MetricName="H", StartTime=now - timedelta(minutes=2),
                                   EndTime=now + timedelta(seconds=10), Period=10, Statistics=["Sum"])
    assert sorted(d["Sum"] for d in out["Datapoints"]) == [1.0, 2.0]


def test_get_metric_data_with_math_and_search(any_cw):
    ns = _ns()
    ts = _now() - timedelta(minutes=2)
    data = []
    for q, n in (("orders", 3.0), ("payments", 5.0)):
        data.append({"MetricName": "Sent", "Dimensions": [{"Name": "Queue", "Value": q}], "Value": n,
                     "Timestamp": ts})
        data.append({"MetricName": "Failed", "Dimensions": [{"Name": "Queue", "Value": q}], "Value": 1.0,
                     "Timestamp": ts})
    any_cw.put_metric_data(Namespace=ns, MetricData=data)
    start, end = _window()

    def stat(qid, name, queue, ret=True):
        return {"Id": qid, "ReturnData": ret, "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": name, "Dimensions": [{"Name": "Queue", "Value": queue}]},
            "Period": 60, "Stat": "Sum"}}
    out = any_cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[
        stat("sent", "Sent", "orders", False), stat("failed", "Failed", "orders", False),
        {"Id": "rate", "Expression": "100 * failed / sent", "Label": "Failure rate"},
        {"Id": "total", "Expression": f"SUM(SEARCH('{{{ns},Queue}} MetricName=\"Sent\"', 'Sum', 60))"},
        {"Id": "each", "Expression": f"SEARCH('{{{ns},Queue}} Sent', 'Sum', 60)"},
    ])
    by_label = {(r["Id"], r["Label"]): r for r in out["MetricDataResults"]}
    assert {r["Id"] for r in out["MetricDataResults"]} == {"rate", "total", "each"}
    rate = by_label[("rate", "Failure rate")]
    assert abs(rate["Values"][0] - 100 / 3) < 1e-9 and rate["StatusCode"] == "Complete"
    assert by_label[("total", "total")]["Values"] == [8.0]
    assert by_label[("each", "orders")]["Values"] == [3.0]
    assert by_label[("each", "payments")]["Values"] == [5.0]


def test_get_metric_data_ordering_and_pagination(cw):
    ns = _ns()
    now = _now()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "P", "Value": float(i), "Timestamp": now - timedelta(minutes=i)} for i in range(1, 6)])
    q = [{"Id": "p", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "P"}, "Period": 60, "Stat": "Maximum"}}]
    start, end = _window()
    asc = cw.get_metric_data(MetricDataQueries=q, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    assert asc["MetricDataResults"][0]["Values"] == [5.0, 4.0, 3.0, 2.0, 1.0]
    page = cw.get_metric_data(MetricDataQueries=q, StartTime=start, EndTime=end, MaxDatapoints=2)
    first = page["MetricDataResults"][0]
    assert first["Values"] == [1.0, 2.0] and first["StatusCode"] == "PartialData"
    rest = cw.get_metric_data(MetricDataQueries=q, StartTime=start, EndTime=end, MaxDatapoints=2,
                              NextToken=page["NextToken"])
    assert rest["MetricDataResults"][0]["Values"] == [3.0, 4.0]
    paginator = cw.get_paginator("get_metric_data")
    values = [v for pg in paginator.paginate(MetricDataQueries=q, StartTime=start, EndTime=end,
                                             PaginationConfig={"PageSize": 2})
              for r in pg["MetricDataResults"] for v in r["Values"]]
    assert values == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_list_metrics_filters(any_cw):
    ns = _ns()
    any_cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "A", "Dimensions": [{"Name": "Queue", "Value": "q1"}], "Value": 1.0},
        {"MetricName": "A", "Dimensions": [{"Name": "Queue", "Value": "q2"}], "Value": 1.0},
        {"MetricName": "B", "Dimensions": [{"Name": "Queue", "Value": "q1"}, {"Name": "Env", "Value": "x"}],
         "Value": 1.0},
        {"MetricName": "C", "Value": 1.0}])

    def names(out):
        return sorted((m["MetricName"], tuple(d["Value"] for d in m["Dimensions"])) for m in out["Metrics"])
    assert names(any_cw.list_metrics(Namespace=ns)) == [("A", ("q1",)), ("A", ("q2",)), ("B", ("x", "q1")),
                                                        ("C", ())]
    assert names(any_cw.list_metrics(Namespace=ns, MetricName="A")) == [("A", ("q1",)), ("A", ("q2",))]
    assert names(any_cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Queue", "Value": "q1"}])) == \
        [("A", ("q1",)), ("B", ("x", "q1"))]
    assert names(any_cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Env"}])) == [("B", ("x", "q1"))]
    assert names(any_cw.list_metrics(Namespace=ns, RecentlyActive="PT3H", MetricName="C")) == [("C", ())]


@pytest.mark.parametrize("kwargs,code,fragment", [
    ({"Namespace": "AWS/SQS", "MetricData": [{"MetricName": "m", "Value": 1.0}]},
     "InvalidParameterValue", "The value AWS/SQS for parameter Namespace is invalid."),
    ({"Namespace": "ok", "MetricData": [{"MetricName": "m", "Value": 1.0,
                                         "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]},
     "InvalidParameterCombination", "are mutually exclusive"),
    ({"Namespace": "ok", "MetricData": [{"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]}]},
     "InvalidParameterCombination", "must be of the same size"),
    ({"Namespace": "ok", "MetricData": [{"MetricName": "m", "Value": 1.0, "StorageResolution": 5}]},
     "InvalidParameterValue", "StorageResolution"),
    ({"Namespace": "ok", "MetricData": [{"MetricName": "m", "Value": 1.0,
                                         "Timestamp": datetime(2001, 1, 1, tzinfo=timezone.utc)}]},
     "InvalidParameterValue", "no more than two weeks in the past"),
    ({"Namespace": "ok", "MetricData": [{"MetricName": "m", "Value": 1.0,
                                         "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]}]},
     "InvalidParameterCombination", "duplicate dimension names"),
])
def test_put_metric_data_errors(any_cw, kwargs, code, fragment):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        any_cw.put_metric_data(**kwargs)
    got_code, msg = error_of(ei)
    assert got_code == code and fragment in msg, (got_code, msg)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_query_errors(cw):
    start, end = _window()
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.get_metric_statistics(Namespace="n", MetricName="m", StartTime=end, EndTime=start, Period=60,
                                 Statistics=["Sum"])
    assert error_of(ei) == ("InvalidParameterValue",
                            "The parameter StartTime must be less than the parameter EndTime.")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.get_metric_statistics(Namespace="n", MetricName="m", StartTime=start, EndTime=end, Period=60)
    assert error_of(ei)[0] == "InvalidParameterCombination"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.get_metric_statistics(Namespace="n", MetricName="m", StartTime=_now() - timedelta(days=5), EndTime=end,
                                 Period=60, Statistics=["Sum"])
    assert error_of(ei)[0] == "InvalidParameterCombination" and "exceeds the limit of 1,440" in error_of(ei)[1]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[{"Id": "e", "Expression": "m9 * 2"}])
    assert error_of(ei)[0] == "InvalidParameterValue" and "m9" in error_of(ei)[1]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[{"Id": "Bad", "Expression": "1"}])
    assert error_of(ei)[0] == "ValidationError"
