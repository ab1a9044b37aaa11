"""Task states: parameters, timeouts, heartbeats, and what each kind of
resource does (activity, Lambda function, service integration) with AWS's
event shapes for each.

A task parks its thread in phase "task" with ``t["task"]`` describing the
attempt: its task token (activities and `.waitForTaskToken`), parameters,
timeout/heartbeat and how far it got ("scheduled" -> "started" ->
"submitted"). Outcomes come back through `succeeded`, `failed` and
`timed_out`; a restart resumes from the recorded stage (engine.recover).
"""

from __future__ import annotations

from services.stepfunctions import interpreter as I
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl import jsonata_eval as JE
from services.stepfunctions.asl import jsonpath as JP
from services.stepfunctions.asl import payload as P
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.asl.jsonpath import to_json
from services.stepfunctions.asl.resources import SYNC, SYNC2, WAIT

DEFAULT_TIMEOUT = 99999999


def _seconds(ex, t, st, name: str, eff, states):
    spec = st.spec
    if name in spec:
        v = spec[name]
        if st.jsonata and JE.is_expression(v):
            v = JE.evaluate(v, name, states, dict(ex.variables(t)))
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise StatesError(E.QUERY_EVALUATION_ERROR, f"The JSONata expression '{JE.body(spec[name])}' "
                                  f"specified for the field '{name}' returned an unexpected result type. Expected "
                                  f"'integer', but was '{I._json_type(v)}' for value: {to_json(v)}")
        return v
    path = spec.get(name + "Path")
    if path is None:
        return None
    v = JP.select_input_path(path, eff, ex.variables(t)) if not path.startswith("$$") else \
        P.evaluate_path_value(path, eff, ex.context(t, st), ex.variables(t))
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise E.runtime_error(f"The {name}Path parameter does not reference a positive integer: {path}")
    return v


def credentials_role(st, eff, ctx, variables, states=None) -> str | None:
    """The Task's ``Credentials`` role (``RoleArn``, ``RoleArn.$`` or JSONata): the
    integration call runs as it, assumed by the execution's role (services/iam)."""
    cred = st.spec.get("Credentials")
    if not isinstance(cred, dict):
        return None
    if st.jsonata:
        cred = JE.evaluate_template(cred, "Credentials", states, dict(variables))
    else:
        cred = P.evaluate(P.compile_template(cred), eff, ctx, variables)
    role = cred.get("RoleArn") if isinstance(cred, dict) else None
    return role if role is None or isinstance(role, str) else to_json(role)


def run_task(ex, t, st) -> None:
    res = st.resource
    token = ex.engine.new_token(ex, t) if res.kind == "activity" or res.pattern == WAIT else None
    ctx = ex.context(t, st, token)
    if st.jsonata:
        states = {"input": t["in"], "context": ctx}
        eff = t["in"]
        params = JE.evaluate_template(st.arguments, "Arguments", states, dict(ex.variables(t))) \
            if st.has_arguments() else t["in"]
    else:
        states = None
        eff = I.effective_input(ex, t, st)
        params = P.evaluate(st.parameters, eff, ctx, ex.variables(t)) if st.parameters is not None else eff
    timeout = _seconds(ex, t, st, "TimeoutSeconds", eff, states)
    heartbeat = _seconds(ex, t, st, "HeartbeatSeconds", eff, states)
    t["task"] = {"tok": token, "params": params, "to": timeout, "hb": heartbeat, "stage": "scheduling",
                 "n": t.get("retries", 0)}
    cred = credentials_role(st, eff, ctx, ex.variables(t), states)
    if cred is not None:
        t["task"]["cred"] = cred
    t["ph"] = "task"
    dispatch(ex, t, st)


def _scheduled_details(ex, st, task) -> tuple[str, dict]:
    res = st.resource
    if res.kind == "activity":
        d = {"resource": res.arn, "input": to_json(task["params"]), "inputDetails": {"truncated": False}}
        etype = "ActivityScheduled"
    elif res.kind == "lambda":
        d = {"resource": res.arn, "input": to_json(task["params"]), "inputDetails": {"truncated": False}}
        etype = "LambdaFunctionScheduled"
    else:
        d = {"resourceType": res.resource_type, "resource": res.resource, "region": ex.region,
             "parameters": to_json(task["params"])}
        etype = "TaskScheduled"
    if task.get("cred") is not None:
        d["taskCredentials"] = {"roleArn": task["cred"]}
    if task["to"] is not None:
        d["timeoutInSeconds"] = task["to"]
    if task["hb"] is not None:
        d["heartbeatInSeconds"] = task["hb"]
    return etype, d


