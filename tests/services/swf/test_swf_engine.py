"""SWF state machine, in-process with a hand-driven clock (engine_harness.py):
event sequences and ids, decision rules, priorities, every timeout, limits,
retention, and rebuilding from the store after a restart."""

from __future__ import annotations

import pytest

from services.errors import ServiceError
from tests.services.swf.engine_harness import Harness, activity, attrs, decision


@pytest.fixture
def h():
    h = Harness()
    h.domain("d")
    h.workflow_type("d")
    h.activity_type("d")
    return h


def test_activity_round_trip_event_ids_and_attributes(h):
    rid = h.start("d", "w", input="in")
    t = h.poll_decision("d", id="decider")
    assert t["startedEventId"] == 3 and t["previousStartedEventId"] == 0
    assert [e["eventType"] for e in t["events"]] == ["WorkflowExecutionStarted", "DecisionTaskScheduled",
                                                     "DecisionTaskStarted"]
    started = attrs(t["events"][0])
    assert started["input"] == "in" and started["parentInitiatedEventId"] == 0
    assert started["taskList"] == {"name": "dl"} and started["childPolicy"] == "TERMINATE"
    assert attrs(t["events"][2]) == {"identity": "decider", "scheduledEventId": 2}
    h.decide(t, activity("a1", input="x"), executionContext="ctx1")
    a = h.poll_activity("d", id="worker")
    assert a["activityId"] == "a1" and a["input"] == "x" and a["startedEventId"] == 6
    h.finish(a, result="r")
    t2 = h.poll_decision("d")
    assert t2["previousStartedEventId"] == 3 and t2["startedEventId"] == 9
    h.decide(t2, decision("CompleteWorkflowExecution", result="done"))
    ev = h.history("d", "w", rid)
    assert [e["eventId"] for e in ev] == list(range(1, 12))
    assert attrs(ev[3]) == {"executionContext": "ctx1", "scheduledEventId": 2, "startedEventId": 3}
    assert attrs(ev[4])["decisionTaskCompletedEventId"] == 4
    assert attrs(ev[6]) == {"result": "r", "scheduledEventId": 5, "startedEventId": 6}
    assert ev[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert attrs(ev[-1]) == {"result": "done", "decisionTaskCompletedEventId": 10}
    desc = h.call("DescribeWorkflowExecution", "d", wid="w", rid=rid)
    assert desc["executionInfo"]["closeStatus"] == "COMPLETED"
    assert desc["latestExecutionContext"] == "ctx1"


def test_at_most_one_decision_task_and_unhandled_decision(h):
    rid = h.start("d", "w")
    t = h.poll_decision("d")
    for i in range(3):   # signals while the decision is started: no second decision task
        h.call("SignalWorkflowExecution", "d", wid="w", signal=f"s{i}")
    assert h.call("CountPendingTasks", "d", kind="decision", tl="dl")["count"] == 0
    assert h.poll_decision("d")["taskToken"] == ""
    h.decide(t, decision("CompleteWorkflowExecution"))
    types = h.types("d", "w", rid)
    assert types[-3:] == ["DecisionTaskCompleted", "CompleteWorkflowExecutionFailed", "DecisionTaskScheduled"]
    assert attrs(h.history("d", "w", rid)[-2])["cause"] == "UNHANDLED_DECISION"
    assert types.count("DecisionTaskScheduled") == 2
    t2 = h.poll_decision("d")
    h.decide(t2, decision("CompleteWorkflowExecution"))
    assert h.types("d", "w", rid)[-1] == "WorkflowExecutionCompleted"


def test_signal_while_decision_scheduled_adds_no_task(h):
    rid = h.start("d", "w")
    h.call("SignalWorkflowExecution", "d", wid="w", rid=rid, signal="s", input="i")
    assert h.types("d", "w", rid) == ["WorkflowExecutionStarted", "DecisionTaskScheduled",
                                      "WorkflowExecutionSignaled"]
    t = h.poll_decision("d")
    assert attrs(t["events"][2]) == {"signalName": "s", "input": "i"}


def test_task_priorities_then_schedule_order(h):
    h.start("d", "w")
    t = h.poll_decision("d")
    h.decide(t, activity("low", taskPriority="-5"), activity("mid1"), activity("high", taskPriority="10"),
             activity("mid2", taskPriority="0"))
    order = [h.poll_activity("d")["activityId"] for _ in range(4)]
    assert order == ["high", "mid1", "mid2", "low"]
    assert h.poll_activity("d")["taskToken"] == ""


def test_decision_priority_across_executions(h):
    h.start("d", "a", taskPriority="1")
    h.start("d", "b", taskPriority="7")
    h.start("d", "c")
    got = [h.poll_decision("d")["workflowExecution"]["workflowId"] for _ in range(3)]
    assert got == ["b", "a", "c"]


@pytest.mark.parametrize("decision_, event, cause", [
    (activity("x", name="nope"), "ScheduleActivityTaskFailed", "ACTIVITY_TYPE_DOES_NOT_EXIST"),
    (decision("RequestCancelActivityTask", activityId="nope"), "RequestCancelActivityTaskFailed",
     "ACTIVITY_ID_UNKNOWN"),
    (decision("CancelTimer", timerId="nope"), "CancelTimerFailed", "TIMER_ID_UNKNOWN"),
    (decision("StartChildWorkflowExecution", workflowType={"name": "nope", "version": "1"}, workflowId="c"),
     "StartChildWorkflowExecutionFailed", "WORKFLOW_TYPE_DOES_NOT_EXIST"),
    (decision("ContinueAsNewWorkflowExecution", workflowTypeVersion="9"),
     "ContinueAsNewWorkflowExecutionFailed", "WORKFLOW_TYPE_DOES_NOT_EXIST"),
    (decision("ScheduleLambdaFunction", id="f1", name="fn"), "ScheduleLambdaFunctionFailed",
     "LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION"),
])
def test_bad_decision_records_failure_and_new_decision(h, decision_, event, cause):
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"), decision_)
    ev = h.history("d", "w", rid)
    assert [e["eventType"] for e in ev[3:]] == ["DecisionTaskCompleted", event, "DecisionTaskScheduled"]
    a = attrs(ev[4])
    assert a["cause"] == cause and a["decisionTaskCompletedEventId"] == 4
    if event == "StartChildWorkflowExecutionFailed":
        assert a["initiatedEventId"] == 0 and a["workflowId"] == "c"


def test_activity_defaults_and_type_state_causes(h):
    h.activity_type("d", "bare", defaultTaskList=None, defaultTaskScheduleToCloseTimeout=None)
    h.activity_type("d", "old")
    h.call("DeprecateType", "d", kind="Activity", name="old", version="1")
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"), activity("a1", name="bare"), activity("a2", name="bare", scheduleToCloseTimeout="9"),
             activity("a3", name="old"), activity("a4"), activity("a4"))
    failed = [attrs(e)["cause"] for e in h.history("d", "w", rid) if e["eventType"] == "ScheduleActivityTaskFailed"]
    assert failed == ["DEFAULT_SCHEDULE_TO_CLOSE_TIMEOUT_UNDEFINED", "DEFAULT_TASK_LIST_UNDEFINED",
                      "ACTIVITY_TYPE_DEPRECATED", "ACTIVITY_ID_ALREADY_IN_USE"]


