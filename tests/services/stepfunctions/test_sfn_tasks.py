"""Task states against the real server: activities and their workers, task
tokens, SQS (optimized and aws-sdk), nested executions (.sync, .sync:2) and
Retry/Catch on real service errors, histories compared event by event."""

from __future__ import annotations

import json
import threading

import botocore.exceptions
import pytest

from tests.services.stepfunctions._helpers import assert_history, details, history, make_sm, name, run, wait_done

S = "ExecutionStarted"


def error(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")


@pytest.fixture
def activity(sfn):
    arn = sfn.create_activity(name=name("act"))["activityArn"]
    yield arn
    sfn.delete_activity(activityArn=arn)


def task_machine(resource: str, **extra) -> dict:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": True, **extra}}}


# -- activities ---------------------------------------------------------------------------

def test_activity_records(sfn):
    n = name("act")
    created = sfn.create_activity(name=n)
    arn = created["activityArn"]
    assert arn == f"arn:aws:states:us-east-1:000000000000:activity:{n}"
    assert sfn.create_activity(name=n)["activityArn"] == arn            # idempotent
    d = sfn.describe_activity(activityArn=arn)
    assert d["name"] == n and d["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}
    assert arn in [a["activityArn"] for a in sfn.list_activities()["activities"]]
    for bad in ("activity name", "activity<name", "activity:name"):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            sfn.create_activity(name=bad)
        assert error(ei) == ("InvalidName", f"Invalid Name: '{bad}'")
    sfn.delete_activity(activityArn=arn)
    sfn.delete_activity(activityArn=arn)
    for call in (sfn.describe_activity, sfn.get_activity_task):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(activityArn=arn)
        assert error(ei) == ("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")


def test_activity_worker_success(sfn, activity):
    arn = make_sm(sfn, task_machine(activity, TimeoutSeconds=60, HeartbeatSeconds=10))
    ex = sfn.start_execution(stateMachineArn=arn, input='{"v": 1}')["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="worker-1")
    assert json.loads(task["input"]) == {"v": 1}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output='{"done": true}')
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
    assert_history(history(sfn, ex), [
        (S, 0), ("TaskStateEntered", 0),
        ("ActivityScheduled", 2, {"resource": activity, "input": {"v": 1}, "timeoutInSeconds": 60,
                                  "heartbeatInSeconds": 10}),
        ("ActivityStarted", 3, {"workerName": "worker-1"}), ("ActivitySucceeded", 4, {"output": {"done": True}}),
        ("TaskStateExited", 5, {"output": {"done": True}}), ("ExecutionSucceeded", 6)])
    with pytest.raises(botocore.exceptions.ClientError) as ei:       # the task is over
        sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert error(ei) == ("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")


def test_activity_long_poll_returns_when_work_arrives(sfn, activity):
    arn = make_sm(sfn, task_machine(activity))
    got = {}

    def poll():
        got["task"] = sfn.get_activity_task(activityArn=activity, workerName="late")
    t = threading.Thread(target=poll)
    t.start()
    ex = sfn.start_execution(stateMachineArn=arn, input='{"k": 2}')["executionArn"]
    t.join(70)
    assert json.loads(got["task"]["input"]) == {"k": 2}
    sfn.send_task_failure(taskToken=got["task"]["taskToken"], error="Boom", cause="worker gave up")
    desc = wait_done(sfn, ex)
    assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "Boom", "worker gave up")
    events = history(sfn, ex)
    assert [e["type"] for e in events][-2:] == ["ActivityFailed", "ExecutionFailed"]
    assert details(events[-2]) == {"error": "Boom", "cause": "worker gave up"}


def test_activity_heartbeat_timeout(sfn, activity):
    arn = make_sm(sfn, task_machine(activity, HeartbeatSeconds=1, TimeoutSeconds=100))
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    sfn.get_activity_task(activityArn=activity, workerName="silent")
    desc = wait_done(sfn, ex, timeout=15)
    assert (desc["status"], desc["error"]) == ("FAILED", "States.Timeout")
    assert_history(history(sfn, ex), [(S, 0), ("TaskStateEntered", 0), ("ActivityScheduled", 2),
                                      ("ActivityStarted", 3), ("ActivityTimedOut", 4, {"error": "States.Timeout"}),
                                      ("ExecutionFailed", 5, {"error": "States.Timeout"})])


def test_activity_that_does_not_exist_is_a_runtime_failure(sfn):
    missing = f"arn:aws:states:us-east-1:000000000000:activity:{name('gone')}"
    ex, desc = run(sfn, task_machine(missing))
    assert_history(history(sfn, ex), [
        (S, 0), ("TaskStateEntered", 0),
        ("ExecutionFailed", 2, {"error": "States.Runtime",
                                "cause": f"An error occurred while executing the state 'T' (entered at the event id "
                                         f"#2). The activity {missing} does not exist."})])


def test_task_token_errors(sfn):
    for call, kw in ((sfn.send_task_success, {"output": "{}"}), (sfn.send_task_failure, {}),
                     (sfn.send_task_heartbeat, {})):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(taskToken="NoSuchTaskToken", **kw)
        assert error(ei) == ("InvalidToken", "Invalid Token: 'Invalid token'")


# -- SQS ------------------------------------------------------------------------------------

def test_sqs_send_message_request_response(sfn, sqs):
    q = sqs.create_queue(QueueName=name("sfnq"))["QueueUrl"]
    ex, desc = run(sfn, task_machine("arn:aws:states:::sqs:sendMessage",
                                     Parameters={"QueueUrl.$": "$.q", "MessageBody.$": "$.body"}),
                   {"q": q, "body": {"hello": "world"}})
    assert desc["status"] == "SUCCEEDED"
    out = json.loads(desc["output"])
    assert set(out) == {"MD5OfMessageBody", "MessageId", "SdkHttpMetadata", "SdkResponseMetadata"}
    assert out["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert_history(history(sfn, ex), [
        (S, 0), ("TaskStateEntered", 0),
        ("TaskScheduled", 2, {"resourceType": "sqs", "resource": "sendMessage", "region": "us-east-1",
                              "parameters": {"QueueUrl": q, "MessageBody": {"hello": "world"}}}),
        ("TaskStarted", 3, {"resourceType": "sqs", "resource": "sendMessage"}),
        ("TaskSucceeded", 4, {"resourceType": "sqs", "resource": "sendMessage"}),
        ("TaskStateExited", 5), ("ExecutionSucceeded", 6)])
    msg = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=2)["Messages"][0]
    assert json.loads(msg["Body"]) == {"hello": "world"} and msg["MessageId"] == out["MessageId"]


