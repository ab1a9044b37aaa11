"""What each state type does, for both query languages.

`step(ex, t)` advances thread `t` of execution `ex` from the state it is at:
it emits the state's events, evaluates its paths or JSONata expressions, and
either moves the thread on (to Next, End, a Catch target, its parent) or
parks it (a Wait or retry timer, a task, children). Tasks live in tasks.py,
Map and Parallel in flows.py; both come back here to finish or fail.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl import jsonata_eval as JE
from services.stepfunctions.asl import jsonpath as JP
from services.stepfunctions.asl import payload as P
from services.stepfunctions.asl.choice import parse_timestamp
from services.stepfunctions.asl.definition import has_value
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.asl.jsonpath import to_json

MAX_PAYLOAD = 256 * 1024
MAX_WAIT_SECONDS = 31_536_000 * 3   # what AWS accepts in practice; beyond: "Wait state delay is too long."


def state_of(ex, t):
    return ex.definition.states[t["st"]]


def program_of(ex, t):
    ref = t["prog"]
    if ref is None:
        return ex.definition.root
    st = ex.definition.states[ref[0]]
    return st.branches[ref[1]] if len(ref) == 2 else st.processor


# -- helpers shared by every state --------------------------------------------------

def in_state_error(st, t, err: StatesError) -> StatesError:
    """Runtime and query errors carry AWS's "An error occurred while executing the state ..." prefix."""
    if err.error in (E.RUNTIME, E.QUERY_EVALUATION_ERROR) and not getattr(err, "prefixed", False) and err.cause:
        e2 = StatesError(err.error, E.in_state(st.name, t["ent"], err.cause))
        e2.prefixed = True
        e2.location = getattr(err, "location", None)
        return e2
    return err


def jsonata_states(ex, t, st, **extra) -> dict:
    states = {"input": t["in"], "context": ex.context(t, st, (t.get("task") or {}).get("tok"))}
    states.update(extra)
    return states


def effective_input(ex, t, st):
    """JSONPath InputPath applied to the raw state input."""
    ip = st.input_path
    if ip is None:
        return {}
    if ip == "$":
        return t["in"]
    return JP.select_input_path(ip, t["in"], ex.variables(t))


def apply_output_path(ex, t, st, value):
    op = st.output_path
    if op is None:
        return {}
    if op == "$":
        return value
    return JP.select_input_path(op, value, ex.variables(t))


def evaluate_assign_jsonpath(ex, t, st, template, value, token=None) -> dict | None:
    if template is None:
        return None
    return P.evaluate(template, value, ex.context(t, st, token), ex.variables(t))


def evaluate_assign_jsonata(ex, t, spec, states: dict) -> dict | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise StatesError(E.RUNTIME, "The field 'Assign' must be an object")
    variables = dict(ex.variables(t))
    return {k: JE.evaluate_template(v, f"Assign/{k}", states, variables) for k, v in spec.items()}


def jsonata_output(ex, t, st, spec, states: dict, default):
    if not has_value(spec):
        return default
    return JE.evaluate_template(spec, "Output", states, dict(ex.variables(t)))


def result_to_output(ex, t, st, result) -> tuple:
    """A Task/Map/Parallel result -> (state output, assigned variables): ResultSelector, Assign,
    ResultPath, OutputPath (JSONPath) or Assign and Output (JSONata). Raises StatesError."""
    if st.jsonata:
        states = jsonata_states(ex, t, st, result=result)
        return jsonata_output(ex, t, st, st.output, states, result), evaluate_assign_jsonata(ex, t, st.assign, states)
    value = result
    if st.result_selector is not None:
        value = P.evaluate(st.result_selector, result, ex.context(t, st), ex.variables(t))
    assigned = evaluate_assign_jsonpath(ex, t, st, st.assign_template, value)
    try:
        return apply_output_path(ex, t, st, JP.apply_result_path(st.result_path, t["in"], value)), assigned
    except JP.PathError as exc:
        raise E.runtime_error(exc.message) from None


def check_size(st, text: str) -> None:
    if len(text) > MAX_PAYLOAD:
        raise StatesError(E.DATA_LIMIT_EXCEEDED, f"The state/task '{st.name}' returned a result with a size "
                                                 "exceeding the maximum number of bytes service limit.")


# -- driving ------------------------------------------------------------------------

def step(ex, t) -> None:
    ph = t["ph"]
    if ph == "enter":
        enter(ex, t)
    elif ph == "run":
        run(ex, t)


