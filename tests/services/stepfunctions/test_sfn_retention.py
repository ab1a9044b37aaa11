"""Closed executions live on disk (history and data survive kill -9 and serve GetExecutionHistory,
DescribeExecution and RedriveExecution after it), and expire after stepfunctions.history_retention:
the execution, its history, its Map Runs and their children go; running executions stay."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import BrokerProcess
from tests.services.stepfunctions._helpers import ROLE, history, wait_done, wait_until
from tests.services.stepfunctions.conftest import sfn_config

CHATTY = {"StartAt": "S0", "States": {
    **{f"S{i}": {"Type": "Pass", "Result": {"step": i}, "ResultPath": f"$.r{i}", "Next": f"S{i + 1}"}
       for i in range(40)},
    "S40": {"Type": "Fail", "ErrorPath": "$.error", "Cause": "forty passes are enough"}}}
FAN = {"StartAt": "Fan", "States": {"Fan": {
    "Type": "Map", "ItemsPath": "$.items",
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}}}


def _code(fn) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fn()
    return ei.value.response["Error"]["Code"]


def test_closed_executions_on_disk_then_expired(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1") as b:
        sfn = b.client("stepfunctions", config=sfn_config())
        chatty = sfn.create_state_machine(name="chatty", roleArn=ROLE, definition=json.dumps(CHATTY))[
            "stateMachineArn"]
        fan = sfn.create_state_machine(name="fan", roleArn=ROLE, definition=json.dumps(FAN))["stateMachineArn"]
        act = sfn.create_activity(name="keeps-running")["activityArn"]
        waits = sfn.create_state_machine(name="waits", roleArn=ROLE, definition=json.dumps({
            "StartAt": "W", "States": {"W": {"Type": "Task", "Resource": act, "End": True}}}))["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=chatty, input='{"error": "Tired"}')["executionArn"]
        parent = sfn.start_execution(stateMachineArn=fan, input='{"items": [1, 2]}')["executionArn"]
        running = sfn.start_execution(stateMachineArn=waits)["executionArn"]
        failed = wait_done(sfn, ex)
        assert failed["error"] == "Tired" and wait_done(sfn, parent)["status"] == "SUCCEEDED"
        events = history(sfn, ex)
        assert len(events) == 83                 # more than one 64-event chunk
        run = sfn.list_map_runs(executionArn=parent)["mapRuns"][0]["mapRunArn"]
        kids = [k["executionArn"] for k in sfn.list_executions(mapRunArn=run)["executions"]]

        b.kill_all()
        b.restart()
        sfn = b.client("stepfunctions", config=sfn_config())
        assert history(sfn, ex) == events
        page = sfn.get_execution_history(executionArn=ex, reverseOrder=True, maxResults=2)["events"]
        assert [e["type"] for e in page] == ["ExecutionFailed", "FailStateEntered"]
        again = sfn.describe_execution(executionArn=ex)
        assert (again["input"], again["error"], again["cause"]) == ('{"error": "Tired"}', "Tired",
                                                                   "forty passes are enough")
        assert json.loads(sfn.describe_execution(executionArn=kids[0])["output"]) in (1, 2)
        sfn.redrive_execution(executionArn=ex)          # from the snapshot kept on disk
        redriven = history(sfn, wait_done(sfn, ex)["executionArn"])
        assert [e["type"] for e in redriven[83:]] == ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]

        b.restart(env={"BROKER_STEPFUNCTIONS_HISTORY_RETENTION": "2"})
        sfn = b.client("stepfunctions", config=sfn_config())
        wait_until(lambda: not sfn.list_executions(stateMachineArn=chatty)["executions"], 20,
                   what="the closed execution to expire")
        assert _code(lambda: sfn.describe_execution(executionArn=ex)) == "ExecutionDoesNotExist"
        assert _code(lambda: sfn.get_execution_history(executionArn=ex)) == "ExecutionDoesNotExist"
        wait_until(lambda: not sfn.list_executions(stateMachineArn=fan)["executions"], 20,
                   what="the Map Run's parent to expire")
        assert _code(lambda: sfn.describe_map_run(mapRunArn=run)) == "ResourceNotFound"
        assert _code(lambda: sfn.describe_execution(executionArn=kids[0])) == "ExecutionDoesNotExist"
        assert sfn.describe_execution(executionArn=running)["status"] == "RUNNING"
        task = sfn.get_activity_task(activityArn=act)
        sfn.send_task_success(taskToken=task["taskToken"], output='"done"')
        assert wait_done(sfn, running)["status"] == "SUCCEEDED"
        wait_until(lambda: not sfn.list_executions(stateMachineArn=waits)["executions"], 20,
                   what="the last execution to expire once closed")
