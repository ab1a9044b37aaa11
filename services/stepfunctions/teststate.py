"""TestState: one state run on its own, outside any execution (nothing stored).

The state comes alone (`definition` is a state) or from a whole machine
(`definition` plus `stateName`). It runs once with the given input,
`variables` and `context`: a Task calls its integration (through the
gateway's service caller) unless `mock` gives its result or error; a Wait
does not wait; a Map or Parallel needs a mock (teststate_flows.py). The
answer is the state's output or error, the next state, a status (SUCCEEDED,
FAILED, RETRIABLE, CAUGHT_ERROR) and, at DEBUG and TRACE, the data after
each processing step (inspectionData).
"""

from __future__ import annotations

import json

from services.stepfunctions import arns
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl import jsonata_eval as JE
from services.stepfunctions.asl import jsonpath as JP
from services.stepfunctions.asl import payload as P
from services.stepfunctions.asl.definition import InvalidDefinitionError, compile_definition, has_value
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.errors import err, invalid_definition, validation
from services.stepfunctions.execution import iso_ms
from services.stepfunctions.tasks import credentials_role

_NAME = "StateName"


class _Probe:
    """Just enough of an execution for the interpreter's data-flow helpers."""

    def __init__(self, ctx, state_input, variables: dict, context: dict | None):
        import time
        self.now = int(time.time() * 1000)
        self.ctx = ctx
        self.input = state_input
        self.vars = variables
        self.extra_context = context or {}
        sm = f"arn:aws:states:{ctx.region}:{ctx.account_id}:stateMachine:{_NAME}"
        self.base = {"Execution": {"Id": f"arn:aws:states:{ctx.region}:{ctx.account_id}:express:{_NAME}:test",
                                   "Input": state_input, "Name": "test", "RoleArn": None,
                                   "StartTime": iso_ms(self.now)},
                     "StateMachine": {"Id": sm, "Name": _NAME}}

    def context(self, t, st=None, token=None) -> dict:
        ctx = json.loads(json.dumps(self.base))
        ctx["State"] = {"Name": t["st"], "EnteredTime": iso_ms(self.now), "RetryCount": t.get("retries", 0)}
        for k, v in self.extra_context.items():
            if isinstance(v, dict) and isinstance(ctx.get(k), dict):
                ctx[k].update(v)
            else:
                ctx[k] = v
        if token is not None:
            ctx["Task"] = {"Token": token}
        return ctx

    def variables(self, t):
        return self.vars


def _parse_json(text, what: str):
    if text is None:
        return None
    try:
        return JP.from_json(text)
    except Exception:
        raise validation(f"Invalid {what} provided: it must be valid JSON") from None


def _state_of(p: dict):
    try:
        doc = json.loads(p["definition"])
    except ValueError:
        raise invalid_definition("Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: the definition is not "
                                 "valid JSON'") from None
    name = p.get("stateName")
    if "States" in doc:
        try:
            definition = compile_definition(p["definition"])
        except InvalidDefinitionError as exc:
            raise invalid_definition(exc.message) from None
        name = name or doc.get("StartAt")
        if name not in definition.states:
            raise validation(f"State '{name}' does not exist in the state machine definition")
        return definition.states[name]
    # a lone state: let its transitions point at placeholder states so it validates on its own
    targets = {doc.get("Next"), doc.get("Default")}
    targets |= {c.get("Next") for c in doc.get("Choices") or [] if isinstance(c, dict)}
    targets |= {c.get("Next") for c in doc.get("Catch") or [] if isinstance(c, dict)}
    states = {name or _NAME: doc}
    for tgt in targets:
        if isinstance(tgt, str) and tgt not in states:
            states[tgt] = {"Type": "Succeed"}
    machine = {"StartAt": name or _NAME, "States": states}
    if doc.get("QueryLanguage") == "JSONata":
        machine["QueryLanguage"] = "JSONata"
    try:
        definition = compile_definition(json.dumps(machine))
    except InvalidDefinitionError as exc:
        raise invalid_definition(exc.message) from None
    return definition.states[name or _NAME]


