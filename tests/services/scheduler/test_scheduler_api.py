"""EventBridge Scheduler API over boto3: schedules, groups, tags, validation errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.services.events._helpers import error, uid

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
OFF = {"Mode": "OFF"}


def _target(arn: str = f"arn:aws:sqs:us-east-1:{ACCOUNT}:somewhere", **kw) -> dict:
    return {"Arn": arn, "RoleArn": ROLE, **kw}


@pytest.mark.parametrize("expr", [
    "cron(0 1 * * * *)", "cron(7 20 * * NOT *)", "cron(INVALID)", "cron(0 dummy ? * MON-FRI *)",
    "cron(71 8 1 * ? *)", "cron()", "rate(10 seconds)", "rate(10 years)", "rate()", "rate(10)",
    "rate(10 minutess)", "rate(foo minutes)", "rate(-10 minutes)", "rate( 10 minutes )", " rate(10 minutes)",
    "at(2030-12-31T23:59:59Z)", "at(2030-12-31)", "rate(1 minutes)", "cron(0 12 ? * 8 *)",
])
def test_invalid_expressions(scheduler, expr):
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule(Name=uid("s"), ScheduleExpression=expr, FlexibleTimeWindow=OFF, Target=_target())
    assert error(e) == ("ValidationException", f"Invalid Schedule Expression {expr}.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("expr", [
    "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)", "cron(30-30 13-13 ? * 2,4,6 *)", "cron(1-31/30 1-1 ? * 1,7 *)",
    "cron(0 18 ? * MON-FRI *)", "cron(*/15 * * * ? *)", "cron(0-59/10 0-23/2 ? * * *)", "cron(15 10 ? * 6L *)",
    "cron(0 2 ? * SAT#3 *)", "cron(0 8 L * ? *)", "rate(1 minute)", "rate(2 hours)", "at(2030-06-01T10:00:00)",
])
def test_valid_expressions(scheduler, expr):
    name = uid("s")
    arn = scheduler.create_schedule(Name=name, ScheduleExpression=expr, FlexibleTimeWindow=OFF,
                                    Target=_target())["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/{name}"
    scheduler.delete_schedule(Name=name)


def test_schedule_lifecycle(scheduler):
    name = uid("s")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    scheduler.create_schedule(Name=name, ScheduleExpression="cron(0 9 ? * MON-FRI *)",
                              ScheduleExpressionTimezone="Europe/Paris", StartDate=start,
                              EndDate=start + timedelta(days=30), Description="weekday mornings",
                              FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                              Target=_target(Input='{"k": 1}', RetryPolicy={"MaximumRetryAttempts": 3,
                                                                             "MaximumEventAgeInSeconds": 120}),
                              ActionAfterCompletion="DELETE")
    s = scheduler.get_schedule(Name=name)
    assert s["Name"] == name and s["GroupName"] == "default" and s["State"] == "ENABLED"
    assert s["ScheduleExpressionTimezone"] == "Europe/Paris" and s["StartDate"] == start
    assert s["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert s["Target"]["Input"] == '{"k": 1}' and s["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 3
    assert s["ActionAfterCompletion"] == "DELETE" and s["Description"] == "weekday mornings"
    assert s["CreationDate"] and s["LastModificationDate"]
    scheduler.update_schedule(Name=name, ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow=OFF,
                              Target=_target(), State="DISABLED")
    s = scheduler.get_schedule(Name=name)
    assert s["ScheduleExpression"] == "rate(5 minutes)" and s["State"] == "DISABLED"
    listed = scheduler.list_schedules(NamePrefix=name)["Schedules"]
    assert [(x["Name"], x["State"], x["Target"]) for x in listed] == [(name, "DISABLED", {"Arn": _target()["Arn"]})]
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule(Name=name, ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
                                  Target=_target())
    assert error(e) == ("ConflictException", f"Schedule {name} already exists.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    scheduler.delete_schedule(Name=name)
    with pytest.raises(ClientError) as e:
        scheduler.get_schedule(Name=name)
    assert error(e) == ("ResourceNotFoundException", f"Schedule {name} does not exist.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_schedule_validation(scheduler):
    cases = [
        (dict(ScheduleExpressionTimezone="Mars/Olympus"), "Invalid ScheduleExpressionTimezone Mars/Olympus."),
        (dict(FlexibleTimeWindow={"Mode": "FLEXIBLE"}),
         "MaximumWindowInMinutes must be provided when FlexibleTimeWindow Mode is FLEXIBLE."),
        (dict(EndDate=datetime(2001, 1, 1, tzinfo=timezone.utc)), "The EndDate must be in the future."),
    ]
    for extra, message in cases:
        kw = {"Name": uid("s"), "ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": OFF,
              "Target": _target(), **extra}
        with pytest.raises(ClientError) as e:
            scheduler.create_schedule(**kw)
        assert error(e) == ("ValidationException", message)


def test_groups_and_tags(scheduler):
    group = uid("g")
    arn = scheduler.create_schedule_group(Name=group, Tags=[{"Key": "team", "Value": "a"}])["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/{group}"
    g = scheduler.get_schedule_group(Name=group)
    assert g["Name"] == group and g["State"] == "ACTIVE" and g["Arn"] == arn
    names = {x["Name"] for x in scheduler.list_schedule_groups()["ScheduleGroups"]}
    assert {"default", group} <= names
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    scheduler.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule_group(Name=group)
    assert error(e)[0] == "ConflictException"
    s = uid("s")
    scheduler.create_schedule(Name=s, GroupName=group, ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
                              Target=_target())
    assert [x["Name"] for x in scheduler.list_schedules(GroupName=group)["Schedules"]] == [s]
    with pytest.raises(ClientError) as e:
        scheduler.get_schedule(Name=s)                 # it is not in the default group
    assert error(e)[0] == "ResourceNotFoundException"
    scheduler.delete_schedule_group(Name=group)
    with pytest.raises(ClientError) as e:
        scheduler.get_schedule(Name=s, GroupName=group)
    assert error(e) == ("ResourceNotFoundException", f"Schedule group {group} does not exist.")
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule(Name=uid("s"), GroupName=uid("nogroup"), ScheduleExpression="rate(1 hour)",
                                  FlexibleTimeWindow=OFF, Target=_target())
    assert error(e)[0] == "ResourceNotFoundException"


def test_list_schedules_pages(scheduler):
    prefix = uid("pg")
    names = [f"{prefix}-{i}" for i in range(5)]
    for n in names:
        scheduler.create_schedule(Name=n, ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
                                  Target=_target())
    try:
        first = scheduler.list_schedules(NamePrefix=prefix, MaxResults=2)
        second = scheduler.list_schedules(NamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
        third = scheduler.list_schedules(NamePrefix=prefix, MaxResults=2, NextToken=second["NextToken"])
        got = [x["Name"] for page in (first, second, third) for x in page["Schedules"]]
        assert got == names and "NextToken" not in third
    finally:
        for n in names:
            scheduler.delete_schedule(Name=n)
