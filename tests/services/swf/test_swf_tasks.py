"""Decision and activity tasks through boto3: long polls, a vanished poller,
priorities, the one-decision rule, decision-task history pages, every
decision type on the wire (raw history checked against botocore's shapes),
and the faults of bad decisions and tokens."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import botocore.exceptions
import botocore.validate
import pytest

from tests.helpers.brokerproc import wait_for
from tests.services.swf._helpers import WF, attrs, decision, error_of, history, schedule


def _decide(swf, domain, *decisions, tl="dl", **kw):
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": tl})
    assert task["taskToken"]
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions), **kw)
    return task


def _connections(server) -> int:
    return server.health()["gateway"]["connections"]


def test_long_poll_returns_as_soon_as_work_exists(server, swf, typed_domain, poller_client):
    d = typed_domain
    got = {}
    before = _connections(server)
    early = poller_client()      # its own connection, so the poll shows in the gateway's count
    poller = threading.Thread(target=lambda: got.update(early.poll_for_activity_task(
        domain=d, taskList={"name": "al"}, identity="early")))
    poller.start()
    wait_for(lambda: _connections(server) > before, what="the poll to reach the server")
    swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)
    _decide(swf, d, schedule("a1", input="payload"))
    poller.join(30)
    assert not poller.is_alive()
    assert got["activityId"] == "a1" and got["input"] == "payload"


def test_task_is_not_handed_to_a_poller_that_hung_up(server, swf, typed_domain, poller_client):
    d = typed_domain
    before = _connections(server)
    impatient = poller_client(read_timeout=1)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        impatient.poll_for_decision_task(domain=d, taskList={"name": "dl"})
    wait_for(lambda: _connections(server) <= before, what="the hung-up poll's connection to close")
    run = swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)["runId"]
    assert swf.count_pending_decision_tasks(domain=d, taskList={"name": "dl"})["count"] == 1
    task = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"}, identity="second")
    assert task["workflowExecution"] == {"workflowId": "w", "runId": run}
    assert attrs(task["events"][-1]) == {"identity": "second", "scheduledEventId": 2}


def test_activity_priorities(swf, typed_domain):
    d = typed_domain
    swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)
    _decide(swf, d, schedule("low", taskPriority="-1"), schedule("none"), schedule("top", taskPriority="100"),
            schedule("mid", taskPriority="5"))
    order = [swf.poll_for_activity_task(domain=d, taskList={"name": "al"})["activityId"] for _ in range(4)]
    assert order == ["top", "mid", "none", "low"]


def test_one_decision_task_at_a_time(swf, typed_domain):
    d = typed_domain
    run = swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)["runId"]
    task = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"})
    swf.signal_workflow_execution(domain=d, workflowId="w", signalName="s1")
    swf.signal_workflow_execution(domain=d, workflowId="w", signalName="s2")
    assert swf.count_pending_decision_tasks(domain=d, taskList={"name": "dl"})["count"] == 0
    desc = swf.describe_workflow_execution(domain=d, execution={"workflowId": "w", "runId": run})
    assert desc["openCounts"]["openDecisionTasks"] == 1
    swf.respond_decision_task_completed(taskToken=task["taskToken"])
    assert swf.count_pending_decision_tasks(domain=d, taskList={"name": "dl"})["count"] == 1
    nxt = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"}, startAtPreviousStartedEvent=True)
    assert nxt["previousStartedEventId"] == 3
    assert [e["eventType"] for e in nxt["events"]] == [
        "DecisionTaskStarted", "WorkflowExecutionSignaled", "WorkflowExecutionSignaled", "DecisionTaskCompleted",
        "DecisionTaskScheduled", "DecisionTaskStarted"]


def test_decision_task_history_pages(swf, typed_domain):
    d = typed_domain
    swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)
    for i in range(3):
        swf.signal_workflow_execution(domain=d, workflowId="w", signalName=f"s{i}")
    first = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"}, maximumPageSize=2, reverseOrder=True)
    assert [e["eventId"] for e in first["events"]] == [6, 5]
    ids, token = [6, 5], first["nextPageToken"]
    while token:
        page = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"}, maximumPageSize=2, reverseOrder=True,
                                          nextPageToken=token)
        assert page["taskToken"] == first["taskToken"] and page["startedEventId"] == 6
        ids += [e["eventId"] for e in page["events"]]
        token = page.get("nextPageToken")
    assert ids == [6, 5, 4, 3, 2, 1]
    swf.respond_decision_task_completed(taskToken=first["taskToken"])


def test_malformed_decisions_apply_nothing(swf, typed_domain):
    d = typed_domain
    run = swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)["runId"]
    task = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
            decision("CompleteWorkflowExecution"), decision("RecordMarker", markerName="m")])
    assert error_of(e) == ("ValidationException", "Close must be last decision in list")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
            {"decisionType": "ScheduleActivityTask"}])
    assert error_of(e) == ("ValidationException", (
        "2 validation errors detected: Value null at 'decisions.1.member.scheduleActivityTaskDecisionAttributes."
        "activityType' failed to satisfy constraint: Member must not be null; Value null at 'decisions.1.member."
        "scheduleActivityTaskDecisionAttributes.activityId' failed to satisfy constraint: Member must not be null"))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
            decision("StartTimer", timerId="t", startToFireTimeout="soon")])
    assert error_of(e)[0] == "ValidationException"
    assert "decisions.1.member.startTimerDecisionAttributes.startToFireTimeout" in error_of(e)[1]
    assert len(history(swf, d, {"workflowId": "w", "runId": run})) == 3     # nothing was applied
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[decision("CompleteWorkflowExecution")])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.respond_decision_task_completed(taskToken=task["taskToken"])
    assert error_of(e) == ("UnknownResourceFault", f"Unknown execution: WorkflowExecution=[workflowId=w, runId={run}]")


def test_bad_and_stale_tokens(swf, typed_domain):
    d = typed_domain
    swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)
    task = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"})
    for bad in ("not a token", "AAAA"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            swf.respond_decision_task_completed(taskToken=bad)
        assert error_of(e) == ("ValidationException", "Invalid token")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.respond_activity_task_completed(taskToken=task["taskToken"])     # a decision token
    assert error_of(e) == ("ValidationException", "Invalid token")
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[schedule("a")])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.respond_decision_task_completed(taskToken=task["taskToken"])
    assert error_of(e) == ("UnknownResourceFault", "Unknown decision task, scheduledEventId = 2")
    act = swf.poll_for_activity_task(domain=d, taskList={"name": "al"})
    assert swf.record_activity_task_heartbeat(taskToken=act["taskToken"], details="1")["cancelRequested"] is False
    swf.respond_activity_task_failed(taskToken=act["taskToken"], reason="r", details="x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.record_activity_task_heartbeat(taskToken=act["taskToken"])
    assert error_of(e) == ("UnknownResourceFault", "Unknown activity, scheduledEventId = 5")


def _raw_history(swf, domain, execution) -> list[dict]:
    raw = []
    swf.meta.events.register("after-call.swf.GetWorkflowExecutionHistory",
                             lambda http_response, **_: raw.append(json.loads(http_response.content)))
    history(swf, domain, execution)
    return [e for page in raw for e in page["events"]]


def _check_events(swf, events: list[dict]) -> None:
    """Each raw event fits botocore's HistoryEvent: known members only, the one attributes member its type names."""
    shape = swf.meta.service_model.shape_for("HistoryEvent")
    for e in events:
        keys = [k for k in e if k.endswith("EventAttributes")]
        assert keys == [e["eventType"][0].lower() + e["eventType"][1:] + "EventAttributes"], e
        e = dict(e, eventTimestamp=datetime.fromtimestamp(e["eventTimestamp"], timezone.utc))
        botocore.validate.validate_parameters(e, shape)


