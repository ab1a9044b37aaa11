"""Parallel and Map: child threads, their results, failures and aborts.

A Parallel state starts one child thread per branch; an inline Map state one
per item, at most MaxConcurrency at a time (0: all). The parent thread waits
in phase "kids" with its bookkeeping in ``t["kids"]``; each child reports back
here when it ends. A distributed Map hands its items to a Map Run whose
iterations are child executions (mapruns.py); items are read and results
written through itemio.py.

For RedriveExecution, a child that fails or is aborted leaves a snapshot in
its parent's ``kids["redo"]``, and a Map/Parallel that fails keeps its
bookkeeping as ``t["redo_kids"]`` (redrive.py).
"""

from __future__ import annotations

from services.stepfunctions import interpreter as I
from services.stepfunctions import itemio
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl import jsonata_eval as JE
from services.stepfunctions.asl import jsonpath as JP
from services.stepfunctions.asl import payload as P
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.asl.jsonpath import to_json
from services.stepfunctions.redrive import snapshot


# -- Parallel ------------------------------------------------------------------------

def run_parallel(ex, t, st) -> None:
    if st.jsonata:
        states = I.jsonata_states(ex, t, st)
        branch_input = JE.evaluate_template(st.arguments, "Arguments", states, dict(ex.variables(t))) \
            if st.has_arguments() else t["in"]
    else:
        branch_input = I.effective_input(ex, t, st)
        if st.parameters is not None:
            branch_input = P.evaluate(st.parameters, branch_input, ex.context(t, st), ex.variables(t))
    sid = ex.emit(t, "ParallelStateStarted")
    n = len(st.branches)
    t["kids"] = {"kind": "par", "n": n, "left": n, "res": [None] * n, "live": []}
    t["ph"] = "kids"
    for i, prog in enumerate(st.branches):
        c = ex.new_thread(t, [st.name, i], prog.start_at, branch_input, sid, br=i)
        t["kids"]["live"].append(c["id"])
        ex.make_ready(c)
    ex.save_thread(t)


# -- Map -----------------------------------------------------------------------------

def _int_field(ex, t, st, name: str, eff, *, what="integer"):
    spec = st.spec
    if name in spec:
        v = spec[name]
        if st.jsonata and JE.is_expression(v):
            v = JE.evaluate(v, name, I.jsonata_states(ex, t, st), dict(ex.variables(t)))
        return v
    path = spec.get(name + "Path")
    if path is None:
        return None
    v = P.evaluate_path_value(path, eff, ex.context(t, st), ex.variables(t))
    ok = False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        ok = what == "float" or float(v).is_integer()
    elif isinstance(v, str):
        try:
            v = float(v) if what == "float" else int(v)
            ok = True
        except ValueError:
            ok = False
    if not ok:
        shown = v if isinstance(v, str) else to_json(v)
        raise E.runtime_error(f"The {name}Path field refers to value \"{shown}\" which is not a valid {what}: {path}")
    return v if what == "float" else int(v)


