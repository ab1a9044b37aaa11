"""Lambda with the other services: asynchronous invocation with destinations, SQS
event-source mappings (partial batch failures, filters, DLQ), SNS subscriptions,
Step Functions tasks, EventBridge targets, CloudWatch Logs."""

from __future__ import annotations

import contextlib
import json
import smtplib
import time
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for

RECORDER = """
import json
def handler(event, context):
    return {"seen": event}
"""
BATCH = """
import json
def handler(event, context):
    failures = []
    for r in event["Records"]:
        body = json.loads(r["body"])
        print("record", body["n"])
        if body.get("bad"):
            failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}
"""


def _queue(sqs, name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _receive_all(sqs, url, want, timeout=30.0):
    got = []

    def more():
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageAttributeNames=["All"]).get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(got) >= want
    wait_for(more, timeout, what=f"{want} messages on {url}")
    return got


def test_async_invoke_failure_and_success_destinations(server, lam, make_fn, unique_name):
    sqs = server.client("sqs")
    fail_url, fail_arn = _queue(sqs, unique_name + "-fail")
    ok_url, ok_arn = _queue(sqs, unique_name + "-ok")
    dlq_url, dlq_arn = _queue(sqs, unique_name + "-dlq")
    fn = make_fn(unique_name, "def handler(e, c):\n    if e.get('bad'):\n        raise RuntimeError('nope')\n"
                              "    return {'fine': e['n']}\n", DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=unique_name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": fail_arn},
                                                            "OnSuccess": {"Destination": ok_arn}})
    cfg = lam.get_function_event_invoke_config(FunctionName=unique_name)
    assert cfg["MaximumRetryAttempts"] == 0 and cfg["DestinationConfig"]["OnFailure"]["Destination"] == fail_arn
    assert lam.invoke(FunctionName=unique_name, InvocationType="Event", Payload=b'{"bad": true, "n": 1}')["StatusCode"] == 202
    assert lam.invoke(FunctionName=unique_name, InvocationType="Event", Payload=b'{"n": 2}')["StatusCode"] == 202
    failure = json.loads(_receive_all(sqs, fail_url, 1)[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["functionArn"] == fn["FunctionArn"] + ":$LATEST"
    assert failure["requestContext"]["approximateInvokeCount"] == 1
    assert failure["requestPayload"] == {"bad": True, "n": 1}
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["responsePayload"]["errorMessage"] == "nope"
    success = json.loads(_receive_all(sqs, ok_url, 1)[0]["Body"])
    assert success["requestContext"]["condition"] == "Success" and success["responsePayload"] == {"fine": 2}
    dead = _receive_all(sqs, dlq_url, 1)[0]
    assert json.loads(dead["Body"]) == {"bad": True, "n": 1}
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == "nope"


def test_sqs_event_source_partial_batch_failure_to_dlq(server, lam, make_fn, unique_name):
    sqs = server.client("sqs")
    dlq_url, dlq_arn = _queue(sqs, unique_name + "-dlq")
    url, arn = _queue(sqs, unique_name, VisibilityTimeout="1",
                      RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}))
    make_fn(unique_name, BATCH)
    esm = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=unique_name, BatchSize=10,
                                          FunctionResponseTypes=["ReportBatchItemFailures"],
                                          FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"keep": [True]}})}]})
    assert esm["State"] == "Creating" and esm["EventSourceArn"] == arn
    try:
        entries = [{"Id": str(i), "MessageBody": json.dumps({"n": i, "keep": True, "bad": i == 3})} for i in range(6)]
        entries.append({"Id": "x", "MessageBody": json.dumps({"n": 99, "keep": False})})      # filtered out
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
        dead = _receive_all(sqs, dlq_url, 1, timeout=40)
        assert [json.loads(m["Body"])["n"] for m in dead] == [3]

        def drained():
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        wait_for(drained, 20, what="queue drained")
        got = lam.get_event_source_mapping(UUID=esm["UUID"])
        assert got["State"] == "Enabled" and got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert esm["UUID"] in [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=unique_name)["EventSourceMappings"]]
    finally:
        assert lam.delete_event_source_mapping(UUID=esm["UUID"])["State"] == "Deleting"


