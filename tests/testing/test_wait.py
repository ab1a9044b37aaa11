"""GET /_broker/wait: each condition answered as soon as it holds, 408 at the timeout,
and clear errors for what can never hold; HTTP capture endpoints; LocalStack's
introspection paths."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote, urlencode

import pytest


def _wait(server, timeout=10.0, **q) -> tuple[int, dict]:
    q.setdefault("timeout", timeout)
    wait = timeout if isinstance(timeout, (int, float)) else 0
    return server.get("/_broker/wait?" + urlencode(q), timeout=wait + 20)


def _in_background(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


# -- SQS ------------------------------------------------------------------------------------

def test_sqs_count_by_url_and_by_name(server, unique_name):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    status, doc = _wait(server, 0.3, **{"for": "sqs", "queue": url})
    assert status == 408 and doc["satisfied"] is False and doc["value"] == 0
    assert doc["error"] == "condition not met within 0.3 s"
    result: dict = {}
    waiter = _in_background(lambda: result.update(r=_wait(server, 20, **{"for": "sqs", "queue": url, "min": 3})))
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    waiter.join(30)
    status, doc = result["r"]
    assert status == 200, doc
    assert doc["satisfied"] is True and doc["value"] == 3 and doc["attribute"] == "visible"
    # by name, account and region
    status, doc = _wait(server, **{"for": "sqs", "queue": unique_name, "account": "000000000000",
                                   "region": "us-east-1", "count": 3})
    assert status == 200 and doc["value"] == 3


def test_sqs_in_flight_total_and_drained(server, unique_name):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b", DelaySeconds=60)
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60, WaitTimeSeconds=5)["Messages"]
    assert _wait(server, **{"for": "sqs", "queue": url, "attribute": "inflight", "count": 1})[0] == 200
    assert _wait(server, **{"for": "sqs", "queue": url, "attribute": "delayed", "count": 1})[0] == 200
    assert _wait(server, **{"for": "sqs", "queue": url, "attribute": "total", "count": 2})[0] == 200
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    status, doc = _wait(server, **{"for": "sqs", "queue": url, "attribute": "inflight", "max": 0})
    assert status == 200 and doc["value"] == 0


def test_sqs_errors(server):
    status, doc = _wait(server, **{"for": "sqs", "queue": f"missing-{uuid.uuid4().hex[:8]}"})
    assert status == 404, doc
    assert doc["error"] in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"), doc
    assert doc["message"] == "The specified queue does not exist."
    assert _wait(server, **{"for": "sqs"})[0] == 400
    status, doc = _wait(server, **{"for": "sqs", "queue": "q", "attribute": "bogus"})
    assert status == 400 and "attribute" in doc["error"]
    status, doc = _wait(server, **{"for": "sqs", "queue": "q", "count": "many"})
    assert status == 400 and doc["error"] == "count: not an integer: many"


def test_bad_requests(server):
    status, doc = _wait(server, **{"for": "nothing"})
    assert status == 400 and doc["error"].startswith("for: one of sqs, ses, stepfunctions, http, sns")
    assert _wait(server, timeout="soon", **{"for": "sqs"})[0] == 400
    assert _wait(server, timeout=121, **{"for": "sqs"})[0] == 400
    assert server.get("/_broker/health")[0] == 200          # and the server is fine


# -- SES ------------------------------------------------------------------------------------

def test_ses_mail(server):
    domain = f"w{uuid.uuid4().hex[:8]}.example.com"
    ses = server.client("ses")
    ses.verify_email_identity(EmailAddress=f"app@{domain}")
    assert _wait(server, 0.2, **{"for": "ses", "to": f"user@{domain}"})[0] == 408
    ses.send_email(Source=f"app@{domain}", Destination={"ToAddresses": [f"user@{domain}"]},
                   Message={"Subject": {"Data": "your reset code"}, "Body": {"Text": {"Data": "1234"}}})
    status, doc = _wait(server, **{"for": "ses", "to": f"user@{domain}", "subject": "reset"})
    assert status == 200, doc
    assert doc["message"]["subject"] == "your reset code"


# -- Step Functions ---------------------------------------------------------------------------

def _machine(server, name: str, definition: dict) -> str:
    sfn = server.client("stepfunctions")
    return sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                    roleArn="arn:aws:iam::000000000000:role/sfn")["stateMachineArn"]


def test_stepfunctions_execution_status(server, unique_name):
    sfn = server.client("stepfunctions")
    ok = _machine(server, unique_name, {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "P"}, "P": {"Type": "Pass", "Result": {"done": True}, "End": True}}})
    arn = sfn.start_execution(stateMachineArn=ok)["executionArn"]
    status, doc = _wait(server, 20, **{"for": "stepfunctions", "execution": arn, "status": "SUCCEEDED"})
    assert status == 200, doc
    assert doc["status"] == "SUCCEEDED" and json.loads(doc["execution"]["output"]) == {"done": True}

    bad = _machine(server, unique_name.new("fail"), {"StartAt": "F", "States": {
        "F": {"Type": "Fail", "Error": "Oops", "Cause": "on purpose"}}})
    arn = sfn.start_execution(stateMachineArn=bad)["executionArn"]
    status, doc = _wait(server, 20, **{"for": "stepfunctions", "execution": arn, "status": "SUCCEEDED"})
    assert status == 409, doc                   # it ended otherwise: no point waiting
    assert doc["status"] == "FAILED" and doc["execution"]["error"] == "Oops"
    status, doc = _wait(server, 20, **{"for": "stepfunctions", "execution": arn})    # any final status
    assert status == 200 and doc["status"] == "FAILED"


def test_stepfunctions_errors(server):
    missing = "arn:aws:states:us-east-1:000000000000:execution:nope:x"
    status, doc = _wait(server, **{"for": "stepfunctions", "execution": missing})
    assert status == 404 and doc["error"] == "ExecutionDoesNotExist", doc
    assert _wait(server, **{"for": "stepfunctions", "execution": "not-an-arn"})[0] == 400


# -- HTTP captures (SNS delivering to them) -----------------------------------------------

def test_sns_http_delivery_recorded_at_a_capture_endpoint(server, unique_name):
    sns = server.client("sns")
    topic = sns.create_topic(Name=unique_name)["TopicArn"]
    endpoint = f"{server.url}/_capture/{unique_name}"
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)
    status, doc = _wait(server, 20, **{"for": "http", "name": unique_name, "text": "SubscriptionConfirmation"})
    assert status == 200, doc
    confirm = doc["requests"][0]
    assert confirm["method"] == "POST" and confirm["headers"]["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    sns.confirm_subscription(TopicArn=topic, Token=confirm["json"]["Token"])
    sns.publish(TopicArn=topic, Message="order 42 shipped", Subject="shipping")
    status, doc = _wait(server, 20, **{"for": "http", "name": unique_name, "text": "order 42 shipped"})
    assert status == 200, doc
    note = doc["requests"][0]["json"]
    assert note["Type"] == "Notification" and note["Message"] == "order 42 shipped" and note["TopicArn"] == topic
    # every request to the name, and deleting them
    status, listed = server.get(f"/_broker/capture/{unique_name}")
    assert status == 200 and len(listed["requests"]) == 2
    req = urllib.request.Request(f"{server.url}/_broker/capture/{unique_name}", method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read()) == {"deleted": 2}
    assert server.get(f"/_broker/capture/{unique_name}")[1]["requests"] == []


def test_capture_endpoint_answers_the_status_asked_for_and_counts_wait(server, unique_name):
    url = f"{server.url}/_capture/{quote(unique_name)}/deep/path?status=503"
    result: dict = {}
    waiter = _in_background(lambda: result.update(r=_wait(server, 20, **{"for": "http", "name": unique_name,
                                                                           "count": 2, "method": "PUT"})))
    for body in (b"\x00\xffbinary", b"second"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(url, data=body, method="PUT"), timeout=10)
        assert err.value.code == 503
    waiter.join(30)
    status, doc = result["r"]
    assert status == 200 and doc["count"] == 2, doc
    first, second = doc["requests"]
    assert first["bodyEncoding"] == "base64" and first["path"] == f"/_capture/{unique_name}/deep/path"
    assert second["body"] == "second" and second["query"] == "status=503"
    assert _wait(server, 0.2, **{"for": "http", "name": unique_name, "count": 3})[0] == 408
    assert _wait(server, **{"for": "http"})[0] == 400
    bad = urllib.request.Request(f"{server.url}/_capture/x?status=999", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=10)
    assert err.value.code == 400


def test_sns_recorded_sms(server):
    number = f"+1555{uuid.uuid4().int % 10**7:07d}"
    sns = server.client("sns")
    assert _wait(server, 0.2, **{"for": "sns", "record": "sms", "phoneNumber": number})[0] == 408
    sns.publish(PhoneNumber=number, Message="your code is 777")
    status, doc = _wait(server, **{"for": "sns", "record": "sms", "phoneNumber": number, "text": "777"})
    assert status == 200, doc
    assert doc["count"] == 1 and doc["deliveries"][0]["PhoneNumber"] == number
    assert _wait(server, **{"for": "sns", "record": "fax"})[0] == 400


# -- LocalStack's introspection paths ----------------------------------------------------------

def test_localstack_init_and_info(server):
    status, doc = server.get("/_localstack/init")
    assert status == 200 and doc["completed"] == {"BOOT": True, "START": True, "READY": True, "SHUTDOWN": False}
    assert server.get("/_localstack/init/ready") == (200, {"completed": True, "scripts": []})
    assert server.get("/_localstack/init/nope")[0] == 404
    status, doc = server.get("/_localstack/info")
    assert status == 200 and doc["edition"] == "community" and doc["is_docker"] is False
