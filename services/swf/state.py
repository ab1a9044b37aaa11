"""In-memory state of a domain and its executions, and its durable records.

Everything of a domain lives in the domain's partition: its record, its
types, its executions (a small record each, plus one record per history
event) and its open activities (one record each, so a workflow with many
open activities never rewrites them all). Static facts of a task (type,
input, timeouts, task list) are read from its scheduled event; records hold
only what changes.

Record kinds (entity records of the partition store):
    swf.domain  <domain key>                          domain
    swf.type    <domain key>\\0<kind>\\0<name>\\0<version>  workflow/activity type
    swf.run     <domain key>\\0<runId>                  execution
    swf.event   <runId>/<eventId:08d>                  history event (wire shape)
    swf.act     <domain key>\\0<runId>\\0<scheduledId>   open activity task
"""

from __future__ import annotations

from services.swf.model import CLOSED, OPEN
from services.swf.tasklists import TaskList

K_DOMAIN, K_TYPE, K_RUN, K_EVENT, K_ACT = "swf.domain", "swf.type", "swf.run", "swf.event", "swf.act"


def event_key(run_id: str, event_id: int) -> str:
    return f"{run_id}/{event_id:08d}"


class Domain:
    __slots__ = ("key", "account", "region", "name", "rec", "types", "runs", "open", "dlists", "alists")

    def __init__(self, key: str, account: str, region: str, name: str, rec: dict):
        self.key, self.account, self.region, self.name, self.rec = key, account, region, name, rec
        self.types: dict[str, dict[tuple[str, str], dict]] = {"Workflow": {}, "Activity": {}}
        self.runs: dict[str, "Execution"] = {}
        self.open: dict[str, "Execution"] = {}       # workflowId -> its open run
        self.dlists: dict[str, TaskList] = {}        # decision task lists
        self.alists: dict[str, TaskList] = {}        # activity task lists

    def tasklist(self, lists: dict, name: str) -> TaskList:
        tl = lists.get(name)
        if tl is None:
            tl = lists[name] = TaskList(name)
        return tl

    def type_key(self, kind: str, name: str, version: str) -> str:
        return f"{self.key}\0{kind}\0{name}\0{version}"

    @property
    def registered(self) -> bool:
        return self.rec["status"] == "REGISTERED"


class DecisionTask:
    """The one decision task an execution may have outstanding."""
    __slots__ = ("s", "st", "sa", "queued", "ex")

    def __init__(self, ex: "Execution", scheduled: int, started: int = 0, started_at: int = 0):
        self.ex, self.s, self.st, self.sa = ex, scheduled, started, started_at
        self.queued = False

    @property
    def attrs(self) -> dict:
        return self.ex.events[self.s - 1]["decisionTaskScheduledEventAttributes"]

    def record(self) -> list:
        return [self.s, self.st, self.sa]


class Activity:
    """An open activity task: scheduled, or started by a worker."""
    __slots__ = ("ex", "s", "st", "sa", "hb_due", "hb_tid", "details", "cancel_req", "queued", "attrs")

    def __init__(self, ex: "Execution", scheduled: int, rec: dict | None = None):
        self.ex, self.s = ex, scheduled
        self.attrs = ex.events[scheduled - 1]["activityTaskScheduledEventAttributes"]
        rec = rec or {}
        self.st = rec.get("st", 0)              # ActivityTaskStarted event id (0: not started)
        self.sa = rec.get("sa", 0)              # started at (ms)
        self.hb_due = rec.get("hb", 0)          # heartbeat deadline (ms), lazily re-armed
        self.hb_tid = rec.get("hbt")            # id of the armed heartbeat timer
        self.details = rec.get("det")           # last heartbeat details
        self.cancel_req = rec.get("cr", 0)      # latest ActivityTaskCancelRequested event id
        self.queued = False

    @property
    def activity_id(self) -> str:
        return self.attrs["activityId"]

    def key(self) -> str:
        return f"{self.ex.domain.key}\0{self.ex.run_id}\0{self.s}"

    def record(self) -> dict:
        return {"st": self.st, "sa": self.sa, "hb": self.hb_due, "hbt": self.hb_tid, "det": self.details,
                "cr": self.cancel_req}


