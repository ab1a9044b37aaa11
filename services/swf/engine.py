"""The SWF state machine of one partition: executions, decision tasks,
closing, children, signals, cancellation, timers and timeouts.

Every change appends history events (each its own record) and marks the
execution or activity it touched (Lambda tasks: lambdas.py); `commit()` writes those records once per
operation, and the shard's group commit makes them durable before any
reply leaves. Every deadline (workflow start-to-close, decision schedule-to-
start and start-to-close, the four activity timeouts, user timers,
retention) is a durable timer: after a restart an overdue one fires at once.

Decision tasks follow AWS's rules: at most one is outstanding per
execution; an event that needs the decider schedules one if none is
scheduled or started, and marks the started one as stale otherwise, in
which case the next is scheduled as soon as it completes.
"""

from __future__ import annotations

from broker.core.timers import DurableTimers
from broker.runtime import telemetry
from services.swf import tokens
from services.swf.activities import ActivityMixin
from services.swf.decisions import DecisionMixin
from services.swf.lambdas import LambdaMixin
from services.swf.polls import PollMixin
from services.swf.model import (
    CHILD_CLOSE_EVENT, CLOSE_METRIC, CONTINUED_AS_NEW, MAX_HISTORY_EVENTS, NONE, REQUEST_CANCEL, TERMINATE,
    TERMINATED, TIMED_OUT, attr_key, compact, new_run_id, seconds,
)
from services.swf.state import K_ACT, K_EVENT, K_RUN, Activity, DecisionTask, Domain, Execution, event_key


class SwfTimers(DurableTimers):
    KIND = "swf.timer"      # apart from the routing core's timers in the same partition


