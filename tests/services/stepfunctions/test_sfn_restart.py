"""kill -9 of the whole server mid-execution: executions resume where they were.

A Wait fires late but fires, an activity task keeps its token, a Map half
done finishes its other iterations, and no state that completed before the
crash runs again (each StateEntered appears once per state and iteration).
An Express execution started asynchronously (at-least-once, as on AWS) runs
again from its start.
"""

from __future__ import annotations

import json
from collections import Counter

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.stepfunctions._helpers import ROLE, history, wait_done
from tests.services.stepfunctions.conftest import sfn_config


def _entered(events) -> Counter:
    c = Counter()
    for e in events:
        if e["type"].endswith("StateEntered"):
            c[e["stateEnteredEventDetails"]["name"]] += 1
    return c


def test_kill_9_mid_execution_resumes(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2") as b:
        sfn = b.client("stepfunctions", config=sfn_config())
        act = sfn.create_activity(name="restart-act")["activityArn"]
        waiting = sfn.create_state_machine(name="waits", roleArn=ROLE, definition=json.dumps({
            "StartAt": "Before", "States": {
                "Before": {"Type": "Pass", "Result": "before", "ResultPath": "$.b", "Next": "Wait"},
                "Wait": {"Type": "Wait", "Seconds": 2, "Next": "Items"},
                "Items": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ItemProcessor": {
                    "StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 1, "End": True}}},
                          "ResultPath": "$.items", "Next": "After"},
                "After": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        working = sfn.create_state_machine(name="works", roleArn=ROLE, definition=json.dumps({
            "StartAt": "Prep", "States": {
                "Prep": {"Type": "Pass", "Next": "Work"},
                "Work": {"Type": "Task", "Resource": act, "HeartbeatSeconds": 600, "End": True}}}))["stateMachineArn"]
        ex_wait = sfn.start_execution(stateMachineArn=waiting, input=json.dumps({"items": [1, 2, 3, 4]}))["executionArn"]
        ex_work = sfn.start_execution(stateMachineArn=working, input='{"job": 7}')["executionArn"]
        task = sfn.get_activity_task(activityArn=act, workerName="before-crash")
        assert json.loads(task["input"]) == {"job": 7}
        wait_for(lambda: any(e["type"] == "WaitStateEntered" for e in history(sfn, ex_wait)), 10,
                 what="the Wait state to start")
        # a third execution parks in its activity task without a worker yet
        ex_queued = sfn.start_execution(stateMachineArn=working, input='{"job": 8}')["executionArn"]
        wait_for(lambda: any(e["type"] == "ActivityScheduled" for e in history(sfn, ex_queued)), 10,
                 what="the activity task to be scheduled")

        # an Express execution started asynchronously is at-least-once: it runs again after the crash
        sqs = b.client("sqs")
        q = sqs.create_queue(QueueName="express-done")["QueueUrl"]
        express = sfn.create_state_machine(name="express-waits", roleArn=ROLE, type="EXPRESS", definition=json.dumps({
            "StartAt": "Wait", "States": {
                "Wait": {"Type": "Wait", "Seconds": 3, "Next": "Tell"},
                "Tell": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                         "Parameters": {"QueueUrl": q, "MessageBody.$": "$$.Execution.Name"}, "End": True}}})
        )["stateMachineArn"]
        sfn.start_execution(stateMachineArn=express, name="xp-1")
        assert not sqs.receive_message(QueueUrl=q).get("Messages")       # still in its Wait when killed

        b.kill_all()
        b.restart()
        sfn = b.client("stepfunctions", config=sfn_config())
        sqs = b.client("sqs")
        got = wait_for(lambda: sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages"), 30,
                       what="the Express execution to finish after the restart")
        assert got[0]["Body"] == "xp-1"

        # the worker answers with the token it got before the crash
        sfn.send_task_success(taskToken=task["taskToken"], output='{"result": "kept"}')
        assert json.loads(wait_done(sfn, ex_work)["output"]) == {"result": "kept"}
        # the queued task is still there for a new worker
        again = sfn.get_activity_task(activityArn=act, workerName="after-crash")
        assert json.loads(again["input"]) == {"job": 8}
        sfn.send_task_success(taskToken=again["taskToken"], output='"second"')
        assert wait_done(sfn, ex_queued)["status"] == "SUCCEEDED"
        # the Wait fired (late is fine) and the Map finished every item
        desc = wait_done(sfn, ex_wait, timeout=30)
        assert desc["status"] == "SUCCEEDED"
        assert json.loads(desc["output"]) == {"items": [1, 2, 3, 4], "b": "before"}

        for ex in (ex_wait, ex_work, ex_queued):
            events = history(sfn, ex)
            assert [e["id"] for e in events] == list(range(1, len(events) + 1))
            entered = _entered(events)
            assert all(n == 1 for state, n in entered.items() if state != "Nap"), entered
        assert _entered(history(sfn, ex_wait))["Nap"] == 4
        work_types = [e["type"] for e in history(sfn, ex_work)]
        assert work_types.count("ActivityScheduled") == 1 and work_types.count("ActivityStarted") == 1
