"""Step Functions Local's MockConfigFile: `stateMachineArn#TestCase` runs with mocked
task responses (numbered invocations, Return and Throw), loaded from config."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.services.stepfunctions._helpers import ROLE, assert_history, history, wait_done
from tests.services.stepfunctions.conftest import sfn_config

MOCKS = {
    "StateMachines": {
        "Orders": {"TestCases": {
            "HappyPath": {"Send": "SentOk", "Work": "WorkDone"},
            "RetryPath": {"Send": "FailThenOk", "Work": "WorkDone"},
            "FailPath": {"Send": "AlwaysFails"}}}},
    "MockedResponses": {
        "SentOk": {"0": {"Return": {"MessageId": "mocked-1", "MD5OfMessageBody": "d41d8cd98f00b204e9800998ecf8427e"}}},
        "FailThenOk": {"0": {"Throw": {"Error": "SQS.AmazonSQSException", "Cause": "first try fails"}},
                       "1-2": {"Return": {"MessageId": "mocked-2"}}},
        "AlwaysFails": {"0-9": {"Throw": {"Error": "Custom.Error", "Cause": "mocked failure"}}},
        "WorkDone": {"0": {"Return": {"worked": True}}}},
}

DEFINITION = {"StartAt": "Send", "States": {
    "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
             "Parameters": {"QueueUrl": "http://localhost/000000000000/no-such-queue", "MessageBody": "x"},
             "Retry": [{"ErrorEquals": ["SQS.AmazonSQSException"], "IntervalSeconds": 1, "MaxAttempts": 2,
                        "BackoffRate": 1}],
             "ResultPath": "$.sent", "Next": "Work"},
    "Work": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:000000000000:activity:no-worker-anywhere",
             "ResultPath": "$.work", "End": True}}}


@pytest.fixture(scope="module")
def mocked(local_server):
    server, mock_file, _buckets = local_server
    mock_file.write_text(json.dumps(MOCKS))
    sfn = server.client("stepfunctions", config=sfn_config())
    sfn.create_activity(name="no-worker-anywhere")
    arn = sfn.create_state_machine(name="Orders", definition=json.dumps(DEFINITION), roleArn=ROLE)["stateMachineArn"]
    yield sfn, arn


def test_happy_path_uses_mocked_responses(mocked):
    sfn, arn = mocked
    ex = sfn.start_execution(stateMachineArn=f"{arn}#HappyPath", input='{"order": 1}')["executionArn"]
    desc = wait_done(sfn, ex)
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"order": 1, "sent": {"MessageId": "mocked-1", "MD5OfMessageBody":
                                                               "d41d8cd98f00b204e9800998ecf8427e"},
                                          "work": {"worked": True}}
    assert_history(history(sfn, ex), [
        ("ExecutionStarted", 0), ("TaskStateEntered", 0), ("TaskScheduled", 2), ("TaskStarted", 3),
        ("TaskSucceeded", 4, {"output": {"MessageId": "mocked-1", "MD5OfMessageBody":
                                         "d41d8cd98f00b204e9800998ecf8427e"}}),
        ("TaskStateExited", 5), ("TaskStateEntered", 6), ("ActivityScheduled", 7), ("ActivityStarted", 8),
        ("ActivitySucceeded", 9, {"output": {"worked": True}}), ("TaskStateExited", 10),
        ("ExecutionSucceeded", 11)])


def test_numbered_invocations_drive_retries(mocked):
    sfn, arn = mocked
    ex = sfn.start_execution(stateMachineArn=f"{arn}#RetryPath")["executionArn"]
    desc = wait_done(sfn, ex)
    assert json.loads(desc["output"])["sent"] == {"MessageId": "mocked-2"}
    types = [e["type"] for e in history(sfn, ex)]
    assert types[:8] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed",
                         "TaskScheduled", "TaskStarted", "TaskSucceeded"]


def test_thrown_error_fails_the_execution(mocked):
    sfn, arn = mocked
    desc = wait_done(sfn, sfn.start_execution(stateMachineArn=f"{arn}#FailPath")["executionArn"])
    assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "Custom.Error", "mocked failure")


def test_unknown_test_case_is_rejected(mocked):
    sfn, arn = mocked
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_execution(stateMachineArn=f"{arn}#NoSuchCase")
    assert ei.value.response["Error"]["Code"] == "ValidationException"
    assert "NoSuchCase" in ei.value.response["Error"]["Message"]