def run_map(ex, t, st) -> None:
    proc = st.processor
    distributed = proc.processor_mode == "DISTRIBUTED"
    if st.jsonata:
        states = I.jsonata_states(ex, t, st)
        eff = t["in"]
        items_spec = st.spec.get("Items")
        if items_spec is None:
            items = t["in"]
        else:
            items = JE.evaluate_template(items_spec, "Items", states, dict(ex.variables(t))) \
                if JE.has_expressions(items_spec) else items_spec
            if not isinstance(items, list):
                text = JE.body(items_spec) if JE.is_expression(items_spec) else to_json(items_spec)
                raise StatesError(E.QUERY_EVALUATION_ERROR, f"The JSONata expression '{text}' specified for the "
                                  "field 'Items' returned an unexpected result type. Expected 'array', but was "
                                  f"'{I._json_type(items)}' for value: {to_json(items)}")
    else:
        eff = I.effective_input(ex, t, st)
        items = None
        if "ItemReader" not in st.spec:
            ip = st.spec.get("ItemsPath", "$")
            if ip.startswith("$$"):                       # the context object (e.g. $$.Execution.Input)
                items = P.evaluate_path_value(ip, eff, ex.context(t, st), ex.variables(t))
            else:
                items = JP.select_input_path(ip, eff, ex.variables(t)) if ip != "$" else eff
    length = 0 if "ItemReader" in st.spec else (len(items) if isinstance(items, list) else 0)
    t["kids"] = {"kind": "map", "n": 0}
    ex.emit(t, "MapStateStarted", {"length": length})
    if "ItemReader" in st.spec:
        items = itemio.read_items(ex, t, st, eff)
    if not isinstance(items, list):
        raise E.runtime_error(f"Map state input must be an array but was: {to_json(items)}")
    mc = _int_field(ex, t, st, "MaxConcurrency", eff) or 0
    if mc < 0:
        raise E.runtime_error("MaxConcurrency cannot be negative.")
    tol_count = _int_field(ex, t, st, "ToleratedFailureCount", eff)
    tol_pct = _int_field(ex, t, st, "ToleratedFailurePercentage", eff, what="float")
    if tol_count is not None and tol_count < 0:
        raise E.runtime_error("ToleratedFailureCount cannot be negative.")
    if tol_pct is not None and not 0 <= tol_pct <= 100:
        raise E.runtime_error("ToleratedFailurePercentage must be between 0 and 100.")
    batcher = st.spec.get("ItemBatcher")
    if batcher is not None:
        items = itemio.batch_items(ex, t, st, items, eff, batcher)
    n = len(items)
    if distributed:
        ex.engine.mapruns.start(ex, t, st, items, eff, mc, tol_count, tol_pct)
        return
    kids = {"kind": "map", "n": n, "next": 0, "left": n, "res": [None] * n, "live": [], "max": mc,
            "items": items, "eff": eff, "fail": 0, "last": None, "ok": 0}
    t["kids"] = kids
    t["ph"] = "kids"
    if n == 0:
        complete_map(ex, t, st)
        return
    start_iterations(ex, t, st)
    if t.get("ph") == "kids":
        ex.save_thread(t)


def item_input(ex, t, st, index: int, value):
    """An item after ItemSelector (evaluated in the Map state's context, with $$.Map.Item)."""
    kids = t["kids"]
    if st.jsonata:
        sel = st.spec.get("ItemSelector")
        if sel is None:
            return value
        ctx = ex.context(t, st)
        ctx["Map"] = {"Item": {"Index": index, "Value": value}}
        states = {"input": t["in"], "context": ctx}
        return JE.evaluate_template(sel, "ItemSelector", states, dict(ex.variables(t)))
    if st.item_selector is None:
        return value
    ctx = ex.context(t, st)
    ctx["Map"] = {"Item": {"Index": index, "Value": value}}
    return P.evaluate(st.item_selector, kids["eff"], ctx, ex.variables(t))


def start_iterations(ex, t, st) -> None:
    kids = t["kids"]
    proc = st.processor
    while kids["next"] < kids["n"] and (kids["max"] == 0 or len(kids["live"]) < kids["max"]):
        i = kids["next"]
        kids["next"] = i + 1
        value = kids["items"][i]
        try:
            value = item_input(ex, t, st, i, value)
        except (StatesError, JP.PathError) as err:
            if isinstance(err, JP.PathError):
                err = E.runtime_error(err.message)
            _abort_children(ex, t, st, t["prev"])
            I.fail_state(ex, t, st, err)
            return
        eid = ex.emit(None, "MapIterationStarted", {"name": st.name, "index": i}, prev=t["prev"])
        c = ex.new_thread(t, [st.name], proc.start_at, value, eid, br=i)
        kids["live"].append(c["id"])
        ex.make_ready(c)


def complete_map(ex, t, st) -> None:
    kids = t["kids"]
    finish_composite(ex, t, st, kids["res"], kids.get("last"))


def finish_restored(ex, t, st) -> None:
    """A redriven Map/Parallel with nothing left to run (it failed after its children succeeded)."""
    if t["kids"]["kind"] == "par":
        finish_composite(ex, t, st, t["kids"]["res"], None)
    else:
        complete_map(ex, t, st)


def finish_composite(ex, t, st, results, last_event) -> None:
    """Shared tail of Map and Parallel: ResultSelector, ResultPath, OutputPath/Output, Assign."""
    try:
        output, assigned = I.result_to_output(ex, t, st, results)
    except StatesError as err:
        I.fail_state(ex, t, st, err)
        return
    prev = last_event if last_event is not None else t["prev"]
    ex.emit(t, f"{st.type}StateSucceeded", prev=prev, advance=False)
    t["prev"] = prev
    I.finish_state(ex, t, st, output, assigned)