def enter(ex, t) -> None:
    st = state_of(ex, t)
    t["pre"] = t["prev"]
    t["entered"] = ex.engine.now_ms()
    t["retries"] = 0
    t["rc"] = {}
    t.pop("task", None)
    text = ex.json_text(t, t["in"])
    t["ent"] = ex.emit(t, f"{st.type}StateEntered", {"name": st.name, "input": text,
                                                     "inputDetails": {"truncated": False}})
    run(ex, t)


def run(ex, t) -> None:
    st = state_of(ex, t)
    t["ph"] = "busy"
    try:
        RUNNERS[st.type](ex, t, st)
    except StatesError as err:
        fail_state(ex, t, st, err)
    except JP.PathError as exc:
        fail_state(ex, t, st, E.runtime_error(exc.message))


def finish_state(ex, t, st, output, assigned: dict | None = None, *, next_state: str | None = None,
                 end: bool | None = None) -> None:
    """Emit <Type>StateExited, apply Assign, then go to Next/End."""
    text = ex.json_text(t, output)
    try:
        check_size(st, text)
    except StatesError as err:
        fail_state(ex, t, st, err)
        return
    details = {"name": st.name, "output": text, "outputDetails": {"truncated": False}}
    if assigned:
        details["assignedVariables"] = {k: to_json(v) for k, v in assigned.items()}
        details["assignedVariablesDetails"] = {"truncated": False}
    ex.emit(t, f"{st.type}StateExited", details)
    if assigned:
        t["vars"].update(assigned)
    transition(ex, t, st, output, next_state, end)


def transition(ex, t, st, output, next_state=None, end=None) -> None:
    nxt = next_state if next_state is not None else st.next
    is_end = end if end is not None else (st.end or st.type == "Succeed")
    if is_end and next_state is None:
        thread_done(ex, t, output)
        return
    t["st"] = nxt
    t["in"] = output
    t["ph"] = "enter"
    t.pop("task", None)
    t.pop("kids", None)
    t.pop("redo_kids", None)
    ex.save_thread(t)
    ex.make_ready(t)


def thread_done(ex, t, output) -> None:
    if t["p"] is None:
        ex.succeed(t, output)
        return
    from services.stepfunctions import flows
    flows.child_done(ex, ex.threads[t["p"]], t, output)


def thread_failed(ex, t, err: StatesError) -> None:
    if t["p"] is None:
        ex.fail(t, err.error, err.cause)
        return
    from services.stepfunctions import flows
    flows.child_failed(ex, ex.threads[t["p"]], t, err)


def fail_state(ex, t, st, err: StatesError) -> None:
    """A state failed: Retry, else Catch, else the failure leaves the thread."""
    err = in_state_error(st, t, err)
    if err.error == E.QUERY_EVALUATION_ERROR:
        ex.emit(t, "EvaluationFailed", {"error": err.error, "cause": err.cause,
                                        "location": getattr(err, "location", None) or _location(err),
                                        "state": st.name}, prev=t.get("pre", 0))
    if st.type in ("Task", "Parallel", "Map") and err.error != E.RUNTIME:
        for i, r in enumerate(st.retry):
            if not E.matches(r.error_equals, err):
                continue
            n = t["rc"].get(str(i), 0)
            if n < r.max_attempts:
                t["rc"][str(i)] = n + 1
                t["retries"] = t.get("retries", 0) + 1
                delay = r.interval * (r.backoff ** n)
                if r.max_delay is not None:
                    delay = min(delay, r.max_delay)
                if r.jitter == "FULL":
                    delay = random.uniform(0, delay)
                t["ph"] = "retry"
                ex.save_thread(t)
                ex.engine.set_timer(ex, t, "retry", ex.engine.now_ms() + int(delay * 1000))
                return
            break
        for c in st.catch:
            if not E.matches(c.error_equals, err):
                continue
            try:
                output, assigned = catch_output(ex, t, st, c, err)
            except StatesError as err2:
                thread_failed(ex, t, in_state_error(st, t, err2))
                return
            finish_state(ex, t, st, output, assigned, next_state=c.next)
            return
    thread_failed(ex, t, err)


def _location(err) -> str:
    cause = err.cause or ""
    i = cause.find("specified for the field '")
    if i < 0:
        return ""
    rest = cause[i + len("specified for the field '"):]
    return rest[:rest.find("'")]