def dispatch(ex, t, st) -> None:
    """Start (or, after a restart, restart) the task's work from its recorded stage."""
    res = st.resource
    task = t["task"]
    engine = ex.engine
    if res.kind == "activity":
        if task["stage"] == "scheduling":
            engine.schedule_activity(ex, t, st)
        ex.save_thread(t)
        return
    if task["stage"] == "scheduling":
        etype, d = _scheduled_details(ex, st, task)
        ex.emit(t, etype, d)
        if res.kind == "lambda":
            ex.emit(t, "LambdaFunctionStarted")
        else:
            ex.emit(t, "TaskStarted", {"resourceType": res.resource_type, "resource": res.resource})
        task["stage"] = "started"
        now = engine.now_ms()
        engine.set_timer(ex, t, "timeout", now + (task["to"] or DEFAULT_TIMEOUT) * 1000)
        if task["hb"] is not None:
            engine.set_timer(ex, t, "heartbeat", now + task["hb"] * 1000)
    ex.save_thread(t)
    if task["stage"] == "started":
        engine.start_call(ex, t, st)


def activity_scheduled(ex, t, st) -> None:
    """The activity's partition holds the task now (or it was already there)."""
    task = t["task"]
    if task["stage"] != "scheduling":
        return
    etype, d = _scheduled_details(ex, st, task)
    ex.emit(t, etype, d)
    task["stage"] = "scheduled"
    now = ex.engine.now_ms()
    ex.engine.set_timer(ex, t, "timeout", now + (task["to"] or DEFAULT_TIMEOUT) * 1000)
    if task["hb"] is not None:
        ex.engine.set_timer(ex, t, "heartbeat", now + task["hb"] * 1000)
    ex.save_thread(t)
    # a worker may have taken the task before ActivityEnqueue's reply came back here
    if "early_start" in task:
        activity_started(ex, t, st, task.pop("early_start"))
        early = task.pop("early_out", None)
        if early is not None:
            ex.engine._outcome(ex, t, st, *early)


def activity_started(ex, t, st, worker: str | None) -> None:
    task = t["task"]
    if task["stage"] == "scheduling":
        task["early_start"] = worker
        ex.save_thread(t)
        return
    if task["stage"] != "scheduled":
        return
    ex.emit(t, "ActivityStarted", {"workerName": worker} if worker else {})
    task["stage"] = "started"
    if task["hb"] is not None:
        ex.engine.set_timer(ex, t, "heartbeat", ex.engine.now_ms() + task["hb"] * 1000)
    ex.save_thread(t)


def call_returned(ex, t, st, result) -> None:
    """The integration call answered (request-response result, or the submission of a callback/sync task)."""
    res = st.resource
    task = t["task"]
    if res.pattern in (WAIT, SYNC, SYNC2) and res.kind != "lambda":
        ex.emit(t, "TaskSubmitted", {"resourceType": res.resource_type, "resource": res.resource,
                                     "output": to_json(result), "outputDetails": {"truncated": False}})
        task["stage"] = "submitted"
        if res.pattern in (SYNC, SYNC2):
            task["child"] = result.get("ExecutionArn")
        ex.save_thread(t)
        return
    succeeded(ex, t, st, result)


def _emit_outcome(ex, t, st, outcome: str, details: dict) -> None:
    """ActivitySucceeded / LambdaFunctionFailed / TaskTimedOut ...: one event per resource kind."""
    res = st.resource
    if res.kind == "activity":
        ex.emit(t, f"Activity{outcome}", details)
    elif res.kind == "lambda":
        ex.emit(t, f"LambdaFunction{outcome}", details)
    else:
        ex.emit(t, f"Task{outcome}", {"resourceType": res.resource_type, "resource": res.resource, **details})


def succeeded(ex, t, st, result) -> None:
    res = st.resource
    text = to_json(result)
    ex.engine.release_thread(ex, t)
    _emit_outcome(ex, t, st, "Succeeded", {"output": text, "outputDetails": {"truncated": False}})
    try:
        if len(text) > I.MAX_PAYLOAD:
            name = res.resource_type if res.kind not in ("activity", "lambda") else res.arn
            raise StatesError(E.DATA_LIMIT_EXCEEDED, f"The state/task '{name}' returned a result with a size "
                                                     "exceeding the maximum number of bytes service limit.")
        output, assigned = I.result_to_output(ex, t, st, result)
    except StatesError as err:
        I.fail_state(ex, t, st, err)
        return
    t.pop("task", None)
    I.finish_state(ex, t, st, output, assigned)


def failed(ex, t, st, err: StatesError) -> None:
    ex.engine.release_thread(ex, t)
    details = {}
    if err.error is not None:
        details["error"] = err.error
    if err.cause is not None:
        details["cause"] = err.cause
    _emit_outcome(ex, t, st, "Failed", details)
    err.task = True
    t.pop("task", None)
    I.fail_state(ex, t, st, err)


def timed_out(ex, t, st, heartbeat: bool = False) -> None:
    ex.engine.release_thread(ex, t)
    _emit_outcome(ex, t, st, "TimedOut", {"error": E.TIMEOUT})
    err = StatesError(E.TIMEOUT, None, task=True)
    err.heartbeat = heartbeat
    t.pop("task", None)
    I.fail_state(ex, t, st, err)


def schedule_failed(ex, t, st, err: StatesError) -> None:
    """The task could not even be scheduled (e.g. the activity does not exist): a runtime failure."""
    t.pop("task", None)
    I.fail_state(ex, t, st, err)