def test_sqs_errors_become_task_failures(sfn, sqs):
    missing = sqs.create_queue(QueueName=name("gone"))["QueueUrl"]
    sqs.delete_queue(QueueUrl=missing)
    ex, desc = run(sfn, {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
              "Parameters": {"QueueUrl": missing, "MessageBody": "x"},
              "Catch": [{"ErrorEquals": ["SQS.QueueDoesNotExistException"], "ResultPath": "$.err", "Next": "C"}],
              "End": True},
        "C": {"Type": "Succeed"}}})
    out = json.loads(desc["output"])
    assert out["err"]["Error"] == "SQS.QueueDoesNotExistException"
    assert out["err"]["Cause"].startswith("The specified queue does not exist. (Service: AmazonSQS; Status Code: "
                                          "400; Error Code: QueueDoesNotExist; Request ID: ")
    q = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    ex, desc = run(sfn, task_machine("arn:aws:states:::sqs:sendMessage", Parameters={"QueueUrl": q}))
    assert desc["error"] == "SQS.AmazonSQSException"
    assert desc["cause"].startswith("The request must contain the parameter MessageBody. (Service: AmazonSQS; "
                                    "Status Code: 400; Error Code: MissingParameter; ")


def test_sqs_wait_for_task_token(sfn, sqs):
    q = sqs.create_queue(QueueName=name("cb"))["QueueUrl"]
    arn = make_sm(sfn, task_machine("arn:aws:states:::sqs:sendMessage.waitForTaskToken", HeartbeatSeconds=60,
                                    Parameters={"QueueUrl.$": "$.q", "MessageBody": {
                                        "m.$": "$.m", "TaskToken.$": "$$.Task.Token"}}))
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"q": q, "m": "hi"}))["executionArn"]
    body = json.loads(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5)["Messages"][0]["Body"])
    assert body["m"] == "hi"
    sfn.send_task_heartbeat(taskToken=body["TaskToken"])
    sfn.send_task_success(taskToken=body["TaskToken"], output='"answered"')
    assert json.loads(wait_done(sfn, ex)["output"]) == "answered"
    events = history(sfn, ex)
    assert_history(events, [(S, 0), ("TaskStateEntered", 0),
                            ("TaskScheduled", 2, {"resource": "sendMessage.waitForTaskToken", "heartbeatInSeconds": 60}),
                            ("TaskStarted", 3), ("TaskSubmitted", 4), ("TaskSucceeded", 5, {"output": "answered"}),
                            ("TaskStateExited", 6), ("ExecutionSucceeded", 7)])
    assert details(events[2])["parameters"]["MessageBody"]["TaskToken"] == body["TaskToken"]


