"""CloudWatch Logs through boto3: groups, streams, events, filters, retention, tags;
events are sealed on disk and survive kill -9."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for


def _name(prefix="/test/logs"):
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def _err(ei):
    e = ei.value.response["Error"]
    return e["Code"], e.get("Message", "")


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


def _now_ms():
    return int(time.time() * 1000)


def test_groups_streams_and_events(logs):
    group = _name()
    logs.create_log_group(logGroupName=group, tags={"team": "a"})
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.create_log_group(logGroupName=group)
    assert _err(ei) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    logs.create_log_stream(logGroupName=group, logStreamName="s2")
    t = _now_ms()
    out = logs.put_log_events(logGroupName=group, logStreamName="s1",
                              logEvents=[{"timestamp": t + i, "message": f"line {i}"} for i in range(5)])
    assert "nextSequenceToken" in out and "rejectedLogEventsInfo" not in out
    logs.put_log_events(logGroupName=group, logStreamName="s2", logEvents=[{"timestamp": t + 2, "message": "other"}])
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["logGroupName"] == group and g["arn"].endswith(f"log-group:{group}:*")
    assert g["logGroupArn"] == g["arn"][:-2] and "retentionInDays" not in g
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["s1", "s2"]
    assert streams[0]["firstEventTimestamp"] == t and streams[0]["lastEventTimestamp"] == t + 4
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in by_time] == ["s1", "s2"]
    head = logs.get_log_events(logGroupName=group, logStreamName="s1", startFromHead=True, limit=2)
    assert [e["message"] for e in head["events"]] == ["line 0", "line 1"]
    nxt = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=head["nextForwardToken"], limit=2)
    assert [e["message"] for e in nxt["events"]] == ["line 2", "line 3"]
    tail = logs.get_log_events(logGroupName=group, logStreamName="s1", limit=2)
    assert [e["message"] for e in tail["events"]] == ["line 3", "line 4"]
    back = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=tail["nextBackwardToken"], limit=2)
    assert [e["message"] for e in back["events"]] == ["line 1", "line 2"]
    end = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=tail["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == tail["nextForwardToken"]
    window = logs.get_log_events(logGroupName=group, logStreamName="s1", startTime=t + 1, endTime=t + 3,
                                 startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["line 1", "line 2"]


def test_filter_log_events(logs):
    group = _name()
    logs.create_log_group(logGroupName=group)
    for s in ("app-1", "app-2", "db"):
        logs.create_log_stream(logGroupName=group, logStreamName=s)
    t = _now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="app-1", logEvents=[
        {"timestamp": t, "message": "ERROR boom"}, {"timestamp": t + 3, "message": '{"status": 500}'}])
    logs.put_log_events(logGroupName=group, logStreamName="app-2", logEvents=[
        {"timestamp": t + 1, "message": "INFO ok"}, {"timestamp": t + 2, "message": "ERROR again"}])
    logs.put_log_events(logGroupName=group, logStreamName="db", logEvents=[{"timestamp": t + 4, "message": "ERROR db"}])
    out = logs.filter_log_events(logGroupName=group, filterPattern="ERROR")
    assert [(e["logStreamName"], e["message"]) for e in out["events"]] == [
        ("app-1", "ERROR boom"), ("app-2", "ERROR again"), ("db", "ERROR db")]
    assert all(e["eventId"] and e["ingestionTime"] >= e["timestamp"] - 10_000 for e in out["events"])
    pre = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="app", filterPattern="ERROR")
    assert [e["message"] for e in pre["events"]] == ["ERROR boom", "ERROR again"]
    named = logs.filter_log_events(logGroupName=group, logStreamNames=["db"])
    assert [e["message"] for e in named["events"]] == ["ERROR db"]
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group, filterPattern="{ $.status >= 500 }")
            ["events"]] == ['{"status": 500}']
    page = logs.filter_log_events(logGroupName=group, limit=2)
    assert len(page["events"]) == 2 and page["nextToken"]
    rest = logs.filter_log_events(logGroupName=group, limit=10, nextToken=page["nextToken"])
    assert len(rest["events"]) == 3
    timed = logs.filter_log_events(logGroupName=group, startTime=t + 1, endTime=t + 3)
    assert [e["message"] for e in timed["events"]] == ["INFO ok", "ERROR again"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.a = ")
    assert _err(ei)[0] == "InvalidParameterException"


def test_put_log_events_rules(logs):
    group = _name()
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = _now_ms()
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    assert _err(ei) == ("InvalidParameterException",
                        "Log events in a single PutLogEvents request must be in chronological order.")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now - 25 * 3_600_000, "message": "a"}, {"timestamp": now, "message": "b"}])
    assert _err(ei)[1] == ("The batch of log events in a single PutLogEvents request cannot span more than "
                           "24 hours.")
    out = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now - 15 * 86_400_000, "message": "too old"}])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    out = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now, "message": "fine"}, {"timestamp": now + 3 * 3_600_000, "message": "too new"}])
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    got = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in got] == ["fine"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.put_log_events(logGroupName=group, logStreamName="nope", logEvents=[{"timestamp": now, "message": "x"}])
    assert _err(ei) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.describe_log_streams(logGroupName=group + "-nope")
    assert _err(ei) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_retention_subscriptions_metric_filters_and_tags(server, logs):
    group = _name()
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 7
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.put_retention_policy(logGroupName=group, retentionInDays=8)
    assert _err(ei)[0] == "InvalidParameterException"
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    dest = "arn:aws:lambda:us-east-1:000000000000:function:f"
    for i in range(2):
        logs.put_subscription_filter(logGroupName=group, filterName=f"f{i}", filterPattern="ERROR", destinationArn=dest)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        logs.put_subscription_filter(logGroupName=group, filterName="f2", filterPattern="", destinationArn=dest)
    assert _err(ei) == ("LimitExceededException", "Resource limit exceeded.")
    subs = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert [(s["filterName"], s["destinationArn"], s["distribution"]) for s in subs] == [
        ("f0", dest, "ByLogStream"), ("f1", dest, "ByLogStream")]
    logs.delete_subscription_filter(logGroupName=group, filterName="f0")
    assert len(logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]) == 1
    ns = f"LogMetrics{uuid.uuid4().hex[:6]}"
    logs.put_metric_filter(logGroupName=group, filterName="errors", filterPattern="[lvl = ERROR, ms]",
                           metricTransformations=[{"metricName": "Latency", "metricNamespace": ns,
                                                   "metricValue": "$ms"}])
    assert logs.describe_metric_filters(logGroupName=group)["metricFilters"][0]["filterName"] == "errors"
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": _now_ms(), "message": "ERROR 40"}, {"timestamp": _now_ms(), "message": "INFO 5"}])
    cw = server.client("cloudwatch")
    now = datetime.now(timezone.utc)

    def metric_sum():
        dps = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", StartTime=now - timedelta(minutes=5),
                                       EndTime=now + timedelta(minutes=2), Period=60,
                                       Statistics=["Sum", "SampleCount"])["Datapoints"]
        return dps and (dps[0]["Sum"], dps[0]["SampleCount"])
    assert wait_for(metric_sum, 10, what="the metric filter's data point") == (40.0, 1.0)
    tested = logs.test_metric_filter(filterPattern="[lvl = ERROR, ms]", logEventMessages=["ERROR 1", "INFO 2"])
    assert tested["matches"] == [{"eventNumber": 1, "eventMessage": "ERROR 1",
                                  "extractedValues": {"$lvl": "ERROR", "$ms": "1"}}]
    logs.tag_log_group(logGroupName=group, tags={"a": "1"})
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"b": "2"}
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def test_events_are_encrypted_at_rest_and_survive_kill_9(tmp_path):
    b = BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1")
    try:
        logs = b.client("logs")
        logs.create_log_group(logGroupName="/secret")
        logs.create_log_stream(logGroupName="/secret", logStreamName="s")
        secret = "card-number-4111111111111111"
        logs.put_log_events(logGroupName="/secret", logStreamName="s",
                            logEvents=[{"timestamp": _now_ms(), "message": secret}])
        b.kill_all()
        for f in (tmp_path / "d").rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f
        b.restart("--workers", "1", "--shards", "1")
        got = b.client("logs").get_log_events(logGroupName="/secret", logStreamName="s")["events"]
        assert [e["message"] for e in got] == [secret]
    finally:
        b.close()
