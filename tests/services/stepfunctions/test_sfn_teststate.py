"""TestState: one state on its own, with inspection levels, mocks, variables and error outcomes."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.services.stepfunctions._helpers import ROLE

IO_PASS = {"Type": "Pass", "InputPath": "$.initialData",
           "Parameters": {"staticValue": "some value", "inputValue.$": "$.fieldFromInput"},
           "ResultPath": "$.modifiedData", "End": True}
IO_INPUT = {"initialData": {"fieldFromInput": "value from input", "otherField": "other"},
            "unrelatedData": {"someOtherField": 1234}}


def _j(d: dict) -> dict:
    return {k: json.loads(v) if isinstance(v, str) else v for k, v in d.items()}


def test_pass_inspection_levels(sfn):
    info = sfn.test_state(definition=json.dumps(IO_PASS), roleArn=ROLE, input=json.dumps(IO_INPUT))
    want = {**IO_INPUT, "modifiedData": {"staticValue": "some value", "inputValue": "value from input"}}
    assert info["status"] == "SUCCEEDED" and json.loads(info["output"]) == want and "inspectionData" not in info
    debug = sfn.test_state(definition=json.dumps(IO_PASS), roleArn=ROLE, input=json.dumps(IO_INPUT),
                           inspectionLevel="DEBUG")
    data = _j(debug["inspectionData"])
    assert data["input"] == IO_INPUT and data["afterInputPath"] == IO_INPUT["initialData"]
    assert data["afterParameters"] == {"staticValue": "some value", "inputValue": "value from input"}
    assert data["afterResultSelector"] == data["afterParameters"] and data["afterResultPath"] == want


def test_choice_fail_and_next_state(sfn):
    choice = {"Type": "Choice", "Choices": [{"Variable": "$.value", "NumericGreaterThan": 20, "Next": "Big"}],
              "Default": "Small"}
    r = sfn.test_state(definition=json.dumps(choice), input='{"value": 22}')
    assert r["nextState"] == "Big" and r["status"] == "SUCCEEDED"
    fail = {"Type": "Fail", "Error": "SomeFailure", "Cause": "because"}
    r = sfn.test_state(definition=json.dumps(fail), input="{}")
    assert (r["status"], r["error"], r["cause"]) == ("FAILED", "SomeFailure", "because")


def test_task_with_mocks_catch_and_retry(sfn):
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
            "Retry": [{"ErrorEquals": ["Retryable"], "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["MockException"], "Next": "Handle"}], "Next": "After"}
    ok = sfn.test_state(definition=json.dumps(task), input="{}", mock={"result": '{"Payload": 1}'},
                        inspectionLevel="DEBUG")
    assert ok["status"] == "SUCCEEDED" and json.loads(ok["output"]) == {"Payload": 1} and ok["nextState"] == "After"
    caught = sfn.test_state(definition=json.dumps(task), input='{"v": 1}',
                            mock={"errorOutput": {"error": "MockException", "cause": "mocked"}})
    assert (caught["status"], caught["nextState"]) == ("CAUGHT_ERROR", "Handle")
    assert json.loads(caught["output"]) == {"Error": "MockException", "Cause": "mocked"}
    retry = sfn.test_state(definition=json.dumps(task), input="{}",
                           mock={"errorOutput": {"error": "Retryable", "cause": "again"}})
    assert retry["status"] == "RETRIABLE"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), mock={"result": "{}"})
    assert ei.value.response["Error"]["Message"] == "State type 'Pass' is not supported when a mock is specified"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.test_state(definition=json.dumps(task), input="{}")
    assert ei.value.response["Error"]["Message"] == "RoleArn must be specified when testing a Task state"


def test_jsonata_state_with_variables(sfn):
    state = {"Type": "Pass", "QueryLanguage": "JSONata",
             "Output": {"sum": "{% $sum($states.input.values) + $bias %}"}, "End": True}
    r = sfn.test_state(definition=json.dumps(state), input='{"values": [1, 2, 3]}', variables='{"bias": 10}')
    assert json.loads(r["output"]) == {"sum": 16}


def test_real_task_through_the_service(sfn):
    task = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:listActivities",
            "Parameters": {"MaxResults": 1}, "ResultSelector": {"ok.$": "States.ArrayLength($.Activities)"},
            "End": True}
    r = sfn.test_state(definition=json.dumps(task), roleArn=ROLE, input="{}")
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"])["ok"] in (0, 1)
