"""RespondDecisionTaskCompleted: the 13 decision types, applied in order.

The gateway has already rejected a malformed list (nothing applied, the
task stays claimable). Here each decision either records its success event
or AWS's failure event and cause (``ScheduleActivityTaskFailed`` with
``ACTIVITY_TYPE_DOES_NOT_EXIST``, ``StartTimerFailed`` with
``TIMER_ID_ALREADY_IN_USE``, ...); a failure event is new work for the
decider, so it leads to a new decision task. A closing decision fails with
``UNHANDLED_DECISION`` when events arrived while the decider was deciding.
Effects on other executions (signals, cancel requests, child starts) land
after the list's own events, as AWS records them asynchronously.

``ScheduleLambdaFunction`` runs the function through the Lambda service
(lambdas.py).
"""

from __future__ import annotations

from services.swf.model import (
    CANCELED, COMPLETED, CONTINUED_AS_NEW, FAILED, MAX_OPEN_ACTIVITIES, MAX_OPEN_CHILDREN, MAX_OPEN_TIMERS,
    REGISTERED, decision_attr_key, new_run_id,
)
from services.swf.state import Domain, Execution

# (config key, decision/start member, type default, failure cause suffix), in AWS's cause order
_START_DEFAULTS = (
    ("es2c", "executionStartToCloseTimeout", "defaultExecutionStartToCloseTimeout",
     "DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
    ("tl", "taskList", "defaultTaskList", "DEFAULT_TASK_LIST_UNDEFINED"),
    ("ts2c", "taskStartToCloseTimeout", "defaultTaskStartToCloseTimeout",
     "DEFAULT_TASK_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
    ("cp", "childPolicy", "defaultChildPolicy", "DEFAULT_CHILD_POLICY_UNDEFINED"),
)
_ACTIVITY_DEFAULTS = (
    ("scheduleToCloseTimeout", "defaultTaskScheduleToCloseTimeout", "DEFAULT_SCHEDULE_TO_CLOSE_TIMEOUT_UNDEFINED"),
    ("taskList", "defaultTaskList", "DEFAULT_TASK_LIST_UNDEFINED"),
    ("scheduleToStartTimeout", "defaultTaskScheduleToStartTimeout", "DEFAULT_SCHEDULE_TO_START_TIMEOUT_UNDEFINED"),
    ("startToCloseTimeout", "defaultTaskStartToCloseTimeout", "DEFAULT_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
)


def resolve_start(a: dict, wtype: dict) -> tuple[dict | None, str | None, str | None]:
    """Execution settings from the request, else the type's defaults:
    (config, None, None) or (None, failure cause, the undefined default's name)."""
    defaults = wtype["cfg"]
    cfg = {}
    for key, member, default, cause in _START_DEFAULTS:
        value = a.get(member) or defaults.get(default)
        if not value:
            return None, cause, default
        cfg[key] = value["name"] if key == "tl" else value
    cfg["prio"] = a.get("taskPriority") or defaults.get("defaultTaskPriority")
    cfg["lr"] = a.get("lambdaRole") or defaults.get("defaultLambdaRole")
    return cfg, None, None


class _Batch:
    """One decision list being applied."""
    __slots__ = ("completed", "pending", "deferred")

    def __init__(self, completed: int, pending: bool):
        self.completed, self.pending, self.deferred = completed, pending, []


class DecisionMixin:
    def complete_decision(self, ex: Execution, decisions: list, context: str | None, task_list: str | None,
                          s2s: str | None) -> None:
        dt = ex.dt
        now = self.now()
        self.timers.cancel(f"{ex.run_id}/dc{dt.st}")
        completed = self.event(ex, "DecisionTaskCompleted", {
            "executionContext": context, "scheduledEventId": dt.s, "startedEventId": dt.st,
            "taskList": {"name": task_list} if task_list else None, "taskListScheduleToStartTimeout": s2s}, now)
        self.metric(ex, "DecisionTasksCompleted")
        self.metric(ex, "DecisionTaskStartToCloseTime", now - dt.sa, "Milliseconds")
        batch = _Batch(completed, ex.dt_pending)
        ex.dt = None
        ex.dt_pending = False
        ex.prev_started = dt.st
        if context is not None:
            ex.context = context
        ex.deciding = True
        try:
            for d in decisions:
                if not ex.is_open:
                    break
                dtype = d["decisionType"]
                getattr(self, "_d_" + dtype)(ex, d.get(decision_attr_key(dtype)) or {}, batch)
            for fn in batch.deferred:
                fn()
        finally:
            ex.deciding = False
        if task_list or s2s:
            ex.next_list = [task_list, s2s]
        if ex.is_open and (batch.pending or ex.dt_pending):
            self.schedule_decision(ex)

    def _record(self, ex: Execution, etype: str, attrs: dict) -> None:
        """Record an event the decider must act on (a failure, an external result)."""
        self.event(ex, etype, attrs)
        self.notify(ex)

    # -- activities -----------------------------------------------------------
    def _d_ScheduleActivityTask(self, ex: Execution, a: dict, b: _Batch) -> None:
        at, aid = a["activityType"], a["activityId"]
        t = ex.domain.types["Activity"].get((at["name"], at["version"]))
        cause = None
        if t is None:
            cause = "ACTIVITY_TYPE_DOES_NOT_EXIST"
        elif t["status"] != REGISTERED:
            cause = "ACTIVITY_TYPE_DEPRECATED"
        elif aid in ex.acts_by_id:
            cause = "ACTIVITY_ID_ALREADY_IN_USE"
        elif len(ex.acts) >= MAX_OPEN_ACTIVITIES:
            cause = "OPEN_ACTIVITIES_LIMIT_EXCEEDED"
        resolved = {}
        if cause is None:
            defaults = t["cfg"]
            for member, default, undefined in _ACTIVITY_DEFAULTS:
                resolved[member] = a.get(member) or defaults.get(default)
                if not resolved[member]:
                    cause = undefined
                    break
        if cause is not None:
            return self._record(ex, "ScheduleActivityTaskFailed", {
                "activityType": at, "activityId": aid, "cause": cause, "decisionTaskCompletedEventId": b.completed})
        defaults = t["cfg"]
        self.schedule_activity(ex, {
            "activityType": at, "activityId": aid, "input": a.get("input"), "control": a.get("control"),
            "scheduleToStartTimeout": resolved["scheduleToStartTimeout"],
            "scheduleToCloseTimeout": resolved["scheduleToCloseTimeout"],
            "startToCloseTimeout": resolved["startToCloseTimeout"], "taskList": resolved["taskList"],
            "taskPriority": a.get("taskPriority") or defaults.get("defaultTaskPriority"),
            "decisionTaskCompletedEventId": b.completed,
            "heartbeatTimeout": a.get("heartbeatTimeout") or defaults.get("defaultTaskHeartbeatTimeout")})

    def _d_RequestCancelActivityTask(self, ex: Execution, a: dict, b: _Batch) -> None:
        act = ex.acts_by_id.get(a["activityId"])
        if act is None:
            return self._record(ex, "RequestCancelActivityTaskFailed", {
                "activityId": a["activityId"], "cause": "ACTIVITY_ID_UNKNOWN",
                "decisionTaskCompletedEventId": b.completed})
        self.cancel_activity(act, b.completed)

    # -- closing decisions ----------------------------------------------------
    def _closing(self, ex: Execution, b: _Batch, decision: str) -> bool:
        """False (and the failure recorded) when new events are still unhandled."""
        if b.pending:
            self._record(ex, decision + "Failed", {"cause": "UNHANDLED_DECISION",
                                                   "decisionTaskCompletedEventId": b.completed})
            return False
        return True

    def _d_CompleteWorkflowExecution(self, ex: Execution, a: dict, b: _Batch) -> None:
        if self._closing(ex, b, "CompleteWorkflowExecution"):
            self.close(ex, COMPLETED, "WorkflowExecutionCompleted",
                       {"result": a.get("result"), "decisionTaskCompletedEventId": b.completed})

    def _d_FailWorkflowExecution(self, ex: Execution, a: dict, b: _Batch) -> None:
        if self._closing(ex, b, "FailWorkflowExecution"):
            self.close(ex, FAILED, "WorkflowExecutionFailed", {
                "reason": a.get("reason"), "details": a.get("details"), "decisionTaskCompletedEventId": b.completed})

    def _d_CancelWorkflowExecution(self, ex: Execution, a: dict, b: _Batch) -> None:
        if self._closing(ex, b, "CancelWorkflowExecution"):
            self.close(ex, CANCELED, "WorkflowExecutionCanceled",
                       {"details": a.get("details"), "decisionTaskCompletedEventId": b.completed})

    def _d_ContinueAsNewWorkflowExecution(self, ex: Execution, a: dict, b: _Batch) -> None:
        if not self._closing(ex, b, "ContinueAsNewWorkflowExecution"):
            return
        d = ex.domain
        version = a.get("workflowTypeVersion") or ex.wtype[1]
        t = d.types["Workflow"].get((ex.wtype[0], version))
        cfg, cause = None, None
        if t is None:
            cause = "WORKFLOW_TYPE_DOES_NOT_EXIST"
        elif t["status"] != REGISTERED:
            cause = "WORKFLOW_TYPE_DEPRECATED"
        else:
            cfg, cause, _ = resolve_start(a, t)
        if cause is not None:
            return self._record(ex, "ContinueAsNewWorkflowExecutionFailed", {
                "cause": cause, "decisionTaskCompletedEventId": b.completed})
        run_id = new_run_id()
        wtype = {"name": ex.wtype[0], "version": version}
        self.close(ex, CONTINUED_AS_NEW, "WorkflowExecutionContinuedAsNew", {
            "input": a.get("input"), "decisionTaskCompletedEventId": b.completed, "newExecutionRunId": run_id,
            "executionStartToCloseTimeout": cfg["es2c"], "taskList": {"name": cfg["tl"]},
            "taskPriority": cfg["prio"], "taskStartToCloseTimeout": cfg["ts2c"], "childPolicy": cfg["cp"],
            "tagList": a.get("tagList") or None, "workflowType": wtype, "lambdaRole": cfg["lr"]})
        self.start_execution(d, ex.workflow_id, (wtype["name"], version), cfg, a.get("input"), a.get("tagList"),
                             parent=ex.parent, continued=ex.run_id, run_id=run_id)
        parent = d.runs.get(ex.parent[1]) if ex.parent else None
        if parent is not None and ex.workflow_id in parent.children:
            parent.children[ex.workflow_id][2] = run_id
            self.touch(parent)

    # -- markers and timers ---------------------------------------------------
    def _d_RecordMarker(self, ex: Execution, a: dict, b: _Batch) -> None:
        self.event(ex, "MarkerRecorded", {"markerName": a["markerName"], "details": a.get("details"),
                                          "decisionTaskCompletedEventId": b.completed})

    def _d_StartTimer(self, ex: Execution, a: dict, b: _Batch) -> None:
        tid = a["timerId"]
        cause = ("TIMER_ID_ALREADY_IN_USE" if tid in ex.timers
                 else "OPEN_TIMERS_LIMIT_EXCEEDED" if len(ex.timers) >= MAX_OPEN_TIMERS else None)
        if cause is not None:
            return self._record(ex, "StartTimerFailed", {"timerId": tid, "cause": cause,
                                                         "decisionTaskCompletedEventId": b.completed})
        now = self.now()
        started = self.event(ex, "TimerStarted", {
            "timerId": tid, "control": a.get("control"), "startToFireTimeout": a["startToFireTimeout"],
            "decisionTaskCompletedEventId": b.completed}, now)
        due = now + int(a["startToFireTimeout"]) * 1000
        ex.timers[tid] = [started, due]
        self.schedule(f"{ex.run_id}/t{started}", due, "timer", ex, tid, started)

    def _d_CancelTimer(self, ex: Execution, a: dict, b: _Batch) -> None:
        tid = a["timerId"]
        t = ex.timers.pop(tid, None)
        if t is None:
            return self._record(ex, "CancelTimerFailed", {"timerId": tid, "cause": "TIMER_ID_UNKNOWN",
                                                          "decisionTaskCompletedEventId": b.completed})
        self.timers.cancel(f"{ex.run_id}/t{t[0]}")
        self.event(ex, "TimerCanceled", {"timerId": tid, "startedEventId": t[0],
                                         "decisionTaskCompletedEventId": b.completed})

    # -- other executions -----------------------------------------------------
    def find_open(self, d: Domain, workflow_id: str, run_id: str | None) -> Execution | None:
        ex = d.runs.get(run_id) if run_id else d.open.get(workflow_id)
        return ex if ex is not None and ex.is_open and ex.workflow_id == workflow_id else None

    def _d_SignalExternalWorkflowExecution(self, ex: Execution, a: dict, b: _Batch) -> None:
        common = {"workflowId": a["workflowId"], "runId": a.get("runId"), "control": a.get("control"),
                  "decisionTaskCompletedEventId": b.completed}
        initiated = self.event(ex, "SignalExternalWorkflowExecutionInitiated",
                               {**common, "signalName": a["signalName"], "input": a.get("input")})

        def deliver():
            target = self.find_open(ex.domain, a["workflowId"], a.get("runId"))
            if target is None:
                if ex.is_open:
                    self._record(ex, "SignalExternalWorkflowExecutionFailed", {
                        **common, "cause": "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION", "initiatedEventId": initiated})
                return
            self.signal(target, a["signalName"], a.get("input"), external=ex.ref(), initiated=initiated)
            if ex.is_open:
                self._record(ex, "ExternalWorkflowExecutionSignaled",
                             {"workflowExecution": target.ref(), "initiatedEventId": initiated})
        b.deferred.append(deliver)

    def _d_RequestCancelExternalWorkflowExecution(self, ex: Execution, a: dict, b: _Batch) -> None:
        common = {"workflowId": a["workflowId"], "runId": a.get("runId"), "control": a.get("control"),
                  "decisionTaskCompletedEventId": b.completed}
        initiated = self.event(ex, "RequestCancelExternalWorkflowExecutionInitiated", common)

        def deliver():
            target = self.find_open(ex.domain, a["workflowId"], a.get("runId"))
            if target is None:
                if ex.is_open:
                    self._record(ex, "RequestCancelExternalWorkflowExecutionFailed", {
                        **common, "cause": "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION", "initiatedEventId": initiated})
                return
            self.request_cancel(target, external=ex.ref(), initiated=initiated)
            if ex.is_open:
                self._record(ex, "ExternalWorkflowExecutionCancelRequested",
                             {"workflowExecution": target.ref(), "initiatedEventId": initiated})
        b.deferred.append(deliver)

    def _d_StartChildWorkflowExecution(self, ex: Execution, a: dict, b: _Batch) -> None:
        d = ex.domain
        wt, wid = a["workflowType"], a["workflowId"]
        t = d.types["Workflow"].get((wt["name"], wt["version"]))
        cfg, cause = None, None
        if t is None:
            cause = "WORKFLOW_TYPE_DOES_NOT_EXIST"
        elif t["status"] != REGISTERED:
            cause = "WORKFLOW_TYPE_DEPRECATED"
        elif len(ex.children) >= MAX_OPEN_CHILDREN:
            cause = "OPEN_CHILDREN_LIMIT_EXCEEDED"
        else:
            cfg, cause, _ = resolve_start(a, t)
        common = {"workflowType": wt, "workflowId": wid, "control": a.get("control"),
                  "decisionTaskCompletedEventId": b.completed}
        if cause is not None:
            return self._record(ex, "StartChildWorkflowExecutionFailed",
                                {**common, "cause": cause, "initiatedEventId": 0})
        initiated = self.event(ex, "StartChildWorkflowExecutionInitiated", {
            **common, "input": a.get("input"), "executionStartToCloseTimeout": cfg["es2c"],
            "taskList": {"name": cfg["tl"]}, "taskPriority": cfg["prio"], "childPolicy": cfg["cp"],
            "taskStartToCloseTimeout": cfg["ts2c"], "tagList": a.get("tagList") or None, "lambdaRole": cfg["lr"]})

        def launch():
            if wid in d.open:
                if ex.is_open:
                    self._record(ex, "StartChildWorkflowExecutionFailed",
                                 {**common, "cause": "WORKFLOW_ALREADY_RUNNING", "initiatedEventId": initiated})
                return
            child = self.start_execution(d, wid, (wt["name"], wt["version"]), cfg, a.get("input"),
                                         a.get("tagList"), parent=[ex.workflow_id, ex.run_id, initiated])
            if ex.is_open:
                started = self.event(ex, "ChildWorkflowExecutionStarted", {
                    "workflowExecution": child.ref(), "workflowType": wt, "initiatedEventId": initiated})
                ex.children[wid] = [initiated, started, child.run_id]
                self.notify(ex)
        b.deferred.append(launch)

    def _d_ScheduleLambdaFunction(self, ex: Execution, a: dict, b: _Batch) -> None:
        self.schedule_lambda(ex, a, b.completed)      # lambdas.py