def test_timers_fire_and_cancel(h):
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"), decision("StartTimer", timerId="t1", startToFireTimeout="5", control="c"),
             decision("StartTimer", timerId="t2", startToFireTimeout="5"),
             decision("StartTimer", timerId="t1", startToFireTimeout="1"))
    assert attrs(h.history("d", "w", rid)[-2])["cause"] == "TIMER_ID_ALREADY_IN_USE"
    h.decide(h.poll_decision("d"), decision("CancelTimer", timerId="t2"))
    h.advance(4_999)
    assert "TimerFired" not in h.types("d", "w", rid)
    h.advance(1)
    ev = h.history("d", "w", rid)
    fired = [e for e in ev if e["eventType"] == "TimerFired"]
    assert [attrs(e)["timerId"] for e in fired] == ["t1"]
    assert attrs(fired[0])["startedEventId"] == 5
    assert [attrs(e)["timerId"] for e in ev if e["eventType"] == "TimerCanceled"] == ["t2"]
    assert ev[-1]["eventType"] == "DecisionTaskScheduled"


def test_activity_timeouts(h):
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"),
             activity("s2s", scheduleToStartTimeout="2"),
             activity("st2c", startToCloseTimeout="3"),
             activity("s2c", scheduleToCloseTimeout="4"),
             activity("hb", heartbeatTimeout="2"))
    assert h.poll_activity("d")["activityId"] == "s2s"   # started in time: no schedule-to-start timeout
    st2c = h.poll_activity("d")
    s2c = h.poll_activity("d")
    hb = h.poll_activity("d")
    h.advance(1_500)
    assert h.heartbeat(hb, "50%") == {"cancelRequested": False}
    h.advance(1_000)            # the first heartbeat deadline passed, but the heartbeat moved it
    assert "ActivityTaskTimedOut" not in h.types("d", "w", rid)
    h.advance(1_000)
    h.advance(1_000)
    out = {attrs(e)["scheduledEventId"]: attrs(e) for e in h.history("d", "w", rid)
           if e["eventType"] == "ActivityTaskTimedOut"}
    by_id = {a["activityId"]: a["startedEventId"] for a in (st2c, s2c, hb)}
    sched = {e_["activityTaskScheduledEventAttributes"]["activityId"]: e_["eventId"]
             for e_ in h.history("d", "w", rid) if e_["eventType"] == "ActivityTaskScheduled"}
    assert out[sched["hb"]] == {"timeoutType": "HEARTBEAT", "scheduledEventId": sched["hb"],
                                "startedEventId": by_id["hb"], "details": "50%"}
    assert out[sched["st2c"]]["timeoutType"] == "START_TO_CLOSE"
    assert out[sched["s2c"]]["timeoutType"] == "SCHEDULE_TO_CLOSE"
    with pytest.raises(ServiceError) as e:
        h.finish(hb)
    assert e.value.code == "UnknownResourceFault"
    assert e.value.message == f"Unknown activity, scheduledEventId = {sched['hb']}"


