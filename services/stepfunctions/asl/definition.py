"""State machine definitions: JSON text -> a validated, compiled Program.

`compile_definition(text, express=...)` checks the definition the way
CreateStateMachine and ValidateStateMachineDefinition do, collecting AWS's
diagnostics (code, message, location), and compiles every path, template,
intrinsic call, Choice rule and JSONata expression once. Executions only run
compiled Programs (cached by definition text).
"""

from __future__ import annotations

import functools
import re

from services.stepfunctions.asl import jsonata_eval, jsonpath, payload
from services.stepfunctions.asl.choice import Rule
from services.stepfunctions.asl.resources import ResourceError, parse_resource

STATE_TYPES = ("Task", "Wait", "Pass", "Succeed", "Fail", "Choice", "Parallel", "Map")
_TYPES_TEXT = "[" + ", ".join(STATE_TYPES) + "]"
JSONPATH, JSONATA = "JSONPath", "JSONata"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_UNSET = object()

SCHEMA = "SCHEMA_VALIDATION_FAILED"


class Diagnostic:
    __slots__ = ("code", "message", "location")

    def __init__(self, code: str, message: str, location: str | None):
        self.code, self.message, self.location = code, message, location

    def to_api(self) -> dict:
        out = {"severity": "ERROR", "code": self.code, "message": self.message}
        if self.location is not None:
            out["location"] = self.location
        return out

    def text(self) -> str:
        return f"{self.code}: {self.message}" + (f" at {self.location}" if self.location else "")


class InvalidDefinitionError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "Invalid State Machine Definition: '" + ", ".join(d.text() for d in self.diagnostics) + "'"


class Retrier:
    __slots__ = ("error_equals", "interval", "max_attempts", "backoff", "max_delay", "jitter")

    def __init__(self, spec: dict):
        self.error_equals = spec.get("ErrorEquals") or []
        self.interval = spec.get("IntervalSeconds", 1)
        self.max_attempts = spec.get("MaxAttempts", 3)
        self.backoff = spec.get("BackoffRate", 2.0)
        self.max_delay = spec.get("MaxDelaySeconds")
        self.jitter = spec.get("JitterStrategy", "NONE")


class Catcher:
    __slots__ = ("error_equals", "next", "result_path", "assign", "output")

    def __init__(self, spec: dict):
        self.error_equals = spec.get("ErrorEquals") or []
        self.next = spec.get("Next")
        self.result_path = spec.get("ResultPath", "$")
        self.assign = spec.get("Assign")
        self.output = spec.get("Output", _UNSET)


class State:
    """One compiled state; fields not used by its type stay None."""

    def __init__(self, name: str, spec: dict, program: "Program"):
        self.name = name
        self.spec = spec
        self.program = program
        self.type = spec.get("Type")
        self.next = spec.get("Next")
        self.end = bool(spec.get("End"))
        self.ql = spec.get("QueryLanguage") or program.ql
        self.input_path = spec.get("InputPath", "$")
        self.output_path = spec.get("OutputPath", "$")
        self.result_path = spec.get("ResultPath", "$")
        self.parameters = None
        self.result_selector = None
        self.assign = spec.get("Assign")
        self.output = spec.get("Output", _UNSET)
        self.arguments = spec.get("Arguments", _UNSET)
        self.retry = [Retrier(r) for r in spec.get("Retry") or [] if isinstance(r, dict)]
        self.catch = [Catcher(c) for c in spec.get("Catch") or [] if isinstance(c, dict)]
        self.branches: list[Program] = []
        self.processor: Program | None = None
        self.choices: list = []
        self.resource = None        # Resource (Task)
        self.assign_template = None  # compiled JSONPath Assign
        self.item_selector = None

    @property
    def jsonata(self) -> bool:
        return self.ql == JSONATA

    def has_output(self) -> bool:
        return self.output is not _UNSET

    def has_arguments(self) -> bool:
        return self.arguments is not _UNSET


class Program:
    """A StartAt + States scope (the machine, a Parallel branch or a Map processor)."""

    def __init__(self, spec: dict, ql: str, parent: State | None = None):
        self.spec = spec
        self.start_at = spec.get("StartAt")
        self.ql = ql
        self.parent = parent
        self.states: dict[str, State] = {}
        self.timeout_seconds = spec.get("TimeoutSeconds")
        self.processor_mode = None
        self.execution_type = None