def test_sqs_fifo_order_per_group(server, lam, make_fn, unique_name):
    sqs = server.client("sqs")
    out_url, out_arn = _queue(sqs, unique_name + "-out")
    url, arn = _queue(sqs, unique_name + ".fifo", FifoQueue="true", ContentBasedDeduplication="true")
    make_fn(unique_name, "import boto3, json, os\nsqs = boto3.client('sqs')\n"
                         "def handler(e, c):\n    for r in e['Records']:\n"
                         f"        sqs.send_message(QueueUrl={out_url!r}, MessageBody=r['body'])\n")
    esm = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=unique_name, BatchSize=3)
    try:
        for i in range(9):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"g": i % 2, "i": i}), MessageGroupId=str(i % 2))
        got = [json.loads(m["Body"]) for m in _receive_all(sqs, out_url, 9, timeout=40)]
        for g in (0, 1):
            seq = [m["i"] for m in got if m["g"] == g]
            assert seq == sorted(seq) and len(seq) == (5 if g == 0 else 4)
    finally:
        lam.delete_event_source_mapping(UUID=esm["UUID"])


def test_sns_subscription_invokes_function(server, lam, make_fn, unique_name):
    sqs, sns = server.client("sqs"), server.client("sns")
    out_url, _ = _queue(sqs, unique_name + "-out")
    fn = make_fn(unique_name, "import boto3, json\nsqs = boto3.client('sqs')\ndef handler(e, c):\n"
                              f"    sqs.send_message(QueueUrl={out_url!r}, MessageBody=json.dumps(e))\n")
    topic = sns.create_topic(Name=unique_name)["TopicArn"]
    lam.add_permission(FunctionName=unique_name, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn["FunctionArn"])
    sns.publish(TopicArn=topic, Message="hello lambda", Subject="greeting")
    event = json.loads(_receive_all(sqs, out_url, 1)[0]["Body"])
    rec = event["Records"][0]
    assert rec["EventSource"] == "aws:sns" and rec["Sns"]["Message"] == "hello lambda"
    assert rec["Sns"]["TopicArn"] == topic and rec["Sns"]["Subject"] == "greeting"


def test_step_functions_invoke_function(server, lam, make_fn, unique_name):
    sfn = server.client("stepfunctions")
    fn = make_fn(unique_name, "def handler(e, c):\n    if e.get('fail'):\n        raise KeyError('missing')\n"
                              "    return {'sum': e['a'] + e['b']}\n")
    definition = {"StartAt": "Legacy", "States": {
        "Legacy": {"Type": "Task", "Resource": fn["FunctionArn"], "ResultPath": "$.legacy", "Next": "Optimized"},
        "Optimized": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"FunctionName": fn["FunctionArn"], "Payload": {"a": 10, "b.$": "$.b"}},
                      "ResultSelector": {"sum.$": "$.Payload.sum", "code.$": "$.StatusCode"}, "End": True}}}
    sm = sfn.create_state_machine(name=unique_name, definition=json.dumps(definition),
                                  roleArn="arn:aws:iam::000000000000:role/sfn")["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"a": 1, "b": 2}))["executionArn"]
    done = wait_for(lambda: (d := sfn.describe_execution(executionArn=ex))["status"] != "RUNNING" and d, 30,
                    what="execution end")
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    assert json.loads(done["output"]) == {"sum": 12, "code": 200}
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"fail": True}))["executionArn"]
    done = wait_for(lambda: (d := sfn.describe_execution(executionArn=ex))["status"] != "RUNNING" and d, 30,
                    what="execution end")
    assert done["status"] == "FAILED" and done["error"] == "KeyError"
    assert json.loads(done["cause"])["errorMessage"] == "'missing'"


def test_eventbridge_rule_target(server, lam, make_fn, unique_name):
    sqs, events = server.client("sqs"), server.client("events")
    out_url, _ = _queue(sqs, unique_name + "-out")
    fn = make_fn(unique_name, "import boto3, json\nsqs = boto3.client('sqs')\ndef handler(e, c):\n"
                              f"    sqs.send_message(QueueUrl={out_url!r}, MessageBody=json.dumps(e))\n")
    events.put_rule(Name=unique_name, EventPattern=json.dumps({"source": [unique_name]}))
    events.put_targets(Rule=unique_name, Targets=[{"Id": "fn", "Arn": fn["FunctionArn"]}])
    events.put_events(Entries=[{"Source": unique_name, "DetailType": "t", "Detail": json.dumps({"k": 1})}])
    event = json.loads(_receive_all(sqs, out_url, 1)[0]["Body"])
    assert event["source"] == unique_name and event["detail"] == {"k": 1}


