"""A workflow keeps going across kill -9 of the whole server: acknowledged
history survives, scheduled tasks are still there, and durable timers and
timeouts fire after the restart. Deciders and workers run in threads
throughout and simply retry while the server is down."""

from __future__ import annotations

import socket

from botocore.config import Config

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.swf._helpers import WF, attrs, decider, decision, history, register_types, schedule, stop_all, \
    worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(b: BrokerProcess):
    # the pollers retry by themselves while the server is down (_helpers.Poller)
    return b.client("swf", config=Config(read_timeout=70, connect_timeout=2, retries={"total_max_attempts": 1}))


def _new(events, task):
    prev = task.get("previousStartedEventId") or 0
    return [e for e in events if e["eventId"] > prev]


def test_restart_mid_workflow(tmp_path):
    port = _free_port()
    b = BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--http-port", str(port),
                      free_ports=False)
    try:
        swf = _client(b)
        swf.register_domain(name="r", workflowExecutionRetentionPeriodInDays="1")
        register_types(swf, "r")
        seen = {"timer": False, "a3": None}

        def decide(events, task):
            out = []
            for e in _new(events, task):
                t = e["eventType"]
                if t == "WorkflowExecutionStarted":
                    out += [schedule("a1"), decision("StartTimer", timerId="t", startToFireTimeout="3")]
                elif t == "ActivityTaskCompleted" and seen["a3"] is None and not out:
                    out.append(schedule("a2", startToCloseTimeout="4"))
                elif t == "ActivityTaskTimedOut":
                    out.append(schedule("a3"))
                    seen["a3"] = "scheduled"
                elif t == "ActivityTaskCompleted":
                    seen["a3"] = attrs(e)["result"]
                elif t == "TimerFired":
                    seen["timer"] = True
            if seen["timer"] and seen["a3"] not in (None, "scheduled"):
                out.append(decision("CompleteWorkflowExecution", result=seen["a3"]))
            return out

        def work(client, task):
            if task["activityId"] == "a2":
                return None           # this worker "dies" with the server: a2 must time out
            return task["activityId"] + "-done"

        threads = [decider(_client(b), "r", "dl", decide), worker(_client(b), "r", "al", work)]
        for t in threads:
            t.start()
        try:
            run = swf.start_workflow_execution(domain="r", workflowId="w", workflowType=WF)["runId"]
            ex = {"workflowId": "w", "runId": run}
            before = wait_for(lambda: (lambda h: h if any(attrs(e).get("scheduledEventId") and
                                                          e["eventType"] == "ActivityTaskStarted" and
                                                          h[attrs(e)["scheduledEventId"] - 1]
                                                          ["activityTaskScheduledEventAttributes"]["activityId"]
                                                          == "a2" for e in h) else None)(history(swf, "r", ex)),
                              20, what="a2 to be started")
            b.kill_all()                      # kill -9 supervisor, gateway and shards
            b.restart()
            swf = _client(b)

            def closed():
                info = swf.describe_workflow_execution(domain="r", execution=ex)["executionInfo"]
                return info if info["executionStatus"] == "CLOSED" else None
            info = wait_for(closed, 40, what="the workflow to finish after the restart")
        finally:
            stop_all(threads)
        assert info["closeStatus"] == "COMPLETED"
        after = history(swf, "r", ex)
        assert after[:len(before)] == before                       # nothing acknowledged was lost
        assert [e["eventId"] for e in after] == list(range(1, len(after) + 1))
        timed_out = [attrs(e) for e in after if e["eventType"] == "ActivityTaskTimedOut"]
        assert [t["timeoutType"] for t in timed_out] == ["START_TO_CLOSE"]
        assert any(e["eventType"] == "TimerFired" for e in after)
        assert attrs(after[-1])["result"] == "a3-done"
    finally:
        b.close()


def test_sigterm_ends_parked_polls_with_empty_tasks(tmp_path):
    import threading
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1") as b:
        swf = _client(b)
        swf.register_domain(name="r", workflowExecutionRetentionPeriodInDays="1")
        before = b.health()["gateway"]["connections"]
        got = {}
        poller = _client(b)
        t = threading.Thread(target=lambda: got.update(poller.poll_for_activity_task(
            domain="r", taskList={"name": "al"})))
        t.start()
        wait_for(lambda: b.health()["gateway"]["connections"] > before, what="the poll to reach the server")
        rc, _seconds = b.stop()
        t.join(10)
        assert rc == 0 and not t.is_alive()
        assert got["taskToken"] == "" and got["startedEventId"] == 0
