"""Whole workflows with boto3 deciders and activity workers in threads:
a child workflow, timeouts (activity, heartbeat, decision, workflow), signals
and cancellation, against the shared server."""

from __future__ import annotations

import threading

from tests.helpers.brokerproc import wait_for
from tests.services.swf._helpers import WF, attrs, decider, decision, history, schedule, stop_all, worker


def _closed(swf, domain, execution, timeout=20.0) -> dict:
    def done():
        info = swf.describe_workflow_execution(domain=domain, execution=execution)["executionInfo"]
        return info if info["executionStatus"] == "CLOSED" else None
    return wait_for(done, timeout, what=f"{execution['workflowId']} to close")


def _new(events, task):
    """Events the decider has not seen yet."""
    prev = task.get("previousStartedEventId") or 0
    return [e for e in events if e["eventId"] > prev]


def test_child_workflow_flow(swf, typed_domain, poller_client):
    d = typed_domain

    def parent(events, task):
        out = []
        for e in _new(events, task):
            if e["eventType"] == "WorkflowExecutionStarted":
                wid = task["workflowExecution"]["workflowId"]
                out.append(decision("StartChildWorkflowExecution", workflowType=WF, workflowId=wid + "-child",
                                    taskList={"name": "cl"}, input="3", childPolicy="ABANDON"))
            elif e["eventType"] == "ChildWorkflowExecutionCompleted":
                out.append(decision("CompleteWorkflowExecution", result="parent:" + attrs(e)["result"]))
        return out

    def child(events, task):
        for e in _new(events, task):
            if e["eventType"] == "WorkflowExecutionStarted":
                return [schedule("square", input=attrs(e)["input"])]
            if e["eventType"] == "ActivityTaskCompleted":
                return [decision("CompleteWorkflowExecution", result=attrs(e)["result"])]
        return []

    threads = [decider(poller_client(), d, "dl", parent), decider(poller_client(), d, "cl", child),
               worker(poller_client(), d, "al", lambda c, t: str(int(t["input"]) ** 2))]
    for t in threads:
        t.start()
    try:
        run = swf.start_workflow_execution(domain=d, workflowId="p1", workflowType=WF)
        parent_ex = {"workflowId": "p1", "runId": run["runId"]}
        info = _closed(swf, d, parent_ex)
    finally:
        stop_all(threads)
    assert info["closeStatus"] == "COMPLETED"
    ev = history(swf, d, parent_ex)
    assert attrs(ev[-1])["result"] == "parent:9"
    by_type = {e["eventType"]: e for e in ev}
    initiated = by_type["StartChildWorkflowExecutionInitiated"]["eventId"]
    started = by_type["ChildWorkflowExecutionStarted"]
    completed = attrs(by_type["ChildWorkflowExecutionCompleted"])
    assert attrs(started)["initiatedEventId"] == initiated
    assert completed["initiatedEventId"] == initiated and completed["startedEventId"] == started["eventId"]
    child_ex = completed["workflowExecution"]
    child_start = attrs(history(swf, d, child_ex)[0])
    assert child_start["parentWorkflowExecution"] == parent_ex
    assert child_start["parentInitiatedEventId"] == initiated
    assert child_start["taskList"] == {"name": "cl"} and child_start["childPolicy"] == "ABANDON"
    closed = swf.list_closed_workflow_executions(domain=d, startTimeFilter={"oldestDate": 0},
                                                 executionFilter={"workflowId": "p1-child"})
    assert closed["executionInfos"][0]["parent"] == parent_ex