def test_scheduler_schedule_invokes_function(server, lam, make_fn, unique_name):
    from datetime import datetime, timedelta, timezone
    sqs, scheduler = server.client("sqs"), server.client("scheduler")
    out_url, _ = _queue(sqs, unique_name + "-out")
    fn = make_fn(unique_name, "import boto3, json\nsqs = boto3.client('sqs')\ndef handler(e, c):\n"
                              f"    sqs.send_message(QueueUrl={out_url!r}, MessageBody=json.dumps(e))\n")
    when = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    scheduler.create_schedule(
        Name=unique_name, ScheduleExpression=f"at({when})", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": fn["FunctionArn"], "RoleArn": "arn:aws:iam::000000000000:role/scheduler",
                "Input": json.dumps({"from": "<aws.scheduler.schedule-arn>"})})
    event = json.loads(_receive_all(sqs, out_url, 1)[0]["Body"])
    assert event["from"].endswith(f":schedule/default/{unique_name}")


def test_logs_and_metrics(server, lam, make_fn, unique_name):
    make_fn(unique_name, "def handler(e, c):\n    print('line for logs', e['i'])\n    return 1\n")
    for i in range(3):
        lam.invoke(FunctionName=unique_name, Payload=json.dumps({"i": i}).encode())
    logs = server.client("logs")
    group = f"/aws/lambda/{unique_name}"

    def messages():
        out = logs.filter_log_events(logGroupName=group)["events"]
        texts = [e["message"] for e in out]
        return texts if sum(t.startswith("REPORT RequestId:") for t in texts) == 3 else None
    texts = wait_for(messages, 20, what="log events")
    assert sum(t.startswith("START RequestId:") for t in texts) == 3
    assert any("line for logs 2" in t for t in texts)
    cw = server.client("cloudwatch")

    def invocations():
        now = time.time()
        pts = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Invocations",
                                       Dimensions=[{"Name": "FunctionName", "Value": unique_name}],
                                       StartTime=now - 600, EndTime=now + 60, Period=60, Statistics=["Sum"])["Datapoints"]
        return sum(p["Sum"] for p in pts) == 3
    wait_for(invocations, 30, what="AWS/Lambda Invocations")


@contextlib.contextmanager
def _active_rule_set(ses, name: str):
    """A receipt rule set, active for the duration (the previous one restored)."""
    ses.create_receipt_rule_set(RuleSetName=name)
    previous = ses.describe_active_receipt_rule_set().get("Metadata", {}).get("Name")
    ses.set_active_receipt_rule_set(RuleSetName=name)
    try:
        yield name
    finally:
        ses.set_active_receipt_rule_set(**({"RuleSetName": previous} if previous else {}))
        ses.delete_receipt_rule_set(RuleSetName=name)


def _inbound(server, rcpt: str, subject: str) -> str:
    """Mail to the inbound SMTP listener; the receipt's message id."""
    u = urlsplit(server.endpoints["smtp_inbound"])
    with smtplib.SMTP(u.hostname, u.port, timeout=60) as s:
        s.ehlo()
        s.mail("someone@example.org")
        s.rcpt(rcpt)
        code, reply = s.data(f"From: someone@example.org\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nbody\r\n"
                             .encode())
    assert code == 250, reply
    return reply.decode().split()[-1]


def test_ses_receipt_rule_lambda_action(server, lam, make_fn, unique_name):
    sqs, ses = server.client("sqs"), server.client("ses")
    out_url, _ = _queue(sqs, unique_name + "-out")
    fn = make_fn(unique_name, "import boto3, json\nsqs = boto3.client('sqs')\ndef handler(e, c):\n"
                              f"    sqs.send_message(QueueUrl={out_url!r}, MessageBody=json.dumps(e))\n")
    domain = f"{unique_name[-8:]}.lambda.example.com"
    with _active_rule_set(ses, "rs-" + unique_name[-8:]) as rs:
        ses.create_receipt_rule(RuleSetName=rs, Rule={"Name": "fn", "Enabled": True, "Recipients": [domain],
                                                      "Actions": [{"LambdaAction": {"FunctionArn": fn["FunctionArn"],
                                                                                    "InvocationType": "Event"}}]})
        _inbound(server, f"inbox@{domain}", "to lambda")
        event = json.loads(_receive_all(sqs, out_url, 1)[0]["Body"])
    rec = event["Records"][0]
    assert rec["eventSource"] == "aws:ses"
    assert rec["ses"]["mail"]["commonHeaders"]["subject"] == "to lambda"
    assert rec["ses"]["receipt"]["action"] == {"type": "Lambda", "functionArn": fn["FunctionArn"],
                                               "invocationType": "Event"}