class Definition:
    """A whole compiled machine: the root Program plus a flat index of every state."""

    def __init__(self, text: str, root: Program, all_states: dict[str, State]):
        self.text = text
        self.root = root
        self.states = all_states

    def variable_references(self) -> dict[str, list[str]]:
        out = {}
        for name, st in self.states.items():
            refs = sorted(_variable_refs(st.spec, st.jsonata, top=True))
            if refs:
                out[name] = refs
        return out


# -- JSON parsing with Jackson-shaped errors ------------------------------------

def jackson_message(text: str) -> tuple[str, int, int]:
    """(message, line, column) for invalid JSON, worded like the Jackson parser AWS uses."""
    import json
    try:
        json.loads(text)
        return "", 0, 0
    except json.JSONDecodeError as exc:
        pos, line, col = exc.pos, exc.lineno, exc.colno
        ch = text[pos] if pos < len(text) else ""
        if exc.msg.startswith("Expecting value") and (ch.isalpha() or ch == "_"):
            m = re.match(r"[A-Za-z0-9_]+", text[pos:])
            tok = m.group(0)
            return (f"Unrecognized token '{tok}': was expecting (JSON String, Number, Array, Object or token "
                    "'null', 'true' or 'false')", line, col + len(tok))
        if exc.msg.startswith("Expecting property name") and ch:
            return (f"Unexpected character ('{ch}' (code {ord(ch)})): was expecting double-quote to start field "
                    "name", line, col)
        if not ch:
            return "Unexpected end-of-input", line, col
        return f"Unexpected character ('{ch}' (code {ord(ch)}))", line, col


def parse_json_input(text: str):
    """Execution input: ValueError(Jackson message) when invalid."""
    return jsonpath.from_json(text)


# -- compilation ------------------------------------------------------------------

@functools.lru_cache(maxsize=512)
def _compile_cached(text: str, express: bool) -> Definition:
    return _Compiler(express).compile(text)


def compile_definition(text: str, *, express: bool = False) -> Definition:
    """-> Definition; raises InvalidDefinitionError with AWS's diagnostics."""
    return _compile_cached(text, express)


def validate(text: str, *, express: bool = False) -> list[Diagnostic]:
    try:
        compile_definition(text, express=express)
        return []
    except InvalidDefinitionError as exc:
        return exc.diagnostics