def test_schedule_to_start_timeout_of_unpolled_activity(h):
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"), activity("a", scheduleToStartTimeout="1"))
    h.advance(1_000)
    ev = h.history("d", "w", rid)
    assert ev[-2]["eventType"] == "ActivityTaskTimedOut"
    assert attrs(ev[-2]) == {"timeoutType": "SCHEDULE_TO_START", "scheduledEventId": 5, "startedEventId": 0}
    assert h.call("CountPendingTasks", "d", kind="activity", tl="al")["count"] == 0
    assert h.poll_activity("d")["taskToken"] == ""


def test_decision_and_workflow_timeouts(h):
    h.workflow_type("d", "short", defaultTaskStartToCloseTimeout="2", defaultExecutionStartToCloseTimeout="5")
    rid = h.start("d", "w", workflowType={"name": "short", "version": "1"})
    t = h.poll_decision("d")
    h.advance(2_000)
    ev = h.history("d", "w", rid)
    assert attrs(ev[3]) == {"timeoutType": "START_TO_CLOSE", "scheduledEventId": 2, "startedEventId": 3}
    assert ev[4]["eventType"] == "DecisionTaskScheduled"
    with pytest.raises(ServiceError) as e:
        h.decide(t)
    assert e.value.message == "Unknown decision task, scheduledEventId = 2"
    h.advance(3_000)
    ev = h.history("d", "w", rid)
    assert ev[-1]["eventType"] == "WorkflowExecutionTimedOut"
    assert attrs(ev[-1]) == {"timeoutType": "START_TO_CLOSE", "childPolicy": "TERMINATE"}
    assert h.poll_decision("d")["taskToken"] == ""