def test_sqs_wait_for_task_token_timeout(sfn, sqs):
    q = sqs.create_queue(QueueName=name("cbt"))["QueueUrl"]
    arn = make_sm(sfn, task_machine("arn:aws:states:::sqs:sendMessage.waitForTaskToken", TimeoutSeconds=1,
                                    Parameters={"QueueUrl": q, "MessageBody": {"TaskToken.$": "$$.Task.Token"}}))
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    desc = wait_done(sfn, ex)
    assert (desc["status"], desc["error"]) == ("FAILED", "States.Timeout") and "cause" not in desc
    assert_history(history(sfn, ex), [
        (S, 0), ("TaskStateEntered", 0), ("TaskScheduled", 2, {"timeoutInSeconds": 1}), ("TaskStarted", 3),
        ("TaskSubmitted", 4),
        ("TaskTimedOut", 5, {"error": "States.Timeout", "resource": "sendMessage.waitForTaskToken",
                             "resourceType": "sqs"}),
        ("ExecutionFailed", 6, {"error": "States.Timeout"})])
    token = json.loads(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5)["Messages"][0]["Body"])["TaskToken"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.send_task_success(taskToken=token, output="{}")
    assert error(ei) == ("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")


def test_aws_sdk_integration_shapes(sfn, sqs):
    q = sqs.create_queue(QueueName=name("sdk"))["QueueUrl"]
    ex, desc = run(sfn, task_machine("arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
                                     Parameters={"QueueUrl": q, "AttributeNames": ["QueueArn"]}))
    out = json.loads(desc["output"])
    assert out == {"Attributes": {"QueueArn": f"arn:aws:sqs:us-east-1:000000000000:{q.rsplit('/', 1)[1]}"}}
    ex, desc = run(sfn, task_machine("arn:aws:states:::aws-sdk:sqs:getQueueUrl", Parameters={"QueueName": "nope-x"}))
    assert desc["error"] == "Sqs.QueueDoesNotExistException"
    assert desc["cause"].startswith("The specified queue does not exist. (Service: Sqs, Status Code: 400, Request ID:")
    events = history(sfn, ex)
    assert details(events[2])["resourceType"] == "aws-sdk:sqs" and details(events[2])["resource"] == "getQueueUrl"


def test_retry_and_catch_on_service_errors(sfn):
    missing = f"arn:aws:states:us-east-1:000000000000:stateMachine:{name('nope')}"
    ex, desc = run(sfn, {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:describeStateMachine",
              "Parameters": {"StateMachineArn": missing},
              "Retry": [{"ErrorEquals": ["Sfn.StateMachineDoesNotExistException"], "IntervalSeconds": 1,
                         "MaxAttempts": 1}],
              "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Done"}],
              "End": True},
        "Done": {"Type": "Succeed"}}}, {"in": 1})
    assert desc["status"] == "SUCCEEDED"
    err = json.loads(desc["output"])["error"]
    assert err["Error"] == "Sfn.StateMachineDoesNotExistException"
    assert err["Cause"].startswith(f"State Machine Does Not Exist: '{missing}' (Service: Sfn, Status Code: 400")
    assert_history(history(sfn, ex), [
        (S, 0), ("TaskStateEntered", 0), ("TaskScheduled", 2), ("TaskStarted", 3),
        ("TaskFailed", 4, {"error": "Sfn.StateMachineDoesNotExistException"}), ("TaskScheduled", 5),
        ("TaskStarted", 6), ("TaskFailed", 7), ("TaskStateExited", 8), ("SucceedStateEntered", 9),
        ("SucceedStateExited", 10), ("ExecutionSucceeded", 11)])


# -- nested executions --------------------------------------------------------------------

def test_start_execution_sync_and_sync2(sfn):
    child = make_sm(sfn, {"StartAt": "C", "States": {"C": {"Type": "Pass", "Result": {"c": 1}, "End": True}}})
    for pattern, want_output in ((".sync", '{"c":1}'), (".sync:2", {"c": 1})):
        ex, desc = run(sfn, task_machine(f"arn:aws:states:::states:startExecution{pattern}",
                                         Parameters={"StateMachineArn": child, "Input": {"x": 1}}))
        out = json.loads(desc["output"])
        assert out["Status"] == "SUCCEEDED" and out["Output"] == want_output
        assert out["Input"] == ('{"x":1}' if pattern == ".sync" else {"x": 1})
        assert_history(history(sfn, ex), [(S, 0), ("TaskStateEntered", 0), ("TaskScheduled", 2), ("TaskStarted", 3),
                                          ("TaskSubmitted", 4), ("TaskSucceeded", 5), ("TaskStateExited", 6),
                                          ("ExecutionSucceeded", 7)])
        child_ex = out["ExecutionArn"]
        assert sfn.describe_execution(executionArn=child_ex)["status"] == "SUCCEEDED"


def test_start_execution_sync_child_failure(sfn):
    child = make_sm(sfn, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Child", "Cause": "broke"}}})
    ex, desc = run(sfn, task_machine("arn:aws:states:::states:startExecution.sync",
                                     Parameters={"StateMachineArn": child}))
    assert desc["status"] == "FAILED" and desc["error"] == "States.TaskFailed"
    cause = json.loads(desc["cause"])
    assert (cause["Status"], cause["Error"], cause["Cause"]) == ("FAILED", "Child", "broke")


def test_aws_sdk_start_execution_serialises_input(sfn):
    child = make_sm(sfn, {"StartAt": "C", "States": {"C": {"Type": "Pass", "End": True}}})
    ex, desc = run(sfn, task_machine("arn:aws:states:::aws-sdk:sfn:startExecution",
                                     Parameters={"StateMachineArn": child, "Input": {"key": "value"}}))
    out = json.loads(desc["output"])
    assert set(out) == {"ExecutionArn", "StartDate"}
    child_desc = wait_done(sfn, out["ExecutionArn"])
    assert json.loads(child_desc["input"]) == {"key": "value"}
