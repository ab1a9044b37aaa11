"""Alarms (metric, metric math, composite), their history and SNS actions; dashboards; tags."""

from __future__ import annotations

import json
import uuid

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import wait_for
from tests.services.cloudwatch.conftest import error_of


def _name(prefix="alarm"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _alarm(cw, name, ns, **kw):
    args = dict(AlarmName=name, Namespace=ns, MetricName="Errors", Statistic="Sum", Period=10, EvaluationPeriods=1,
                Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    args.update(kw)
    cw.put_metric_alarm(**args)


def _state(cw, name, types=("MetricAlarm", "CompositeAlarm")):
    out = cw.describe_alarms(AlarmNames=[name], AlarmTypes=list(types))
    alarms = out["MetricAlarms"] + out["CompositeAlarms"]
    return alarms[0] if alarms else None


def test_new_alarm_shape_and_first_state(any_cw):
    name, ns = _name(), _name("ns")
    _alarm(any_cw, name, ns, AlarmDescription="too many errors", Dimensions=[{"Name": "Fn", "Value": "a"}],
           Unit="Count", TreatMissingData="notBreaching", DatapointsToAlarm=1)
    a = _state(any_cw, name)
    assert a["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    assert a["AlarmDescription"] == "too many errors" and a["ActionsEnabled"] is True
    assert a["Dimensions"] == [{"Name": "Fn", "Value": "a"}] and a["Unit"] == "Count"
    assert a["Period"] == 10 and a["EvaluationPeriods"] == 1 and a["Threshold"] == 1.0
    assert a["OKActions"] == [] and a["AlarmActions"] == [] and a["InsufficientDataActions"] == []
    assert a["StateValue"] in ("INSUFFICIENT_DATA", "OK")
    history = any_cw.describe_alarm_history(AlarmName=name, HistoryItemType="ConfigurationUpdate")
    [item] = history["AlarmHistoryItems"]
    assert item["HistorySummary"] == f'Alarm "{name}" created' and item["AlarmType"] == "MetricAlarm"
    assert json.loads(item["HistoryData"])["type"] == "Create"


def test_alarm_fires_on_data_and_records_history(cw):
    name, ns = _name(), _name("ns")
    # a 10-second alarm needs high-resolution data, as at AWS
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 5.0, "StorageResolution": 1}])
    _alarm(cw, name, ns)
    a = wait_for(lambda: (_state(cw, name) or {}).get("StateValue") == "ALARM" and _state(cw, name), 15,
                 what="the alarm to fire")
    assert a["StateReason"].startswith("Threshold Crossed: 1 datapoint [5.0 (")
    assert a["StateReason"].endswith("was greater than the threshold (1.0).")
    data = json.loads(a["StateReasonData"])
    assert data["recentDatapoints"] == [5.0] and data["statistic"] == "Sum" and data["period"] == 10
    updates = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert any(i["HistorySummary"].endswith("to ALARM") for i in updates)
    assert cw.describe_alarms(AlarmNames=[name], StateValue="ALARM")["MetricAlarms"]
    assert not cw.describe_alarms(AlarmNames=[name], StateValue="OK")["MetricAlarms"]


def test_metric_math_alarm(cw):
    name, ns = _name(), _name("ns")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 3.0, "StorageResolution": 1},
                                                 {"MetricName": "Calls", "Value": 4.0, "StorageResolution": 1}])
    cw.put_metric_alarm(AlarmName=name, EvaluationPeriods=1, Threshold=50.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", Metrics=[
                            {"Id": "e", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Errors"},
                                                                            "Period": 10, "Stat": "Sum"}},
                            {"Id": "c", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Calls"},
                                                                            "Period": 10, "Stat": "Sum"}},
                            {"Id": "rate", "Expression": "100 * e / c", "Label": "error rate"}])
    wait_for(lambda: _state(cw, name)["StateValue"] == "ALARM", 15, what="the math alarm to fire at 75 %")
    assert _state(cw, name)["Metrics"][2]["Expression"] == "100 * e / c"


