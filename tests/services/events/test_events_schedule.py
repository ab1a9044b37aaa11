"""Scheduled rules fire: a cron rule that runs every minute delivers AWS's Scheduled Event."""

from __future__ import annotations

import json

from tests.services.events._helpers import receive, uid

ACCOUNT = "000000000000"


def test_scheduled_rule_fires_scheduled_event(events, sqs, queue):
    url, arn = queue()
    name = uid("every-minute")
    rule_arn = events.put_rule(Name=name, ScheduleExpression="cron(* * * * ? *)")["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    listed = events.list_rules(NamePrefix=name)["Rules"]
    assert listed[0]["ScheduleExpression"] == "cron(* * * * ? *)" and "EventPattern" not in listed[0]
    try:
        [m] = receive(sqs, url, 1, timeout=75)
        body = json.loads(m["Body"])
        assert body["detail-type"] == "Scheduled Event" and body["source"] == "aws.events"
        assert body["resources"] == [rule_arn] and body["detail"] == {} and body["account"] == ACCOUNT
        assert body["time"].endswith(":00Z")        # fired on the minute
    finally:
        events.remove_targets(Rule=name, Ids=["q"])
        events.delete_rule(Name=name)