class _Compiler:
    def __init__(self, express: bool):
        self.express = express
        self.diags: list[Diagnostic] = []
        self.all_states: dict[str, State] = {}

    def err(self, message: str, location: str | None, code: str = SCHEMA) -> None:
        self.diags.append(Diagnostic(code, message, location))

    def compile(self, text: str) -> Definition:
        if not isinstance(text, str) or not text.strip():
            raise InvalidDefinitionError([Diagnostic(SCHEMA, "Definition must be a valid JSON object", None)])
        try:
            spec = jsonpath.from_json(text)
        except Exception:
            msg, line, col = jackson_message(text)
            src = f"[Source: (String)\"{text[:500]}\"; line: {line}, column: {col}]"
            raise InvalidDefinitionError([Diagnostic("INVALID_JSON_DESCRIPTION", f"{msg}\n at {src}", src)]) from None
        if not isinstance(spec, dict):
            raise InvalidDefinitionError([Diagnostic(SCHEMA, "Definition must be a valid JSON object", None)])
        ql = spec.get("QueryLanguage", JSONPATH)
        if ql not in (JSONPATH, JSONATA):
            self.err("The field 'QueryLanguage' should have one of these values: [JSONPath, JSONata]",
                     "/QueryLanguage")
            ql = JSONPATH
        root = self.program(spec, ql, "", None)
        if self.diags:
            raise InvalidDefinitionError(self.diags)
        return Definition(text, root, self.all_states)

    def program(self, spec: dict, ql: str, loc: str, parent: State | None) -> Program:
        prog = Program(spec, ql, parent)
        missing = [f for f in ("States", "StartAt") if f not in spec]
        if missing:
            self.err(f"These fields are required: [{', '.join(missing)}]", loc or "/")
        states = spec.get("States")
        if "States" in spec and not isinstance(states, dict):
            self.err("The field 'States' must be an object", f"{loc}/States")
            states = {}
        states = states or {}
        ts = spec.get("TimeoutSeconds")
        if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool) or ts < 0):
            self.err("The value for the field 'TimeoutSeconds' must be a positive integer", f"{loc}/TimeoutSeconds")
        for name, sspec in states.items():
            sloc = f"{loc}/States/{name}"
            if name in self.all_states:
                self.err(f"Duplicate State name: {name}", sloc, "DUPLICATE_STATE_NAME")
                continue
            if not isinstance(sspec, dict):
                self.err("The value of a state must be an object", sloc)
                continue
            st = State(name, sspec, prog)
            self.all_states[name] = st
            prog.states[name] = st
            self.state(st, sloc)
        start = spec.get("StartAt")
        if "StartAt" in spec and "States" in spec and start not in prog.states:
            self.err(f"Missing 'Next' target: {start}", f"{loc}/StartAt", "MISSING_TRANSITION_TARGET")
        if prog.states and start in prog.states:
            self.check_reachability(prog, loc)
        return prog

    def check_reachability(self, prog: Program, loc: str) -> None:
        seen = set()
        todo = [prog.start_at]
        while todo:
            n = todo.pop()
            if n in seen or n not in prog.states:
                continue
            seen.add(n)
            st = prog.states[n]
            targets = [st.next] if st.next else []
            if st.type == "Choice":
                targets += [c.next for c in st.choices if c.next]
                if st.spec.get("Default"):
                    targets.append(st.spec["Default"])
            targets += [c.next for c in st.catch if c.next]
            todo.extend(t for t in targets if isinstance(t, str))
        for n in prog.states:
            if n not in seen:
                self.err(f"State \"{n}\" is not reachable.", f"{loc}/States/{n}", "UNREACHABLE_STATE")

    # -- one state ----------------------------------------------------------------
    def state(self, st: State, loc: str) -> None:
        spec = st.spec
        t = spec.get("Type")
        if t is None:
            self.err("These fields are required: [Type]", loc)
            return
        if t not in STATE_TYPES:
            self.err(f"The field 'Type' should have one of these values: {_TYPES_TEXT}", f"{loc}/Type")
            return
        if "QueryLanguage" in spec:
            q = spec["QueryLanguage"]
            if q not in (JSONPATH, JSONATA):
                self.err("The field 'QueryLanguage' should have one of these values: [JSONPath, JSONata]",
                         f"{loc}/QueryLanguage")
            elif q == JSONPATH and st.program.ql == JSONATA:
                self.err("'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine", loc)
                return
        prog = st.program
        if t not in ("Choice", "Succeed", "Fail"):
            has_next, end = "Next" in spec, bool(spec.get("End"))
            if has_next and end:
                self.err("The fields 'Next' and 'End' cannot be used together", loc)
            elif not has_next and not end:
                self.err("These fields are required: [Next]", loc, "MISSING_TRANSITION_TARGET")
            elif has_next and spec["Next"] not in prog.states and spec["Next"] not in (prog.spec.get("States") or {}):
                self.err(f"Missing 'Next' target: {spec['Next']}", f"{loc}/Next", "MISSING_TRANSITION_TARGET")
        if st.jsonata:
            self.jsonata_fields(st, loc)
        else:
            self.jsonpath_fields(st, loc)
        for i, c in enumerate(st.catch):
            if c.next not in (prog.spec.get("States") or {}):
                self.err(f"Missing 'Next' target: {c.next}", f"{loc}/Catch[{i}]/Next", "MISSING_TRANSITION_TARGET")
        for i, r in enumerate(st.retry):
            self.retrier(r, f"{loc}/Retry[{i}]")
        getattr(self, "state_" + t.lower())(st, loc)

    def retrier(self, r: Retrier, loc: str) -> None:
        if not isinstance(r.interval, int) or isinstance(r.interval, bool) or r.interval < 1:
            self.err("The value for the field 'IntervalSeconds' must be a positive integer", f"{loc}/IntervalSeconds")
        if not isinstance(r.max_attempts, int) or isinstance(r.max_attempts, bool) or r.max_attempts < 0:
            self.err("The value for the field 'MaxAttempts' must be a non-negative integer", f"{loc}/MaxAttempts")
        if not isinstance(r.backoff, (int, float)) or isinstance(r.backoff, bool) or r.backoff < 1:
            self.err("The value for the field 'BackoffRate' must be a number greater than or equal to 1.0",
                     f"{loc}/BackoffRate")
        if r.jitter not in ("FULL", "NONE"):
            self.err("The field 'JitterStrategy' should have one of these values: [FULL, NONE]",
                     f"{loc}/JitterStrategy")

    def jsonpath_fields(self, st: State, loc: str) -> None:
        spec = st.spec
        for f in ("InputPath", "OutputPath", "ResultPath"):
            v = spec.get(f, "$")
            if v is None:
                continue
            target = jsonpath.split_variable_ref(v)[1] if jsonpath.is_variable_ref(v) and f != "ResultPath" else v
            if not isinstance(v, str) or not jsonpath.is_valid_path(target):
                self.err(f"The value for the field '{f}' must be a valid JSONPath", f"{loc}/{f}")
            elif f == "ResultPath" and not jsonpath.compile_path(v).definite:
                self.err("The value for the field 'ResultPath' must be a valid ReferencePath", f"{loc}/{f}")
        for f in ("Arguments", "Output"):
            if f in spec:
                self.err(f"The field '{f}' is not supported for the JSONPath query language", f"{loc}/{f}")
        if "Parameters" in spec:
            st.parameters = self.template(spec["Parameters"], f"{loc}/Parameters")
        if "ResultSelector" in spec:
            st.result_selector = self.template(spec["ResultSelector"], f"{loc}/ResultSelector")
        if st.assign is not None:
            st.assign_template = self.template(st.assign, f"{loc}/Assign")
        for i, c in enumerate(st.catch):
            if c.result_path is not None and (not isinstance(c.result_path, str)
                                              or not jsonpath.is_valid_path(c.result_path)):
                self.err("The value for the field 'ResultPath' must be a valid JSONPath", f"{loc}/Catch[{i}]/ResultPath")

    def jsonata_fields(self, st: State, loc: str) -> None:
        spec = st.spec
        for f in ("InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "ItemsPath"):
            if f in spec:
                self.err(f"The field '{f}' is not supported for the JSONata query language", f"{loc}/{f}")
        for f in ("Arguments", "Output", "Assign", "Items", "Condition", "ItemSelector"):
            if f in spec:
                self.expressions(spec[f], f"{loc}/{f}")
        for i, c in enumerate(st.catch):
            if c.assign is not None:
                self.expressions(c.assign, f"{loc}/Catch[{i}]/Assign")
            if c.output is not _UNSET:
                self.expressions(c.output, f"{loc}/Catch[{i}]/Output")

    def expressions(self, spec, loc: str) -> None:
        try:
            jsonata_eval.check_template(spec)
        except jsonata_eval.QuerySyntaxError as exc:
            self.err(f"The JSONata expression is invalid: {exc}", loc)

    def template(self, spec, loc: str):
        try:
            return payload.compile_template(spec)
        except payload.TemplateError as exc:
            self.err(str(exc), loc)
            return None

    # -- per type ---------------------------------------------------------------
    def state_pass(self, st: State, loc: str) -> None:
        pass

    def state_succeed(self, st: State, loc: str) -> None:
        pass

    def state_fail(self, st: State, loc: str) -> None:
        spec = st.spec
        for f in ("ErrorPath", "CausePath"):
            v = spec.get(f)
            if v is None:
                continue
            if f[:-4] in spec:
                self.err(f"The fields '{f[:-4]}' and '{f}' cannot be used together", loc)
            if st.jsonata:
                self.err(f"The field '{f}' is not supported for the JSONata query language", f"{loc}/{f}")
                continue
            try:
                payload.compile_expression(v, f)
            except payload.TemplateError:
                self.err(f"The value for the field '{f}' must be a valid JSONPath or a valid intrinsic function call",
                         f"{loc}/{f}")

    def state_wait(self, st: State, loc: str) -> None:
        spec = st.spec
        forms = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in spec]
        if len(forms) != 1:
            self.err("A Wait state must have exactly one of the fields: [Seconds, Timestamp, SecondsPath, "
                     "TimestampPath]", loc)
            return
        f = forms[0]
        v = spec[f]
        if st.jsonata and jsonata_eval.is_expression(v):
            return
        if f == "Seconds":
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                self.err("The value for the field 'Seconds' must be a non-negative integer", f"{loc}/Seconds")
        elif f == "Timestamp":
            if not isinstance(v, str) or not _RFC3339.match(v):
                self.err("String does not match RFC3339 timestamp", f"{loc}/Timestamp")
        elif not isinstance(v, str) or not (jsonpath.is_valid_path(v) or jsonpath.is_variable_ref(v)
                                            or v.startswith("$$")):
            self.err(f"The value for the field '{f}' must be a valid JSONPath", f"{loc}/{f}")

    def state_choice(self, st: State, loc: str) -> None:
        spec = st.spec
        choices = spec.get("Choices")
        if not isinstance(choices, list) or not choices:
            self.err("These fields are required: [Choices]" if choices is None else "Value cannot be empty",
                     loc if choices is None else f"{loc}/Choices")
            return
        names = st.program.spec.get("States") or {}
        for i, c in enumerate(choices):
            if not isinstance(c, dict):
                self.err("A choice rule must be an object", f"{loc}/Choices[{i}]")
                continue
            if c.get("Next") not in names:
                self.err(f"Missing 'Next' target: {c.get('Next')}", f"{loc}/Choices[{i}]/Next",
                         "MISSING_TRANSITION_TARGET")
            if st.jsonata:
                if "Condition" not in c:
                    self.err("These fields are required: [Condition]", f"{loc}/Choices[{i}]")
                st.choices.append(_JsonataChoice(c))
            else:
                if "Assign" in c:
                    c_tpl = self.template(c["Assign"], f"{loc}/Choices[{i}]/Assign")
                else:
                    c_tpl = None
                rule = Rule(c)
                rule_assign = c_tpl
                st.choices.append(_PathChoice(rule, rule_assign))
        default = spec.get("Default")
        if default is not None and default not in names:
            self.err(f"Missing 'Next' target: {default}", f"{loc}/Default", "MISSING_TRANSITION_TARGET")

    def state_task(self, st: State, loc: str) -> None:
        spec = st.spec
        res = spec.get("Resource")
        if res is None:
            self.err("These fields are required: [Resource]", loc)
            return
        try:
            st.resource = parse_resource(res)
        except ResourceError as exc:
            self.err(str(exc), f"{loc}/Resource")
            return
        r = st.resource
        if self.express:
            if r.kind == "activity":
                self.err("Express state machine does not support Activity ARN", f"{loc}/Resource")
            elif r.pattern == "waitForTaskToken":
                self.err("Express state machine does not support '.waitForTaskToken' service integration ",
                         f"{loc}/Resource")
            elif r.pattern in ("sync", "sync:2"):
                self.err("Express state machine does not support '.sync' service integration", f"{loc}/Resource")
        for f in ("TimeoutSeconds", "HeartbeatSeconds"):
            v = spec.get(f)
            if v is None or (st.jsonata and jsonata_eval.is_expression(v)):
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1 or v > 99999999:
                self.err(f"The value for the field '{f}' must be a positive integer", f"{loc}/{f}")
        to, hb = spec.get("TimeoutSeconds"), spec.get("HeartbeatSeconds")
        if isinstance(to, int) and isinstance(hb, int) and hb >= to:
            self.err("The value of the field 'HeartbeatSeconds' must be smaller than the value of the field "
                     "'TimeoutSeconds'", f"{loc}/HeartbeatSeconds")
        cred = spec.get("Credentials")
        if cred is not None and (not isinstance(cred, dict) or not ("RoleArn" in cred or "RoleArn.$" in cred)):
            self.err("The field 'RoleArn' is required but was missing", f"{loc}/Credentials")

    def state_parallel(self, st: State, loc: str) -> None:
        branches = st.spec.get("Branches")
        if branches is None:
            self.err("These fields are required: [Branches]", loc)
            return
        if not isinstance(branches, list) or not branches:
            self.err("Value cannot be empty", f"{loc}/Branches")
            return
        for i, b in enumerate(branches):
            if not isinstance(b, dict):
                self.err("A branch must be an object", f"{loc}/Branches[{i}]")
                continue
            st.branches.append(self.program(b, st.ql, f"{loc}/Branches[{i}]", st))

    def state_map(self, st: State, loc: str) -> None:
        spec = st.spec
        proc = spec.get("ItemProcessor", spec.get("Iterator"))
        field = "ItemProcessor" if "ItemProcessor" in spec else "Iterator"
        if proc is None:
            self.err("These fields are required: [ItemProcessor]", loc)
            return
        if not isinstance(proc, dict):
            self.err("The field 'ItemProcessor' must be an object", f"{loc}/{field}")
            return
        st.processor = self.program(proc, st.ql, f"{loc}/{field}", st)
        cfg = proc.get("ProcessorConfig") or {}
        mode = cfg.get("Mode", "INLINE")
        if mode not in ("INLINE", "DISTRIBUTED"):
            self.err("The field 'Mode' should have one of these values: [INLINE, DISTRIBUTED]",
                     f"{loc}/{field}/ProcessorConfig/Mode")
        st.processor.processor_mode = mode
        st.processor.execution_type = cfg.get("ExecutionType", "STANDARD")
        if not st.jsonata:
            sel = spec.get("ItemSelector", spec.get("Parameters"))
            if sel is not None:
                st.item_selector = self.template(sel, f"{loc}/ItemSelector")
            ip = spec.get("ItemsPath")
            if ip is not None and not _items_path_ok(ip):
                self.err("The value for the field 'ItemsPath' must be a valid JSONPath", f"{loc}/ItemsPath")
        mc = spec.get("MaxConcurrency")
        if mc is not None and not (st.jsonata and jsonata_eval.is_expression(mc)):
            if not isinstance(mc, int) or isinstance(mc, bool) or mc < 0:
                self.err("The value for the field 'MaxConcurrency' must be a non-negative integer",
                         f"{loc}/MaxConcurrency")
        label = spec.get("Label")
        if label is not None:
            if not isinstance(label, str) or not label or len(label) > 40 or re.search(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]", label):
                self.err("The value for the field 'Label' must be a string of 1 to 40 characters without "
                         "whitespace, brackets, wildcard or control characters", f"{loc}/Label")


