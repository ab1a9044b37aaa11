"""TestState of Map and Parallel states: mocks required, inspection levels, failure counts,
ItemReader data, Retry/Catch outcomes, and AWS's validation messages."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.services.stepfunctions._helpers import ROLE

PROCESSOR = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Work",
             "States": {"Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                 "Parameters": {"FunctionName": "fn"}, "End": True}}}
JSONPATH_MAP = {"Type": "Map", "InputPath": "$.order", "ItemsPath": "$.lines",
                "ItemSelector": {"sku.$": "$$.Map.Item.Value.sku", "pos.$": "$$.Map.Item.Index"},
                "ItemBatcher": {"MaxItemsPerBatch": 2}, "MaxConcurrency": 4, "ToleratedFailureCount": 1,
                "ItemProcessor": PROCESSOR, "ResultSelector": {"n.$": "States.ArrayLength($)"},
                "ResultPath": "$.summary", "Next": "After"}
ORDER = {"order": {"lines": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]}}
PASS_PROCESSOR = {**PROCESSOR, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
JSONATA_MAP = {"Type": "Map", "QueryLanguage": "JSONata", "Items": "{% $states.input.values %}",
               "ItemProcessor": PASS_PROCESSOR, "ToleratedFailurePercentage": 50,
               "Output": {"done": "{% $count($states.result) %}"},
               "Retry": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "MaxAttempts": 1}],
               "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}", "Next": "Caught"}],
               "End": True}
PARALLEL = {"Type": "Parallel", "InputPath": "$.job", "ResultPath": "$.out", "Next": "After",
            "Branches": [{"StartAt": "L", "States": {"L": {"Type": "Pass", "End": True}}},
                         {"StartAt": "R", "States": {"R": {"Type": "Pass", "End": True}}}]}


def _error(fn) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fn()
    return ei.value.response["Error"]["Code"], ei.value.response["Error"]["Message"]


def test_map_and_parallel_need_a_mock(sfn):
    for state in (JSONPATH_MAP, PARALLEL):
        code, msg = _error(lambda: sfn.test_state(definition=json.dumps(state), roleArn=ROLE, input="{}"))
        assert (code, msg) == ("InvalidDefinition", "TestState API does not support Map or Parallel states. "
                                                    "Supported state types include: [Task, Wait, Pass, Succeed, "
                                                    "Fail, Choice]")
    assert _error(lambda: sfn.test_state(definition=json.dumps(JSONPATH_MAP), input="{}",
                                         stateConfiguration={"mapIterationFailureCount": 1})) == (
        "ValidationException", "TestState does not support MapIterationFailureCount when a mock is not specified.")


@pytest.mark.parametrize("state,result,message", [
    (JSONPATH_MAP, '{"not": "a list"}', "Mocked result must be an array."),
    ({**JSONPATH_MAP, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                                       "Parameters": {"Bucket": "b", "Prefix": "p"}}}, "[1]",
     "Mocked result must be a JSON object."),
    (PARALLEL, '"x"', "Mocked result must be an array."),
    (PARALLEL, "[1, 2, 3]", "Mocked result must contain the same number of items as number of Parallel branches."),
])
def test_mock_shape_is_validated(sfn, state, result, message):
    assert _error(lambda: sfn.test_state(definition=json.dumps(state), input=json.dumps(ORDER),
                                         mock={"result": result})) == ("ValidationException", message)


def test_failure_count_beyond_the_iterations(sfn):
    assert _error(lambda: sfn.test_state(definition=json.dumps(JSONPATH_MAP), input=json.dumps(ORDER),
                                         mock={"result": "[1, 2]"},
                                         stateConfiguration={"mapIterationFailureCount": 3})) == (
        "ValidationException", "Map iteration failure count must be less than or equal to the number of Map iterations")


def test_jsonpath_map_inspection_levels(sfn):
    kw = dict(definition=json.dumps(JSONPATH_MAP), input=json.dumps(ORDER), mock={"result": "[10, 20]"})
    info = sfn.test_state(**kw)
    assert info["status"] == "SUCCEEDED" and info["nextState"] == "After" and "inspectionData" not in info
    assert json.loads(info["output"]) == {**ORDER, "summary": {"n": 2}}      # ResultPath: into the raw input
    for level in ("DEBUG", "TRACE"):
        data = sfn.test_state(inspectionLevel=level, **kw)["inspectionData"]
        assert json.loads(data["input"]) == ORDER and json.loads(data["afterInputPath"]) == ORDER["order"]
        assert json.loads(data["afterItemsPath"]) == ORDER["order"]["lines"]
        assert json.loads(data["afterItemSelector"]) == [{"sku": "a", "pos": 0}, {"sku": "b", "pos": 1},
                                                         {"sku": "c", "pos": 2}]
        assert json.loads(data["afterItemBatcher"]) == [{"Items": [{"sku": "a", "pos": 0}, {"sku": "b", "pos": 1}]},
                                                        {"Items": [{"sku": "c", "pos": 2}]}]
        assert (data["maxConcurrency"], data["toleratedFailureCount"]) == (4, 1)
        assert "toleratedFailurePercentage" not in data
        assert json.loads(data["afterResultSelector"]) == {"n": 2}
        assert json.loads(data["afterResultPath"]) == json.loads(info["output"])


def test_failure_count_against_the_threshold(sfn):
    kw = dict(definition=json.dumps(JSONPATH_MAP), input=json.dumps(ORDER), mock={"result": "[1, 0, 0]"},
              inspectionLevel="DEBUG")
    within = sfn.test_state(stateConfiguration={"mapIterationFailureCount": 1}, **kw)
    assert within["status"] == "SUCCEEDED"
    beyond = sfn.test_state(stateConfiguration={"mapIterationFailureCount": 2}, **kw)
    assert (beyond["status"], beyond["error"], beyond["cause"]) == (
        "FAILED", "States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")
    # JSONata Map: the threshold error is retried, then caught once retries are used up
    kw = dict(definition=json.dumps(JSONATA_MAP), input='{"values": [1, 2, 3, 4]}', mock={"result": "[1, 1, 1, 1]"},
              stateConfiguration={"mapIterationFailureCount": 3}, inspectionLevel="DEBUG")
    retry = sfn.test_state(**kw)
    assert retry["status"] == "RETRIABLE" and retry["inspectionData"]["errorDetails"] == {
        "retryIndex": 0, "retryBackoffIntervalSeconds": 1}
    assert retry["inspectionData"]["toleratedFailurePercentage"] == 50.0
    assert retry["inspectionData"]["maxConcurrency"] == 0 and "afterInputPath" not in retry["inspectionData"]
    kw["stateConfiguration"]["retrierRetryCount"] = 1
    caught = sfn.test_state(**kw)
    assert (caught["status"], caught["nextState"]) == ("CAUGHT_ERROR", "Caught")
    assert json.loads(caught["output"]) == {"Error": "States.ExceedToleratedFailureThreshold",
                                            "Cause": "The specified tolerated failure threshold was exceeded"}
    assert caught["inspectionData"]["errorDetails"] == {"catchIndex": 0}
    ok = sfn.test_state(**{**kw, "stateConfiguration": {"mapIterationFailureCount": 2}})
    assert ok["status"] == "SUCCEEDED" and json.loads(ok["output"]) == {"done": 4}


def test_error_raised_inside_the_map(sfn):
    r = sfn.test_state(definition=json.dumps(JSONPATH_MAP), input=json.dumps(ORDER), inspectionLevel="TRACE",
                       mock={"errorOutput": {"error": "Boom", "cause": "iteration failed"}},
                       stateConfiguration={"errorCausedByState": "Work"})
    assert (r["status"], r["error"], r["cause"]) == ("FAILED", "Boom", "iteration failed")
    assert "afterResultSelector" not in r["inspectionData"] and r["inspectionData"]["maxConcurrency"] == 4


def test_item_reader_data(sfn):
    machine = {"StartAt": "Load", "States": {"Load": {
        "Type": "Map", "MaxConcurrency": 2,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                       "Parameters": {"Bucket.$": "$.bucket", "Key": "people.csv"}},
        "ItemSelector": {"who.$": "$$.Map.Item.Value.name"},
        "ItemProcessor": PASS_PROCESSOR, "End": True}}}
    r = sfn.test_state(definition=json.dumps(machine), stateName="Load", input='{"bucket": "in"}',
                       inspectionLevel="DEBUG", mock={"result": '[{"who": "ann"}, {"who": "bob"}]'},
                       stateConfiguration={"mapItemReaderData": "name,age\nann,31\nbob,42\n"})
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == [{"who": "ann"}, {"who": "bob"}]
    assert json.loads(r["inspectionData"]["afterItemSelector"]) == [{"who": "ann"}, {"who": "bob"}]


def test_items_path_must_point_to_an_array(sfn):
    state = {**JSONPATH_MAP, "ItemsPath": "$$.Execution.Input"}
    r = sfn.test_state(definition=json.dumps(state), input=json.dumps(ORDER), mock={"result": "[]"},
                       inspectionLevel="DEBUG")
    assert (r["status"], r["error"], r["cause"]) == (
        "FAILED", "States.Runtime", 'Reference path "$.Execution.Input" must point to array.')


def test_parallel_inspection(sfn):
    kw = dict(definition=json.dumps(PARALLEL), input='{"job": {"id": 7}, "keep": true}',
              mock={"result": '[{"left": 1}, {"right": 2}]'})
    info = sfn.test_state(**kw)
    want = {"job": {"id": 7}, "keep": True, "out": [{"left": 1}, {"right": 2}]}
    assert info["status"] == "SUCCEEDED" and json.loads(info["output"]) == want and info["nextState"] == "After"
    data = sfn.test_state(inspectionLevel="DEBUG", **kw)["inspectionData"]
    assert set(data) == {"input", "afterResultSelector", "afterResultPath"}
    assert json.loads(data["afterResultSelector"]) == [{"left": 1}, {"right": 2}]
    assert json.loads(data["afterResultPath"]) == want
    jsonata = {"Type": "Parallel", "QueryLanguage": "JSONata", "Branches": PARALLEL["Branches"],
               "Output": {"first": "{% $states.result[0] %}"}, "End": True}
    r = sfn.test_state(definition=json.dumps(jsonata), input="{}", mock={"result": "[3, 4]"}, inspectionLevel="TRACE")
    assert json.loads(r["output"]) == {"first": 3} and set(r["inspectionData"]) == {"input"}
    failed = sfn.test_state(definition=json.dumps(PARALLEL), input='{"job": {}}',
                            mock={"errorOutput": {"error": "BranchDown", "cause": "R broke"}},
                            stateConfiguration={"errorCausedByState": "R"})
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "BranchDown", "R broke")
