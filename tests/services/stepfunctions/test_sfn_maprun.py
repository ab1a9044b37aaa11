"""Distributed Map runs its iterations as child executions: ListExecutions(mapRunArn),
DescribeExecution of children (Standard and Express), DescribeMapRun counts in items and in
executions, UpdateMapRun, tolerated failures aborting the rest, a stopped parent aborting its run,
and kill -9 in the middle of a Map Run."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import BrokerProcess
from tests.services.stepfunctions._helpers import history, make_sm, name, wait_done, wait_until
from tests.services.stepfunctions.conftest import sfn_config


def _distributed(processor_states: dict, start: str, *, exec_type="STANDARD", **map_fields) -> dict:
    m = {"Type": "Map", "ItemsPath": "$.items",
         "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": exec_type},
                           "StartAt": start, "States": processor_states},
         "End": True, **map_fields}
    return {"StartAt": "Fan", "States": {"Fan": m}}


def _run_of(sfn, ex: str) -> str:
    return wait_until(lambda: (sfn.list_map_runs(executionArn=ex)["mapRuns"] or [None])[0], 10,
                      what="the Map Run to start")["mapRunArn"]


def _counts(sfn, run: str, kind: str = "executionCounts") -> dict:
    return sfn.describe_map_run(mapRunArn=run)[kind]


def _children(sfn, run: str, **kw) -> list[dict]:
    out, token = [], None
    while True:
        page = sfn.list_executions(mapRunArn=run, **({"nextToken": token} if token else {}), **kw)
        out.extend(page["executions"])
        token = page.get("nextToken")
        if not token:
            return out


def test_standard_children_are_executions(sfn):
    sm = make_sm(sfn, _distributed({"Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.n, $.n)"},
                                               "End": True}}, "Double", Label="Doubler",
                                   ItemSelector={"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"}))
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    done = wait_done(sfn, ex)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == [{"v": 2}, {"v": 4}, {"v": 6}]
    run = _run_of(sfn, ex)
    assert f":mapRun:{sm.rsplit(':', 1)[1]}/Doubler:" in run
    kids = _children(sfn, run)
    assert len(kids) == 3 and {k["status"] for k in kids} == {"SUCCEEDED"}
    assert {k["stateMachineArn"] for k in kids} == {sm + "/Doubler"}
    assert all(k["mapRunArn"] == run and k["itemCount"] == 1 and ":execution:" in k["executionArn"] for k in kids)
    by_input = {}
    for k in kids:
        d = sfn.describe_execution(executionArn=k["executionArn"])
        assert d["mapRunArn"] == run and d["stateMachineArn"] == sm + "/Doubler"
        by_input[json.loads(d["input"])["i"]] = (json.loads(d["input"]), json.loads(d["output"]))
        assert [e["type"] for e in history(sfn, k["executionArn"])] == [
            "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert by_input == {0: ({"n": 1, "i": 0}, {"v": 2}), 1: ({"n": 2, "i": 1}, {"v": 4}),
                        2: ({"n": 3, "i": 2}, {"v": 6})}
    child_sm = sfn.describe_state_machine_for_execution(executionArn=kids[0]["executionArn"])
    assert child_sm["mapRunArn"] == run and child_sm["stateMachineArn"] == sm + "/Doubler"
    assert json.loads(child_sm["definition"])["StartAt"] == "Double"
    desc = sfn.describe_map_run(mapRunArn=run)
    assert desc["status"] == "SUCCEEDED" and desc["executionArn"] == ex and "stopDate" in desc
    want = {"pending": 0, "running": 0, "succeeded": 3, "failed": 0, "timedOut": 0, "aborted": 0, "total": 3,
            "resultsWritten": 0}
    assert desc["itemCounts"] == want and desc["executionCounts"] == want and desc["redriveCount"] == 0
    # children are not executions of the parent machine
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=sm)["executions"]] == [ex]


def test_express_children_with_batches(sfn):
    sm = make_sm(sfn, _distributed({"Count": {"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)"},
                                              "End": True}}, "Count", exec_type="EXPRESS",
                                   ItemBatcher={"MaxItemsPerBatch": 2}))
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": list(range(5))}))["executionArn"]
    assert json.loads(wait_done(sfn, ex)["output"]) == [{"n": 2}, {"n": 2}, {"n": 1}]
    run = _run_of(sfn, ex)
    kids = _children(sfn, run)
    assert sorted(k["itemCount"] for k in kids) == [1, 2, 2]
    assert all(":express:" in k["executionArn"] and k["status"] == "SUCCEEDED" for k in kids)
    d = sfn.describe_execution(executionArn=kids[0]["executionArn"])
    assert d["mapRunArn"] == run and d["status"] == "SUCCEEDED" and "Items" in json.loads(d["input"])
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.get_execution_history(executionArn=kids[0]["executionArn"])
    assert ei.value.response["Error"]["Code"] == "InvalidArn"
    desc = sfn.describe_map_run(mapRunArn=run)
    assert desc["itemCounts"]["succeeded"] == desc["itemCounts"]["total"] == 5
    assert desc["executionCounts"]["succeeded"] == desc["executionCounts"]["total"] == 3


def _activity_map(sfn, act: str, **map_fields) -> str:
    return make_sm(sfn, _distributed({"Work": {"Type": "Task", "Resource": act, "End": True}}, "Work",
                                     **map_fields))


def test_update_map_run_tolerated_failures_and_aborts(sfn):
    act = sfn.create_activity(name=name("maprun"))["activityArn"]
    sm = _activity_map(sfn, act, MaxConcurrency=2)
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": list(range(6))}))["executionArn"]
    run = _run_of(sfn, ex)
    wait_until(lambda: _counts(sfn, run)["running"] == 2, what="two children running")
    assert _counts(sfn, run)["pending"] == 4
    sfn.update_map_run(mapRunArn=run, maxConcurrency=3, toleratedFailureCount=1)
    wait_until(lambda: _counts(sfn, run)["running"] == 3, what="a third child after UpdateMapRun")
    desc = sfn.describe_map_run(mapRunArn=run)
    assert (desc["maxConcurrency"], desc["toleratedFailureCount"], desc["status"]) == (3, 1, "RUNNING")
    assert "stopDate" not in desc
    first = sfn.get_activity_task(activityArn=act)
    sfn.send_task_failure(taskToken=first["taskToken"], error="Bad", cause="first")
    # one failure is now tolerated: another child takes its place
    wait_until(lambda: _counts(sfn, run)["failed"] == 1 and _counts(sfn, run)["running"] == 3,
               what="the failed child replaced")
    assert sfn.describe_execution(executionArn=ex)["status"] == "RUNNING"
    second = sfn.get_activity_task(activityArn=act)
    sfn.send_task_failure(taskToken=second["taskToken"], error="Bad", cause="second")
    done = wait_done(sfn, ex)
    assert (done["status"], done["error"], done["cause"]) == (
        "FAILED", "States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")
    desc = sfn.describe_map_run(mapRunArn=run)
    c = desc["executionCounts"]
    assert desc["status"] == "FAILED" and (c["failed"], c["aborted"], c["running"]) == (2, 2, 0)
    assert c["pending"] == 2 and c["total"] == 6
    aborted = _children(sfn, run, statusFilter="ABORTED")
    assert len(aborted) == 2 and all(k["status"] == "ABORTED" for k in aborted)
    types = [e["type"] for e in history(sfn, ex)]
    assert types[-4:] == ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.describe_map_run(mapRunArn=run[:-3] + "abc")
    assert ei.value.response["Error"]["Code"] == "ResourceNotFound"


def test_stopping_the_parent_aborts_the_run(sfn):
    act = sfn.create_activity(name=name("maprun-stop"))["activityArn"]
    sm = _activity_map(sfn, act, MaxConcurrency=2)
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    run = _run_of(sfn, ex)
    wait_until(lambda: _counts(sfn, run)["running"] == 2, what="two children running")
    sfn.stop_execution(executionArn=ex, error="Enough", cause="stopped by the test")
    desc = wait_until(lambda: (lambda d: d if d["status"] == "ABORTED" else None)(
        sfn.describe_map_run(mapRunArn=run)), what="the Map Run to be aborted")
    assert (desc["executionCounts"]["aborted"], desc["executionCounts"]["pending"]) == (2, 1)
    assert {k["status"] for k in _children(sfn, run)} == {"ABORTED"}


def test_kill_9_in_the_middle_of_a_map_run(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1") as b:
        sfn = b.client("stepfunctions", config=sfn_config())
        act = sfn.create_activity(name="maprun-restart")["activityArn"]
        sm = _activity_map(sfn, act, MaxConcurrency=2)
        quick = make_sm(sfn, _distributed({"Nap": {"Type": "Wait", "Seconds": 2, "Next": "Echo"},
                                           "Echo": {"Type": "Pass", "End": True}}, "Nap", exec_type="EXPRESS"))
        ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": [1, 2, 3, 4]}))["executionArn"]
        ex2 = sfn.start_execution(stateMachineArn=quick, input=json.dumps({"items": ["a", "b"]}))["executionArn"]
        run = _run_of(sfn, ex)
        before = sfn.get_activity_task(activityArn=act, workerName="before")
        wait_until(lambda: _counts(sfn, run)["running"] == 2, what="two children running")
        b.kill_all()
        b.restart()
        sfn = b.client("stepfunctions", config=sfn_config())
        sfn.send_task_success(taskToken=before["taskToken"], output=json.dumps({"got": json.loads(before["input"])}))
        for _ in range(3):
            task = sfn.get_activity_task(activityArn=act, workerName="after")
            sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"got": json.loads(task["input"])}))
        done = wait_done(sfn, ex, timeout=30)
        assert done["status"] == "SUCCEEDED"
        assert json.loads(done["output"]) == [{"got": n} for n in (1, 2, 3, 4)]
        kids = _children(sfn, run)
        assert len(kids) == 4 and {k["status"] for k in kids} == {"SUCCEEDED"}     # no child started twice
        for k in kids:
            assert [e["type"] for e in history(sfn, k["executionArn"])].count("TaskStateEntered") == 1
        # Express children running at the crash run again (at-least-once) and the parent finishes
        assert json.loads(wait_done(sfn, ex2, timeout=30)["output"]) == ["a", "b"]
