"""RedriveExecution: restart an unsuccessful execution where it failed, and only there.

When an execution fails, times out or is stopped, `snapshot` records where
each thread was: the top-level state, and for a Map or Parallel state the
results of the iterations and branches that succeeded plus a snapshot of each
one that failed or was aborted (recursively, for nested Maps and Parallels).
`redrive` rebuilds from that: a plain state is entered again; a Parallel
re-runs only its unsuccessful branches, an inline Map only its unsuccessful
iterations (``MapIterationStarted`` again) and the ones that never started,
each from the state where it failed; a distributed Map redrives its Map Run
(``MapRunRedriven``: failed Standard children are redriven, failed Express
children started again, pending items started). Successful work keeps its
results and is not run again.
"""

from __future__ import annotations

from services.stepfunctions.errors import execution_not_redrivable
from services.stepfunctions.execution import RUNNING, SUCCEEDED, Execution

REDRIVE_WINDOW_MS = 14 * 24 * 3600 * 1000
_THREAD_FIELDS = ("st", "in", "vars", "prog", "br", "item", "ent", "entered", "pre")


def snapshot(ex, t: dict) -> dict:
    """Where thread `t` (and, for Map/Parallel, each of its unfinished children) stands."""
    snap = {k: t[k] for k in _THREAD_FIELDS if k in t}
    kids = t.get("kids") or t.get("redo_kids")
    if kids and kids.get("kind"):
        saved = {k: v for k, v in kids.items() if k not in ("live", "redo")}
        redo = dict(kids.get("redo") or {})
        for cid in kids.get("live") or ():
            c = ex.threads.get(cid)
            if c is not None:
                redo[str(c["br"])] = snapshot(ex, c)
        saved["redo"] = redo
        snap["kids"] = saved
    return snap


def status(rec: dict, now: int) -> dict:
    """redriveStatus (and its reason) of an execution record."""
    st = rec["status"]
    if st in (RUNNING, SUCCEEDED):
        return {"redriveStatus": "NOT_REDRIVABLE", "redriveStatusReason": f"Execution is {st} and cannot be redriven"}
    if rec.get("stop") and now - rec["stop"] > REDRIVE_WINDOW_MS:
        return {"redriveStatus": "NOT_REDRIVABLE",
                "redriveStatusReason": "Execution cannot be redriven after 14 days of its stop time"}
    return {"redriveStatus": "REDRIVABLE"}


def redrive(engine, rec: dict) -> int:
    """Restart a closed Standard execution from its snapshot; -> the redrive date (ms)."""
    now = engine.now_ms()
    reason = status(rec, now)
    if reason["redriveStatus"] != "REDRIVABLE":
        raise execution_not_redrivable(reason.get("redriveStatusReason")
                                       or f"Execution is {rec['status']} and cannot be redriven")
    rec = engine.archive.warm(rec)
    at = rec.get("redrive_at")
    if not at:
        raise execution_not_redrivable("Execution cannot be redriven: no failed state to restart from")
    definition = engine.definition(rec["def"], rec["type"] == "EXPRESS")
    ex = Execution(engine, rec, definition)
    ex.events = engine.archive.tail(rec)
    rec["redrive"] = rec.get("redrive", 0) + 1
    rec["redrive_date"] = now
    rec["status"] = RUNNING
    for k in ("stop", "error", "cause", "output", "redrive_at", "cold"):
        rec.pop(k, None)
    engine.running[ex.arn] = ex
    engine.tracing.started(ex, redriven=True)
    eid = ex.emit(None, "ExecutionRedriven", {"redriveCount": rec["redrive"]}, prev=rec["ev"])
    root = restore(ex, at, None, eid)
    if definition.root.timeout_seconds:                  # the execution's timeout runs again from now
        engine.set_timer(ex, root, "exec", now + definition.root.timeout_seconds * 1000)
    ex.save()
    return now


def restore(ex, snap: dict, parent: dict | None, prev: int) -> dict:
    """A thread again from its snapshot: entered again, or (Map/Parallel) resumed with what is left."""
    from services.stepfunctions import flows, interpreter
    extra = {k: snap[k] for k in ("br", "item") if snap.get(k) is not None}
    t = ex.new_thread(parent, snap.get("prog"), snap["st"], snap.get("in"), prev, **extra)
    t["vars"] = snap.get("vars") or {}
    kids = snap.get("kids")
    if kids is None:
        ex.save_thread(t)
        ex.make_ready(t)
        return t
    for k in ("ent", "entered", "pre"):
        if k in snap:
            t[k] = snap[k]
    st = interpreter.state_of(ex, t)
    redo = kids.get("redo") or {}
    t["kids"] = k2 = {k: v for k, v in kids.items() if k != "redo"}
    t["ph"] = "kids"
    k2["live"] = []
    if k2.get("run"):                                    # distributed Map: its Map Run redrives its children
        ex.save_thread(t)
        ex.engine.mapruns.redrive(ex, t, st, prev)
        return t
    if k2["kind"] == "par":
        k2["left"] = len(redo)
        for i in sorted(redo, key=int):
            c = restore(ex, redo[i], t, prev)
            k2["live"].append(c["id"])
    else:
        k2["left"] = len(redo) + (k2["n"] - k2["next"])
        k2["fail"] = 0
        for i in sorted(redo, key=int):
            eid = ex.emit(None, "MapIterationStarted", {"name": st.name, "index": int(i)}, prev=prev)
            c = restore(ex, redo[i], t, eid)
            k2["live"].append(c["id"])
    if k2["left"] == 0:
        flows.finish_restored(ex, t, st)
        return t
    if k2["kind"] == "map":
        flows.start_iterations(ex, t, st)
    if t["ph"] == "kids":
        ex.save_thread(t)
    return t
