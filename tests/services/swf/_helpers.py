"""Helpers for the SWF integration tests: types, deciders and workers in threads."""

from __future__ import annotations

import threading

import botocore.exceptions

WF = {"name": "wf", "version": "1"}
ACT = {"name": "act", "version": "1"}


def error_of(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")


def register_types(swf, domain: str, **wf_defaults) -> None:
    defaults = {"defaultTaskList": {"name": "dl"}, "defaultExecutionStartToCloseTimeout": "600",
                "defaultTaskStartToCloseTimeout": "60", "defaultChildPolicy": "TERMINATE"}
    defaults.update(wf_defaults)
    swf.register_workflow_type(domain=domain, name="wf", version="1", **defaults)
    swf.register_activity_type(domain=domain, name="act", version="1", defaultTaskList={"name": "al"},
                               defaultTaskScheduleToStartTimeout="NONE", defaultTaskScheduleToCloseTimeout="NONE",
                               defaultTaskStartToCloseTimeout="NONE", defaultTaskHeartbeatTimeout="NONE")


def attrs(event: dict) -> dict:
    return next(v for k, v in event.items() if k.endswith("EventAttributes"))


def schedule(activity_id: str, **extra) -> dict:
    return {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
        "activityType": ACT, "activityId": activity_id, **extra}}


def decision(dtype: str, **attrs_) -> dict:
    return {"decisionType": dtype, dtype[0].lower() + dtype[1:] + "DecisionAttributes": attrs_}


def history(swf, domain: str, execution: dict) -> list[dict]:
    events, token = [], None
    while True:
        kw = {"nextPageToken": token} if token else {}
        page = swf.get_workflow_execution_history(domain=domain, execution=execution, **kw)
        events += page["events"]
        token = page.get("nextPageToken")
        if not token:
            return events


class Poller(threading.Thread):
    """Polls a task list in a loop until stopped, handing each task to `handle`.

    Its client waits out the 60-second long poll (a client that hangs up
    mid-poll risks a task being handed to it just then, which SWF, like
    AWS, then only recovers by the task's timeout). So a stopped poller
    may linger until its last poll ends; it is a daemon thread on a test's
    own domain, so nothing else ever reaches it.
    """

    def __init__(self, client, domain: str, task_list: str, handle, kind: str = "decision"):
        super().__init__(daemon=True)
        self.client, self.domain, self.task_list, self.handle, self.kind = client, domain, task_list, handle, kind
        self._stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.handled = 0

    def run(self) -> None:
        poll = (self.client.poll_for_decision_task if self.kind == "decision"
                else self.client.poll_for_activity_task)
        while not self._stop_event.is_set():
            try:
                task = poll(domain=self.domain, taskList={"name": self.task_list}, identity=self.name)
            except (botocore.exceptions.HTTPClientError, botocore.exceptions.ConnectionError):
                self._stop_event.wait(0.05)     # the server is down or restarting: poll again
                continue
            except botocore.exceptions.ClientError as exc:
                if exc.response["ResponseMetadata"].get("HTTPStatusCode", 400) < 500:
                    raise
                self._stop_event.wait(0.05)     # a shard is restarting
                continue
            if not task.get("taskToken") or self._stop_event.is_set():
                continue
            try:
                self.handle(self.client, task)
                self.handled += 1
            except Exception as exc:  # noqa: BLE001 - reported by stop_all()
                self.errors.append(exc)


def stop_all(pollers, ignore: tuple = ()) -> None:
    """Stop the pollers (see Poller); re-raise the first error one of them met."""
    for p in pollers:
        p._stop_event.set()
    for p in pollers:
        errors = [e for e in p.errors if not isinstance(e, ignore)]
        if errors:
            raise errors[0]


def full_events(client, domain: str, task: dict) -> list[dict]:
    """All events of a decision task (following its pages)."""
    events = list(task["events"])
    token = task.get("nextPageToken")
    while token:
        page = client.poll_for_decision_task(domain=domain, taskList={"name": "unused"}, nextPageToken=token)
        events += page["events"]
        token = page.get("nextPageToken")
    return events


def decider(client, domain: str, task_list: str, decide) -> Poller:
    """A decider thread: `decide(events, task) -> decisions` for every decision task."""
    def handle(c, task):
        c.respond_decision_task_completed(taskToken=task["taskToken"],
                                          decisions=decide(full_events(c, domain, task), task))
    return Poller(client, domain, task_list, handle, "decision")


def worker(client, domain: str, task_list: str, work) -> Poller:
    """An activity worker thread: `work(task)` returns the result, or raises to fail the task."""
    def handle(c, task):
        try:
            result = work(c, task)
        except Exception as exc:  # noqa: BLE001 - the activity fails, as a worker would report it
            c.respond_activity_task_failed(taskToken=task["taskToken"], reason=type(exc).__name__,
                                           details=str(exc))
            return
        if result is not None:
            c.respond_activity_task_completed(taskToken=task["taskToken"], result=result)
    return Poller(client, domain, task_list, handle, "activity")
