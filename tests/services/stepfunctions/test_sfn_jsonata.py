"""JSONata states on the real server: `{% %}` expressions, $states, Arguments,
Output, Assign and variable scoping, Step Functions' extra functions, and the
EvaluationFailed event of an expression that yields nothing."""

from __future__ import annotations

import json
import re

from tests.services.stepfunctions._helpers import assert_history, details, history, run

S = "ExecutionStarted"


def test_output_assign_and_choice_condition(sfn):
    ex, desc = run(sfn, {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"total": "{% $sum($states.input.nums) %}", "label": "sum"},
              "Output": {"count": "{% $count($states.input.nums) %}", "from": "{% $states.context.State.Name %}"},
              "Next": "C"},
        "C": {"Type": "Choice", "Choices": [
            {"Condition": "{% $total > 10 %}", "Next": "Big", "Assign": {"verdict": "big"}}],
              "Default": "Small"},
        "Big": {"Type": "Pass", "Output": "{% $label & ':' & $string($total) & ':' & $verdict %}", "End": True},
        "Small": {"Type": "Fail", "Error": "{% 'TooSmall' %}", "Cause": "{% 'only ' & $string($total) %}"}}},
        {"nums": [4, 5, 6]})
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == "sum:15:big"
    assert_history(history(sfn, ex), [
        (S, 0), ("PassStateEntered", 0),
        ("PassStateExited", 2, {"output": {"count": 3, "from": "A"}, "assignedVariables": {"total": 15, "label": "sum"}}),
        ("ChoiceStateEntered", 3), ("ChoiceStateExited", 4, {"assignedVariables": {"verdict": "big"}}),
        ("PassStateEntered", 5), ("PassStateExited", 6, {"output": "sum:15:big"}), ("ExecutionSucceeded", 7)])
    ex, desc = run(sfn, {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"total": "{% $sum($states.input.nums) %}"}, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $total > 10 %}", "Next": "Ok"}], "Default": "Small"},
        "Ok": {"Type": "Succeed"},
        "Small": {"Type": "Fail", "Error": "{% 'TooSmall' %}", "Cause": "{% 'only ' & $string($total) %}"}}},
        {"nums": [1, 2]})
    assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "TooSmall", "only 3")


def test_undefined_expression_is_an_evaluation_failure(sfn):
    ex, desc = run(sfn, {"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Next": "Q"},
        "Q": {"Type": "Pass", "Output": {"result": "{% $doesNotExist %}"}, "End": True}}})
    cause = ("An error occurred while executing the state 'Q' (entered at the event id #4). The JSONata expression "
             "'$doesNotExist' specified for the field 'Output/result' returned nothing (undefined).")
    assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "States.QueryEvaluationError", cause)
    assert_history(history(sfn, ex), [
        (S, 0), ("PassStateEntered", 0), ("PassStateExited", 2), ("PassStateEntered", 3),
        ("EvaluationFailed", 3, {"error": "States.QueryEvaluationError", "cause": cause, "location": "Output/result",
                                 "state": "Q"}),
        ("ExecutionFailed", 5, {"error": "States.QueryEvaluationError", "cause": cause})])


def test_map_items_selector_and_variable_scopes(sfn):
    ex, desc = run(sfn, {"QueryLanguage": "JSONata", "StartAt": "Setup", "States": {
        "Setup": {"Type": "Pass", "Assign": {"bias": 100}, "Next": "M"},
        "M": {"Type": "Map", "Items": "{% $states.input.values %}", "MaxConcurrency": 1,
              "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}",
                               "i": "{% $states.context.Map.Item.Index %}"},
              "ItemProcessor": {"StartAt": "Inner", "States": {
                  "Inner": {"Type": "Pass", "Assign": {"local": "{% $states.input.v + $bias %}"}, "Next": "Use"},
                  "Use": {"Type": "Pass", "Output": "{% [$states.input.i, $local] %}", "End": True}}},
              "Output": {"results": "{% $states.result %}", "localSeen": "{% $exists($local) %}"},
              "End": True}}},
        {"values": [1, 2]})
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"results": [[0, 101], [1, 102]], "localSeen": False}


def test_extra_functions(sfn):
    ex, desc = run(sfn, {"QueryLanguage": "JSONata", "StartAt": "F", "States": {"F": {"Type": "Pass", "Output": {
        "partition": "{% $partition([1,2,3,4,5], 2) %}",
        "range": "{% $range(0, 10, 5) %}",
        "hash": "{% $hash('input data', 'SHA-256') %}",
        "random": "{% $random() %}",
        "seeded": "{% $random(7) %}",
        "uuid": "{% $uuid() %}",
        "parsed": "{% $parse('{\"a\": [1, 2]}') %}"}, "End": True}}})
    out = json.loads(desc["output"])
    assert out["partition"] == [[1, 2], [3, 4], [5]]
    assert out["range"] == [0, 5, 10]
    assert out["hash"] == "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"
    assert 0 <= out["random"] < 1 and 0 <= out["seeded"] < 1
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", out["uuid"])
    assert out["parsed"] == {"a": [1, 2]}


def test_task_arguments_and_result(sfn):
    ex, desc = run(sfn, {"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:listActivities",
        "Arguments": {"MaxResults": "{% $states.input.n %}"},
        "Output": {"isList": "{% $type($states.result.Activities) = 'array' %}"},
        "End": True}}}, {"n": 5})
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == {"isList": True}
    events = history(sfn, ex)
    assert details(events[2])["parameters"] == {"MaxResults": 5}


def test_mixed_languages_share_variables(sfn):
    ex, desc = run(sfn, {"StartAt": "Path", "States": {
        "Path": {"Type": "Pass", "Assign": {"answer": 42}, "Next": "Ata"},
        "Ata": {"Type": "Pass", "QueryLanguage": "JSONata",
                "Assign": {"old": "{% $answer %}", "answer": 18}, "Next": "Back"},
        "Back": {"Type": "Pass", "Parameters": {"old.$": "$old", "answer.$": "$answer"}, "End": True}}})
    assert json.loads(desc["output"]) == {"old": 42, "answer": 18}
    ata = [e for e in history(sfn, ex) if e["type"] == "PassStateExited"][1]
    assert details(ata)["assignedVariables"] == {"old": 42, "answer": 18}