def test_task_list_schedule_to_start_timeout(h):
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"), decision("StartTimer", timerId="t", startToFireTimeout="1"),
             taskList={"name": "sticky"}, taskListScheduleToStartTimeout="3")
    h.advance(1_000)          # the timer's decision goes to "sticky", nobody polls it
    ev = h.history("d", "w", rid)
    assert attrs(ev[-1])["taskList"] == {"name": "sticky"}
    h.advance(3_000)
    ev = h.history("d", "w", rid)
    assert attrs(ev[-2])["timeoutType"] == "SCHEDULE_TO_START"
    assert attrs(ev[-1])["taskList"] == {"name": "dl"}


def test_cancel_activity_scheduled_and_started(h):
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"), activity("a"), activity("b"))
    started = h.poll_activity("d")
    assert h.poll_decision("d")["taskToken"] == ""   # nothing new for the decider yet
    h.call("SignalWorkflowExecution", "d", wid="w", signal="go")
    h.decide(h.poll_decision("d"), decision("RequestCancelActivityTask", activityId="a"),
             decision("RequestCancelActivityTask", activityId="b"))
    ev = h.history("d", "w", rid)
    canceled = [attrs(e) for e in ev if e["eventType"] == "ActivityTaskCanceled"]
    assert len(canceled) == 1 and canceled[0]["startedEventId"] == 0   # b was never started
    assert h.heartbeat(started) == {"cancelRequested": True}
    h.finish(started, "canceled", details="bye")
    last = [attrs(e) for e in h.history("d", "w", rid) if e["eventType"] == "ActivityTaskCanceled"][-1]
    assert last["details"] == "bye" and last["startedEventId"] == started["startedEventId"]
    assert last["latestCancelRequestedEventId"] > 0


def test_child_workflow_started_completed_and_policy(h):
    prid = h.start("d", "p")
    h.decide(h.poll_decision("d"), decision("StartChildWorkflowExecution", workflowId="c1",
                                            workflowType={"name": "wf", "version": "1"}, input="ci",
                                            taskList={"name": "child"}))
    ev = h.history("d", "p", prid)
    assert [e["eventType"] for e in ev[4:]] == ["StartChildWorkflowExecutionInitiated",
                                                "ChildWorkflowExecutionStarted", "DecisionTaskScheduled"]
    child = attrs(ev[5])["workflowExecution"]
    ct = h.poll_decision("d", tl="child")
    cstart = attrs(ct["events"][0])
    assert cstart["parentWorkflowExecution"] == {"workflowId": "p", "runId": prid}
    assert cstart["parentInitiatedEventId"] == 5 and cstart["input"] == "ci"
    h.decide(ct, decision("CompleteWorkflowExecution", result="cr"))
    done = [attrs(e) for e in h.history("d", "p", prid) if e["eventType"] == "ChildWorkflowExecutionCompleted"]
    assert done == [{"workflowExecution": child, "workflowType": {"name": "wf", "version": "1"},
                     "initiatedEventId": 5, "startedEventId": 6, "result": "cr"}]


def test_child_policies_on_parent_close(h):
    prid = h.start("d", "p", childPolicy="REQUEST_CANCEL")
    h.decide(h.poll_decision("d"), decision("StartChildWorkflowExecution", workflowId="c1",
                                            workflowType={"name": "wf", "version": "1"},
                                            taskList={"name": "child"}))
    crid = attrs(h.history("d", "p", prid)[5])["workflowExecution"]["runId"]
    h.decide(h.poll_decision("d"), decision("CompleteWorkflowExecution"))
    cev = h.history("d", "c1", crid)
    assert cev[-1]["eventType"] == "WorkflowExecutionCancelRequested"
    assert attrs(cev[-1]) == {"externalWorkflowExecution": {"workflowId": "p", "runId": prid},
                              "cause": "CHILD_POLICY_APPLIED"}
    # TERMINATE: terminating the parent terminates the child
    prid2 = h.start("d", "p2")
    h.decide(h.poll_decision("d"), decision("StartChildWorkflowExecution", workflowId="c2",
                                            workflowType={"name": "wf", "version": "1"}))
    crid2 = attrs(h.history("d", "p2", prid2)[5])["workflowExecution"]["runId"]
    h.call("TerminateWorkflowExecution", "d", wid="p2", reason="stop")
    assert attrs(h.history("d", "p2", prid2)[-1]) == {"reason": "stop", "childPolicy": "TERMINATE",
                                                      "cause": "OPERATOR_INITIATED"}
    cev = h.history("d", "c2", crid2)
    assert attrs(cev[-1]) == {"childPolicy": "TERMINATE", "cause": "CHILD_POLICY_APPLIED"}