# -- children reporting back -----------------------------------------------------------

def child_done(ex, t, c, output) -> None:
    st = I.state_of(ex, t)
    kids = t["kids"]
    i = c["br"]
    kids["res"][i] = output
    kids["left"] -= 1
    kids["live"].remove(c["id"])
    ex.drop_thread(c)
    if kids["kind"] == "par":
        t["prev"] = c["prev"]
        if kids["left"] == 0:
            finish_composite(ex, t, st, kids["res"], None)
        else:
            ex.save_thread(t)
        return
    kids["ok"] = kids.get("ok", 0) + 1
    kids["last"] = ex.emit(None, "MapIterationSucceeded", {"name": st.name, "index": i}, prev=c["prev"])
    t["prev"] = c["prev"]
    _map_progress(ex, t, st)


def _map_progress(ex, t, st) -> None:
    kids = t["kids"]
    if kids["left"] == 0:
        complete_map(ex, t, st)
        return
    start_iterations(ex, t, st)
    if t["ph"] == "kids":
        ex.save_thread(t)


def child_failed(ex, t, c, err: StatesError) -> None:
    st = I.state_of(ex, t)
    kids = t["kids"]
    i = c["br"]
    prev = c["prev"]
    kids["live"].remove(c["id"])
    kids.setdefault("redo", {})[str(i)] = snapshot(ex, c)
    if kids["kind"] == "map":
        ex.emit(None, "MapIterationFailed", {"name": st.name, "index": i}, prev=prev)
    cst = I.state_of(ex, c)
    if cst.type != "Fail" and c.get("ent"):
        ex.emit(None, f"{cst.type}StateAborted", prev=prev)
    ex.engine.release_thread(ex, c)
    ex.drop_thread(c)
    t["prev"] = prev
    _abort_children(ex, t, st, prev)
    fail_composite(ex, t, st, err)


def fail_composite(ex, t, st, err: StatesError) -> None:
    """Map/Parallel failed: Retry re-runs it; otherwise <Type>StateFailed, then Catch or propagate."""
    if err.error != E.RUNTIME:
        for i, r in enumerate(st.retry):
            if E.matches(r.error_equals, err):
                n = t["rc"].get(str(i), 0)
                if n < r.max_attempts:
                    t.pop("kids", None)
                    I.fail_state(ex, t, st, err)
                    return
                break
    kids = t.pop("kids", None)
    ex.emit(t, f"{st.type}StateFailed")
    st_catch = st.catch
    if err.error != E.RUNTIME:
        for cat in st_catch:
            if E.matches(cat.error_equals, err):
                try:
                    output, assigned = I.catch_output(ex, t, st, cat, err)
                except StatesError as err2:
                    I.thread_failed(ex, t, err2)
                    return
                I.finish_state(ex, t, st, output, assigned, next_state=cat.next)
                return
    if kids is not None:
        t["redo_kids"] = kids           # what RedriveExecution resumes
    I.thread_failed(ex, t, err)


def _abort_children(ex, t, st, prev: int) -> None:
    kids = t.get("kids") or {}
    redo = kids.setdefault("redo", {}) if kids else {}
    for cid in list(kids.get("live", [])):
        c = ex.threads.get(cid)
        if c is None:
            continue
        redo[str(c["br"])] = snapshot(ex, c)
        abort_thread(ex, c, prev, map_state=st if kids.get("kind") == "map" else None)
    if kids:
        kids["live"] = []


def abort_thread(ex, c, prev: int, map_state=None) -> None:
    """Stop a running child (and its own children), with AWS's Aborted events."""
    if map_state is not None:
        ex.emit(None, "MapIterationAborted", {"name": map_state.name, "index": c["br"]}, prev=prev)
    if c["ph"] != "enter" and c.get("ent"):
        cst = I.state_of(ex, c)
        ex.emit(None, f"{cst.type}StateAborted", prev=prev)
    sub = c.get("kids")
    if sub:
        cst = I.state_of(ex, c)
        for gid in list(sub.get("live", [])):
            g = ex.threads.get(gid)
            if g is not None:
                abort_thread(ex, g, prev, map_state=cst if sub.get("kind") == "map" else None)
    ex.engine.release_thread(ex, c)
    ex.drop_thread(c)