def test_timeout_flow(swf, domain, poller_client):
    """A stalled activity times out (start-to-close, then heartbeat) and is retried; an ignored
    decision task times out and is rescheduled; a workflow that never closes times out."""
    d = domain
    swf.register_workflow_type(domain=d, name="wf", version="1", defaultTaskList={"name": "dl"},
                               defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="1",
                               defaultChildPolicy="TERMINATE")
    swf.register_activity_type(domain=d, name="act", version="1", defaultTaskList={"name": "al"},
                               defaultTaskScheduleToStartTimeout="NONE", defaultTaskScheduleToCloseTimeout="NONE",
                               defaultTaskStartToCloseTimeout="NONE", defaultTaskHeartbeatTimeout="NONE")
    ignored = threading.Event()

    def decide(events, task):
        if not ignored.is_set():          # let the very first decision task time out
            ignored.set()
            raise TimeoutError("decider stalls")
        out = []
        for e in _new(events, task):
            t = e["eventType"]
            if t == "WorkflowExecutionStarted" and task["workflowExecution"]["workflowId"] == "never":
                out.append(decision("StartTimer", timerId="long", startToFireTimeout="600"))
            elif t == "WorkflowExecutionStarted":
                out.append(schedule("try1", input="stall", startToCloseTimeout="1"))
            elif t == "ActivityTaskTimedOut" and attrs(e)["timeoutType"] == "START_TO_CLOSE":
                out.append(schedule("try2", input="beat", heartbeatTimeout="1", startToCloseTimeout="30"))
            elif t == "ActivityTaskTimedOut":
                out.append(schedule("try3", input="ok"))
            elif t == "ActivityTaskCompleted":
                out.append(decision("CompleteWorkflowExecution", result=attrs(e)["result"]))
        return out

    def work(client, task):
        if task["input"] == "stall":
            return None                    # never answers: start-to-close timeout
        if task["input"] == "beat":
            client.record_activity_task_heartbeat(taskToken=task["taskToken"], details="started")
            return None                    # then goes silent: heartbeat timeout
        return "finally"

    dec = decider(poller_client(), d, "dl", decide)
    wrk = worker(poller_client(), d, "al", work)
    for t in (dec, wrk):
        t.start()
    try:
        run = swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)
        ex = {"workflowId": "w", "runId": run["runId"]}
        info = _closed(swf, d, ex, 30)
        never = swf.start_workflow_execution(domain=d, workflowId="never", workflowType=WF,
                                             executionStartToCloseTimeout="2")
        never_info = _closed(swf, d, {"workflowId": "never", "runId": never["runId"]})
    finally:
        stop_all([wrk, dec], ignore=(TimeoutError,))
    assert info["closeStatus"] == "COMPLETED"
    ev = history(swf, d, ex)
    timeouts = [(e["eventType"], attrs(e)["timeoutType"]) for e in ev if e["eventType"].endswith("TimedOut")]
    assert timeouts == [("DecisionTaskTimedOut", "START_TO_CLOSE"), ("ActivityTaskTimedOut", "START_TO_CLOSE"),
                        ("ActivityTaskTimedOut", "HEARTBEAT")]
    hb = [attrs(e) for e in ev if e["eventType"] == "ActivityTaskTimedOut"][1]
    assert hb["details"] == "started"
    assert attrs(ev[-1])["result"] == "finally"
    assert never_info["closeStatus"] == "TIMED_OUT"
    last = history(swf, d, {"workflowId": "never", "runId": never["runId"]})[-1]
    assert last["eventType"] == "WorkflowExecutionTimedOut"
    assert attrs(last) == {"timeoutType": "START_TO_CLOSE", "childPolicy": "TERMINATE"}


def test_signal_flow(swf, typed_domain, poller_client):
    """A client signals A; A's decider relays the signal to B (SignalExternalWorkflowExecution);
    both complete with the payload. C is asked to cancel and cancels itself."""
    d = typed_domain

    def decide(events, task):
        wid = task["workflowExecution"]["workflowId"]
        out = []
        for e in _new(events, task):
            t = e["eventType"]
            if t == "WorkflowExecutionSignaled" and wid == "a":
                out.append(decision("SignalExternalWorkflowExecution", workflowId="b", signalName="relay",
                                    input=attrs(e)["input"]))
            elif t == "ExternalWorkflowExecutionSignaled":
                out.append(decision("CompleteWorkflowExecution", result="relayed"))
            elif t == "WorkflowExecutionSignaled" and wid == "b":
                out.append(decision("CompleteWorkflowExecution", result=attrs(e)["input"]))
            elif t == "WorkflowExecutionCancelRequested":
                out.append(decision("CancelWorkflowExecution", details="as asked"))
        return out

    dec = decider(poller_client(), d, "dl", decide)
    dec.start()
    try:
        runs = {w: swf.start_workflow_execution(domain=d, workflowId=w, workflowType=WF)["runId"]
                for w in ("a", "b", "c")}
        swf.signal_workflow_execution(domain=d, workflowId="a", signalName="go", input="hello")
        swf.request_cancel_workflow_execution(domain=d, workflowId="c")
        infos = {w: _closed(swf, d, {"workflowId": w, "runId": r}) for w, r in runs.items()}
    finally:
        stop_all([dec])
    assert {w: i["closeStatus"] for w, i in infos.items()} == {"a": "COMPLETED", "b": "COMPLETED",
                                                               "c": "CANCELED"}
    b_events = history(swf, d, {"workflowId": "b", "runId": runs["b"]})
    sig = next(attrs(e) for e in b_events if e["eventType"] == "WorkflowExecutionSignaled")
    assert sig["signalName"] == "relay" and sig["input"] == "hello"
    assert sig["externalWorkflowExecution"] == {"workflowId": "a", "runId": runs["a"]}
    assert attrs(b_events[-1])["result"] == "hello"
    a_events = history(swf, d, {"workflowId": "a", "runId": runs["a"]})
    initiated = next(e for e in a_events if e["eventType"] == "SignalExternalWorkflowExecutionInitiated")
    assert sig["externalInitiatedEventId"] == initiated["eventId"]
    c_events = history(swf, d, {"workflowId": "c", "runId": runs["c"]})
    assert attrs(c_events[-1])["details"] == "as asked"