class _PathChoice:
    __slots__ = ("rule", "assign", "next")

    def __init__(self, rule: Rule, assign):
        self.rule = rule
        self.assign = assign
        self.next = rule.next


class _JsonataChoice:
    __slots__ = ("condition", "assign", "output", "next")

    def __init__(self, spec: dict):
        self.condition = spec.get("Condition")
        self.assign = spec.get("Assign")
        self.output = spec.get("Output", _UNSET)
        self.next = spec.get("Next")


def _items_path_ok(ip) -> bool:
    """ItemsPath: a JSONPath on the input, a variable, or a path into the context object ($$...)."""
    if not isinstance(ip, str):
        return False
    if ip.startswith("$$"):
        return jsonpath.is_valid_path(ip[1:])
    return jsonpath.is_valid_path(ip) or jsonpath.is_variable_ref(ip)


def has_value(v) -> bool:
    return v is not _UNSET


# -- variable references (DescribeStateMachine variableReferences) ----------------

_JSONATA_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_PATH_FIELDS = {"InputPath", "OutputPath", "ItemsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
                "Variable", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath",
                "MaxItemsPath", "TimeoutSecondsPath", "HeartbeatSecondsPath"}
_NESTED = {"Branches", "ItemProcessor", "Iterator", "States"}


def _variable_refs(spec, jsonata: bool, top: bool = False, key: str | None = None) -> set[str]:
    out: set[str] = set()
    if isinstance(spec, dict):
        for k, v in spec.items():
            if top and k in _NESTED:
                continue
            if k == "Assign" and top:
                out |= _assign_refs(v, jsonata)
                continue
            out |= _variable_refs(v, jsonata, key=k)
    elif isinstance(spec, list):
        for v in spec:
            out |= _variable_refs(v, jsonata, key=key)
    elif isinstance(spec, str):
        if jsonata:
            if jsonata_eval.is_expression(spec):
                out |= {m for m in _JSONATA_VAR.findall(spec) if m != "states"}
        elif key is not None and (key.endswith(".$") or key in _PATH_FIELDS or key.endswith("Path")):
            for m in re.finditer(r"(?<![$\w])\$([A-Za-z_][A-Za-z0-9_]*)", spec):
                out.add(m.group(1))
    return out


def _assign_refs(spec, jsonata: bool) -> set[str]:
    return _variable_refs(spec, jsonata)
