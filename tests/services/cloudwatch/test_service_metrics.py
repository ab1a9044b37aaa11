"""AWS metrics of real traffic, gauges, the Prometheus endpoint and durability, on a
server of its own (2 gateways, 2 shards, queue gauges sampled every second)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.helpers.clients import aws_cli


@pytest.fixture(scope="module")
def mon(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("monitoring"), "--workers", "2", "--shards", "2",
                      env={"BROKER_CLOUDWATCH_GAUGE_INTERVAL": "1"})
    try:
        yield b
    finally:
        b.close()


def _window():
    now = datetime.now(timezone.utc)
    return now - timedelta(minutes=10), now + timedelta(minutes=2)


def _sum(cw, metric: str, queue: str, stat: str = "Sum") -> float | None:
    start, end = _window()
    dps = cw.get_metric_statistics(Namespace="AWS/SQS", MetricName=metric, StartTime=start, EndTime=end,
                                   Period=60, Statistics=[stat],
                                   Dimensions=[{"Name": "QueueName", "Value": queue}])["Datapoints"]
    if not dps:
        return None
    return sum(d[stat] for d in dps) if stat == "Sum" else max(d[stat] for d in dps)


def test_sqs_traffic_counts_and_gauges(mon):
    sqs, cw = mon.client("sqs"), mon.client("cloudwatch")
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody="x" * 10)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "y"} for i in range(3)])
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    for m in got:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    sqs.purge_queue(QueueUrl=url)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)          # empty
    wait_for(lambda: _sum(cw, "NumberOfMessagesSent", name) == 8, 15, what="8 sent")
    assert _sum(cw, "NumberOfMessagesReceived", name) == 2
    assert _sum(cw, "NumberOfMessagesDeleted", name) == 2
    assert _sum(cw, "NumberOfEmptyReceives", name) >= 1
    assert _sum(cw, "SentMessageSize", name, "Maximum") == 10
    gauges = {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
              "ApproximateNumberOfMessagesDelayed", "ApproximateAgeOfOldestMessage"}

    def listed():
        return {m["MetricName"] for m in cw.list_metrics(
            Namespace="AWS/SQS", Dimensions=[{"Name": "QueueName", "Value": name}])["Metrics"]}
    wait_for(lambda: gauges <= listed(), 15, what="the sampled gauges in ListMetrics")


def test_gauges_follow_the_queue(mon):
    sqs, cw = mon.client("sqs"), mon.client("cloudwatch")
    name = f"gauge-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for _ in range(4):
        sqs.send_message(QueueUrl=url, MessageBody="g")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    wait_for(lambda: _sum(cw, "ApproximateNumberOfMessagesVisible", name, "Maximum") == 3, 15, what="visible=3")
    wait_for(lambda: _sum(cw, "ApproximateNumberOfMessagesNotVisible", name, "Maximum") == 1, 15)
    wait_for(lambda: _sum(cw, "ApproximateNumberOfMessagesDelayed", name, "Maximum") == 1, 15)
    wait_for(lambda: (_sum(cw, "ApproximateAgeOfOldestMessage", name, "Maximum") or 0) >= 1, 15)


def test_cli_get_metric_statistics(mon, tmp_path):
    aws = aws_cli(mon.url, tmp_path, "cloudwatch")
    sqs = mon.client("sqs")
    name = f"cli-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for _ in range(3):
        sqs.send_message(QueueUrl=url, MessageBody="c")
    start, end = _window()

    def cli_sum():
        p = aws("get-metric-statistics", "--namespace", "AWS/SQS", "--metric-name", "NumberOfMessagesSent",
                "--dimensions", f"Name=QueueName,Value={name}", "--start-time", start.isoformat(),
                "--end-time", end.isoformat(), "--period", "60", "--statistics", "Sum")
        return sum(d["Sum"] for d in json.loads(p.stdout)["Datapoints"])
    wait_for(lambda: cli_sum() == 3, 20, what="the CLI to see 3 sends")


def test_prometheus_endpoint_parses_and_covers_every_process(mon):
    from prometheus_client.parser import text_string_to_metric_families
    sqs = mon.client("sqs")
    name = f"prom-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="p")

    def scrape():
        status, body = mon.get("/_broker/metrics")
        assert status == 200
        return {f.name: f for f in text_string_to_metric_families(body.decode())}

    def ready():
        fams = scrape()
        procs = {s.labels.get("process") for f in fams.values() for s in f.samples}
        depth = [s for s in fams.get("broker_queue_messages", type("f", (), {"samples": []})).samples
                 if s.labels.get("queue") == name and s.labels.get("state") == "visible"]
        sent = [s for s in fams["aws_sqs_number_of_messages_sent"].samples
                if s.labels.get("queue_name") == name and s.name.endswith("_sum")] \
            if "aws_sqs_number_of_messages_sent" in fams else []
        if {"gateway-0", "gateway-1", "shard-0", "shard-1"} <= procs and depth and depth[0].value == 1 \
                and sent and sent[0].value == 1:
            return fams
    fams = wait_for(ready, 20, what="metrics from all four workers and the queue depth")
    req = fams["broker_requests"]          # the parser drops _total from counter family names
    assert req.type == "counter"
    sent = [s for s in req.samples if s.labels["service"] == "sqs" and s.labels["operation"] == "SendMessage"]
    assert sent and all(s.labels["status"] == "200" for s in sent)
    lat = fams["broker_request_duration_seconds"]
    assert lat.type == "histogram"
    assert any(s.name.endswith("_bucket") and s.labels["le"] == "+Inf" for s in lat.samples)
    commit = fams["broker_group_commit_duration_seconds"]
    assert commit.type == "histogram" and any(s.labels["process"].startswith("shard-") for s in commit.samples)
    assert fams["broker_group_commit_requests"].type == "histogram"
    aws_sent = fams["aws_sqs_number_of_messages_sent"]
    assert aws_sent.type == "summary"
    assert {s.labels["account"] for s in aws_sent.samples} == {"000000000000"}
    assert fams["process_resident_memory_bytes"].type == "gauge"
    for f in fams.values():
        assert f.name.islower() and " " not in f.name


def test_put_metric_data_survives_kill_9(tmp_path):
    b = BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1")
    try:
        cw = b.client("cloudwatch")
        cw.put_metric_data(Namespace="Durable", MetricData=[{"MetricName": "m", "Value": 7.0}])
        b.kill_all()
        b.restart("--workers", "1", "--shards", "1")
        cw = b.client("cloudwatch")
        start, end = _window()
        [dp] = cw.get_metric_statistics(Namespace="Durable", MetricName="m", StartTime=start, EndTime=end,
                                        Period=60, Statistics=["Sum"])["Datapoints"]
        assert dp["Sum"] == 7.0
        assert cw.list_metrics(Namespace="Durable")["Metrics"][0]["MetricName"] == "m"
        # an admin reset forgets metrics too (their points live in the partitions' side databases)
        status, _ = _post(b, "/_broker/reset")
        assert status == 200
        assert cw.list_metrics(Namespace="Durable")["Metrics"] == []
        assert cw.get_metric_statistics(Namespace="Durable", MetricName="m", StartTime=start, EndTime=end,
                                        Period=60, Statistics=["Sum"])["Datapoints"] == []
    finally:
        b.close()


def _post(b, path: str):
    import urllib.request
    req = urllib.request.Request(b.url + path, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def test_kms_usage_metrics(mon):
    kms, cw = mon.client("kms"), mon.client("cloudwatch")
    kms.create_key(Description="usage")
    dims = [{"Name": "Service", "Value": "KMS"}, {"Name": "Type", "Value": "API"},
            {"Name": "Resource", "Value": "CreateKey"}, {"Name": "Class", "Value": "None"}]
    start, end = _window()

    def count():
        dps = cw.get_metric_statistics(Namespace="AWS/Usage", MetricName="CallCount", Dimensions=dims,
                                       StartTime=start, EndTime=end, Period=60, Statistics=["Sum"])["Datapoints"]
        return sum(d["Sum"] for d in dps)
    wait_for(lambda: count() >= 1, 15, what="AWS/Usage CallCount for KMS CreateKey")
