"""The SWF shard half in-process, over a memory store and a hand-driven clock.

For unit tests of the state machine (ordering, limits, timers, restore):
no sockets, no processes; `advance(ms)` fires the timers that come due, and
`reopen()` rebuilds the shard from the same store, as a restart does.
Integration tests drive the real server instead (conftest.py).
"""

from __future__ import annotations

from types import SimpleNamespace

from broker.core.store import MemoryPartitionStore
from broker.core.timers import TimerHeap
from services.swf.model import domain_key
from services.swf.shard import SwfShard

ACCOUNT, REGION = "000000000000", "us-east-1"


class FakePart:
    def __init__(self, store=None, now: int = 1_700_000_000_000):
        self.id = 0
        self.store = store or MemoryPartitionStore(0)
        self.t = now
        self.heap = TimerHeap()
        self.shard = SimpleNamespace(conn_lost_hooks=[], current_conn=None)

    def now_ms(self) -> int:
        return self.t

    def schedule(self, due_ms: int, callback) -> None:
        self.heap.schedule(due_ms, callback)

    def flush_soon(self) -> None:
        pass


class Harness:
    def __init__(self):
        self.part = FakePart()
        self.shard = SwfShard(self.part)

    def advance(self, ms: int) -> None:
        target = self.part.t + ms
        while True:
            due = self.part.heap.next_due()
            if due is None or due > target:
                break
            self.part.t = max(self.part.t, due)
            for cb in self.part.heap.pop_due(self.part.t):
                cb(self.part.t)
        self.part.t = target

    def reopen(self) -> None:
        """A restart: a new shard half over the same store (memory timers are lost, as in a crash)."""
        self.shard.close()
        self.part = FakePart(self.part.store, self.part.t)
        self.shard = SwfShard(self.part)

    def call(self, op: str, domain: str, **args):
        args.setdefault("k", domain_key(ACCOUNT, REGION, domain))
        args.setdefault("domain", domain)
        return getattr(self.shard, "op_" + op)(args)

    # -- set-up shortcuts --------------------------------------------------------
    def domain(self, name: str = "d", retention: str = "1") -> str:
        self.call("RegisterDomain", name, account=ACCOUNT, region=REGION, ret=retention, tags=[])
        return name

    def workflow_type(self, domain: str, name: str = "wf", version: str = "1", **defaults) -> None:
        req = {"defaultTaskList": {"name": "dl"}, "defaultExecutionStartToCloseTimeout": "3600",
               "defaultTaskStartToCloseTimeout": "NONE", "defaultChildPolicy": "TERMINATE"}
        req.update(defaults)
        self.call("RegisterType", domain, kind="Workflow", name=name, version=version, req=req)

    def activity_type(self, domain: str, name: str = "act", version: str = "1", **defaults) -> None:
        req = {"defaultTaskList": {"name": "al"}, "defaultTaskScheduleToStartTimeout": "NONE",
               "defaultTaskScheduleToCloseTimeout": "NONE", "defaultTaskStartToCloseTimeout": "NONE"}
        req.update(defaults)
        self.call("RegisterType", domain, kind="Activity", name=name, version=version, req=req)

    def start(self, domain: str, wid: str, **req) -> str:
        req.setdefault("workflowType", {"name": "wf", "version": "1"})
        req["workflowId"] = wid
        return self.call("StartWorkflowExecution", domain, req=req)["runId"]

    def poll_decision(self, domain: str, tl: str = "dl", **args) -> dict:
        return self.call("PollForDecisionTask", domain, tl=tl, wait=0, **args)

    def poll_activity(self, domain: str, tl: str = "al", **args) -> dict:
        return self.call("PollForActivityTask", domain, tl=tl, wait=0, **args)

    def _token_args(self, task: dict) -> dict:
        from services.swf import tokens
        kind = tokens.DECISION if "events" in task else tokens.ACTIVITY
        _a, _r, domain, wid, rid, s, st = tokens.parse_task_token(task["taskToken"], kind)
        return {"domain": domain, "wid": wid, "rid": rid, "s": s, "st": st}

    def decide(self, task: dict, *decisions, **req) -> dict:
        req["decisions"] = list(decisions)
        args = self._token_args(task)
        return self.call("RespondDecisionTaskCompleted", args.pop("domain"), req=req, **args)

    def finish(self, task: dict, outcome: str = "completed", **req) -> dict:
        args = self._token_args(task)
        return self.call("RespondActivityTask", args.pop("domain"), outcome=outcome, req=req, **args)

    def heartbeat(self, task: dict, details: str | None = None) -> dict:
        args = self._token_args(task)
        return self.call("RecordActivityTaskHeartbeat", args.pop("domain"), details=details, **args)

    def history(self, domain: str, wid: str, rid: str) -> list[dict]:
        return self.call("GetWorkflowExecutionHistory", domain, wid=wid, rid=rid)["events"]

    def types(self, domain: str, wid: str, rid: str) -> list[str]:
        return [e["eventType"] for e in self.history(domain, wid, rid)]


def attrs(event: dict) -> dict:
    """The ``...EventAttributes`` member of a history event."""
    return next(v for k, v in event.items() if k.endswith("EventAttributes"))


def activity(aid: str, name: str = "act", **extra) -> dict:
    return {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
        "activityType": {"name": name, "version": "1"}, "activityId": aid, **extra}}


def decision(dtype: str, **attrs_) -> dict:
    return {"decisionType": dtype, dtype[0].lower() + dtype[1:] + "DecisionAttributes": attrs_}