async def test_state(ctx, p: dict) -> dict:
    from services.stepfunctions import teststate_flows
    st = _state_of(p)
    mock = p.get("mock")
    config = p.get("stateConfiguration") or {}
    if config.get("mapIterationFailureCount") is not None and mock is None:
        raise validation("TestState does not support MapIterationFailureCount when a mock is not specified.")
    if mock is not None:
        if "result" in mock and "errorOutput" in mock:
            raise validation("A test mock should have only one of the following fields: [result, errorOutput].")
        if p.get("revealSecrets"):
            raise validation("TestState does not support RevealSecrets when a mock is specified.")
        if st.type in ("Pass", "Fail", "Succeed", "Wait", "Choice"):
            raise validation(f"State type '{st.type}' is not supported when a mock is specified")
        if st.type in ("Map", "Parallel"):
            teststate_flows.check_mock(st, mock, config)
    elif st.type in ("Map", "Parallel"):
        raise invalid_definition("TestState API does not support Map or Parallel states. Supported state types "
                                 "include: [Task, Wait, Pass, Succeed, Fail, Choice]")
    if st.type == "Task" and not p.get("roleArn") and mock is None:
        raise validation("RoleArn must be specified when testing a Task state")
    state_input = _parse_json(p.get("input"), "input")
    if state_input is None and p.get("input") is None:
        state_input = {}
    probe = _Probe(ctx, state_input, _parse_json(p.get("variables"), "variables") or {},
                   _parse_json(p.get("context"), "Context object"))
    level = p.get("inspectionLevel") or "INFO"
    run = _Run(ctx, probe, st, mock, config)
    run.role = p.get("roleArn")
    out = await run.go()
    if level != "INFO" and run.inspect:
        out["inspectionData"] = run.inspect
    return out


