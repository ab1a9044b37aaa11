"""RedriveExecution re-runs only what did not succeed: the failed and aborted branches of a
Parallel, the failed and never-started iterations of an inline Map, and the failed children of a
distributed Map's Map Run (redriven in place when Standard, started again when Express).

Failures come from an SQS queue that does not exist yet; the test creates it before redriving,
and counts the messages each queue got to prove that successful work did not run again."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.services.stepfunctions._helpers import history, make_sm, name, wait_done

SEND = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl.$": "$.q", "MessageBody.$": "$.q"}, "ResultPath": None, "End": True}


@pytest.fixture
def queues(sqs):
    """Three queue URLs: 'a' and 'c' exist, 'b' is only created by make('b')."""
    tag = name("rd")
    urls = {k: sqs.create_queue(QueueName=f"{tag}-{k}")["QueueUrl"] for k in ("a", "c")}
    urls["b"] = urls["a"][:-1] + "b"

    def make(k):
        assert sqs.create_queue(QueueName=f"{tag}-{k}")["QueueUrl"] == urls[k]

    def count(k) -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=urls[k], AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return urls, make, count


def _entered(events) -> Counter:
    return Counter(e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered"))


def _fail_then_redrive(sfn, sm: str, payload: dict, make, error: str = "SQS.QueueDoesNotExistException"):
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps(payload))["executionArn"]
    failed = wait_done(sfn, ex)
    assert failed["status"] == "FAILED" and failed["error"] == error, failed
    before = history(sfn, ex)
    make("b")
    sfn.redrive_execution(executionArn=ex)
    done = wait_done(sfn, ex)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1, done
    return ex, before, history(sfn, ex)


def test_parallel_redrives_failed_and_aborted_branches(sfn, queues):
    urls, make, count = queues
    sm = make_sm(sfn, {"StartAt": "Fork", "States": {"Fork": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Prep", "States": {"Prep": {"Type": "Pass", "Parameters": {"q.$": "$.a"}, "Next": "SendA"},
                                       "SendA": SEND}},
        {"StartAt": "Later", "States": {"Later": {"Type": "Wait", "Seconds": 1, "Next": "SendB"},
                                        "SendB": {**SEND, "Parameters": {"QueueUrl.$": "$.b", "MessageBody": "b"}}}},
        {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3, "Next": "SendC"},
                                      "SendC": {**SEND, "Parameters": {"QueueUrl.$": "$.c", "MessageBody": "c"}}}},
    ]}}})
    ex, before, after = _fail_then_redrive(sfn, sm, urls, make)
    assert "WaitStateAborted" in [e["type"] for e in before]        # the third branch was cut short
    assert json.loads(sfn.describe_execution(executionArn=ex)["output"]) == [{"q": urls["a"]}, urls, urls]
    # 'A' finished before 'B' failed; 'B' runs again from SendB (not from Later); 'C' from its Wait
    assert _entered(after) == {"Fork": 1, "Prep": 1, "SendA": 1, "Later": 1, "SendB": 2, "Nap": 2, "SendC": 1}
    assert (count("a"), count("b"), count("c")) == (1, 1, 1)
    types = [e["type"] for e in after]
    i = types.index("ExecutionRedriven")
    assert after[i]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]
    assert [e["id"] for e in after] == list(range(1, len(after) + 1))


def test_inline_map_redrives_failed_and_unstarted_iterations(sfn, queues):
    urls, make, count = queues
    sm = make_sm(sfn, {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ItemSelector": {"q.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "Send", "States": {"Send": SEND}}, "End": True}}})
    items = [urls["a"], urls["b"], urls["c"]]
    ex, before, after = _fail_then_redrive(sfn, sm, {"items": items}, make)
    started = [e["mapIterationStartedEventDetails"]["index"] for e in before if e["type"] == "MapIterationStarted"]
    assert started == [0, 1]                                        # 'c' never started in the first attempt
    i = [e["type"] for e in after].index("ExecutionRedriven")
    again = [e["mapIterationStartedEventDetails"]["index"] for e in after[i:] if e["type"] == "MapIterationStarted"]
    assert again == [1, 2]
    assert json.loads(sfn.describe_execution(executionArn=ex)["output"]) == [{"q": u} for u in items]
    assert (count("a"), count("b"), count("c")) == (1, 1, 1)
    assert _entered(after) == {"Each": 1, "Send": 4}


@pytest.mark.parametrize("exec_type", ["STANDARD", "EXPRESS"])
def test_distributed_map_redrives_its_map_run(sfn, queues, exec_type):
    urls, make, count = queues
    sm = make_sm(sfn, {"StartAt": "Fan", "States": {"Fan": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ItemSelector": {"q.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": exec_type},
                          "StartAt": "Send", "States": {"Send": SEND}}, "End": True}}})
    items = [urls["a"], urls["b"], urls["c"]]
    ex, before, after = _fail_then_redrive(sfn, sm, {"items": items}, make, "States.ExceedToleratedFailureThreshold")
    assert [e["type"] for e in before][-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    run = sfn.list_map_runs(executionArn=ex)["mapRuns"][0]["mapRunArn"]
    types = [e["type"] for e in after]
    i = types.index("ExecutionRedriven")
    assert types[i + 1] == "MapRunRedriven"
    assert after[i + 1]["mapRunRedrivenEventDetails"] == {"mapRunArn": run, "redriveCount": 1}
    assert types[-4:] == ["MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert json.loads(sfn.describe_execution(executionArn=ex)["output"]) == [{"q": u} for u in items]
    assert (count("a"), count("b"), count("c")) == (1, 1, 1)
    desc = sfn.describe_map_run(mapRunArn=run)
    assert desc["status"] == "SUCCEEDED" and desc["redriveCount"] == 1 and "redriveDate" in desc
    assert desc["executionCounts"]["succeeded"] == 3 and desc["executionCounts"]["total"] == 3
    kids = sfn.list_executions(mapRunArn=run)["executions"]
    if exec_type == "STANDARD":
        # the failed child is redriven in place: same ARN, redriveCount 1, ExecutionRedriven in its history
        assert len(kids) == 3 and {k["status"] for k in kids} == {"SUCCEEDED"}
        redriven = [k for k in kids if k["redriveCount"] == 1]
        assert len(redriven) == 1
        assert "ExecutionRedriven" in [e["type"] for e in history(sfn, redriven[0]["executionArn"])]
        assert [k["executionArn"] for k in sfn.list_executions(mapRunArn=run, redriveFilter="REDRIVEN")[
            "executions"]] == [redriven[0]["executionArn"]]
    else:
        # Express children are started again: the failed one stays FAILED beside its successor
        assert sorted(k["status"] for k in kids) == ["FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]


def test_timed_out_execution_redrives_its_running_branches(sfn):
    """An execution that timed out mid-Parallel: only the branch still running is re-run, from the
    state it was in (here a Wait that lasts only while RedriveCount is 0)."""
    hold = {"Type": "Wait", "QueryLanguage": "JSONata", "End": True,
            "Seconds": "{% $states.context.Execution.RedriveCount = 0 ? 60 : 0 %}"}
    sm = make_sm(sfn, {"StartAt": "Fork", "TimeoutSeconds": 1, "States": {"Fork": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Quick", "States": {"Quick": {"Type": "Pass", "Result": "quick", "End": True}}},
            {"StartAt": "Step", "States": {"Step": {"Type": "Pass", "Result": "stepped", "Next": "Hold"},
                                           "Hold": hold}}]}}})
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    timed_out = wait_done(sfn, ex)
    assert timed_out["status"] == "TIMED_OUT" and timed_out["redriveStatus"] == "REDRIVABLE"
    sfn.redrive_execution(executionArn=ex)
    done = wait_done(sfn, ex)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == ["quick", "stepped"]
    assert _entered(history(sfn, ex)) == {"Fork": 1, "Quick": 1, "Step": 1, "Hold": 2}
