"""EventBridge with the other services: SNS and Step Functions targets, trace headers
into SQS, AWS/Events metrics in CloudWatch, and service events on the default bus."""

from __future__ import annotations

import json
import urllib.request

from tests.helpers.brokerproc import wait_for
from tests.services.events._helpers import receive, rule_to_queue, uid

ACCOUNT = "000000000000"


def test_sns_target(server, events, sqs, queue):
    sns = server.client("sns")
    topic = sns.create_topic(Name=uid("topic"))["TopicArn"]
    url, arn = queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    src = uid("app")
    rule_to_queue(events, topic, {"source": [src]})
    events.put_events(Entries=[{"Source": src, "DetailType": "To SNS", "Detail": json.dumps({"via": "sns"})}])
    [m] = receive(sqs, url, 1)
    assert json.loads(m["Body"])["detail"] == {"via": "sns"}


def test_step_functions_target(server, events):
    sfn = server.client("stepfunctions")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    sm = sfn.create_state_machine(name=uid("sm"), definition=json.dumps(definition),
                                  roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn")["stateMachineArn"]
    src = uid("app")
    rule = uid("rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [src]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "sm", "Arn": sm, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/eb",
                                            "InputPath": "$.detail"}])
    events.put_events(Entries=[{"Source": src, "DetailType": "Start", "Detail": json.dumps({"order": 5})}])
    execs = wait_for(lambda: sfn.list_executions(stateMachineArn=sm)["executions"], 15, what="an execution")
    d = sfn.describe_execution(executionArn=execs[0]["executionArn"])
    assert json.loads(d["input"]) == {"order": 5}


def test_trace_header_reaches_the_sqs_message(events, sqs, queue):
    url, arn = queue()
    src = uid("app")
    rule_to_queue(events, arn, {"source": [src]})
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    events.put_events(Entries=[{"Source": src, "DetailType": "Traced", "Detail": "{}", "TraceHeader": trace}])
    [m] = receive(sqs, url, 1, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert m["Attributes"]["AWSTraceHeader"] == trace


def test_metrics_in_cloudwatch(server, events, sqs, queue):
    cw = server.client("cloudwatch")
    url, arn = queue()
    src = uid("app")
    rule = rule_to_queue(events, arn, {"source": [src]})
    events.put_events(Entries=[{"Source": src, "DetailType": "Counted", "Detail": "{}"}])
    receive(sqs, url, 1)

    def names():
        found = cw.list_metrics(Namespace="AWS/Events", Dimensions=[{"Name": "RuleName", "Value": rule}])["Metrics"]
        return {m["MetricName"] for m in found} >= {"TriggeredRules", "Invocations"} and found
    wait_for(names, 20, what="AWS/Events metrics for the rule")


def test_service_events_on_the_default_bus(server, events, sqs, queue):
    url, arn = queue()
    name = uid("q")
    rule_to_queue(events, arn, {"source": ["aws.sqs"], "detail-type": ["AWS API Call via CloudTrail"],
                                "detail": {"requestParameters": {"queueName": [name]}}})
    doc = {"account": ACCOUNT, "region": "us-east-1", "source": "aws.sqs", "detail-type": "AWS API Call via CloudTrail",
           "detail": {"eventSource": "sqs.amazonaws.com", "eventName": "CreateQueue",
                      "requestParameters": {"queueName": name}}, "resources": []}
    req = urllib.request.Request(server.url + "/_broker/events/service-events", data=json.dumps(doc).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        eid = json.loads(r.read())["EventId"]
    [m] = receive(sqs, url, 1)
    body = json.loads(m["Body"])
    assert body["id"] == eid and body["source"] == "aws.sqs" and body["detail"]["eventName"] == "CreateQueue"


def test_api_calls_arrive_as_cloudtrail_events(server, events, sqs, queue):
    """A management call that changes something (CreateQueue) reaches rules on the default
    bus as "AWS API Call via CloudTrail"; read-only calls do not."""
    url, arn = queue()
    name = uid("watched")
    rule_to_queue(events, arn, {"source": ["aws.sqs"], "detail-type": ["AWS API Call via CloudTrail"],
                                "detail": {"requestParameters": {"queueName": [name]}}})
    created = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.get_queue_url(QueueName=name)
    try:
        got = receive(sqs, url, 1, timeout=20)
        assert len(got) == 1, [json.loads(m["Body"])["detail"]["eventName"] for m in got]
        body = json.loads(got[0]["Body"])
        assert body["detail"]["eventName"] == "CreateQueue" and body["detail"]["eventSource"] == "sqs.amazonaws.com"
        assert body["account"] == ACCOUNT and body["region"] == "us-east-1" and body["detail"]["readOnly"] is False
    finally:
        sqs.delete_queue(QueueUrl=created)
