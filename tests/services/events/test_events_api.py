"""EventBridge buses, rules, targets, permissions and tags over boto3: shapes and AWS's errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.services.events._helpers import error, uid

ACCOUNT = "000000000000"
PATTERN = {"source": ["app.orders"], "detail-type": ["Order Placed"]}


def test_bus_lifecycle(events, bus):
    name = uid("bus")
    out = events.create_event_bus(Name=name, Description="orders bus", Tags=[{"Key": "team", "Value": "a"}])
    arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{name}"
    assert out["EventBusArn"] == arn and out["Description"] == "orders bus"
    d = events.describe_event_bus(Name=name)
    assert (d["Name"], d["Arn"], d["Description"]) == (name, arn, "orders bus")
    assert d["CreationTime"] and d["LastModifiedTime"]
    assert events.describe_event_bus(Name=arn)["Name"] == name
    listed = events.list_event_buses(NamePrefix=name)["EventBuses"]
    assert [b["Name"] for b in listed] == [name]
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    with pytest.raises(ClientError) as e:
        events.create_event_bus(Name=name)
    assert error(e) == ("ResourceAlreadyExistsException", f"Event bus {name} already exists.")
    events.update_event_bus(Name=name, Description="renamed")
    assert events.describe_event_bus(Name=name)["Description"] == "renamed"
    events.delete_event_bus(Name=name)
    assert events.list_event_buses(NamePrefix=name)["EventBuses"] == []
    with pytest.raises(ClientError) as e:
        events.describe_event_bus(Name=name)
    assert error(e) == ("ResourceNotFoundException", f"Event bus {name} does not exist.")
    events.delete_event_bus(Name=name)      # deleting again is not an error


def test_default_bus_always_exists_and_cannot_be_deleted(events):
    d = events.describe_event_bus()
    assert d["Name"] == "default" and d["Arn"].endswith(":event-bus/default")
    assert "default" in [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    with pytest.raises(ClientError) as e:
        events.delete_event_bus(Name="default")
    assert error(e) == ("ValidationException", "Cannot delete event bus default.")


def test_list_event_buses_pages(events, bus):
    prefix = uid("pg")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for n in names:
        events.create_event_bus(Name=n)
    try:
        first = events.list_event_buses(NamePrefix=prefix, Limit=3)
        assert [b["Name"] for b in first["EventBuses"]] == names[:3]
        rest = events.list_event_buses(NamePrefix=prefix, Limit=3, NextToken=first["NextToken"])
        assert [b["Name"] for b in rest["EventBuses"]] == names[3:] and "NextToken" not in rest
    finally:
        for n in names:
            events.delete_event_bus(Name=n)


def test_permissions(events, bus):
    name = bus()
    arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{name}"
    events.put_permission(EventBusName=name, Action="events:PutEvents", Principal="111122223333",
                          StatementId="s1")
    events.put_permission(EventBusName=name, Action="events:PutEvents", Principal="*", StatementId="s2")
    policy = json.loads(events.describe_event_bus(Name=name)["Policy"])
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"] == [
        {"Sid": "s1", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "events:PutEvents", "Resource": arn},
        {"Sid": "s2", "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": arn}]
    events.remove_permission(EventBusName=name, StatementId="s1")
    assert [s["Sid"] for s in json.loads(events.describe_event_bus(Name=name)["Policy"])["Statement"]] == ["s2"]
    with pytest.raises(ClientError) as e:
        events.remove_permission(EventBusName=name, StatementId="nope")
    assert error(e) == ("ResourceNotFoundException", "Statement with the provided id does not exist.")
    whole = {"Version": "2012-10-17", "Statement": [{"Sid": "x", "Effect": "Allow",
             "Principal": {"Service": "events.amazonaws.com"}, "Action": "events:ListRules", "Resource": "*"}]}
    events.put_permission(EventBusName=name, Policy=json.dumps(whole))
    assert json.loads(events.describe_event_bus(Name=name)["Policy"]) == whole
    events.remove_permission(EventBusName=name, RemoveAllPermissions=True)
    assert "Policy" not in events.describe_event_bus(Name=name)
    with pytest.raises(ClientError) as e:
        events.put_permission(EventBusName=uid("missing"), Action="events:PutEvents", Principal="*",
                              StatementId="s")
    assert error(e)[0] == "ResourceNotFoundException"


def test_rule_lifecycle(events, bus):
    b = bus()
    name = uid("rule")
    arn = events.put_rule(Name=name, EventBusName=b, EventPattern=json.dumps(PATTERN), Description="d")["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{b}/{name}"
    d = events.describe_rule(Name=name, EventBusName=b)
    assert d["Name"] == name and d["Arn"] == arn and d["State"] == "ENABLED" and d["EventBusName"] == b
    assert json.loads(d["EventPattern"]) == PATTERN and d["CreatedBy"] == ACCOUNT and d["Description"] == "d"
    events.disable_rule(Name=name, EventBusName=b)
    assert events.describe_rule(Name=name, EventBusName=b)["State"] == "DISABLED"
    events.enable_rule(Name=name, EventBusName=b)
    listed = events.list_rules(EventBusName=b)["Rules"]
    assert [r["Name"] for r in listed] == [name] and "CreatedBy" not in listed[0]
    events.delete_rule(Name=name, EventBusName=b)
    assert events.list_rules(EventBusName=b)["Rules"] == []
    with pytest.raises(ClientError) as e:
        events.describe_rule(Name=name, EventBusName=b)
    assert error(e) == ("ResourceNotFoundException", f"Rule {name} does not exist on EventBus {b}.")
    with pytest.raises(ClientError) as e:
        events.enable_rule(Name=name)
    assert error(e) == ("ResourceNotFoundException", f"Rule {name} does not exist on EventBus default.")


def test_default_bus_rule_arn_and_prefix_listing(events):
    prefix = uid("pre")
    names = [f"{prefix}-{i}" for i in range(4)]
    for n in names:
        assert events.put_rule(Name=n, EventPattern=json.dumps(PATTERN))["RuleArn"] == \
            f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{n}"
    try:
        page = events.list_rules(NamePrefix=prefix, Limit=3)
        assert [r["Name"] for r in page["Rules"]] == names[:3]
        rest = events.list_rules(NamePrefix=prefix, Limit=3, NextToken=page["NextToken"])
        assert [r["Name"] for r in rest["Rules"]] == names[3:]
    finally:
        for n in names:
            events.delete_rule(Name=n)


def test_put_rule_validation(events, bus):
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=uid("r"))
    assert error(e) == ("ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.")
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=uid("r"), EventBusName=bus(), ScheduleExpression="rate(1 minute)")
    assert error(e) == ("ValidationException", "ScheduleExpression is supported only on the default event bus.")
    for bad in ("cron(0 1 * * * *)", "cron(71 8 1 * ? *)", "rate(10 seconds)", "rate(1 minutes)", "cron(INVALID)"):
        with pytest.raises(ClientError) as e:
            events.put_rule(Name=uid("r"), ScheduleExpression=bad)
        assert error(e) == ("ValidationException", "Parameter ScheduleExpression is not valid."), bad
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=uid("r"), EventPattern='{"source": "x"}')
    assert error(e) == ("InvalidEventPatternException",
                        'Event pattern is not valid. Reason: "source" must be an object or an array\n'
                        ' at [Source: (String)"{"source": "x"}"; line: 1, column: 13]')
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=uid("r"), EventBusName=uid("missing"), EventPattern=json.dumps(PATTERN))
    assert error(e)[0] == "ResourceNotFoundException"


def test_targets(events, bus, queue):
    b = bus()
    _url, qarn = queue()
    name = uid("rule")
    events.put_rule(Name=name, EventBusName=b, EventPattern=json.dumps(PATTERN))
    out = events.put_targets(Rule=name, EventBusName=b, Targets=[
        {"Id": "a", "Arn": qarn, "InputPath": "$.detail"},
        {"Id": "b", "Arn": qarn, "Input": '{"fixed": true}', "RetryPolicy": {"MaximumRetryAttempts": 3}}])
    assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == []
    targets = events.list_targets_by_rule(Rule=name, EventBusName=b)["Targets"]
    assert targets == [{"Id": "a", "Arn": qarn, "InputPath": "$.detail"},
                       {"Id": "b", "Arn": qarn, "Input": '{"fixed": true}',
                        "RetryPolicy": {"MaximumRetryAttempts": 3}}]
    assert events.list_rule_names_by_target(TargetArn=qarn, EventBusName=b)["RuleNames"] == [name]
    page = events.list_targets_by_rule(Rule=name, EventBusName=b, Limit=1)
    assert [t["Id"] for t in page["Targets"]] == ["a"]
    # a rule with targets cannot be deleted; at most five targets per rule
    with pytest.raises(ClientError) as e:
        events.delete_rule(Name=name, EventBusName=b)
    assert error(e) == ("ValidationException", "Rule can't be deleted since it has targets.")
    with pytest.raises(ClientError) as e:
        events.put_targets(Rule=name, EventBusName=b, Targets=[{"Id": f"x{i}", "Arn": qarn} for i in range(4)])
    assert error(e) == ("LimitExceededException", "The requested resource exceeds the maximum number allowed.")
    assert events.remove_targets(Rule=name, EventBusName=b, Ids=["a", "b"])["FailedEntryCount"] == 0
    assert events.list_targets_by_rule(Rule=name, EventBusName=b)["Targets"] == []
    with pytest.raises(ClientError) as e:
        events.put_targets(Rule=uid("nope"), EventBusName=b, Targets=[{"Id": "a", "Arn": qarn}])
    assert error(e)[0] == "ResourceNotFoundException"


def test_target_validation(events, queue):
    _url, qarn = queue()
    _f, fifo_arn = queue(fifo=True)
    name = uid("rule")
    events.put_rule(Name=name, EventPattern=json.dumps(PATTERN))
    try:
        cases = [
            ({"Id": "t1", "Arn": qarn, "Input": "{}", "InputPath": "$.detail"},
             "Only one of Input, InputPath, or InputTransformer must be provided for target t1."),
            ({"Id": "t2", "Arn": qarn, "InputTransformer": {"InputPathsMap": {"a": "$.detail.a"},
                                                             "InputTemplate": '{"x": <b>}'}},
             "InputTemplate for target t2 contains invalid placeholder b."),
            ({"Id": "t3", "Arn": fifo_arn}, "Parameter(s) SqsParameters must be specified for target: t3."),
            ({"Id": "!!", "Arn": qarn}, "1 validation error detected: Value '!!' at 'targets.1.member.id' failed "
                                        "to satisfy constraint: Member must satisfy regular expression pattern: "
                                        "[\\.\\-_A-Za-z0-9]+"),
        ]
        for target, message in cases:
            with pytest.raises(ClientError) as e:
                events.put_targets(Rule=name, Targets=[target])
            assert error(e) == ("ValidationException", message)
    finally:
        events.delete_rule(Name=name)


def test_tags_on_buses_and_rules(events, bus):
    b = bus()
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{b}"
    rule = uid("rule")
    rule_arn = events.put_rule(Name=rule, EventBusName=b, EventPattern=json.dumps(PATTERN),
                               Tags=[{"Key": "k1", "Value": "v1"}])["RuleArn"]
    assert events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == [{"Key": "k1", "Value": "v1"}]
    for arn in (bus_arn, rule_arn):
        events.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        events.untag_resource(ResourceARN=arn, TagKeys=["b", "not-there"])
        tags = {t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=arn)["Tags"]}
        assert tags.get("a") == "1" and "b" not in tags
    missing_rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{uid('nope')}"
    with pytest.raises(ClientError) as e:
        events.list_tags_for_resource(ResourceARN=missing_rule)
    assert error(e) == ("ResourceNotFoundException",
                        f"Rule {missing_rule.rsplit('/', 1)[1]} does not exist on EventBus default.")
    missing_bus = uid("nobus")
    with pytest.raises(ClientError) as e:
        events.tag_resource(ResourceARN=f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{missing_bus}",
                            Tags=[{"Key": "a", "Value": "b"}])
    assert error(e) == ("ResourceNotFoundException", f"Event bus {missing_bus} does not exist.")
    events.delete_rule(Name=rule, EventBusName=b)


def test_rule_limit_per_bus_is_enforced(events, bus):
    # the session server runs with the default quota of 300 rules per bus
    b = bus()
    for i in range(300):
        events.put_rule(Name=f"r{i:03d}", EventBusName=b, EventPattern=json.dumps({"source": [f"s{i}"]}))
    with pytest.raises(ClientError) as e:
        events.put_rule(Name="one-more", EventBusName=b, EventPattern=json.dumps(PATTERN))
    assert error(e) == ("LimitExceededException", "The requested resource exceeds the maximum number allowed.")
    events.put_rule(Name="r000", EventBusName=b, EventPattern=json.dumps(PATTERN))   # updates still work


def test_test_event_pattern(events):
    ev = {"id": "1", "source": "orders", "detail-type": "Placed", "account": ACCOUNT, "region": "us-east-1",
          "time": "2024-01-01T00:00:00Z", "detail": {"total": 12}}
    assert events.test_event_pattern(Event=json.dumps(ev),
                                     EventPattern=json.dumps({"detail": {"total": [{"numeric": [">", 10]}]}}))["Result"]
    assert not events.test_event_pattern(Event=json.dumps(ev), EventPattern=json.dumps({"source": ["x"]}))["Result"]
    for bad in ('"just a string"', "[1, 2]", "{not json", json.dumps({"source": "x"})):
        with pytest.raises(ClientError) as e:
            events.test_event_pattern(Event=bad, EventPattern=json.dumps({"source": ["x"]}))
        assert error(e) == ("ValidationException", "Parameter Event is not valid.")
    with pytest.raises(ClientError) as e:
        events.test_event_pattern(Event=json.dumps(ev), EventPattern="[1]")
    assert error(e) == ("InvalidEventPatternException", "Event pattern is not valid. Reason: Filter is not an object"
                                                        '\n at [Source: (String)"[1]"; line: 1, column: 2]')


def test_global_endpoints_and_partner_event_sources(server, events):
    name = uid("ep")
    buses = [{"EventBusArn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"},
             {"EventBusArn": f"arn:aws:events:us-west-2:{ACCOUNT}:event-bus/default"}]
    routing = {"FailoverConfig": {"Primary": {"HealthCheck": "arn:aws:route53:::healthcheck/abc"},
                                  "Secondary": {"Route": "us-west-2"}}}
    out = events.create_endpoint(Name=name, RoutingConfig=routing, EventBuses=buses)
    assert out["Name"] == name and out["Arn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:endpoint/{name}"
    d = events.describe_endpoint(Name=name)
    assert d["RoutingConfig"] == routing and d["EventBuses"] == buses and d["EndpointId"] and d["EndpointUrl"]
    assert [e["Name"] for e in events.list_endpoints(NamePrefix=name)["Endpoints"]] == [name]
    events.update_endpoint(Name=name, Description="failover")
    assert events.describe_endpoint(Name=name)["Description"] == "failover"
    events.delete_endpoint(Name=name)
    with pytest.raises(ClientError) as e:
        events.describe_endpoint(Name=name)
    assert error(e)[0] == "ResourceNotFoundException"

    # a partner (account 111111111111) makes an event source for this account
    partner = server.client("events", aws_access_key_id="111111111111")
    source = f"aws.partner/example.com/{uid('app')}"
    arn = partner.create_partner_event_source(Name=source, Account=ACCOUNT)["EventSourceArn"]
    assert arn == f"arn:aws:events:us-east-1::event-source/{source}"
    assert partner.describe_partner_event_source(Name=source)["Name"] == source
    accounts = partner.list_partner_event_source_accounts(EventSourceName=source)["PartnerEventSourceAccounts"]
    assert [a["Account"] for a in accounts] == [ACCOUNT]
    mine = events.describe_event_source(Name=source)
    assert mine["Name"] == source and mine["State"] == "PENDING" and mine["CreatedBy"] == "aws.partner/example.com"
    events.activate_event_source(Name=source)
    assert events.describe_event_source(Name=source)["State"] == "ACTIVE"
    listed = events.list_event_sources(NamePrefix="aws.partner/example.com")["EventSources"]
    assert source in [s["Name"] for s in listed]
    partner.delete_partner_event_source(Name=source, Account=ACCOUNT)