class Engine(ActivityMixin, DecisionMixin, LambdaMixin, PollMixin):
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.domains: dict[str, Domain] = {}
        self._touched: dict[int, object] = {}
        self._wake: dict[int, tuple] = {}
        self.timers: SwfTimers | None = None
        self.waiters: dict = {}

    def start_timers(self) -> None:
        """Arm every persisted timer (after the executions are loaded)."""
        handlers = {"wf": self._t_workflow, "dsched": self._t_decision_s2s, "dclose": self._t_decision_s2c,
                    "timer": self._t_user_timer, "ret": self._t_retention, "as2s": self._t_activity_s2s,
                    "as2c": self._t_activity_s2c, "ast2c": self._t_activity_st2c, "ahb": self._t_heartbeat,
                    "lst2c": self._t_lambda_st2c}
        self.timers = SwfTimers(self.part, {k: self._timer(fn) for k, fn in handlers.items()})

    # -- bookkeeping ----------------------------------------------------------
    def now(self) -> int:
        return self.part.now_ms()

    def touch(self, obj) -> None:
        self._touched[id(obj)] = obj

    def wake_later(self, domain: Domain, lists: dict, name: str) -> None:
        """Serve waiting polls once the current operation's events are all appended."""
        tl = lists[name]
        if tl.waiters:
            self._wake[id(tl)] = (domain, lists, tl)

    def commit(self) -> None:
        """End of an operation: hand new tasks to waiting polls, enforce the event
        limit, stage the touched records."""
        while self._wake:
            pending, self._wake = self._wake, {}
            for domain, lists, tl in pending.values():
                self.wake(domain, lists, tl)
        for obj in list(self._touched.values()):
            if isinstance(obj, Execution) and obj.is_open and len(obj.events) >= MAX_HISTORY_EVENTS:
                self.terminate(obj, cause="EVENT_LIMIT_EXCEEDED")
        put = self.store.put
        for obj in self._touched.values():
            if isinstance(obj, Execution):
                if obj.run_id in obj.domain.runs:
                    put(K_RUN, obj.key(), obj.record())
            elif obj.s in obj.ex.acts:
                put(K_ACT, obj.key(), obj.record())
        self._touched.clear()

    def _timer(self, fn):
        def fire(timer_id, data):
            domain = self.domains.get(data[0])
            ex = domain.runs.get(data[1]) if domain is not None else None
            if ex is not None:
                fn(ex, timer_id, *data[2:])
                self.commit()
        return fire

    def event(self, ex: Execution, etype: str, attrs: dict, now: int | None = None) -> int:
        eid = len(ex.events) + 1
        ev = {"eventId": eid, "eventTimestamp": (now or self.now()) / 1000.0, "eventType": etype,
              attr_key(etype): compact(attrs)}
        ex.events.append(ev)
        self.store.put(K_EVENT, event_key(ex.run_id, eid), ev)
        self.touch(ex)
        return eid

    def metric(self, ex: Execution, name: str, value: float = 1, unit: str = "Count", atype=None) -> None:
        d = ex.domain
        dims = ({"Domain": d.name, "ActivityTypeName": atype["name"], "ActivityTypeVersion": atype["version"]}
                if atype else {"Domain": d.name, "WorkflowTypeName": ex.wtype[0], "WorkflowTypeVersion": ex.wtype[1]})
        telemetry.metric("AWS/SWF", name, dims, value, unit, account=d.account, region=d.region)

    def schedule(self, timer_id: str, due: int, kind: str, ex: Execution, *data) -> None:
        self.timers.schedule(timer_id, due, kind, [ex.domain.key, ex.run_id, *data])

    # -- starting -------------------------------------------------------------
    def start_execution(self, domain: Domain, workflow_id: str, wtype: tuple, cfg: dict, input_: str | None,
                        tags: list | None, parent: list | None = None, continued: str | None = None,
                        run_id: str | None = None) -> Execution:
        now = self.now()
        rid = run_id or new_run_id()
        ex = Execution(domain, {"w": workflow_id, "r": rid, "t": list(wtype), "st": now / 1000.0,
                                "tags": tags or [], "par": parent, "cfg": cfg})
        domain.runs[rid] = ex
        domain.open[workflow_id] = ex
        self.event(ex, "WorkflowExecutionStarted", {
            "input": input_, "executionStartToCloseTimeout": cfg["es2c"], "taskStartToCloseTimeout": cfg["ts2c"],
            "childPolicy": cfg["cp"], "taskList": {"name": cfg["tl"]}, "taskPriority": cfg.get("prio"),
            "workflowType": ex.type_ref(), "tagList": tags or None, "continuedExecutionRunId": continued,
            "parentWorkflowExecution": {"workflowId": parent[0], "runId": parent[1]} if parent else None,
            "parentInitiatedEventId": parent[2] if parent else 0, "lambdaRole": cfg.get("lr")}, now)
        self.schedule(f"{rid}/wf", now + seconds(cfg["es2c"]) * 1000, "wf", ex)
        self.schedule_decision(ex)
        return ex

    # -- decision tasks -------------------------------------------------------
    def notify(self, ex: Execution) -> None:
        """An event the decider must see was recorded."""
        if not ex.is_open:
            return
        if ex.deciding or (ex.dt is not None and ex.dt.st):
            ex.dt_pending = True
            self.touch(ex)
        elif ex.dt is None:
            self.schedule_decision(ex)

    def schedule_decision(self, ex: Execution) -> None:
        """DecisionTaskScheduled, in the list the last decision asked for (else the execution's)."""
        cfg = ex.cfg
        task_list, s2s = ex.next_list or (None, None)
        ex.next_list = None
        name = task_list or cfg["tl"]
        now = self.now()
        s = self.event(ex, "DecisionTaskScheduled", {
            "taskList": {"name": name}, "taskPriority": cfg.get("prio"), "startToCloseTimeout": cfg["ts2c"],
            "scheduleToStartTimeout": s2s or NONE}, now)
        ex.dt = DecisionTask(ex, s)
        ex.dt_pending = False
        d = ex.domain
        d.tasklist(d.dlists, name).push(ex.dt, int(cfg.get("prio") or 0))
        if s2s and s2s != NONE:
            self.schedule(f"{ex.run_id}/ds{s}", now + int(s2s) * 1000, "dsched", ex, s)
        self.wake_later(d, d.dlists, name)

    def start_decision(self, ex: Execution, identity: str | None) -> None:
        dt = ex.dt
        now = self.now()
        dt.st = self.event(ex, "DecisionTaskStarted", {"identity": identity, "scheduledEventId": dt.s}, now)
        dt.sa = now
        self.timers.cancel(f"{ex.run_id}/ds{dt.s}")
        s2c = seconds(dt.attrs.get("startToCloseTimeout"))
        if s2c is not None:
            self.schedule(f"{ex.run_id}/dc{dt.st}", now + s2c * 1000, "dclose", ex, dt.st)
        self.metric(ex, "DecisionTaskScheduleToStartTime",
                    now - ex.events[dt.s - 1]["eventTimestamp"] * 1000, "Milliseconds")

    def decision_task(self, ex: Execution, scheduled: int, started: int, page_size: int, reverse: bool,
                      from_previous: bool, offset: int = 0) -> dict:
        """The DecisionTask a poll returns: one page of the history up to the task's start."""
        lo = ex.prev_started - 1 if from_previous and 0 < ex.prev_started < started else 0
        events = ex.events[lo:started]
        if reverse:
            events.reverse()
        d = ex.domain
        out = {"taskToken": tokens.task_token(tokens.DECISION, d.account, d.region, d.name, ex.workflow_id,
                                              ex.run_id, scheduled, started),
               "startedEventId": started, "workflowExecution": ex.ref(), "workflowType": ex.type_ref(),
               "events": events[offset:offset + page_size], "previousStartedEventId": ex.prev_started}
        if offset + page_size < len(events):
            out["nextPageToken"] = tokens.page_token("dp", self.now(), ex.workflow_id, ex.run_id, scheduled,
                                                     started, offset + page_size, reverse, from_previous)
        return out

    def _t_decision_s2s(self, ex: Execution, _tid, scheduled: int) -> None:
        dt = ex.dt
        if dt is None or dt.s != scheduled or dt.st:
            return
        d = ex.domain
        tl = d.dlists.get(dt.attrs["taskList"]["name"])
        if tl is not None:
            tl.remove(dt)
        ex.dt = None
        self.event(ex, "DecisionTaskTimedOut", {"timeoutType": "SCHEDULE_TO_START", "scheduledEventId": dt.s,
                                                "startedEventId": 0})
        self.schedule_decision(ex)

    def _t_decision_s2c(self, ex: Execution, _tid, started: int) -> None:
        dt = ex.dt
        if dt is None or dt.st != started:
            return
        ex.dt = None
        self.event(ex, "DecisionTaskTimedOut", {"timeoutType": "START_TO_CLOSE", "scheduledEventId": dt.s,
                                                "startedEventId": dt.st})
        self.metric(ex, "StartedDecisionTasksTimedOutOnClose")
        self.schedule_decision(ex)

    # -- signals, cancel requests, termination --------------------------------
    def signal(self, ex: Execution, name: str, input_: str | None, external: dict | None = None,
               initiated: int | None = None) -> None:
        self.event(ex, "WorkflowExecutionSignaled", {"signalName": name, "input": input_,
                                                     "externalWorkflowExecution": external,
                                                     "externalInitiatedEventId": initiated})
        self.notify(ex)

    def request_cancel(self, ex: Execution, external: dict | None = None, initiated: int | None = None,
                       cause: str | None = None) -> None:
        self.event(ex, "WorkflowExecutionCancelRequested", {"externalWorkflowExecution": external,
                                                            "externalInitiatedEventId": initiated, "cause": cause})
        ex.cancel_requested = True
        self.notify(ex)

    def terminate(self, ex: Execution, reason: str | None = None, details: str | None = None,
                  child_policy: str | None = None, cause: str | None = None) -> None:
        policy = child_policy or ex.cfg["cp"]
        self.close(ex, TERMINATED, "WorkflowExecutionTerminated",
                   {"reason": reason, "details": details, "childPolicy": policy, "cause": cause}, policy)

    def _t_workflow(self, ex: Execution, _tid) -> None:
        if ex.is_open:
            self.close(ex, TIMED_OUT, "WorkflowExecutionTimedOut",
                       {"timeoutType": "START_TO_CLOSE", "childPolicy": ex.cfg["cp"]})

    def _t_user_timer(self, ex: Execution, _tid, timer_id: str, started: int) -> None:
        t = ex.timers.get(timer_id)
        if t is None or t[0] != started:
            return
        del ex.timers[timer_id]
        self.event(ex, "TimerFired", {"timerId": timer_id, "startedEventId": started})
        self.notify(ex)

    # -- closing --------------------------------------------------------------
    def close(self, ex: Execution, status: str, etype: str, attrs: dict, child_policy: str | None = None) -> None:
        """Record the closing event and release everything the execution held."""
        now = self.now()
        self.event(ex, etype, attrs, now)
        ex.close_status = status
        ex.closed_at = now / 1000.0
        d = ex.domain
        rid = ex.run_id
        cancel = self.timers.cancel
        if ex.dt is not None:
            tl = d.dlists.get(ex.dt.attrs["taskList"]["name"])
            if tl is not None:
                tl.remove(ex.dt)
            cancel(f"{rid}/ds{ex.dt.s}")
            if ex.dt.st:
                cancel(f"{rid}/dc{ex.dt.st}")
            ex.dt = None
        ex.dt_pending = False
        for act in list(ex.acts.values()):
            self.drop_activity(act)
        self.drop_lambdas(ex)
        for timer_id, (started, _due) in ex.timers.items():
            cancel(f"{rid}/t{started}")
        ex.timers = {}
        cancel(f"{rid}/wf")
        if d.open.get(ex.workflow_id) is ex:
            del d.open[ex.workflow_id]
        self.metric(ex, CLOSE_METRIC[status])
        self.metric(ex, "WorkflowStartToCloseTime", now - ex.started * 1000, "Milliseconds")
        if ex.parent and status != CONTINUED_AS_NEW:
            self._report_to_parent(ex, status, attrs)
        self._apply_child_policy(ex, child_policy or ex.cfg["cp"])
        days = d.rec.get("ret", "0")
        keep_ms = 0 if days == NONE else int(days) * 86_400_000
        self.schedule(f"{rid}/ret", now + keep_ms, "ret", ex)

    def _report_to_parent(self, ex: Execution, status: str, attrs: dict) -> None:
        parent = ex.domain.runs.get(ex.parent[1])
        if parent is None or not parent.is_open:
            return
        child = parent.children.pop(ex.workflow_id, None)
        if child is None:
            return
        out = {"workflowExecution": ex.ref(), "workflowType": ex.type_ref(), "initiatedEventId": child[0],
               "startedEventId": child[1]}
        if status == "COMPLETED":
            out["result"] = attrs.get("result")
        elif status == "FAILED":
            out["reason"], out["details"] = attrs.get("reason"), attrs.get("details")
        elif status == "CANCELED":
            out["details"] = attrs.get("details")
        elif status == TIMED_OUT:
            out["timeoutType"] = "START_TO_CLOSE"
        self.event(parent, CHILD_CLOSE_EVENT[status], out)
        self.notify(parent)

    def _apply_child_policy(self, ex: Execution, policy: str) -> None:
        children, ex.children = ex.children, {}
        if not children or policy not in (TERMINATE, REQUEST_CANCEL):
            return
        runs = ex.domain.runs
        for _wid, (_initiated, _started, run_id) in children.items():
            child = runs.get(run_id)
            if child is None or not child.is_open:
                continue
            if policy == TERMINATE:
                self.terminate(child, cause="CHILD_POLICY_APPLIED")
            else:
                self.request_cancel(child, external=ex.ref(), cause="CHILD_POLICY_APPLIED")

    def _t_retention(self, ex: Execution, _tid) -> None:
        """The retention period after closing has passed: forget the execution."""
        d = ex.domain
        d.runs.pop(ex.run_id, None)
        store = self.store
        for eid in range(1, len(ex.events) + 1):
            store.delete(K_EVENT, event_key(ex.run_id, eid))
        store.delete(K_RUN, ex.key())
        self._touched.pop(id(ex), None)

    # -- restore ----------------------------------------------------------------
    def restore_run(self, domain: Domain, rec: dict, events: list, acts: list[tuple[int, dict]]) -> Execution:
        ex = Execution(domain, rec, events)
        domain.runs[ex.run_id] = ex
        if ex.is_open:
            domain.open[ex.workflow_id] = ex
        for scheduled, arec in acts:
            act = Activity(ex, scheduled, arec)
            ex.acts[scheduled] = act
            ex.acts_by_id[act.activity_id] = act
        return ex

    def requeue(self, domain: Domain) -> None:
        """Rebuild the task lists from the executions' scheduled tasks, in scheduling order."""
        queued = []
        for ex in domain.open.values():
            if ex.dt is not None and not ex.dt.st:
                a = ex.dt.attrs
                queued.append((ex.events[ex.dt.s - 1]["eventTimestamp"], domain.dlists, a["taskList"]["name"],
                               ex.dt, int(a.get("taskPriority") or 0)))
            for act in ex.acts.values():
                if not act.st:
                    a = act.attrs
                    queued.append((ex.events[act.s - 1]["eventTimestamp"], domain.alists, a["taskList"]["name"],
                                   act, int(a.get("taskPriority") or 0)))
        queued.sort(key=lambda q: q[0])
        for _ts, lists, name, task, prio in queued:
            domain.tasklist(lists, name).push(task, prio)
