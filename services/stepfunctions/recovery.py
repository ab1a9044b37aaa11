"""A partition's executions after a start or restart.

Every RUNNING Standard execution is rebuilt from its records and resumed
where its threads were: a state about to be entered or run runs, a task
waiting on its integration call makes the call again (or keeps waiting on
its token), a Wait keeps its durable timer. Express executions have no
durable progress: those started asynchronously (and running Map Run
children) run again from their start, as AWS's at-least-once Express does.
Indexes (executions per machine, children per Map Run, closed executions in
stop order) are rebuilt in one pass over the records.
"""

from __future__ import annotations

import asyncio
import logging

from services.stepfunctions import interpreter, tasks
from services.stepfunctions.asl.resources import WAIT
from services.stepfunctions.execution import KIND_EXEC, KIND_THREAD, RUNNING, Execution

log = logging.getLogger("broker.sfn")


def recover(engine) -> None:
    from services.stepfunctions.engine import KIND_XSTART
    store = engine.store
    threads: dict[str, dict[int, dict]] = {}
    for key, t in store.scan(KIND_THREAD):
        threads.setdefault(key.rsplit("|", 1)[0], {})[t["id"]] = t
    order, closed, children, again = [], [], [], []
    for arn, rec in store.scan(KIND_EXEC):
        if rec.get("maprun"):
            children.append((rec["start"], rec["maprun"], arn))
        elif rec["type"] != "EXPRESS":
            order.append((rec["start"], rec["sm"], arn))
        if rec["status"] != RUNNING:
            closed.append((rec.get("stop") or rec["start"], arn))
            engine.archive.settle(rec)
        elif rec["type"] == "EXPRESS":
            again.append(rec)
        else:
            try:
                _resume(engine, rec, threads.get(arn, {}))
            except Exception:
                log.exception("event=sfn_resume_failed execution=%s", arn)
    for _start, sm, arn in sorted(order):
        engine.by_sm.setdefault(sm, {})[arn] = None
    engine.archive.recovered(closed)
    engine.mapruns.recovered(children)
    for arn, rec in list(store.scan(KIND_XSTART)):
        store.delete(KIND_XSTART, arn)
        again.append(rec)
    for rec in again:
        if rec.get("maprun") and store.get(KIND_EXEC, rec["arn"]) is None:
            continue                        # its Map Run went with an Express parent
        rec = {k: v for k, v in rec.items() if k not in ("ev", "tid", "runs")}
        rec["ev"], rec["tid"] = 0, 0
        try:
            asyncio.get_running_loop().call_soon(engine.start, rec)
        except RuntimeError:
            pass


def _resume(engine, rec: dict, threads: dict[int, dict]) -> None:
    definition = engine.definition(rec["def"], False)
    ex = Execution(engine, rec, definition, threads)
    ex.events = engine.archive.tail(rec)
    engine.running[ex.arn] = ex
    engine.tracing.resumed(ex)
    for t in threads.values():
        task = t.get("task") or {}
        for key in ("tok", "stok"):
            if task.get(key):
                engine.tokens[task[key]] = (ex.arn, t["id"])
    for t in sorted(threads.values(), key=lambda x: x["id"]):
        ph = t["ph"]
        if ph in ("enter", "run"):
            ex.ready.append(t["id"])
        elif ph == "busy":
            t["ph"] = "run"
            ex.ready.append(t["id"])
        elif ph == "task":
            _resume_task(engine, ex, t)
    if ex.ready:
        try:
            engine.schedule(ex)
        except RuntimeError:
            pass


def _resume_task(engine, ex, t: dict) -> None:
    st = interpreter.state_of(ex, t)
    task = t["task"]
    stage = task.get("stage")
    res = st.resource
    try:
        if res.kind == "activity":
            if stage == "scheduling":
                engine.schedule_activity(ex, t, st)
        elif stage in ("scheduling", "started"):
            tasks.dispatch(ex, t, st)       # the call may have been lost with the process: make it again
        elif stage == "submitted" and res.pattern == WAIT:
            pass                            # the token is out; the worker answers when it answers
    except RuntimeError:
        pass
