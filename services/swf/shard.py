"""SWF shard half: every domain of one partition, with its types, executions,
task lists and timers (services/swf/engine.py holds the state machine).

Ops are ``swf.<Name>`` with compact args from the gateway half
(services/swf/api.py): ``k`` is the domain's entity key, ``domain`` its
name. Each op runs synchronously against memory and stages its records;
the runtime commits them before the reply leaves. Polls may return a
future (a parked long poll).
"""

from __future__ import annotations

import functools
from collections import defaultdict

from services.swf import errors
from services.swf.catalog import Catalog
from services.swf.decisions import resolve_start
from services.swf.engine import Engine
from services.swf.model import REGISTERED
from services.swf.state import K_ACT, K_DOMAIN, K_EVENT, K_RUN, K_TYPE, Domain
from services.swf.visibility import Visibility


def _changes(fn):
    """Stage what the op touched once it is done (also after a partial failure)."""
    @functools.wraps(fn)
    def op(self, a):
        try:
            return fn(self, a)
        finally:
            self.engine.commit()
    return op


class SwfShard(Catalog, Visibility):
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.engine = Engine(part)
        self._restore()
        self.shard = getattr(part, "shard", None)
        if self.shard is not None:
            self.shard.conn_lost_hooks.append(self._conn_lost)

    def close(self) -> None:
        self.engine.release_waiters()
        if self.engine.timers is not None:
            self.engine.timers.live.clear()
        if self.shard is not None:
            try:
                self.shard.conn_lost_hooks.remove(self._conn_lost)
            except ValueError:
                pass

    def _conn_lost(self, conn) -> None:
        self.engine.release_waiters(conn=conn)

    def _restore(self) -> None:
        eng, store = self.engine, self.store
        for key, rec in store.scan(K_DOMAIN):
            eng.domains[key] = Domain(key, rec["a"], rec["r"], rec["name"],
                                      {k: v for k, v in rec.items() if k not in ("a", "r")})
        for _key, rec in store.scan(K_TYPE):
            d = eng.domains.get(rec["d"])
            if d is not None:
                t = {k: v for k, v in rec.items() if k != "d"}
                d.types[t["kind"]][(t["name"], t["version"])] = t
        events = defaultdict(list)
        for key, ev in store.scan(K_EVENT):          # keys sort by run, then zero-padded event id
            events[key.rsplit("/", 1)[0]].append(ev)
        acts = defaultdict(list)
        for key, rec in store.scan(K_ACT):
            _dkey, rid, s = key.split("\0")
            acts[rid].append((int(s), rec))
        for key, rec in store.scan(K_RUN):
            dkey, rid = key.split("\0")
            d = eng.domains.get(dkey)
            if d is not None:
                eng.restore_run(d, rec, events.pop(rid, []), acts.get(rid, ()))
        for d in eng.domains.values():
            eng.requeue(d)
        eng.start_timers()

    # -- executions -----------------------------------------------------------
    @_changes
    def op_StartWorkflowExecution(self, a):
        d = self.domain(a, registered=True)
        p = a["req"]
        wt = p["workflowType"]
        t = d.types["Workflow"].get((wt["name"], wt["version"]))
        if t is None:
            raise errors.unknown_type("Workflow", wt["name"], wt["version"])
        if t["status"] != REGISTERED:
            raise errors.fault("TypeDeprecatedFault", errors.type_ref("Workflow", wt["name"], wt["version"]))
        wid = p["workflowId"]
        if wid in d.open:
            raise errors.fault("WorkflowExecutionAlreadyStartedFault", "")
        cfg, _cause, undefined = resolve_start(p, t)
        if cfg is None:
            raise errors.fault("DefaultUndefinedFault", undefined)
        ex = self.engine.start_execution(d, wid, (wt["name"], wt["version"]), cfg, p.get("input"),
                                         p.get("tagList"))
        return {"runId": ex.run_id}

    def _open_run(self, a: dict):
        d = self.domain(a)
        ex = self.engine.find_open(d, a["wid"], a.get("rid"))
        if ex is None:
            raise errors.unknown_execution(a["wid"], a.get("rid"))
        return ex

    @_changes
    def op_SignalWorkflowExecution(self, a):
        self.engine.signal(self._open_run(a), a["signal"], a.get("input"))
        return {}

    @_changes
    def op_RequestCancelWorkflowExecution(self, a):
        self.engine.request_cancel(self._open_run(a))
        return {}

    @_changes
    def op_TerminateWorkflowExecution(self, a):
        self.engine.terminate(self._open_run(a), a.get("reason"), a.get("details"), a.get("childPolicy"),
                              "OPERATOR_INITIATED")
        return {}

    # -- polls ----------------------------------------------------------------
    def _conn(self):
        return self.shard.current_conn if self.shard is not None else None

    @_changes
    def op_PollForDecisionTask(self, a):
        d = self.domain(a)
        return self.engine.poll(d, d.dlists, a["tl"], a, self._conn())

    @_changes
    def op_PollForActivityTask(self, a):
        d = self.domain(a)
        return self.engine.poll(d, d.alists, a["tl"], a, self._conn())

    def op_DecisionPage(self, a):
        """A further page of a decision task's history (no new task is handed out)."""
        ex = self._run(a)
        return self.engine.decision_task(ex, a["s"], a["st"], a.get("page") or 1000, a["rev"], a["prev"],
                                         a["off"])

    def op_ReleaseWaiters(self, a):
        """A draining gateway ends its long polls early (empty tasks); broadcast."""
        return self.engine.release_waiters(gateway=a.get("g"))

    # -- task responses -------------------------------------------------------
    def _token_run(self, a: dict):
        d = self.engine.domains.get(a["k"])
        if d is None:
            raise errors.unknown_domain(a["domain"])
        ex = d.runs.get(a["rid"])
        if ex is None or not ex.is_open:
            raise errors.unknown_execution(a["wid"], a["rid"])
        return ex

    @_changes
    def op_RespondDecisionTaskCompleted(self, a):
        ex = self._token_run(a)
        dt = ex.dt
        if dt is None or dt.s != a["s"] or dt.st != a["st"]:
            raise errors.unknown_decision_task(a["s"])
        p = a["req"]
        self.engine.complete_decision(ex, p.get("decisions") or [], p.get("executionContext"),
                                      (p.get("taskList") or {}).get("name"), p.get("taskListScheduleToStartTimeout"))
        return {}

    def _activity(self, a: dict):
        ex = self._token_run(a)
        act = ex.acts.get(a["s"])
        if act is None or act.st != a["st"]:
            raise errors.unknown_activity(a["s"])
        return act

    @_changes
    def op_RecordActivityTaskHeartbeat(self, a):
        return self.engine.heartbeat(self._activity(a), a.get("details"))

    @_changes
    def op_RespondActivityTask(self, a):
        act = self._activity(a)
        p = a["req"]
        outcome = a["outcome"]
        if outcome == "completed":
            self.engine.activity_completed(act, p.get("result"))
        elif outcome == "failed":
            self.engine.activity_failed(act, p.get("reason"), p.get("details"))
        else:
            self.engine.activity_canceled(act, p.get("details"))
        return {}