def catch_output(ex, t, st, c, err: StatesError):
    error_output = err.output()
    if st.jsonata:
        states = jsonata_states(ex, t, st, errorOutput=error_output)
        assigned = evaluate_assign_jsonata(ex, t, c.assign, states)
        output = jsonata_output(ex, t, st, c.output, states, error_output)
        return output, assigned
    assigned = None
    if c.assign is not None:
        assigned = P.evaluate(P.compile_template(c.assign), error_output, ex.context(t, st), ex.variables(t))
    output = JP.apply_result_path(c.result_path, t["in"], error_output)
    return output, assigned


# -- Pass, Succeed, Fail, Choice, Wait ---------------------------------------------------

def run_pass(ex, t, st) -> None:
    if st.jsonata:
        states = jsonata_states(ex, t, st)
        assigned = evaluate_assign_jsonata(ex, t, st.assign, states)
        output = jsonata_output(ex, t, st, st.output, states, t["in"])
        finish_state(ex, t, st, output, assigned)
        return
    eff = effective_input(ex, t, st)
    if st.parameters is not None:
        eff = P.evaluate(st.parameters, eff, ex.context(t, st), ex.variables(t))
    result = st.spec["Result"] if "Result" in st.spec else eff
    assigned = evaluate_assign_jsonpath(ex, t, st, st.assign_template, result)
    output = apply_output_path(ex, t, st, JP.apply_result_path(st.result_path, t["in"], result))
    finish_state(ex, t, st, output, assigned)


def run_succeed(ex, t, st) -> None:
    if st.jsonata:
        states = jsonata_states(ex, t, st)
        output = jsonata_output(ex, t, st, st.output, states, t["in"])
    else:
        output = apply_output_path(ex, t, st, effective_input(ex, t, st))
    finish_state(ex, t, st, output, end=True)


def run_fail(ex, t, st) -> None:
    spec = st.spec
    if st.jsonata:
        states = jsonata_states(ex, t, st)
        variables = dict(ex.variables(t))
        error = JE.evaluate_template(spec["Error"], "Error", states, variables) if "Error" in spec else None
        cause = JE.evaluate_template(spec["Cause"], "Cause", states, variables) if "Cause" in spec else None
    else:
        error = _fail_field(ex, t, st, "Error")
        cause = _fail_field(ex, t, st, "Cause")
    thread_failed(ex, t, StatesError(error, cause))


def _fail_field(ex, t, st, name: str):
    spec = st.spec
    if name in spec:
        return spec[name]
    path = spec.get(name + "Path")
    if path is None:
        return None
    node = P.compile_expression(path, name + "Path")
    try:
        return P.evaluate(node, t["in"], ex.context(t, st), ex.variables(t))
    except StatesError as err:
        if err.error == E.RUNTIME:
            raise E.runtime_error(f"The JSONPath '{path}' specified for the field '{name}Path' could not be found "
                                  f"in the input '{to_json(t['in'])}'") from None
        raise


def run_choice(ex, t, st) -> None:
    if st.jsonata:
        states = jsonata_states(ex, t, st)
        variables = dict(ex.variables(t))
        for i, c in enumerate(st.choices):
            cond = c.condition
            ok = JE.evaluate(cond, f"Choices[{i}]/Condition", states, variables) if JE.is_expression(cond) else cond
            if not isinstance(ok, bool):
                raise StatesError(E.QUERY_EVALUATION_ERROR, f"The JSONata expression '{JE.body(cond)}' specified "
                                  f"for the field 'Condition' returned an unexpected result type. Expected "
                                  f"'boolean', but was '{_json_type(ok)}' for value: {to_json(ok)}")
            if ok:
                assigned = evaluate_assign_jsonata(ex, t, c.assign, states)
                spec_out = c.output if has_value(c.output) else st.output
                output = jsonata_output(ex, t, st, spec_out, states, t["in"])
                finish_state(ex, t, st, output, assigned, next_state=c.next)
                return
        default = st.spec.get("Default")
        if default is None:
            raise StatesError(E.NO_CHOICE_MATCHED, "No Matches!")
        assigned = evaluate_assign_jsonata(ex, t, st.assign, states)
        output = jsonata_output(ex, t, st, st.output, states, t["in"])
        finish_state(ex, t, st, output, assigned, next_state=default)
        return
    eff = effective_input(ex, t, st)
    ctx = ex.context(t, st)
    variables = ex.variables(t)
    for c in st.choices:
        if c.rule.evaluate(eff, ctx, variables):
            assigned = P.evaluate(c.assign, eff, ctx, variables) if c.assign is not None else None
            finish_state(ex, t, st, apply_output_path(ex, t, st, eff), assigned, next_state=c.next)
            return
    default = st.spec.get("Default")
    if default is None:
        raise StatesError(E.NO_CHOICE_MATCHED, "No Matches!")
    assigned = evaluate_assign_jsonpath(ex, t, st, st.assign_template, eff)
    finish_state(ex, t, st, apply_output_path(ex, t, st, eff), assigned, next_state=default)