def test_every_decision_type_on_the_wire(server, typed_domain):
    swf = server.client("swf", config=botocore.config.Config(read_timeout=70))
    d = typed_domain
    swf.register_workflow_type(domain=d, name="wf", version="2")
    run = swf.start_workflow_execution(domain=d, workflowId="main", workflowType=WF, tagList=["t"])["runId"]
    swf.start_workflow_execution(domain=d, workflowId="peer", workflowType=WF, taskList={"name": "pl"})
    first = swf.poll_for_decision_task(domain=d, taskList={"name": "dl"})
    swf.respond_decision_task_completed(taskToken=first["taskToken"], executionContext="c1", decisions=[
        schedule("a1"), schedule("a2"), schedule("a3", activityType={"name": "ghost", "version": "1"}),
        decision("RecordMarker", markerName="m", details="md"),
        decision("StartTimer", timerId="t1", startToFireTimeout="300", control="tc"),
        decision("StartTimer", timerId="t2", startToFireTimeout="1"),
        decision("StartChildWorkflowExecution", workflowType=WF, workflowId="kid", taskList={"name": "kids"},
                 control="cc", tagList=["k"]),
        decision("SignalExternalWorkflowExecution", workflowId="peer", signalName="hi", input="x"),
        decision("ScheduleLambdaFunction", id="f", name="fn", input="{}"),
    ])
    peer = swf.poll_for_decision_task(domain=d, taskList={"name": "pl"})
    swf.respond_decision_task_completed(taskToken=peer["taskToken"], decisions=[
        decision("RequestCancelExternalWorkflowExecution", workflowId="main")])
    act = swf.poll_for_activity_task(domain=d, taskList={"name": "al"})
    assert act["activityId"] == "a1"
    wait_for(lambda: any(e["eventType"] == "TimerFired" for e in history(swf, d, {"workflowId": "main",
                                                                                 "runId": run})))
    _decide(swf, d, decision("RequestCancelActivityTask", activityId="a1"),
            decision("RequestCancelActivityTask", activityId="a2"),
            decision("RequestCancelActivityTask", activityId="a9"), decision("CancelTimer", timerId="t1"),
            decision("CancelTimer", timerId="t9"), decision("RequestCancelExternalWorkflowExecution", workflowId="kid"))
    assert swf.record_activity_task_heartbeat(taskToken=act["taskToken"])["cancelRequested"] is True
    swf.respond_activity_task_canceled(taskToken=act["taskToken"], details="undone")
    kid = swf.poll_for_decision_task(domain=d, taskList={"name": "kids"})
    swf.respond_decision_task_completed(taskToken=kid["taskToken"], decisions=[
        decision("CancelWorkflowExecution", details="kid canceled")])
    _decide(swf, d, decision("ContinueAsNewWorkflowExecution", workflowTypeVersion="2", input="again",
                             executionStartToCloseTimeout="60", taskList={"name": "dl"}, taskStartToCloseTimeout="10",
                             childPolicy="ABANDON"))
    main = history(swf, d, {"workflowId": "main", "runId": run})
    new_run = attrs(main[-1])["newExecutionRunId"]
    _decide(swf, d, decision("FailWorkflowExecution", reason="because", details="d"))
    swf.start_workflow_execution(domain=d, workflowId="done", workflowType=WF)
    _decide(swf, d, decision("CompleteWorkflowExecution", result="ok"))
    _decide(swf, d, decision("CompleteWorkflowExecution", result="ok"), tl="pl")

    seen = set()
    for wid in ("main", "peer", "kid", "done"):
        for info in swf.list_closed_workflow_executions(domain=d, startTimeFilter={"oldestDate": 0},
                                                        executionFilter={"workflowId": wid})["executionInfos"]:
            events = _raw_history(swf, d, info["execution"])
            _check_events(swf, events)
            seen |= {e["eventType"] for e in events}
    statuses = {(i["execution"]["workflowId"], i["execution"]["runId"]): i["closeStatus"] for i in
                swf.list_closed_workflow_executions(domain=d, startTimeFilter={"oldestDate": 0})["executionInfos"]}
    assert statuses[("main", run)] == "CONTINUED_AS_NEW" and statuses[("main", new_run)] == "FAILED"
    assert {"ActivityTaskScheduled", "ScheduleActivityTaskFailed", "ActivityTaskStarted", "ActivityTaskCancelRequested",
            "ActivityTaskCanceled", "MarkerRecorded", "TimerStarted", "TimerFired", "TimerCanceled",
            "CancelTimerFailed", "StartChildWorkflowExecutionInitiated", "ChildWorkflowExecutionStarted",
            "ChildWorkflowExecutionCanceled", "SignalExternalWorkflowExecutionInitiated",
            "ExternalWorkflowExecutionSignaled", "WorkflowExecutionSignaled",
            "RequestCancelExternalWorkflowExecutionInitiated", "ExternalWorkflowExecutionCancelRequested",
            "WorkflowExecutionCancelRequested", "ScheduleLambdaFunctionFailed", "WorkflowExecutionContinuedAsNew",
            "WorkflowExecutionFailed", "WorkflowExecutionCanceled", "WorkflowExecutionCompleted",
            "RequestCancelActivityTaskFailed"} <= seen
