"""Activity tasks: scheduling, start by a worker, results, heartbeats,
cancellation, and the four timeouts (schedule-to-start, schedule-to-close,
start-to-close, heartbeat), each a durable timer.

The heartbeat timer is re-armed lazily: a heartbeat only moves the
activity's deadline; when the armed timer fires early it re-arms itself at
the deadline, so a chatty worker costs one record update per heartbeat and
no timer churn.
"""

from __future__ import annotations

from services.swf import tokens
from services.swf.model import seconds
from services.swf.state import K_ACT, Activity, Execution


class ActivityMixin:
    # -- scheduling and start ---------------------------------------------------
    def schedule_activity(self, ex: Execution, attrs: dict) -> Activity:
        now = self.now()
        s = self.event(ex, "ActivityTaskScheduled", attrs, now)
        act = Activity(ex, s)
        ex.acts[s] = act
        ex.acts_by_id[act.activity_id] = act
        ex.last_activity = now / 1000.0
        d = ex.domain
        name = attrs["taskList"]["name"]
        d.tasklist(d.alists, name).push(act, int(attrs.get("taskPriority") or 0))
        rid = ex.run_id
        s2s = seconds(attrs.get("scheduleToStartTimeout"))
        if s2s is not None:
            self.schedule(f"{rid}/a{s}/s2s", now + s2s * 1000, "as2s", ex, s)
        s2c = seconds(attrs.get("scheduleToCloseTimeout"))
        if s2c is not None:
            self.schedule(f"{rid}/a{s}/s2c", now + s2c * 1000, "as2c", ex, s)
        self.touch(act)
        self.wake_later(d, d.alists, name)
        return act

    def start_activity(self, act: Activity, identity: str | None) -> dict:
        ex = act.ex
        now = self.now()
        act.st = self.event(ex, "ActivityTaskStarted", {"identity": identity, "scheduledEventId": act.s}, now)
        act.sa = now
        rid, s = ex.run_id, act.s
        self.timers.cancel(f"{rid}/a{s}/s2s")
        st2c = seconds(act.attrs.get("startToCloseTimeout"))
        if st2c is not None:
            self.schedule(f"{rid}/a{s}/st2c", now + st2c * 1000, "ast2c", ex, s)
        hb = seconds(act.attrs.get("heartbeatTimeout"))
        if hb is not None:
            self._arm_heartbeat(act, now + hb * 1000)
        self.touch(act)
        atype = act.attrs["activityType"]
        self.metric(ex, "ActivityTaskScheduleToStartTime", now - ex.events[s - 1]["eventTimestamp"] * 1000,
                    "Milliseconds", atype)
        d = ex.domain
        out = {"taskToken": tokens.task_token(tokens.ACTIVITY, d.account, d.region, d.name, ex.workflow_id, rid, s,
                                              act.st),
               "activityId": act.activity_id, "startedEventId": act.st, "workflowExecution": ex.ref(),
               "activityType": atype}
        if act.attrs.get("input") is not None:
            out["input"] = act.attrs["input"]
        return out

    def _arm_heartbeat(self, act: Activity, due: int) -> None:
        act.hb_due = due
        act.hb_tid = f"{act.ex.run_id}/a{act.s}/hb{due}"
        self.schedule(act.hb_tid, due, "ahb", act.ex, act.s)

    # -- worker responses -------------------------------------------------------
    def heartbeat(self, act: Activity, details: str | None) -> dict:
        act.details = details
        hb = seconds(act.attrs.get("heartbeatTimeout"))
        if hb is not None:
            act.hb_due = self.now() + hb * 1000
        self.touch(act)
        return {"cancelRequested": bool(act.cancel_req)}

    def activity_completed(self, act: Activity, result: str | None) -> None:
        self._finish(act, "ActivityTaskCompleted", {"result": result}, "ActivityTasksCompleted")

    def activity_failed(self, act: Activity, reason: str | None, details: str | None) -> None:
        self._finish(act, "ActivityTaskFailed", {"reason": reason, "details": details}, "ActivityTasksFailed")

    def activity_canceled(self, act: Activity, details: str | None) -> None:
        self._finish(act, "ActivityTaskCanceled", {"details": details,
                                                   "latestCancelRequestedEventId": act.cancel_req or None},
                     "ActivityTasksCanceled")

    def _finish(self, act: Activity, etype: str, attrs: dict, metric: str | None) -> None:
        ex = act.ex
        now = self.now()
        attrs["scheduledEventId"] = act.s
        attrs["startedEventId"] = act.st
        self.event(ex, etype, attrs, now)
        self.drop_activity(act)
        atype = act.attrs["activityType"]
        if metric:
            self.metric(ex, metric, 1, "Count", atype)
        if act.st:
            self.metric(ex, "ActivityTaskStartToCloseTime", now - act.sa, "Milliseconds", atype)
        self.metric(ex, "ActivityTaskScheduleToCloseTime", now - ex.events[act.s - 1]["eventTimestamp"] * 1000,
                    "Milliseconds", atype)
        self.notify(ex)

    def drop_activity(self, act: Activity) -> None:
        """Forget an activity that is no longer open (record, timers, task list)."""
        ex = act.ex
        ex.acts.pop(act.s, None)
        if ex.acts_by_id.get(act.activity_id) is act:
            del ex.acts_by_id[act.activity_id]
        if act.queued:
            tl = ex.domain.alists.get(act.attrs["taskList"]["name"])
            if tl is not None:
                tl.remove(act)
        rid, s = ex.run_id, act.s
        cancel = self.timers.cancel
        cancel(f"{rid}/a{s}/s2s")
        cancel(f"{rid}/a{s}/s2c")
        cancel(f"{rid}/a{s}/st2c")
        if act.hb_tid:
            cancel(act.hb_tid)
        self.store.delete(K_ACT, act.key())

    # -- cancellation (RequestCancelActivityTask decision) -----------------------
    def cancel_activity(self, act: Activity, decision_completed: int) -> None:
        ex = act.ex
        requested = self.event(ex, "ActivityTaskCancelRequested", {
            "decisionTaskCompletedEventId": decision_completed, "activityId": act.activity_id})
        act.cancel_req = requested
        self.touch(act)
        if not act.st:   # never handed to a worker: canceled right away
            self.activity_canceled(act, None)

    # -- timeouts ----------------------------------------------------------------
    def _timed_out(self, act: Activity, kind: str, metric: str) -> None:
        attrs = {"timeoutType": kind}
        if act.details is not None:
            attrs["details"] = act.details
        self._finish(act, "ActivityTaskTimedOut", attrs, None)
        self.metric(act.ex, metric, 1, "Count", act.attrs["activityType"])

    def _t_activity_s2s(self, ex: Execution, _tid, scheduled: int) -> None:
        act = ex.acts.get(scheduled)
        if act is not None and not act.st:
            self._timed_out(act, "SCHEDULE_TO_START", "ScheduledActivityTasksTimedOutOnStart")

    def _t_activity_s2c(self, ex: Execution, _tid, scheduled: int) -> None:
        act = ex.acts.get(scheduled)
        if act is not None:
            self._timed_out(act, "SCHEDULE_TO_CLOSE", "ScheduledActivityTasksTimedOutOnClose")

    def _t_activity_st2c(self, ex: Execution, _tid, scheduled: int) -> None:
        act = ex.acts.get(scheduled)
        if act is not None and act.st:
            self._timed_out(act, "START_TO_CLOSE", "StartedActivityTasksTimedOutOnClose")

    def _t_heartbeat(self, ex: Execution, timer_id: str, scheduled: int) -> None:
        act = ex.acts.get(scheduled)
        if act is None or act.hb_tid != timer_id:
            return
        if act.hb_due > self.now():      # heartbeats moved the deadline: re-arm there
            self._arm_heartbeat(act, act.hb_due)
            self.touch(act)
            return
        self._timed_out(act, "HEARTBEAT", "StartedActivityTasksTimedOutOnHeartbeat")