def _json_type(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _parse_wait_timestamp(value) -> int | None:
    ts = parse_timestamp(value)
    if ts is None:
        return None
    return int(ts.timestamp() * 1000)


def run_wait(ex, t, st) -> None:
    spec = st.spec
    now = ex.engine.now_ms()
    if st.jsonata:
        states = jsonata_states(ex, t, st)
        variables = dict(ex.variables(t))
        if "Seconds" in spec:
            v = JE.evaluate_template(spec["Seconds"], "Seconds", states, variables)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise StatesError(E.QUERY_EVALUATION_ERROR, f"The JSONata expression '{JE.body(spec['Seconds'])}' "
                                  "specified for the field 'Seconds' returned an unexpected result type. Expected "
                                  f"'integer', but was '{_json_type(v)}' for value: {to_json(v)}")
            due = now + v * 1000
        else:
            v = JE.evaluate_template(spec["Timestamp"], "Timestamp", states, variables)
            due = _parse_wait_timestamp(v)
            if due is None:
                raise E.runtime_error("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                                      f"format string: {v}")
        t["wout"] = None
    else:
        eff = effective_input(ex, t, st)
        if "Seconds" in spec:
            due = now + spec["Seconds"] * 1000
        elif "Timestamp" in spec:
            due = _parse_wait_timestamp(spec["Timestamp"])
            if due is None:
                raise E.runtime_error("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                                      f"format string: {spec['Timestamp']}")
        elif "SecondsPath" in spec:
            path = spec["SecondsPath"]
            try:
                v = P.evaluate_path_value(path, eff, ex.context(t, st), ex.variables(t))
            except JP.PathError:
                raise E.runtime_error(f"The SecondsPath parameter does not reference an input value: {path}") from None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
                raise E.runtime_error(f"The SecondsPath parameter cannot be parsed as a long value: {path} == "
                                      f"{to_json(v)}")
            if v < 0:
                raise E.runtime_error(f"The SecondsPath parameter references a negative value: {path} == {int(v)}")
            due = now + int(v) * 1000
        else:
            path = spec["TimestampPath"]
            try:
                v = P.evaluate_path_value(path, eff, ex.context(t, st), ex.variables(t))
            except JP.PathError:
                raise E.runtime_error(f"The TimestampPath parameter does not reference an input value: {path}") \
                    from None
            due = _parse_wait_timestamp(v)
            if due is None:
                shown = v if isinstance(v, str) else to_json(v)
                raise E.runtime_error("The TimestampPath parameter does not reference a valid ISO-8601 extended "
                                      f"offset date-time format string: {path} == {shown}")
        t["wout"] = apply_output_path(ex, t, st, eff)
    if due - now > MAX_WAIT_SECONDS * 1000:
        raise E.runtime_error("Wait state delay is too long.")
    t["ph"] = "wait"
    ex.save_thread(t)
    ex.engine.set_timer(ex, t, "wait", due)


def wait_done(ex, t) -> None:
    """The Wait state's timer fired (late after a restart, never lost)."""
    st = state_of(ex, t)
    try:
        if st.jsonata:
            states = jsonata_states(ex, t, st)
            assigned = evaluate_assign_jsonata(ex, t, st.assign, states)
            output = jsonata_output(ex, t, st, st.output, states, t["in"])
        else:
            output = t.pop("wout", t["in"])
            assigned = evaluate_assign_jsonpath(ex, t, st, st.assign_template, output)
    except StatesError as err:
        fail_state(ex, t, st, err)
        return
    t.pop("wout", None)
    finish_state(ex, t, st, output, assigned)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _run_task(ex, t, st):
    from services.stepfunctions import tasks
    tasks.run_task(ex, t, st)


def _run_parallel(ex, t, st):
    from services.stepfunctions import flows
    flows.run_parallel(ex, t, st)


def _run_map(ex, t, st):
    from services.stepfunctions import flows
    flows.run_map(ex, t, st)


RUNNERS = {"Pass": run_pass, "Succeed": run_succeed, "Fail": run_fail, "Choice": run_choice, "Wait": run_wait,
           "Task": _run_task, "Parallel": _run_parallel, "Map": _run_map}
