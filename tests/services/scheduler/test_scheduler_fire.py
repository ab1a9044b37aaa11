"""Schedules really fire: near at() times into SQS (templated and universal targets),
through EventBridge, into a dead-letter queue, deleted after completion, and across a
server restart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.events._helpers import quiet, receive, uid

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
OFF = {"Mode": "OFF"}


def at(seconds: float, tz=timezone.utc) -> tuple[str, datetime]:
    t = (datetime.now(tz) + timedelta(seconds=seconds)).replace(microsecond=0)
    return f"at({t.strftime('%Y-%m-%dT%H:%M:%S')})", t


def test_at_schedule_sends_templated_sqs_message_with_context(scheduler, sqs, queue):
    url, arn = queue()
    name = uid("once")
    expr, when = at(2)
    sched_arn = scheduler.create_schedule(
        Name=name, ScheduleExpression=expr, FlexibleTimeWindow=OFF, ActionAfterCompletion="DELETE",
        Target={"Arn": arn, "RoleArn": ROLE,
                "Input": "<aws.scheduler.schedule-arn>|<aws.scheduler.scheduled-time>|<aws.scheduler.attempt-number>"}
    )["ScheduleArn"]
    [m] = receive(sqs, url, 1, timeout=20)
    arn_seen, scheduled, attempt = m["Body"].split("|")
    assert arn_seen == sched_arn and attempt == "1"
    assert scheduled == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    # ActionAfterCompletion=DELETE: gone after its only invocation
    wait_for(lambda: name not in [s["Name"] for s in scheduler.list_schedules(NamePrefix=name)["Schedules"]], 10,
             what="schedule deleted")
    assert quiet(sqs, url, 1.0) == []


def test_at_in_another_time_zone(scheduler, sqs, queue):
    url, arn = queue()
    tz = "Asia/Kolkata"
    from zoneinfo import ZoneInfo
    expr, _ = at(2, ZoneInfo(tz))
    scheduler.create_schedule(Name=uid("tz"), ScheduleExpression=expr, ScheduleExpressionTimezone=tz,
                              FlexibleTimeWindow=OFF, Target={"Arn": arn, "RoleArn": ROLE, "Input": "in kolkata"})
    assert [m["Body"] for m in receive(sqs, url, 1, timeout=20)] == ["in kolkata"]


def test_universal_target_and_fifo_templated_target(scheduler, sqs, queue):
    url, _arn = queue()
    furl, farn = queue(fifo=True)
    expr, _ = at(2)
    scheduler.create_schedule(Name=uid("uni"), ScheduleExpression=expr, FlexibleTimeWindow=OFF, Target={
        "Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "RoleArn": ROLE,
        "Input": json.dumps({"QueueUrl": url, "MessageBody": "via the SDK",
                             "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}})})
    scheduler.create_schedule(Name=uid("fifo"), ScheduleExpression=expr, FlexibleTimeWindow=OFF, Target={
        "Arn": farn, "RoleArn": ROLE, "Input": "fifo body", "SqsParameters": {"MessageGroupId": "grp"}})
    [m] = receive(sqs, url, 1, timeout=20, MessageAttributeNames=["All"])
    assert m["Body"] == "via the SDK" and m["MessageAttributes"]["k"]["StringValue"] == "v"
    [f] = receive(sqs, furl, 1, timeout=20, AttributeNames=["All"])
    assert f["Body"] == "fifo body" and f["Attributes"]["MessageGroupId"] == "grp"


def test_eventbridge_target(scheduler, events, sqs, queue):
    url, arn = queue()
    bus = uid("bus")
    events.create_event_bus(Name=bus)
    rule = uid("rule")
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["my.scheduler"]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    expr, _ = at(2)
    scheduler.create_schedule(Name=uid("eb"), ScheduleExpression=expr, FlexibleTimeWindow=OFF, Target={
        "Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{bus}", "RoleArn": ROLE, "Input": '{"job": 42}',
        "EventBridgeParameters": {"Source": "my.scheduler", "DetailType": "Job Due"}})
    [m] = receive(sqs, url, 1, timeout=20)
    body = json.loads(m["Body"])
    assert body["source"] == "my.scheduler" and body["detail-type"] == "Job Due" and body["detail"] == {"job": 42}


def test_failed_invocation_goes_to_dead_letter_queue(scheduler, sqs, queue):
    dlq_url, dlq_arn = queue()
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{uid('missing')}"
    expr, _ = at(1)
    name = uid("dl")
    sched_arn = scheduler.create_schedule(Name=name, ScheduleExpression=expr, FlexibleTimeWindow=OFF, Target={
        "Arn": missing, "RoleArn": ROLE, "Input": "payload", "DeadLetterConfig": {"Arn": dlq_arn},
        "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}})["ScheduleArn"]
    [m] = receive(sqs, dlq_url, 1, timeout=20, MessageAttributeNames=["All"])
    attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
    assert m["Body"] == "payload"
    assert attrs["SCHEDULE_ARN"] == sched_arn and attrs["TARGET_ARN"] == missing
    assert attrs["ERROR_CODE"] == "NO_RESOURCE"


def test_at_schedule_fires_across_restart(tmp_path):
    """Due while the server was down: fires once when it is back."""
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1") as b:
        sqs = b.client("sqs")
        scheduler = b.client("scheduler")
        url = sqs.create_queue(QueueName="restart-q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        expr, when = at(4)
        scheduler.create_schedule(Name="after-restart", ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                                  Target={"Arn": arn, "RoleArn": ROLE, "Input": "missed, then delivered"})
        rate_arn = scheduler.create_schedule(Name="hourly", ScheduleExpression="rate(1 hour)",
                                             FlexibleTimeWindow=OFF, Target={"Arn": arn, "RoleArn": ROLE})
        b.stop()
        wait_for(lambda: datetime.now(timezone.utc) > when + timedelta(seconds=1), 15, what="due time to pass")
        b.restart()
        sqs = b.client("sqs")
        got = receive(sqs, url, 1, timeout=20)
        assert [m["Body"] for m in got] == ["missed, then delivered"]
        assert quiet(sqs, url, 2.0) == []          # once, not once per restart or per missed period
        names = [s["Name"] for s in b.client("scheduler").list_schedules()["Schedules"]]
        assert sorted(names) == ["after-restart", "hourly"] and rate_arn
