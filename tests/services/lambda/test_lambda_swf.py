"""SWF Lambda tasks: a boto3 decider in a thread schedules functions; SWF runs them through
the Lambda service and records AWS's LambdaFunction* events."""

from __future__ import annotations

import json

from botocore.config import Config

from tests.helpers.brokerproc import wait_for
from tests.services.swf._helpers import attrs, decider, decision, history, stop_all

ROLE = "arn:aws:iam::000000000000:role/swf-lambda"
ADD = "import json\ndef handler(e, c):\n    return {'sum': e['a'] + e['b'], 'request': c.aws_request_id}\n"
FAIL = "def handler(e, c):\n    raise ValueError('bad ' + str(e['n']))\n"
SLOW = "import time\ndef handler(e, c):\n    time.sleep(3)\n    return 'late'\n"
OUTCOMES = ("LambdaFunctionCompleted", "LambdaFunctionFailed", "LambdaFunctionTimedOut",
            "StartLambdaFunctionFailed")


def _new(events, task):
    prev = task.get("previousStartedEventId") or 0
    return [e for e in events if e["eventId"] > prev]


def test_decider_schedules_lambda_functions(server, make_fn, unique_name):
    swf = server.client("swf", config=Config(retries={"total_max_attempts": 1}, read_timeout=70))
    fn = "s" + unique_name[-8:]          # short: a function ARN names a task (at most 64 characters)
    add = make_fn(fn + "-add", ADD)["FunctionArn"]
    make_fn(fn + "-fail", FAIL)
    make_fn(fn + "-slow", SLOW, Timeout=30)
    domain = unique_name
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(domain=domain, name="wf", version="1", defaultTaskList={"name": "dl"},
                               defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60",
                               defaultChildPolicy="TERMINATE", defaultLambdaRole=ROLE)

    def decide(events, task):
        out = []
        for e in _new(events, task):
            if e["eventType"] == "WorkflowExecutionStarted":
                out += [decision("ScheduleLambdaFunction", id="add", name=add, control="c1",
                                 input=json.dumps({"a": 2, "b": 3})),
                        decision("ScheduleLambdaFunction", id="add", name=add),
                        decision("ScheduleLambdaFunction", id="fail", name=fn + "-fail",
                                 input=json.dumps({"n": 7})),
                        decision("ScheduleLambdaFunction", id="slow", name=fn + "-slow",
                                 startToCloseTimeout="1"),
                        decision("ScheduleLambdaFunction", id="ghost", name=fn + "-ghost")]
        done = [e["eventType"] for e in events if e["eventType"] in OUTCOMES]
        if len(done) == 4 and not any(e["eventType"] == "WorkflowExecutionCompleted" for e in events):
            out.append(decision("CompleteWorkflowExecution", result=",".join(sorted(done))))
        return out

    thread = decider(server.client("swf", config=Config(read_timeout=70)), domain, "dl", decide)
    thread.start()
    try:
        run = swf.start_workflow_execution(domain=domain, workflowId="w", workflowType={"name": "wf", "version": "1"},
                                           input="go")["runId"]
        execution = {"workflowId": "w", "runId": run}
        info = wait_for(lambda: (i := swf.describe_workflow_execution(domain=domain, execution=execution))
                        ["executionInfo"]["executionStatus"] == "CLOSED" and i, 60, what="the workflow to close")
    finally:
        stop_all([thread])
    assert info["executionInfo"]["closeStatus"] == "COMPLETED"
    assert info["executionConfiguration"]["lambdaRole"] == ROLE
    assert info["openCounts"]["openLambdaFunctions"] == 0
    events = history(swf, domain, execution)
    assert attrs(events[0])["lambdaRole"] == ROLE
    by_id = {attrs(e)["id"]: e for e in events if e["eventType"] == "LambdaFunctionScheduled"}
    assert set(by_id) == {"add", "fail", "slow", "ghost"}
    scheduled = attrs(by_id["add"])
    assert scheduled["name"] == add and scheduled["control"] == "c1" and scheduled["startToCloseTimeout"] == "900"
    assert json.loads(scheduled["input"]) == {"a": 2, "b": 3}
    completed_decision = scheduled["decisionTaskCompletedEventId"]
    assert events[completed_decision - 1]["eventType"] == "DecisionTaskCompleted"
    rejected = [attrs(e) for e in events if e["eventType"] == "ScheduleLambdaFunctionFailed"]
    assert rejected == [{"id": "add", "name": add, "cause": "ID_ALREADY_IN_USE",
                         "decisionTaskCompletedEventId": completed_decision}]

    def outcome(fid):
        s = by_id[fid]["eventId"]
        started = [e for e in events if e["eventType"] == "LambdaFunctionStarted" and attrs(e)["scheduledEventId"] == s]
        end = next(e for e in events if e["eventType"] in OUTCOMES and attrs(e).get("scheduledEventId") == s)
        return started, end

    started, end = outcome("add")
    assert len(started) == 1 and end["eventType"] == "LambdaFunctionCompleted"
    assert attrs(end)["startedEventId"] == started[0]["eventId"]
    assert json.loads(attrs(end)["result"])["sum"] == 5
    started, end = outcome("fail")
    assert end["eventType"] == "LambdaFunctionFailed" and attrs(end)["reason"] == "ValueError"
    assert json.loads(attrs(end)["details"])["errorMessage"] == "bad 7"
    started, end = outcome("slow")
    assert end["eventType"] == "LambdaFunctionTimedOut"
    assert attrs(end) == {"scheduledEventId": by_id["slow"]["eventId"], "startedEventId": started[0]["eventId"],
                          "timeoutType": "START_TO_CLOSE"}
    assert end["eventTimestamp"].timestamp() - started[0]["eventTimestamp"].timestamp() < 2.9   # not the 3 s run
    started, end = outcome("ghost")
    assert not started and end["eventType"] == "StartLambdaFunctionFailed"
    assert attrs(end)["message"] == (f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:"
                                     f"{fn}-ghost")
    assert attrs(events[-1])["result"] == ",".join(sorted(OUTCOMES))


