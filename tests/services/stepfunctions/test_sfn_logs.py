"""Logging configuration: validation with AWS's words, and execution history
delivered to the CloudWatch Logs group (levels ALL/ERROR/FATAL, with and
without execution data, Standard and Express), read back with boto3's logs client."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.services.stepfunctions._helpers import make_sm, name, wait_done, wait_until

PASS = {"StartAt": "State_1", "States": {"State_1": {"Type": "Pass", "Result": {"Arg1": "argument1"}, "End": True}}}
FAIL = {"StartAt": "FailState", "States": {"FailState": {"Type": "Fail", "Error": "SomeFailure",
                                                        "Cause": "This state machine raises a 'SomeFailure' failure."}}}


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


@pytest.fixture
def group(logs):
    """A fresh log group: (name, ARN as Step Functions wants it, ending in :*)."""
    g = name("sfn-logs")
    logs.create_log_group(logGroupName=g)
    arn = logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]["arn"]
    if not arn.endswith(":*"):
        arn += ":*"
    return g, arn


def cfg(arn: str | None, level: str = "ALL", data: bool = True) -> dict:
    out = {"level": level, "includeExecutionData": data}
    if arn is not None:
        out["destinations"] = [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]
    return out


def logged(logs, group_name: str, execution_arn: str, count: int) -> list[dict]:
    """The records of one execution in the group, in event order, once `count` have arrived."""
    def read():
        events, token = [], None
        while True:
            kw = {"nextToken": token} if token else {}
            page = logs.filter_log_events(logGroupName=group_name, **kw)
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                break
        recs = [json.loads(e["message"]) for e in events]
        recs = [r for r in recs if r["execution_arn"] == execution_arn]
        return sorted(recs, key=lambda r: int(r["id"])) if len(recs) >= count else None
    return wait_until(read, 20, what=f"{count} log records of {execution_arn}")


def test_invalid_logging_configurations(sfn, group):
    _g, arn = group
    bad = [{"level": "ALL", "includeExecutionData": True},
           {"level": "ERROR", "includeExecutionData": False, "destinations": []},
           {"level": "ALL", "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}},
                                             {"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]}]
    for c in bad:
        with pytest.raises(ClientError) as e:
            make_sm(sfn, PASS, loggingConfiguration=c)
        assert e.value.response["Error"]["Code"] == "InvalidLoggingConfiguration"
        assert e.value.response["Error"]["Message"] == \
            "Invalid Logging Configuration: Must specify exactly one Log Destination."
    missing = arn.replace(":log-group:", ":log-group:no-such-group-")
    with pytest.raises(ClientError) as e:
        make_sm(sfn, PASS, loggingConfiguration=cfg(missing))
    assert e.value.response["Error"]["Code"] == "InvalidLoggingConfiguration"
    assert e.value.response["Error"]["Message"] == "Invalid Logging Configuration: Log Destination not found."


def test_incomplete_and_updated_configurations(sfn, group):
    _g, arn = group
    sm = make_sm(sfn, PASS, loggingConfiguration={"level": "OFF"})
    assert sfn.describe_state_machine(stateMachineArn=sm)["loggingConfiguration"] == \
        {"level": "OFF", "includeExecutionData": False}
    sm2 = make_sm(sfn, PASS, loggingConfiguration={"level": "OFF", "destinations": []})
    assert sfn.describe_state_machine(stateMachineArn=sm2)["loggingConfiguration"] == \
        {"level": "OFF", "includeExecutionData": False, "destinations": []}
    sfn.update_state_machine(stateMachineArn=sm, loggingConfiguration=cfg(arn, "FATAL"))
    assert sfn.describe_state_machine(stateMachineArn=sm)["loggingConfiguration"] == cfg(arn, "FATAL")
    with pytest.raises(ClientError) as e:
        sfn.update_state_machine(stateMachineArn=sm, loggingConfiguration={"level": "ALL"})
    assert e.value.response["Error"]["Code"] == "InvalidLoggingConfiguration"


def test_all_events_with_data(sfn, logs, group):
    g, arn = group
    sm = make_sm(sfn, PASS, loggingConfiguration=cfg(arn))
    ex = sfn.start_execution(stateMachineArn=sm, input='{"a": 1}')["executionArn"]
    wait_done(sfn, ex)
    recs = logged(logs, g, ex, 4)
    assert [(r["id"], r["type"], r["previous_event_id"]) for r in recs] == [
        ("1", "ExecutionStarted", "0"), ("2", "PassStateEntered", "0"), ("3", "PassStateExited", "2"),
        ("4", "ExecutionSucceeded", "3")]
    assert recs[0]["details"] == {"input": '{"a": 1}', "inputDetails": {"truncated": False},
                                  "roleArn": "arn:aws:iam::000000000000:role/StepFunctionsRole"}
    assert recs[2]["details"] == {"name": "State_1", "output": '{"Arg1":"argument1"}',
                                  "outputDetails": {"truncated": False}}
    assert all(r["redrive_count"] == "0" and r["event_timestamp"].isdigit() for r in recs)
    streams = logs.describe_log_streams(logGroupName=g)["logStreams"]
    assert streams and all(s["logStreamName"].startswith("states/") for s in streams)


def test_all_events_without_data(sfn, logs, group):
    g, arn = group
    sm = make_sm(sfn, PASS, loggingConfiguration=cfg(arn, "ALL", False))
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    wait_done(sfn, ex)
    recs = logged(logs, g, ex, 4)
    assert [r["details"] for r in recs] == [
        {"roleArn": "arn:aws:iam::000000000000:role/StepFunctionsRole"}, {"name": "State_1"},
        {"name": "State_1"}, {}]


@pytest.mark.parametrize("level,types", [("ERROR", ["FailStateEntered", "ExecutionFailed"]),
                                         ("FATAL", ["ExecutionFailed"])])
def test_partial_levels(sfn, logs, group, level, types):
    g, arn = group
    sm = make_sm(sfn, FAIL, loggingConfiguration=cfg(arn, level))
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    wait_done(sfn, ex)
    recs = logged(logs, g, ex, len(types))
    assert [r["type"] for r in recs] == types
    assert recs[-1]["details"] == {"error": "SomeFailure",
                                   "cause": "This state machine raises a 'SomeFailure' failure."}
    # a successful run of a machine logging errors only writes nothing
    ok = make_sm(sfn, PASS, loggingConfiguration=cfg(arn, level))
    ok_ex = sfn.start_execution(stateMachineArn=ok)["executionArn"]
    wait_done(sfn, ok_ex)
    more = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    wait_done(sfn, more)
    logged(logs, g, more, len(types))      # written after the successful run's (if any) would have been
    page = logs.filter_log_events(logGroupName=g)["events"]
    assert not [e for e in page if json.loads(e["message"])["execution_arn"] == ok_ex]


def test_express_history_reaches_logs(sfn, logs, group):
    g, arn = group
    sm = make_sm(sfn, PASS, type="EXPRESS", loggingConfiguration=cfg(arn))
    out = sfn.start_sync_execution(stateMachineArn=sm, input="{}")
    assert out["status"] == "SUCCEEDED"
    recs = logged(logs, g, out["executionArn"], 4)
    assert [r["type"] for r in recs] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                         "ExecutionSucceeded"]
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    assert [r["type"] for r in logged(logs, g, ex, 4)][-1] == "ExecutionSucceeded"


def test_deleted_log_group_does_not_stop_executions(sfn, logs, group):
    g, arn = group
    sm = make_sm(sfn, PASS, loggingConfiguration=cfg(arn))
    logs.delete_log_group(logGroupName=g)
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