DECIDE = """
def handler(event, context):
    subject = event["Records"][0]["ses"]["mail"]["commonHeaders"]["subject"]
    return {"disposition": subject}
"""


def test_ses_request_response_dispositions(server, lam, make_fn, unique_name):
    """STOP_RULE skips the rest of its rule, STOP_RULE_SET every later rule, CONTINUE neither."""
    ses = server.client("ses")
    fn = make_fn(unique_name, DECIDE)
    domain = f"{unique_name[-8:]}.decide.example.com"
    same, later = f"{unique_name}-same", f"{unique_name}-later"      # S3 actions: files on the server

    def stored(bucket):
        d = server.data_dir / "s3" / bucket
        return {p.name for p in d.iterdir()} if d.is_dir() else set()
    with _active_rule_set(ses, "rs-" + unique_name[-8:]) as rs:
        ses.create_receipt_rule(RuleSetName=rs, Rule={"Name": "decide", "Enabled": True, "Recipients": [domain],
                                                      "Actions": [
            {"LambdaAction": {"FunctionArn": fn["FunctionArn"], "InvocationType": "RequestResponse"}},
            {"S3Action": {"BucketName": same}}]})
        ses.create_receipt_rule(RuleSetName=rs, After="decide", Rule={
            "Name": "later", "Enabled": True, "Recipients": [domain], "Actions": [{"S3Action": {"BucketName": later}}]})
        ids = {subject: _inbound(server, f"inbox@{domain}", subject)
               for subject in ("STOP_RULE_SET", "STOP_RULE", "CONTINUE")}
        wait_for(lambda: ids["CONTINUE"] in stored(same) and ids["CONTINUE"] in stored(later), 30,
                 what="the CONTINUE mail through both rules")
        wait_for(lambda: ids["STOP_RULE"] in stored(later), 30, what="the STOP_RULE mail in the later rule")
    assert stored(same) == {ids["CONTINUE"]}
    assert stored(later) == {ids["STOP_RULE"], ids["CONTINUE"]}


def test_errors_duration_throttles_concurrency_metrics(server, lam, make_fn, unique_name):
    make_fn(unique_name, "import time\ndef handler(e, c):\n    time.sleep(0.05)\n"
                         "    if e.get('fail'):\n        raise RuntimeError('x')\n    return 1\n")
    for payload in (b"{}", b'{"fail": true}', b"{}"):
        lam.invoke(FunctionName=unique_name, Payload=payload)
    lam.put_function_concurrency(FunctionName=unique_name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=unique_name)
    assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    lam.delete_function_concurrency(FunctionName=unique_name)
    cw = server.client("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": unique_name}]

    def stat(name, statistic, dimensions=dims):
        now = time.time()
        pts = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=name, Dimensions=dimensions,
                                       StartTime=now - 600, EndTime=now + 60, Period=3600,
                                       Statistics=[statistic])["Datapoints"]
        return pts[0] if pts else None

    wait_for(lambda: (p := stat("Invocations", "Sum")) and p["Sum"] == 3, 30, what="Invocations")
    wait_for(lambda: (p := stat("Errors", "Sum")) and p["Sum"] == 1, 30, what="Errors")
    wait_for(lambda: (p := stat("Throttles", "Sum")) and p["Sum"] == 1, 30, what="Throttles")
    duration = wait_for(lambda: (p := stat("Duration", "SampleCount")) and p["SampleCount"] == 3 and p, 30,
                        what="Duration")
    assert duration["Unit"] == "Milliseconds"
    assert stat("Duration", "Minimum")["Minimum"] >= 50                       # the handler sleeps 50 ms
    assert wait_for(lambda: (p := stat("ConcurrentExecutions", "Maximum")) and p, 30,
                    what="ConcurrentExecutions")["Maximum"] == 1
    assert wait_for(lambda: (p := stat("ConcurrentExecutions", "Maximum", [])) and p, 30,
                    what="the account's ConcurrentExecutions")["Maximum"] >= 1