def test_signal_and_cancel_external(h):
    rid_a = h.start("d", "a")
    rid_b = h.start("d", "b")
    ta = h.poll_decision("d")
    h.poll_decision("d")   # b's first decision is started (and left open)
    h.decide(ta, decision("SignalExternalWorkflowExecution", workflowId="b", signalName="hello", input="i",
                          control="c"),
             decision("RequestCancelExternalWorkflowExecution", workflowId="b", runId=rid_b),
             decision("SignalExternalWorkflowExecution", workflowId="ghost", signalName="x"))
    ev = h.history("d", "a", rid_a)
    assert [e["eventType"] for e in ev[3:]] == [
        "DecisionTaskCompleted", "SignalExternalWorkflowExecutionInitiated",
        "RequestCancelExternalWorkflowExecutionInitiated", "SignalExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionSignaled", "ExternalWorkflowExecutionCancelRequested",
        "SignalExternalWorkflowExecutionFailed", "DecisionTaskScheduled"]
    assert attrs(ev[9])["cause"] == "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION" and attrs(ev[9])["initiatedEventId"] == 7
    bev = h.history("d", "b", rid_b)
    assert attrs(bev[3]) == {"signalName": "hello", "input": "i", "externalInitiatedEventId": 5,
                             "externalWorkflowExecution": {"workflowId": "a", "runId": rid_a}}
    assert bev[4]["eventType"] == "WorkflowExecutionCancelRequested"
    assert h.call("DescribeWorkflowExecution", "d", wid="b", rid=rid_b)["executionInfo"]["cancelRequested"]


def test_continue_as_new_keeps_workflow_id(h):
    rid = h.start("d", "w", tagList=["t1"])
    h.decide(h.poll_decision("d"), decision("ContinueAsNewWorkflowExecution", input="next"))
    last = attrs(h.history("d", "w", rid)[-1])
    new = last["newExecutionRunId"]
    t = h.poll_decision("d")
    assert t["workflowExecution"] == {"workflowId": "w", "runId": new}
    assert attrs(t["events"][0])["continuedExecutionRunId"] == rid and attrs(t["events"][0])["input"] == "next"
    info = h.call("DescribeWorkflowExecution", "d", wid="w", rid=rid)["executionInfo"]
    assert info["closeStatus"] == "CONTINUED_AS_NEW"


def test_restart_rebuilds_task_lists_and_timers(h):
    rid = h.start("d", "w")
    h.decide(h.poll_decision("d"), activity("a1", taskPriority="1"), activity("a2", taskPriority="5"),
             activity("a3", heartbeatTimeout="4"), decision("StartTimer", timerId="t", startToFireTimeout="10"))
    hb = None
    first = h.poll_activity("d")
    assert first["activityId"] == "a2"
    h.reopen()
    assert h.call("CountPendingTasks", "d", kind="activity", tl="al")["count"] == 2
    assert h.poll_activity("d")["activityId"] == "a1"
    hb = h.poll_activity("d")
    assert hb["activityId"] == "a3"
    h.finish(first, result="ok")           # the old token still works after the restart
    h.reopen()
    h.advance(4_000)                        # heartbeat timer re-armed from the store
    h.advance(6_000)
    types = h.types("d", "w", rid)
    assert "TimerFired" in types
    assert [attrs(e)["timeoutType"] for e in h.history("d", "w", rid)
            if e["eventType"] == "ActivityTaskTimedOut"] == ["HEARTBEAT"]


def test_retention_forgets_closed_execution(h):
    rid = h.start("d", "w")
    h.call("TerminateWorkflowExecution", "d", wid="w")
    h.advance(86_400_000 - 1)
    assert h.history("d", "w", rid)[-1]["eventType"] == "WorkflowExecutionTerminated"
    h.advance(1)
    with pytest.raises(ServiceError) as e:
        h.history("d", "w", rid)
    assert e.value.code == "UnknownResourceFault"
    assert not list(h.part.store.scan("swf.event", rid))