class _Run:
    def __init__(self, ctx, probe: _Probe, st, mock, config: dict):
        self.ctx, self.probe, self.st, self.mock, self.config = ctx, probe, st, mock, config
        self.t = {"st": st.name, "in": probe.input, "retries": config.get("retrierRetryCount", 0), "vars": {}}
        self.inspect: dict = {}
        self.role: str | None = None      # roleArn: the integration call runs as it

    def _rec(self, key: str, value) -> None:
        self.inspect[key] = value

    def _done(self, output, next_state=None, assigned=None) -> dict:
        out = {"status": "SUCCEEDED", "output": JP.to_json(output)}
        nxt = next_state if next_state is not None else (None if self.st.end else self.st.next)
        if nxt and self.st.type not in ("Succeed", "Fail"):
            out["nextState"] = nxt
        if assigned:
            self._rec("variables", JP.to_json({**self.probe.vars, **assigned}))
        return out

    def _fail(self, e: StatesError) -> dict:
        from services.stepfunctions import interpreter as I
        st = self.st
        e = I.in_state_error(st, {"ent": 1, **self.t}, e)
        out = {"status": "FAILED"}
        if e.error is not None:
            out["error"] = e.error
        if e.cause is not None:
            out["cause"] = e.cause
        if st.type in ("Task", "Map", "Parallel") and e.error != E.RUNTIME:
            for i, r in enumerate(st.retry):
                if E.matches(r.error_equals, e):
                    if self.t["retries"] < r.max_attempts:
                        out["status"] = "RETRIABLE"
                        self._rec("errorDetails", {"retryIndex": i, "retryBackoffIntervalSeconds":
                                                   int(r.interval * r.backoff ** self.t["retries"])})
                        return out
                    break
            for i, c in enumerate(st.catch):
                if E.matches(c.error_equals, e):
                    output, _assigned = I.catch_output(self.probe, self.t, st, c, e)
                    self._rec("errorDetails", {"catchIndex": i})
                    out.update({"status": "CAUGHT_ERROR", "nextState": c.next, "output": JP.to_json(output)})
                    return out
        return out

    async def go(self) -> dict:
        try:
            return await self._run()
        except StatesError as e:
            return self._fail(e)
        except JP.PathError as exc:
            return self._fail(E.runtime_error(exc.message))

    async def _run(self) -> dict:
        from services.stepfunctions import interpreter as I
        st, probe, t = self.st, self.probe, self.t
        self._rec("input", JP.to_json(t["in"]))
        if st.type in ("Map", "Parallel"):
            from services.stepfunctions import teststate_flows
            return await (teststate_flows.run_map(self) if st.type == "Map" else teststate_flows.run_parallel(self))
        if st.jsonata:
            return await self._run_jsonata()
        eff = I.effective_input(probe, t, st)
        self._rec("afterInputPath", JP.to_json(eff))
        if st.type == "Fail":
            return self._fail(StatesError(I._fail_field(probe, t, st, "Error"), I._fail_field(probe, t, st, "Cause")))
        if st.type == "Choice":
            ctx = probe.context(t, st)
            for c in st.choices:
                if c.rule.evaluate(eff, ctx, probe.vars):
                    return self._done(I.apply_output_path(probe, t, st, eff), c.next)
            if st.spec.get("Default") is None:
                raise StatesError(E.NO_CHOICE_MATCHED, "No Matches!")
            return self._done(I.apply_output_path(probe, t, st, eff), st.spec["Default"])
        if st.type in ("Succeed", "Wait"):
            return self._done(I.apply_output_path(probe, t, st, eff))
        params = P.evaluate(st.parameters, eff, probe.context(t, st), probe.vars) if st.parameters is not None \
            else eff
        if st.type == "Pass":
            if st.parameters is not None:
                self._rec("afterParameters", JP.to_json(params))
            result = st.spec["Result"] if "Result" in st.spec else params
            if "Result" in st.spec:
                self._rec("result", JP.to_json(result))
        else:
            self._rec("afterParameters", JP.to_json(params))
            result = await self._invoke(params, credentials_role(st, eff, probe.context(t, st), probe.vars))
            self._rec("result", JP.to_json(result))
        value = P.evaluate(st.result_selector, result, probe.context(t, st), probe.vars) \
            if st.result_selector is not None else result
        self._rec("afterResultSelector", JP.to_json(value))
        assigned = I.evaluate_assign_jsonpath(probe, t, st, st.assign_template, value)
        after = JP.apply_result_path(st.result_path, t["in"], value)
        self._rec("afterResultPath", JP.to_json(after))
        return self._done(I.apply_output_path(probe, t, st, after), assigned=assigned)

    async def _run_jsonata(self) -> dict:
        from services.stepfunctions import interpreter as I
        st, probe, t = self.st, self.probe, self.t
        states = {"input": t["in"], "context": probe.context(t, st)}
        variables = dict(probe.vars)
        if st.type == "Fail":
            spec = st.spec
            e = JE.evaluate_template(spec["Error"], "Error", states, variables) if "Error" in spec else None
            c = JE.evaluate_template(spec["Cause"], "Cause", states, variables) if "Cause" in spec else None
            return self._fail(StatesError(e, c))
        if st.type == "Choice":
            for i, c in enumerate(st.choices):
                ok = JE.evaluate(c.condition, f"Choices[{i}]/Condition", states, variables) \
                    if JE.is_expression(c.condition) else c.condition
                if ok is True:
                    spec = c.output if has_value(c.output) else st.output
                    return self._done(I.jsonata_output(probe, t, st, spec, states, t["in"]), c.next)
            if st.spec.get("Default") is None:
                raise StatesError(E.NO_CHOICE_MATCHED, "No Matches!")
            return self._done(I.jsonata_output(probe, t, st, st.output, states, t["in"]), st.spec["Default"])
        result = t["in"]
        if st.type == "Task":
            args = JE.evaluate_template(st.arguments, "Arguments", states, variables) if st.has_arguments() \
                else t["in"]
            self._rec("afterArguments", JP.to_json(args))
            result = await self._invoke(args, credentials_role(st, None, None, variables, states))
            self._rec("result", JP.to_json(result))
            states["result"] = result
        assigned = I.evaluate_assign_jsonata(probe, t, st.assign, states)
        output = I.jsonata_output(probe, t, st, st.output, states, result)
        return self._done(output, assigned=assigned)

    async def _invoke(self, params, credentials: str | None = None):
        if self.mock is not None:
            if "errorOutput" in self.mock:
                eo = self.mock["errorOutput"] or {}
                raise StatesError(eo.get("error"), eo.get("cause"), task=True)
            try:
                return JP.from_json(self.mock.get("result", "null"))
            except Exception:
                raise validation("Mocked result must be valid JSON") from None
        if self.st.resource.kind == "activity":
            raise err("ValidationException", "TestState does not support activity tasks without a mock")
        from services.stepfunctions import integrations

        class _Host:
            host = self.ctx.gateway
        try:
            return await integrations.invoke(_Host, _ExecFacade(self.ctx, self.role), self.st.resource, params,
                                             credentials=credentials)
        except StatesError as e:
            e.task = True
            raise


class _ExecFacade:
    """What an integration call needs of an execution: TestState's calls run as its
    `roleArn` (evaluated when IAM is enforced)."""

    def __init__(self, ctx, role: str | None = None):
        self.account, self.region = ctx.account_id, ctx.region
        self.arn = arns.state_machine_arn(ctx.region, ctx.account_id, _NAME)
        self.rec = {"role": role} if role else {}