def test_set_alarm_state_and_composite_alarm(cw):
    child1, child2, parent = _name(), _name(), _name("composite")
    ns = _name("ns")
    _alarm(cw, child1, ns, Period=60)
    _alarm(cw, child2, ns, Period=60)
    cw.set_alarm_state(AlarmName=child1, StateValue="OK", StateReason="manual")
    cw.set_alarm_state(AlarmName=child2, StateValue="OK", StateReason="manual")
    cw.put_composite_alarm(AlarmName=parent, AlarmRule=f'ALARM("{child1}") OR ALARM({child2})')
    assert _state(cw, parent)["StateValue"] == "OK"
    assert cw.describe_alarms(AlarmNames=[parent])["CompositeAlarms"] == []      # metric alarms by default
    cw.set_alarm_state(AlarmName=child2, StateValue="ALARM", StateReason="testing",
                       StateReasonData='{"why": "test"}')
    c = _state(cw, child2)
    assert c["StateValue"] == "ALARM" and c["StateReason"] == "testing" and c["StateReasonData"] == '{"why": "test"}'
    p = _state(cw, parent)
    assert p["StateValue"] == "ALARM" and p["AlarmRule"].startswith("ALARM(")
    assert f"alarm:{child2} transitioned to ALARM" in p["StateReason"]
    kids = cw.describe_alarms(ChildrenOfAlarmName=parent, AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in kids) == sorted([child1, child2])
    parents = cw.describe_alarms(ParentsOfAlarmName=child1, AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert [a["AlarmName"] for a in parents] == [parent]
    summaries = [i["HistorySummary"] for i in cw.describe_alarm_history(AlarmName=child2)["AlarmHistoryItems"]]
    assert "Alarm updated from OK to ALARM" in summaries
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.set_alarm_state(AlarmName=child1, StateValue="ALARM", StateReason="x", StateReasonData="{not json")
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_describe_filters_pagination_and_delete(cw):
    prefix = _name("page")
    ns = _name("ns")
    for i in range(5):
        _alarm(cw, f"{prefix}-{i}", ns, Period=60, AlarmActions=[f"arn:aws:sns:us-east-1:000000000000:t{i}"])
    first = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == [f"{prefix}-0", f"{prefix}-1"]
    names = [a["AlarmName"] for page in cw.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, PaginationConfig={"PageSize": 2}) for a in page["MetricAlarms"]]
    assert names == [f"{prefix}-{i}" for i in range(5)]
    assert [a["AlarmName"] for a in cw.describe_alarms(
        AlarmNamePrefix=prefix, ActionPrefix="arn:aws:sns:us-east-1:000000000000:t3")["MetricAlarms"]] == [f"{prefix}-3"]
    for_metric = cw.describe_alarms_for_metric(Namespace=ns, MetricName="Errors")["MetricAlarms"]
    assert len(for_metric) == 5
    cw.delete_alarms(AlarmNames=[f"{prefix}-0", f"{prefix}-1"])
    assert len(cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]) == 3
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.delete_alarms(AlarmNames=[f"{prefix}-0"])
    assert error_of(ei)[0] == "ResourceNotFound"
    deleted = [i for i in cw.describe_alarm_history(AlarmName=f"{prefix}-0")["AlarmHistoryItems"]
               if i["HistorySummary"].endswith("deleted")]
    assert deleted and json.loads(deleted[0]["HistoryData"])["type"] == "Delete"


@pytest.mark.parametrize("kwargs,code", [
    ({"Statistic": "Sum", "ExtendedStatistic": "p99"}, "InvalidParameterCombination"),
    ({"Period": 15}, "InvalidParameterValue"),
    ({"DatapointsToAlarm": 3}, "ValidationError"),
    ({"TreatMissingData": "sometimes"}, "ValidationError"),
    ({"AlarmActions": ["not-an-arn"]}, "ValidationError"),
])
def test_put_metric_alarm_errors(cw, kwargs, code):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _alarm(cw, _name(), "ns", **kwargs)
    assert error_of(ei)[0] == code, error_of(ei)


def test_alarm_tags(cw):
    name = _name()
    _alarm(cw, name, "ns", Period=60, Tags=[{"Key": "team", "Value": "a"}])
    arn = _state(cw, name)["AlarmArn"]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"}])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "prod"},
                                                                  {"Key": "team", "Value": "a"}]
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.list_tags_for_resource(ResourceARN=arn + "-gone")
    assert error_of(ei)[0] == "ResourceNotFoundException"


def test_dashboards(any_cw):
    name = _name("dash")
    body = json.dumps({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 3,
                                    "properties": {"markdown": "hello"}}]})
    assert any_cw.put_dashboard(DashboardName=name, DashboardBody=body)["DashboardValidationMessages"] == []
    got = any_cw.get_dashboard(DashboardName=name)
    assert got["DashboardBody"] == body and got["DashboardArn"] == f"arn:aws:cloudwatch::000000000000:dashboard/{name}"
    [entry] = any_cw.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
    assert entry["DashboardName"] == name and entry["Size"] == len(body)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        any_cw.put_dashboard(DashboardName=name, DashboardBody="{not json")
    assert error_of(ei)[0] == "InvalidParameterInput"
    any_cw.delete_dashboards(DashboardNames=[name])
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        any_cw.get_dashboard(DashboardName=name)
    assert error_of(ei)[0] == "ResourceNotFound"


def test_alarm_action_publishes_to_sns(server, cw):
    sns, sqs = server.client("sns"), server.client("sqs")
    try:
        topic = sns.create_topic(Name=_name("alarms"))["TopicArn"]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NotImplemented":
            pytest.skip("SNS is not implemented in this build")
        raise
    qurl = sqs.create_queue(QueueName=_name("alarm-q"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "false"})
    name, ns = _name(), _name("ns")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 9.0, "StorageResolution": 1,
                                                  "Dimensions": [{"Name": "Fn", "Value": "f"}]}])
    _alarm(cw, name, ns, AlarmActions=[topic], AlarmDescription="pager", Dimensions=[{"Name": "Fn", "Value": "f"}])

    def notified():
        msgs = sqs.receive_message(QueueUrl=qurl, WaitTimeSeconds=1).get("Messages", [])
        return msgs and json.loads(msgs[0]["Body"])
    envelope = wait_for(notified, 20, what="the alarm notification in the subscribed queue")
    assert envelope["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    msg = json.loads(envelope["Message"])
    assert msg["AlarmName"] == name and msg["NewStateValue"] == "ALARM" and msg["AlarmDescription"] == "pager"
    assert msg["AWSAccountId"] == "000000000000" and msg["Region"] == "US East (N. Virginia)"
    assert msg["Trigger"]["MetricName"] == "Errors" and msg["Trigger"]["Namespace"] == ns
    assert msg["Trigger"]["Dimensions"] == [{"value": "f", "name": "Fn"}] and msg["Trigger"]["Statistic"] == "SUM"
    wait_for(lambda: any(i["HistorySummary"] == f"Successfully executed action {topic}" for i in
                         cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]),
             10, what="the action in the alarm history")
