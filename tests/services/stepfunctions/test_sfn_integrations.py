"""Task states calling SNS and EventBridge (optimized and AWS SDK integrations),
with AWS's result shapes and task failure names, and the AWS/States metrics
the executions leave in CloudWatch."""

from __future__ import annotations

import datetime
import json

from tests.services.stepfunctions._helpers import assert_history, history, make_sm, name, run, wait_until

S = "ExecutionStarted"


def task(resource: str, parameters: dict) -> dict:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": parameters,
                                             "End": True}}}


def queue(sqs) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name("sfn-int"))["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(sqs, url: str, n: int) -> list[dict]:
    got: list[dict] = []

    def more():
        got.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"]).get("Messages", []))
        return got if len(got) >= n else None
    return wait_until(more, 20, what=f"{n} messages on {url}")


def test_sns_publish(server, sfn, sqs):
    sns = server.client("sns")
    topic = sns.create_topic(Name=name("sfn-topic"))["TopicArn"]
    url, qarn = queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    ex, desc = run(sfn, task("arn:aws:states:::sns:publish", {
        "TopicArn.$": "$.TopicArn", "Message.$": "$.Message",
        "MessageAttributes": {"my_attribute": {"DataType": "String", "StringValue.$": "$.attr"}}}),
        {"TopicArn": topic, "Message": {"Message": "HelloWorld!"}, "attr": "Hello"})
    assert desc["status"] == "SUCCEEDED"
    out = json.loads(desc["output"])
    assert set(out) == {"MessageId", "SdkHttpMetadata", "SdkResponseMetadata"}
    assert out["SdkHttpMetadata"]["HttpHeaders"]["Content-Type"] == "text/xml"
    assert_history(history(sfn, ex), [
        (S, 0), ("TaskStateEntered", 0),
        ("TaskScheduled", 2, {"resourceType": "sns", "resource": "publish"}),
        ("TaskStarted", 3), ("TaskSucceeded", 4, {"resourceType": "sns", "resource": "publish"}),
        ("TaskStateExited", 5), ("ExecutionSucceeded", 6)])
    [m] = receive(sqs, url, 1)
    note = json.loads(m["Body"])
    assert note["MessageId"] == out["MessageId"]
    assert json.loads(note["Message"]) == {"Message": "HelloWorld!"}        # an object is sent as its JSON text
    assert note["MessageAttributes"] == {"my_attribute": {"Type": "String", "Value": "Hello"}}


def test_sns_errors(server, sfn):
    sns = server.client("sns")
    gone = sns.create_topic(Name=name("gone"))["TopicArn"]
    sns.delete_topic(TopicArn=gone)
    _ex, desc = run(sfn, task("arn:aws:states:::sns:publish", {"TopicArn": gone, "Message": "x"}))
    assert desc["error"] == "SNS.NotFoundException"
    assert desc["cause"].startswith("Topic does not exist (Service: AmazonSNS; Status Code: 404; Error Code: "
                                    "NotFound; Request ID: ")
    fifo = sns.create_topic(Name=name("fifo") + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    _ex, desc = run(sfn, task("arn:aws:states:::sns:publish", {"TopicArn": fifo, "Message": {"m": 1}}))
    assert desc["error"] == "SNS.InvalidParameterException"
    assert desc["cause"].startswith("Invalid parameter: The MessageGroupId parameter is required for FIFO topics "
                                    "(Service: AmazonSNS; Status Code: 400; Error Code: InvalidParameter;")
    _ex, desc = run(sfn, task("arn:aws:states:::aws-sdk:sns:publish", {"TopicArn": gone, "Message": "x"}))
    assert desc["error"] == "Sns.NotFoundException"


def test_eventbridge_put_events(server, sfn, sqs):
    events = server.client("events")
    url, qarn = queue(sqs)
    source = name("sfn.source")
    rule = name("sfn-rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": qarn}])
    sm = make_sm(sfn, task("arn:aws:states:::events:putEvents", {"Entries.$": "$.Entries"}))
    entries = [{"Detail": json.dumps({"Message": "HelloWorld0"}), "DetailType": "dt", "Source": source},
               {"Detail": {"Message": "HelloWorld1"}, "DetailType": "dt", "Source": source, "Resources": [url]}]
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"Entries": entries}))["executionArn"]
    desc = wait_until(lambda: (d := sfn.describe_execution(executionArn=ex))["status"] != "RUNNING" and d, 20)
    assert desc["status"] == "SUCCEEDED", desc
    out = json.loads(desc["output"])
    assert out["FailedEntryCount"] == 0 and len(out["Entries"]) == 2 and set(out) == {"Entries", "FailedEntryCount"}
    got = sorted((json.loads(m["Body"]) for m in receive(sqs, url, 2)), key=lambda e: e["detail"]["Message"])
    assert [e["detail"] for e in got] == [{"Message": "HelloWorld0"}, {"Message": "HelloWorld1"}]
    assert got[0]["resources"] == [sm, ex]                        # the execution is named on every event
    assert got[1]["resources"] == [url, sm, ex]


def test_eventbridge_failed_entries(sfn):
    ex, desc = run(sfn, task("arn:aws:states:::events:putEvents", {"Entries": [
        {"Detail": {"Message": "ok"}, "DetailType": "dt", "Source": "some.source"},
        {"Detail": "\"jsonstring\"", "DetailType": "dt", "Source": "some.source"}]}))
    assert desc["error"] == "EventBridge.FailedEntry"
    cause = json.loads(desc["cause"])
    assert cause["FailedEntryCount"] == 1
    assert "EventId" in cause["Entries"][0]
    assert cause["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert [e["type"] for e in history(sfn, ex)][-2:] == ["TaskFailed", "ExecutionFailed"]


def test_execution_metrics_in_cloudwatch(server, sfn):
    cw = server.client("cloudwatch")
    ok = make_sm(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    bad = make_sm(sfn, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}})
    for sm in (ok, ok, bad):
        sfn.start_execution(stateMachineArn=sm)
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
    start = end - datetime.timedelta(minutes=30)

    def total(metric: str, sm: str):
        pts = cw.get_metric_statistics(Namespace="AWS/States", MetricName=metric, StartTime=start, EndTime=end,
                                       Period=60, Statistics=["Sum"],
                                       Dimensions=[{"Name": "StateMachineArn", "Value": sm}])["Datapoints"]
        return sum(p["Sum"] for p in pts)
    wait_until(lambda: total("ExecutionsSucceeded", ok) == 2 and total("ExecutionsFailed", bad) == 1, 30,
               what="AWS/States metrics")
    assert total("ExecutionsStarted", ok) == 2 and total("ExecutionsFailed", ok) == 0
