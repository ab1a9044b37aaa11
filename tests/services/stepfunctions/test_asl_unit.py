"""The ASL building blocks without a server: JSONPath (Jayway semantics and
messages), ResultPath, every intrinsic function, Choice comparisons (type
mismatches are false), definition diagnostics, and Retry/Catch matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl import intrinsics, jsonpath
from services.stepfunctions.asl.choice import compare
from services.stepfunctions.asl.definition import validate
from services.stepfunctions.asl.errors import StatesError

DATA = {"a": {"b": [10, 20, {"c": "x"}]}, "items": [{"id": 1, "v": "p"}, {"id": 2, "v": "q"}], "int-literal": 0}


@pytest.mark.parametrize("path,value", [
    ("$", DATA), ("$.a.b[1]", 20), ("$.a.b[-1].c", "x"), ("$['int-literal']", 0), ("$.int-literal", 0),
    ("$.items[*].id", [1, 2]), ("$.items[1:]", [{"id": 2, "v": "q"}]), ("$..c", ["x"]),
    ("$.items[?(@.id > 1)].v", ["q"]), ("$.missing[*]", []),
])
def test_jsonpath_select(path, value):
    assert jsonpath.select(path, DATA) == value


@pytest.mark.parametrize("path,message", [
    ("$.nope", "No results for path: $['nope']"),
    ("$.a.zz.b", "Missing property in path $['a']['zz']"),
    ("$.a.b[7]", "No results for path: $['a']['b'][7]"),
])
def test_jsonpath_misses_are_jayway_errors(path, message):
    with pytest.raises(jsonpath.PathError) as ei:
        jsonpath.select(path, DATA)
    assert ei.value.message == message


@pytest.mark.parametrize("path,result,expected", [
    (None, 1, {"k": 1}), ("$", 1, 1), ("$.r", 1, {"k": 1, "r": 1}), ("$.x.y", 1, {"k": 1, "x": {"y": 1}}),
    ("$.k", {"n": 1}, {"k": {"n": 1}}),
])
def test_result_path(path, result, expected):
    original = {"k": 1}
    assert jsonpath.apply_result_path(path, original, result) == expected
    assert original == {"k": 1}            # the state input is never mutated


def test_result_path_into_a_scalar_fails():
    with pytest.raises(StatesError) as ei:
        jsonpath.apply_result_path("$.k.deeper", {"k": 5}, 1)
    assert ei.value.error == "States.ResultPathMatchFailure"


INPUT = {"s": "a,b,,c", "arr": [1, 2, 2, 3], "obj": {"x": 1, "y": [2]}, "n": 1.5, "str": "Data to encode",
         "json": '{"k": [1, 2]}', "none": None}


@pytest.mark.parametrize("call,expected", [
    ("States.Format('{} and {}', $.s, $.n)", "a,b,,c and 1.5"),
    ("States.Format('{}|{}|{}', $.obj, $.arr, $.none)", "{x=1, y=[2]}|[1, 2, 2, 3]|null"),
    ("States.Format('literal \\{\\} and {}', 'x')", "literal {} and x"),
    ("States.StringToJson($.json)", {"k": [1, 2]}),
    ("States.StringToJson(' ')", None),
    ("States.JsonToString($.obj)", '{"x":1,"y":[2]}'),
    ("States.Array(1, 'two', $.none, States.Array())", [1, "two", None, []]),
    ("States.ArrayPartition($.arr, 3)", [[1, 2, 2], [3]]),
    ("States.ArrayContains($.arr, 3)", True),
    ("States.ArrayContains(States.Array(true), 1)", False),
    ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
    ("States.ArrayRange(0, 10, 3)", [0, 3, 6, 9]),
    ("States.ArrayGetItem($.arr, 3)", 3),
    ("States.ArrayLength($.arr)", 4),
    ("States.ArrayUnique($.arr)", [1, 2, 3]),
    ("States.Base64Encode($.str)", "RGF0YSB0byBlbmNvZGU="),
    ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "Data to encode"),
    ("States.Hash('input data', 'MD5')", "812f45842bc6d66ee14572ce20db8e86"),
    ("States.Hash('input data', 'SHA-512')", "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23"
                                             "bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4"),
    ("States.JsonMerge($.obj, States.StringToJson('{\"y\": 3, \"z\": 4}'), false)", {"x": 1, "y": 3, "z": 4}),
    ("States.MathAdd($.n, -1.5)", 1),
    ("States.MathAdd(2.5, -2.5)", 1),
    ("States.StringSplit($.s, ',')", ["a", "b", "c"]),
    ("States.StringSplit('This.is+a,test', '.+,')", ["This", "is", "a", "test"]),
    ("States.ArrayLength(States.StringSplit($$.Execution.Name, '-'))", 3),
])
def test_intrinsic_functions(call, expected):
    env = intrinsics.Env(INPUT, {"Execution": {"Name": "a-b-c"}})
    assert intrinsics.evaluate(intrinsics.parse(call), env) == expected


def test_intrinsics_random_and_uuid():
    env = intrinsics.Env({}, {})
    for _ in range(20):
        assert 3 <= intrinsics.evaluate(intrinsics.parse("States.MathRandom(3, 7)"), env) < 7
    seeded = [intrinsics.evaluate(intrinsics.parse("States.MathRandom(0, 1000, 42)"), env) for _ in range(3)]
    assert len(set(seeded)) == 1
    u = intrinsics.evaluate(intrinsics.parse("States.UUID()"), env)
    assert len(u) == 36 and u[14] == "4"


@pytest.mark.parametrize("call", [
    "States.ArrayGetItem(States.Array(1), 5)", "States.Hash('x', 'SHA-3')", "States.ArrayRange(0, 5000, 1)",
    "States.JsonMerge($.obj, $.obj, true)", "States.Format('{} {}', 'one')", "States.Base64Decode('@@@')",
])
def test_intrinsic_failures(call):
    with pytest.raises(StatesError) as ei:
        intrinsics.evaluate(intrinsics.parse(call), intrinsics.Env(INPUT, {}))
    assert ei.value.error == "States.IntrinsicFailure"


@pytest.mark.parametrize("text", ["States.Nope(1)", "States.Format('x'", "States.Format('bad \\q escape')",
                                  "States.Format($.a b)"])
def test_intrinsic_syntax_errors(text):
    with pytest.raises(intrinsics.IntrinsicSyntaxError):
        intrinsics.parse(text)


# (operator, variable, operand, result): mismatched types compare false
CHOICE_TABLE = [
    ("NumericEquals", 0, 0.0, True), ("NumericEquals", None, 0, False), ("NumericEquals", "0", 0, False),
    ("NumericEquals", True, 1, False), ("NumericGreaterThan", 1, 0, True), ("NumericLessThanEquals", 1, 1, True),
    ("StringEquals", "Hello", "Hello", True), ("StringEquals", 0, "0", False), ("StringEquals", " ", "     ", False),
    ("StringLessThan", "A", "AB", True), ("StringGreaterThanEquals", "", "", True),
    ("StringMatches", "log-2024.txt", "log-*.txt", True), ("StringMatches", "a*b", "a\\*b", True),
    ("StringMatches", "axb", "a\\*b", False),
    ("BooleanEquals", True, True, True), ("BooleanEquals", 1, True, False), ("BooleanEquals", False, False, True),
    ("TimestampEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00", True),
    ("TimestampLessThan", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", True),
    ("TimestampGreaterThan", "2024-01-01", "2023-01-01T00:00:00Z", False),
]


@pytest.mark.parametrize("op,value,operand,result", CHOICE_TABLE)
def test_choice_comparisons(op, value, operand, result):
    assert compare(op, value, operand) is result


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
       st.one_of(st.integers(), st.floats(allow_nan=False)))
def test_numeric_equals_is_false_for_non_numbers(value, operand):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    assert compare("NumericEquals", value, operand) is (ok and value == operand)


@pytest.mark.parametrize("definition,code,message,location", [
    ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}}}', "MISSING_TRANSITION_TARGET",
     "Missing 'Next' target: Z", "/States/A/Next"),
    ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "B": {"Type": "Pass", "End": true}}}',
     "UNREACHABLE_STATE", 'State "B" is not reachable.', "/States/B"),
    ('{"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [], "End": true}}}',
     "SCHEMA_VALIDATION_FAILED", "Value cannot be empty", "/States/A/Branches"),
    ('{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:query", '
     '"End": true}}}', "SCHEMA_VALIDATION_FAILED",
     "The resource provided arn:aws:states:::dynamodb:query is not recognized. The value is not a valid resource "
     "ARN, or the resource is not available in this region.", "/States/A/Resource"),
    ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"p.$": "States.Nope()"}, "End": true}}}',
     "SCHEMA_VALIDATION_FAILED", "The value for the field 'p.$' must be a valid JSONPath or a valid intrinsic "
     "function call", "/States/A/Parameters"),
    ('{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", '
     '"Credentials": {}, "End": true}}}', "SCHEMA_VALIDATION_FAILED",
     "The field 'RoleArn' is required but was missing", "/States/A/Credentials"),
])
def test_definition_diagnostics(definition, code, message, location):
    diags = validate(definition)
    assert [(d.code, d.message, d.location) for d in diags] == [(code, message, location)]


def test_express_only_diagnostics():
    d = '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync", ' \
        '"End": true}}}'
    assert validate(d) == []
    assert [x.message for x in validate(d, express=True)] == [
        "Express state machine does not support '.sync' service integration"]


@pytest.mark.parametrize("equals,error,task,matched", [
    (["States.ALL"], "Anything", False, True), (["States.ALL"], "States.Runtime", False, False),
    (["States.TaskFailed"], "Custom", True, True), (["States.TaskFailed"], "States.Timeout", True, False),
    (["States.TaskFailed"], "Custom", False, False), (["Custom"], "Custom", False, True),
    (["Other", "Custom"], "Custom", False, True), (["States.Timeout"], "States.Timeout", True, True),
])
def test_error_matching(equals, error, task, matched):
    assert E.matches(equals, StatesError(error, None, task=task)) is matched


@pytest.mark.parametrize("level,etype,logged", [
    ("ALL", "PassStateEntered", True), ("ERROR", "PassStateEntered", False), ("ERROR", "TaskFailed", True),
    ("ERROR", "FailStateEntered", True), ("ERROR", "MapIterationAborted", True), ("ERROR", "TaskTimedOut", True),
    ("FATAL", "TaskFailed", False), ("FATAL", "ExecutionTimedOut", True), ("FATAL", "ExecutionSucceeded", False),
    ("OFF", "ExecutionFailed", False),
])
def test_log_levels(level, etype, logged):
    from services.stepfunctions.logdelivery import wanted
    assert wanted(level, etype) is logged


@pytest.mark.parametrize("arn,where", [
    ("arn:aws:logs:eu-west-1:111111111111:log-group:g1:*", ("111111111111", "eu-west-1", "g1")),
    ("arn:aws:logs:eu-west-1:111111111111:log-group:/aws/vendedlogs/states/x", ("111111111111", "eu-west-1",
                                                                              "/aws/vendedlogs/states/x")),
    ("arn:aws:logs:eu-west-1:111111111111:log-group:g1:x", None), ("arn:aws:sqs:eu-west-1:1:q", None),
    ("not-an-arn", None),
])
def test_log_group_arns(arn, where):
    from services.stepfunctions.logdelivery import group_of
    assert group_of(arn) == where
