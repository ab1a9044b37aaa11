"""Distributed Map: ItemReader (JSON, CSV, listing) and ResultWriter on a local
directory standing in for S3, Map Runs (events, DescribeMapRun, ListMapRuns),
tolerated failures; and RedriveExecution of a failed execution."""

from __future__ import annotations

import json

import pytest

from tests.services.stepfunctions._helpers import history, make_sm, name, wait_done
from tests.services.stepfunctions.conftest import sfn_config

ITEMS = [{"n": i} for i in range(1, 6)]


@pytest.fixture(scope="module")
def local(local_server):
    server, _mocks, buckets = local_server
    (buckets / "in").mkdir(exist_ok=True)
    (buckets / "in" / "items.json").write_text(json.dumps(ITEMS))
    (buckets / "in" / "table.csv").write_text("name,age\nann,31\nbob,42\ncat,7\n")
    return server.client("stepfunctions", config=sfn_config()), buckets


def _machine(tolerated: int, writer: bool) -> dict:
    m = {"Type": "Map", "Label": "Batch", "MaxConcurrency": 2, "ToleratedFailureCount": tolerated,
         "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                        "Parameters": {"Bucket": "in", "Key.$": "$.key"}},
         "ItemSelector": {"value.$": "$$.Map.Item.Value.n", "index.$": "$$.Map.Item.Index"},
         "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                           "StartAt": "Check", "States": {
                               "Check": {"Type": "Choice", "Choices": [
                                   {"Variable": "$.value", "NumericEquals": 3, "Next": "Bad"}], "Default": "Good"},
                               "Bad": {"Type": "Fail", "Error": "Three", "Cause": "no threes"},
                               "Good": {"Type": "Pass", "End": True}}},
         "End": True}
    if writer:
        m["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                             "Parameters": {"Bucket": "out", "Prefix": "results"}}
    return {"StartAt": "Work", "States": {"Work": m}}


def test_distributed_map_reader_writer_and_map_run(local):
    sfn, buckets = local
    arn = make_sm(sfn, _machine(tolerated=1, writer=True))
    ex = sfn.start_execution(stateMachineArn=arn, input='{"key": "items.json"}')["executionArn"]
    desc = wait_done(sfn, ex)
    assert desc["status"] == "SUCCEEDED", desc
    out = json.loads(desc["output"])
    run_arn = out["MapRunArn"]
    assert ":mapRun:" in run_arn and "/Batch:" in run_arn
    key = out["ResultWriterDetails"]["Key"]
    assert out["ResultWriterDetails"]["Bucket"] == "out" and key.startswith("results/") and key.endswith("manifest.json")
    manifest = json.loads((buckets / "out" / key).read_text())
    assert manifest["MapRunArn"] == run_arn
    ok_file = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    rows = json.loads((buckets / "out" / ok_file).read_text())
    assert sorted(json.loads(r["Output"])["value"] for r in rows) == [1, 2, 4, 5]
    types = [(e["type"], e["previousEventId"]) for e in history(sfn, ex)]
    assert types == [("ExecutionStarted", 0), ("MapStateEntered", 0), ("MapStateStarted", 2), ("MapRunStarted", 3),
                     ("MapRunSucceeded", 4), ("MapStateSucceeded", 5), ("MapStateExited", 5),
                     ("ExecutionSucceeded", 7)]
    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "SUCCEEDED" and run["maxConcurrency"] == 2 and run["toleratedFailureCount"] == 1
    assert run["itemCounts"]["succeeded"] == 4 and run["itemCounts"]["failed"] == 1 and run["itemCounts"]["total"] == 5
    assert [r["mapRunArn"] for r in sfn.list_map_runs(executionArn=ex)["mapRuns"]] == [run_arn]


def test_distributed_map_failure_threshold(local):
    sfn, _ = local
    arn = make_sm(sfn, _machine(tolerated=0, writer=False))
    desc = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input='{"key": "items.json"}')["executionArn"])
    assert (desc["status"], desc["error"], desc["cause"]) == (
        "FAILED", "States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded")


@pytest.mark.parametrize("pct,status", [(20, "SUCCEEDED"), (19.5, "FAILED")])
def test_distributed_map_failure_percentage(local, pct, status):
    sfn, _ = local
    m = _machine(tolerated=0, writer=False)
    del m["States"]["Work"]["ToleratedFailureCount"]
    m["States"]["Work"]["ToleratedFailurePercentage"] = pct          # one item in five fails: 20 %
    desc = wait_done(sfn, sfn.start_execution(stateMachineArn=make_sm(sfn, m), input='{"key": "items.json"}')[
        "executionArn"])
    assert desc["status"] == status
    if status == "FAILED":
        assert desc["error"] == "States.ExceedToleratedFailureThreshold"


def test_csv_reader_with_max_items(local):
    sfn, _ = local
    arn = make_sm(sfn, {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                                      "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW",
                                                       "MaxItems": 2},
                                      "Parameters": {"Bucket": "in", "Key": "table.csv"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "End": True}}})
    desc = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert json.loads(desc["output"]) == [{"name": "ann", "age": "31"}, {"name": "bob", "age": "42"}]


def test_item_batcher(local):
    sfn, _ = local
    arn = make_sm(sfn, {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                                      "Parameters": {"Bucket": "in", "Key": "items.json"}},
        "ItemBatcher": {"MaxItemsPerBatchPath": "$.max", "BatchInput": {"tag.$": "$.tag"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "End": True}}})
    desc = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input='{"max": 2, "tag": "t1"}')["executionArn"])
    assert json.loads(desc["output"]) == [{"BatchInput": {"tag": "t1"}, "Items": ITEMS[0:2]},
                                          {"BatchInput": {"tag": "t1"}, "Items": ITEMS[2:4]},
                                          {"BatchInput": {"tag": "t1"}, "Items": ITEMS[4:]}]


def test_redrive_failed_execution(sfn):
    act = sfn.create_activity(name=name("redrive"))["activityArn"]
    arn = make_sm(sfn, {"StartAt": "Prep", "States": {
        "Prep": {"Type": "Pass", "Result": "prepared", "ResultPath": "$.prep", "Next": "Work"},
        "Work": {"Type": "Task", "Resource": act, "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input='{"job": 1}')["executionArn"]
    task = sfn.get_activity_task(activityArn=act)
    sfn.send_task_failure(taskToken=task["taskToken"], error="Flaky", cause="first try")
    failed = wait_done(sfn, ex)
    assert failed["status"] == "FAILED" and failed["redriveStatus"] == "REDRIVABLE"
    sfn.redrive_execution(executionArn=ex)
    task = sfn.get_activity_task(activityArn=act)
    assert json.loads(task["input"]) == {"job": 1, "prep": "prepared"}
    sfn.send_task_success(taskToken=task["taskToken"], output='"second time lucky"')
    done = wait_done(sfn, ex)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1 and "redriveDate" in done
    events = history(sfn, ex)
    types = [e["type"] for e in events]
    assert types.count("PassStateEntered") == 1 and "ExecutionRedriven" in types
    redriven = events[types.index("ExecutionRedriven")]
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert types[-1] == "ExecutionSucceeded" and [e["id"] for e in events] == list(range(1, len(events) + 1))
    import botocore.exceptions
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.redrive_execution(executionArn=ex)
    assert ei.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    assert ei.value.response["Error"]["Message"] == "Execution is SUCCEEDED and cannot be redriven"