def test_lambda_task_needs_a_role(server, make_fn, unique_name):
    swf = server.client("swf", config=Config(retries={"total_max_attempts": 1}, read_timeout=70))
    make_fn(unique_name, ADD)
    swf.register_domain(name=unique_name, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(domain=unique_name, name="wf", version="1", defaultTaskList={"name": "dl"},
                               defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60",
                               defaultChildPolicy="TERMINATE")
    wt = {"name": "wf", "version": "1"}
    runs = {"plain": swf.start_workflow_execution(domain=unique_name, workflowId="plain", workflowType=wt)["runId"],
            "roled": swf.start_workflow_execution(domain=unique_name, workflowId="roled", workflowType=wt,
                                                  lambdaRole=ROLE)["runId"]}
    for _ in runs:
        task = swf.poll_for_decision_task(domain=unique_name, taskList={"name": "dl"})
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
            decision("ScheduleLambdaFunction", id="f", name=unique_name, input='{"a": 1, "b": 1}')])

    def last(wid):
        return history(swf, unique_name, {"workflowId": wid, "runId": runs[wid]})
    failed = next(e for e in last("plain") if e["eventType"] == "ScheduleLambdaFunctionFailed")
    assert attrs(failed)["cause"] == "LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION"
    wait_for(lambda: any(e["eventType"] == "LambdaFunctionCompleted" for e in last("roled")), 30,
             what="the Lambda task of the execution with a role")
    bad = swf.poll_for_decision_task(domain=unique_name, taskList={"name": "dl"})
    try:
        swf.respond_decision_task_completed(taskToken=bad["taskToken"], decisions=[
            decision("ScheduleLambdaFunction", id="g", name=unique_name, startToCloseTimeout="901")])
    except swf.exceptions.ClientError as exc:
        err = exc.response["Error"]
        assert err["Code"] == "ValidationException" and "startToCloseTimeout" in err["Message"]
    else:
        raise AssertionError("a 901-second Lambda task timeout was accepted")


MARK = """
import os, time
def handler(event, context):
    time.sleep(1.0)        # long enough for the kill to land mid-invocation
    with open(event["file"], "a") as f:
        f.write(context.aws_request_id + "\\n")
    return {"ok": True}
"""


def test_lambda_task_survives_kill_9(tmp_path, zip_of):
    from tests.helpers.brokerproc import BrokerProcess
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--durability", "process") as b:
        lam = b.client("lambda")
        lam.create_function(FunctionName="mark", Runtime="python3.11", Role=ROLE, Handler="handler.handler",
                            Code={"ZipFile": zip_of({"handler.py": MARK})})
        swf = b.client("swf", config=Config(retries={"total_max_attempts": 1}, read_timeout=70))
        swf.register_domain(name="d", workflowExecutionRetentionPeriodInDays="1")
        swf.register_workflow_type(domain="d", name="wf", version="1", defaultTaskList={"name": "dl"},
                                   defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60",
                                   defaultChildPolicy="TERMINATE", defaultLambdaRole=ROLE)
        run = swf.start_workflow_execution(domain="d", workflowId="w", workflowType={"name": "wf", "version": "1"})
        execution = {"workflowId": "w", "runId": run["runId"]}
        out = tmp_path / "ran.txt"
        task = swf.poll_for_decision_task(domain="d", taskList={"name": "dl"})
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
            decision("ScheduleLambdaFunction", id="f", name="mark", input=json.dumps({"file": str(out)}))])
        wait_for(lambda: any(e["eventType"] == "LambdaFunctionStarted" for e in history(swf, "d", execution)), 30,
                 what="the Lambda task started")
        b.kill_all()
        assert not out.exists()                  # killed before the function got to write
        b.restart()
        swf = b.client("swf", config=Config(retries={"total_max_attempts": 1}, read_timeout=70))
        task = swf.poll_for_decision_task(domain="d", taskList={"name": "dl"})
        types = [e["eventType"] for e in task["events"]]
        assert types.count("LambdaFunctionStarted") == 1 and types[-3:-1] == ["LambdaFunctionCompleted",
                                                                               "DecisionTaskScheduled"]
        assert json.loads(attrs(task["events"][-3])["result"]) == {"ok": True}
        assert out.read_text().strip()           # it ran after the restart (at least once)
