"""Each state type, run on the real server, its history compared event by event.

Every case is (definition, input, expected events as (type, previousEventId,
details subset), final status, final output). Event ids count from 1 and
previousEventId follows AWS's chaining: a state's events chain in its thread,
a branch starts from ParallelStateStarted, Map iterations from the Map's
pointer, Succeeded of Map/Parallel does not advance it, Failed does.
"""

from __future__ import annotations

import pytest

from tests.services.stepfunctions._helpers import assert_history, history, run

S = "ExecutionStarted"

CASES = {
    "pass_paths_parameters_context": (
        {"StartAt": "A", "States": {
            "A": {"Type": "Pass", "InputPath": "$.in",
                  "Parameters": {"v.$": "$.x", "state.$": "$$.State.Name", "lit": [1, {"deep.$": "$.x"}],
                                 "sum.$": "States.MathAdd($.x, 2)"},
                  "ResultPath": "$.out", "OutputPath": "$.out", "Next": "B"},
            "B": {"Type": "Pass", "Result": {"ignored": True}, "ResultPath": None, "End": True}}},
        {"in": {"x": 5}},
        [(S, 0), ("PassStateEntered", 0, {"name": "A", "input": {"in": {"x": 5}}}),
         ("PassStateExited", 2, {"name": "A", "output": {"v": 5, "state": "A", "lit": [1, {"deep": 5}],
                                                         "sum": 7}}),
         ("PassStateEntered", 3), ("PassStateExited", 4, {"output": {"v": 5, "state": "A", "lit": [1, {"deep": 5}],
                                                                     "sum": 7}}),
         ("ExecutionSucceeded", 5)],
        "SUCCEEDED", {"v": 5, "state": "A", "lit": [1, {"deep": 5}], "sum": 7}),
    "pass_null_paths": (
        {"StartAt": "A", "States": {
            "A": {"Type": "Pass", "InputPath": None, "Result": {"r": 1}, "ResultPath": "$.r", "Next": "B"},
            "B": {"Type": "Pass", "OutputPath": None, "End": True}}},
        {"a": 1},
        [(S, 0), ("PassStateEntered", 0), ("PassStateExited", 2, {"output": {"a": 1, "r": {"r": 1}}}),
         ("PassStateEntered", 3), ("PassStateExited", 4, {"output": {}}), ("ExecutionSucceeded", 5)],
        "SUCCEEDED", {}),
    "choice_compound_rules": (
        {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$.n", "NumericGreaterThan": 10}, {"Variable": "$.b", "BooleanEquals": True}],
                 "Next": "Miss"},
                {"Or": [{"Variable": "$.s", "StringMatches": "a*c"}, {"Variable": "$.n", "IsNull": True}],
                 "Next": "Hit"}],
                  "Default": "Miss"},
            "Hit": {"Type": "Pass", "Result": "hit", "End": True},
            "Miss": {"Type": "Pass", "Result": "miss", "End": True}}},
        {"n": 7, "s": "abc", "b": True},
        [(S, 0), ("ChoiceStateEntered", 0, {"name": "C"}), ("ChoiceStateExited", 2),
         ("PassStateEntered", 3, {"name": "Hit"}), ("PassStateExited", 4, {"output": "hit"}),
         ("ExecutionSucceeded", 5)],
        "SUCCEEDED", "hit"),
    "choice_not_and_timestamps_default": (
        {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [
                {"Not": {"Variable": "$.t", "TimestampLessThan": "2030-01-01T00:00:00Z"}, "Next": "Late"},
                {"Variable": "$.t", "TimestampEqualsPath": "$.u", "Next": "Same"}],
                  "Default": "Other"},
            "Late": {"Type": "Succeed"}, "Same": {"Type": "Succeed"}, "Other": {"Type": "Succeed"}}},
        {"t": "2024-01-01T00:00:00Z", "u": "2024-01-01T00:00:00Z"},
        [(S, 0), ("ChoiceStateEntered", 0), ("ChoiceStateExited", 2), ("SucceedStateEntered", 3, {"name": "Same"}),
         ("SucceedStateExited", 4), ("ExecutionSucceeded", 5)],
        "SUCCEEDED", {"t": "2024-01-01T00:00:00Z", "u": "2024-01-01T00:00:00Z"}),
    "choice_no_match_fails": (
        {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "X"}]},
            "X": {"Type": "Succeed"}}},
        {"n": 2},
        [(S, 0), ("ChoiceStateEntered", 0), ("ExecutionFailed", 2, {"error": "States.NoChoiceMatched"})],
        "FAILED", None),
    "wait_forms": (
        {"StartAt": "W1", "States": {
            "W1": {"Type": "Wait", "SecondsPath": "$.w", "Next": "W2"},
            "W2": {"Type": "Wait", "Timestamp": "2020-01-01T00:00:00Z", "Next": "W3"},
            "W3": {"Type": "Wait", "TimestampPath": "$.ts", "Next": "W4"},
            "W4": {"Type": "Wait", "Seconds": 0, "OutputPath": "$.w", "End": True}}},
        {"w": 0, "ts": "2021-06-01T12:00:00.5Z"},
        [(S, 0), ("WaitStateEntered", 0), ("WaitStateExited", 2), ("WaitStateEntered", 3), ("WaitStateExited", 4),
         ("WaitStateEntered", 5), ("WaitStateExited", 6), ("WaitStateEntered", 7),
         ("WaitStateExited", 8, {"output": 0}), ("ExecutionSucceeded", 9)],
        "SUCCEEDED", 0),
    "wait_negative_seconds_path": (
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.w", "End": True}}},
        {"w": -1},
        [(S, 0), ("WaitStateEntered", 0),
         ("ExecutionFailed", 2, {"error": "States.Runtime",
                                 "cause": "An error occurred while executing the state 'W' (entered at the event id "
                                          "#2). The SecondsPath parameter references a negative value: $.w == -1"})],
        "FAILED", None),
    "fail_paths_and_intrinsic": (
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e",
                                          "CausePath": "States.Format('because {}', $.c)"}}},
        {"e": "Oops", "c": "reasons"},
        [(S, 0), ("FailStateEntered", 0), ("ExecutionFailed", 2, {"error": "Oops", "cause": "because reasons"})],
        "FAILED", None),
    "fail_missing_error_path_is_runtime": (
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.nope"}}},
        {"a": 1},
        [(S, 0), ("FailStateEntered", 0),
         ("ExecutionFailed", 2, {"error": "States.Runtime",
                                 "cause": "An error occurred while executing the state 'F' (entered at the event id "
                                          "#2). The JSONPath '$.nope' specified for the field 'ErrorPath' could not be "
                                          "found in the input '{\"a\":1}'"})],
        "FAILED", None),
    "input_path_missing_is_runtime": (
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.missing", "End": True}}},
        {},
        [(S, 0), ("PassStateEntered", 0),
         ("ExecutionFailed", 2, {"error": "States.Runtime",
                                 "cause": "An error occurred while executing the state 'P' (entered at the event id "
                                          "#2). Invalid path '$.missing' : No results for path: $['missing']"})],
        "FAILED", None),
    "parallel_branch_fails_caught": (
        {"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": True}}},
                {"StartAt": "B2", "States": {"B2": {"Type": "Fail", "Error": "E2", "Cause": "c2"}}}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Done"}], "End": True},
            "Done": {"Type": "Pass", "End": True}}},
        {"k": 1},
        [(S, 0), ("ParallelStateEntered", 0), ("ParallelStateStarted", 2), ("PassStateEntered", 3, {"name": "B1"}),
         ("PassStateExited", 4), ("FailStateEntered", 3, {"name": "B2"}), ("ParallelStateFailed", 6),
         ("ParallelStateExited", 7, {"output": {"k": 1, "err": {"Error": "E2", "Cause": "c2"}}}),
         ("PassStateEntered", 8), ("PassStateExited", 9), ("ExecutionSucceeded", 10)],
        "SUCCEEDED", {"k": 1, "err": {"Error": "E2", "Cause": "c2"}}),
    "parallel_results_selector": (
        {"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Parameters": {"x.$": "$.x"}, "Branches": [
                {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "OutputPath": "$.x", "End": True}}},
                {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "Result": 2, "End": True}}}],
                  "ResultSelector": {"first.$": "$[0]", "all.$": "$"}, "ResultPath": "$.r", "End": True}}},
        {"x": 1},
        [(S, 0), ("ParallelStateEntered", 0), ("ParallelStateStarted", 2), ("PassStateEntered", 3),
         ("PassStateExited", 4), ("PassStateEntered", 3), ("PassStateExited", 6), ("ParallelStateSucceeded", 7),
         ("ParallelStateExited", 7, {"output": {"x": 1, "r": {"first": 1, "all": [1, 2]}}}),
         ("ExecutionSucceeded", 9)],
        "SUCCEEDED", {"x": 1, "r": {"first": 1, "all": [1, 2]}}),
    "parallel_retry_then_fail": (
        {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Fail", "Error": "E", "Cause": "c"}}}],
            "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 1.0}],
            "End": True}}},
        {},
        [(S, 0), ("ParallelStateEntered", 0), ("ParallelStateStarted", 2), ("FailStateEntered", 3),
         ("ParallelStateStarted", 4), ("FailStateEntered", 5), ("ParallelStateFailed", 6),
         ("ExecutionFailed", 7, {"error": "E", "cause": "c"})],
        "FAILED", None),
    "retry_max_delay_caps_backoff": (       # uncapped, the second retry would wait 1,000 s
        {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Fail", "Error": "E", "Cause": "c"}}}],
            "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1000.0,
                       "MaxDelaySeconds": 1, "JitterStrategy": "FULL"}],
            "End": True}}},
        {},
        [(S, 0), ("ParallelStateEntered", 0), ("ParallelStateStarted", 2), ("FailStateEntered", 3),
         ("ParallelStateStarted", 4), ("FailStateEntered", 5), ("ParallelStateStarted", 6), ("FailStateEntered", 7),
         ("ParallelStateFailed", 8), ("ExecutionFailed", 9, {"error": "E", "cause": "c"})],
        "FAILED", None),
    "map_sequential_item_selector": (
        {"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
            "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "k.$": "$.k"},
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
            "ResultSelector": {"n.$": "States.ArrayLength($)", "r.$": "$"}, "ResultPath": "$.res", "End": True}}},
        {"items": [10, 20], "k": "K"},
        [(S, 0), ("MapStateEntered", 0), ("MapStateStarted", 2, {"length": 2}),
         ("MapIterationStarted", 3, {"name": "M", "index": 0}),
         ("PassStateEntered", 4, {"input": {"i": 0, "v": 10, "k": "K"}}), ("PassStateExited", 5),
         ("MapIterationSucceeded", 6, {"index": 0}), ("MapIterationStarted", 6, {"index": 1}),
         ("PassStateEntered", 8, {"input": {"i": 1, "v": 20, "k": "K"}}), ("PassStateExited", 9),
         ("MapIterationSucceeded", 10, {"index": 1}), ("MapStateSucceeded", 11), ("MapStateExited", 11),
         ("ExecutionSucceeded", 13)],
        "SUCCEEDED", {"items": [10, 20], "k": "K",
                      "res": {"n": 2, "r": [{"i": 0, "v": 10, "k": "K"}, {"i": 1, "v": 20, "k": "K"}]}}),
    "map_concurrent_failure_aborts_sibling": (
        {"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemProcessor": {"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}],
                      "Default": "W"},
                "W": {"Type": "Wait", "Seconds": 300, "End": True},
                "F": {"Type": "Fail", "Error": "Two", "Cause": "item 2"}}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
            "Caught": {"Type": "Succeed"}}},
        [1, 2],
        [(S, 0), ("MapStateEntered", 0), ("MapStateStarted", 2), ("MapIterationStarted", 3, {"index": 0}),
         ("MapIterationStarted", 3, {"index": 1}), ("ChoiceStateEntered", 4), ("ChoiceStateExited", 6),
         ("ChoiceStateEntered", 5), ("ChoiceStateExited", 8), ("WaitStateEntered", 7), ("FailStateEntered", 9),
         ("MapIterationFailed", 11, {"index": 1}), ("MapIterationAborted", 11, {"index": 0}),
         ("WaitStateAborted", 11), ("MapStateFailed", 11),
         ("MapStateExited", 15, {"output": {"Error": "Two", "Cause": "item 2"}}), ("SucceedStateEntered", 16),
         ("SucceedStateExited", 17), ("ExecutionSucceeded", 18)],
        "SUCCEEDED", {"Error": "Two", "Cause": "item 2"}),
    "map_not_an_array_is_runtime": (
        {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.x", "ItemProcessor": {
            "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}, "End": True}}},
        {"x": {"a": 1}},
        [(S, 0), ("MapStateEntered", 0), ("MapStateStarted", 2, {"length": 0}),
         ("ExecutionFailed", 3, {"error": "States.Runtime",
                                 "cause": "An error occurred while executing the state 'M' (entered at the event id "
                                          "#2). Map state input must be an array but was: {\"a\":1}"})],
        "FAILED", None),
    "variables_jsonpath_assign": (
        {"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": {"answer": 42}, "Assign": {"x.$": "$.answer", "lit": "L"}, "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"x.$": "$x", "f.$": "States.Format('{}{}', $lit, $x)"},
                  "End": True}}},
        {},
        [(S, 0), ("PassStateEntered", 0),
         ("PassStateExited", 2, {"assignedVariables": {"x": 42, "lit": "L"}, "output": {"answer": 42}}),
         ("PassStateEntered", 3), ("PassStateExited", 4, {"output": {"x": 42, "f": "L42"}}),
         ("ExecutionSucceeded", 5)],
        "SUCCEEDED", {"x": 42, "f": "L42"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_histories(sfn, case):
    definition, inp, expected, status, output = CASES[case]
    ex, desc = run(sfn, definition, inp)
    assert desc["status"] == status, desc
    events = history(sfn, ex)
    assert_history(events, expected)
    if output is not None:
        import json
        assert json.loads(desc["output"]) == output


# One intrinsic function per execution, each through a Pass state's Parameters on the server.
INTRINSIC_INPUT = {"s": "a,b,,c", "arr": [1, 2, 2, 3], "obj": {"x": 1}, "n": 1.5, "str": "Data to encode",
                   "json": '{"k": [1, 2]}'}
INTRINSICS = {
    "States.Format": ("States.Format('{} of {}', $.n, $.obj)", "1.5 of {x=1}"),
    "States.StringToJson": ("States.StringToJson($.json)", {"k": [1, 2]}),
    "States.JsonToString": ("States.JsonToString($.obj)", '{"x":1}'),
    "States.Array": ("States.Array($.n, 'b')", [1.5, "b"]),
    "States.ArrayPartition": ("States.ArrayPartition($.arr, 2)", [[1, 2], [2, 3]]),
    "States.ArrayContains": ("States.ArrayContains($.arr, 2)", True),
    "States.ArrayRange": ("States.ArrayRange(0, 4, 2)", [0, 2, 4]),
    "States.ArrayGetItem": ("States.ArrayGetItem($.arr, 0)", 1),
    "States.ArrayLength": ("States.ArrayLength($.arr)", 4),
    "States.ArrayUnique": ("States.ArrayUnique($.arr)", [1, 2, 3]),
    "States.Base64Encode": ("States.Base64Encode($.str)", "RGF0YSB0byBlbmNvZGU="),
    "States.Base64Decode": ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "Data to encode"),
    "States.Hash": ("States.Hash($.str, 'SHA-1')", "72a42d0f8593b8ce67954a60e19afdaa929600e5"),
    "States.JsonMerge": ("States.JsonMerge($.obj, States.StringToJson('{\"y\":2}'), false)", {"x": 1, "y": 2}),
    "States.MathAdd": ("States.MathAdd($.n, 1)", 3),
    "States.StringSplit": ("States.StringSplit($.s, ',')", ["a", "b", "c"]),
}


@pytest.mark.parametrize("fn", sorted(INTRINSICS))
def test_intrinsic_histories(sfn, fn):
    call, want = INTRINSICS[fn]
    ex, desc = run(sfn, {"StartAt": "F", "States": {"F": {"Type": "Pass", "Parameters": {"r.$": call},
                                                            "End": True}}}, INTRINSIC_INPUT)
    assert_history(history(sfn, ex), [(S, 0), ("PassStateEntered", 0, {"input": INTRINSIC_INPUT}),
                                      ("PassStateExited", 2, {"output": {"r": want}}),
                                      ("ExecutionSucceeded", 3, {"output": {"r": want}})])


@pytest.mark.parametrize("call,pattern", [("States.UUID()", r"^[0-9a-f-]{36}$"),
                                          ("States.MathRandom(1, 3)", r"^[12]$")])
def test_intrinsic_nondeterministic(sfn, call, pattern):
    import re
    ex, desc = run(sfn, {"StartAt": "F", "States": {"F": {"Type": "Pass", "Parameters": {"r.$": call},
                                                            "End": True}}})
    import json
    assert re.match(pattern, str(json.loads(desc["output"])["r"]))