class Execution:
    __slots__ = ("domain", "workflow_id", "run_id", "wtype", "started", "closed_at", "close_status", "tags",
                 "parent", "cancel_requested", "cfg", "events", "dt", "dt_pending", "prev_started",
                 "context", "last_activity", "timers", "children", "acts", "acts_by_id", "deciding", "next_list",
                 "fns")

    def __init__(self, domain: Domain, rec: dict, events: list | None = None):
        self.domain = domain
        self.workflow_id = rec["w"]
        self.run_id = rec["r"]
        self.wtype = tuple(rec["t"])                    # (name, version)
        self.started = rec["st"]                        # epoch seconds
        self.closed_at = rec.get("ct")
        self.close_status = rec.get("cs")
        self.tags = rec.get("tags") or []
        self.parent = rec.get("par")                    # [workflowId, runId, initiatedEventId]
        self.cancel_requested = rec.get("cr", False)
        self.cfg = rec["cfg"]                           # tl, prio, es2c, ts2c, cp, lr
        self.events: list[dict] = events if events is not None else []
        dt = rec.get("dt")
        self.dt = DecisionTask(self, *dt) if dt else None
        self.dt_pending = rec.get("dtp", False)         # events arrived while a decision was started
        self.prev_started = rec.get("prev", 0)          # started id of the last completed decision
        self.context = rec.get("ctx")                   # latestExecutionContext
        self.last_activity = rec.get("lat")             # latestActivityTaskTimestamp
        self.timers: dict[str, list] = rec.get("tm") or {}     # timerId -> [startedEventId, due_ms]
        self.children: dict[str, list] = rec.get("ch") or {}   # workflowId -> [initiated, started, runId]
        self.fns: dict[str, list] = rec.get("fn") or {}        # Lambda task id -> [scheduled, started]
        self.acts: dict[int, Activity] = {}             # scheduledEventId -> open activity
        self.acts_by_id: dict[str, Activity] = {}       # activityId -> open activity
        self.deciding = False                           # applying a decision list right now
        self.next_list = rec.get("nl")                  # [task list, schedule-to-start] for the next decision

    @property
    def is_open(self) -> bool:
        return self.close_status is None

    @property
    def status(self) -> str:
        return OPEN if self.close_status is None else CLOSED

    def key(self) -> str:
        return f"{self.domain.key}\0{self.run_id}"

    def ref(self) -> dict:
        return {"workflowId": self.workflow_id, "runId": self.run_id}

    def type_ref(self) -> dict:
        return {"name": self.wtype[0], "version": self.wtype[1]}

    def record(self) -> dict:
        return {"w": self.workflow_id, "r": self.run_id, "t": list(self.wtype), "st": self.started,
                "ct": self.closed_at, "cs": self.close_status, "tags": self.tags, "par": self.parent,
                "cr": self.cancel_requested, "cfg": self.cfg, "dt": self.dt.record() if self.dt else None,
                "dtp": self.dt_pending, "prev": self.prev_started, "ctx": self.context,
                "lat": self.last_activity, "tm": self.timers, "ch": self.children, "nl": self.next_list,
                "fn": self.fns}

    def info(self) -> dict:
        """WorkflowExecutionInfo."""
        out = {"execution": self.ref(), "workflowType": self.type_ref(), "startTimestamp": self.started,
               "executionStatus": self.status, "cancelRequested": self.cancel_requested}
        if self.close_status is not None:
            out["closeTimestamp"] = self.closed_at
            out["closeStatus"] = self.close_status
        if self.parent:
            out["parent"] = {"workflowId": self.parent[0], "runId": self.parent[1]}
        if self.tags:
            out["tagList"] = list(self.tags)
        return out