def test_history_event_limit_terminates(h, monkeypatch):
    monkeypatch.setattr("services.swf.engine.MAX_HISTORY_EVENTS", 50)
    rid = h.start("d", "w")
    for i in range(60):
        try:
            h.call("SignalWorkflowExecution", "d", wid="w", signal="s")
        except ServiceError:
            break
    ev = h.history("d", "w", rid)
    assert len(ev) == 51 and attrs(ev[-1])["cause"] == "EVENT_LIMIT_EXCEEDED"


def test_cloudwatch_metrics_emitted(h):
    from broker.runtime import telemetry
    telemetry.TELEMETRY.drain()
    h.start("d", "w")
    h.decide(h.poll_decision("d"), activity("a"))
    h.finish(h.poll_activity("d"), result="r")
    h.decide(h.poll_decision("d"), decision("CompleteWorkflowExecution"))
    points, _ = telemetry.TELEMETRY.drain()
    got = {(p[2], p[3]): (dict(p[4]), p[5], p[7][0]) for p in points}
    wf_dims = {"Domain": "d", "WorkflowTypeName": "wf", "WorkflowTypeVersion": "1"}
    act_dims = {"Domain": "d", "ActivityTypeName": "act", "ActivityTypeVersion": "1"}
    assert got[("AWS/SWF", "WorkflowsCompleted")] == (wf_dims, "Count", 1)
    assert got[("AWS/SWF", "DecisionTasksCompleted")] == (wf_dims, "Count", 2)
    assert got[("AWS/SWF", "ActivityTasksCompleted")] == (act_dims, "Count", 1)
    for name in ("DecisionTaskScheduleToStartTime", "DecisionTaskStartToCloseTime", "WorkflowStartToCloseTime"):
        assert got[("AWS/SWF", name)][:2] == (wf_dims, "Milliseconds")
    for name in ("ActivityTaskScheduleToStartTime", "ActivityTaskStartToCloseTime", "ActivityTaskScheduleToCloseTime"):
        assert got[("AWS/SWF", name)][:2] == (act_dims, "Milliseconds")


@pytest.mark.parametrize("how, event, extra", [
    ("fail", "ChildWorkflowExecutionFailed", {"reason": "r", "details": "dd"}),
    ("cancel", "ChildWorkflowExecutionCanceled", {"details": "dd"}),
    ("terminate", "ChildWorkflowExecutionTerminated", {}),
    ("timeout", "ChildWorkflowExecutionTimedOut", {"timeoutType": "START_TO_CLOSE"}),
])
def test_child_close_reported_to_parent(h, how, event, extra):
    prid = h.start("d", "p")
    h.decide(h.poll_decision("d"), decision("StartChildWorkflowExecution", workflowId="c", taskList={"name": "cl"},
                                            workflowType={"name": "wf", "version": "1"},
                                            executionStartToCloseTimeout="30"))
    h.decide(h.poll_decision("d"))          # the parent saw ChildWorkflowExecutionStarted
    child = h.poll_decision("d", tl="cl")
    if how == "fail":
        h.decide(child, decision("FailWorkflowExecution", reason="r", details="dd"))
    elif how == "cancel":
        h.decide(child, decision("CancelWorkflowExecution", details="dd"))
    elif how == "terminate":
        h.call("TerminateWorkflowExecution", "d", wid="c")
    else:
        h.advance(30_000)
    ev = h.history("d", "p", prid)
    assert [e["eventType"] for e in ev[-2:]] == [event, "DecisionTaskScheduled"]
    assert attrs(ev[-2]) == {"workflowExecution": child["workflowExecution"],
                             "workflowType": {"name": "wf", "version": "1"}, "initiatedEventId": 5,
                             "startedEventId": 6, **extra}
    assert h.call("DescribeWorkflowExecution", "d", wid="p", rid=prid)["openCounts"]["openChildWorkflowExecutions"] == 0
