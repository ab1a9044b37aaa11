"""JSONPath as Step Functions evaluates it (Jayway semantics), on jsonpath-ng.

Paths are parsed once by jsonpath-ng and cached. A *definite* path (names
and indexes only) selects one value or fails with Jayway's messages ("No
results for path: $['a']", "Missing property in path $['a']"); an
indefinite one (wildcards, slices, filters, unions, deep scan) selects the
list of its matches, empty when nothing matches.

Also here: JSON text in and out the way Step Functions writes it (compact,
UTF-8), and the variable references (`$name.field`) JSONPath states may use.
"""

from __future__ import annotations

import functools
import re

import msgspec

from services.stepfunctions.asl.errors import runtime_error

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

_VAR_REF = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)(.*)$", re.S)


def to_json(value) -> str:
    """Compact JSON text of a value, as AWS writes inputs and outputs."""
    return _encode(value).decode()


def from_json(text: str | bytes):
    return _decode(text)


class PathError(Exception):
    """A definite path selected nothing; `message` is Jayway's text."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class JsonPath:
    """A compiled path: `select(data)` returns the selected value (or raises PathError)."""
    __slots__ = ("text", "steps", "expr")

    def __init__(self, text: str, steps: list | None, expr):
        self.text = text
        self.steps = steps        # [(is_index, key)] for definite paths, else None
        self.expr = expr          # jsonpath-ng expression for indefinite paths

    @property
    def definite(self) -> bool:
        return self.steps is not None

    def select(self, data):
        steps = self.steps
        if steps is None:
            return [m.value for m in self.expr.find(data)]
        cur = data
        last = len(steps) - 1
        for i, (is_index, key) in enumerate(steps):
            if is_index:
                if type(cur) is list and -len(cur) <= key < len(cur):
                    cur = cur[key]
                    continue
            elif type(cur) is dict and key in cur:
                cur = cur[key]
                continue
            if i == last:
                raise PathError(f"No results for path: {normalized(steps)}")
            raise PathError(f"Missing property in path {normalized(steps[:i + 1])}")
        return cur


def normalized(steps: list) -> str:
    return "$" + "".join(f"[{k}]" if is_index else f"['{k}']" for is_index, k in steps)


@functools.lru_cache(maxsize=4096)
def compile_path(text: str) -> JsonPath:
    """Parse a JSONPath ('$', '$.a.b[0]', '$.items[*].id', ...); ValueError if invalid."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError(f"not a JSONPath: {text!r}")
    from jsonpath_ng import Child, Fields, Index, Root
    from jsonpath_ng.ext import parse
    try:
        expr = parse(text)
    except Exception as exc:  # jsonpath-ng raises its own parse errors (and sometimes others)
        raise ValueError(str(exc)) from None
    steps: list = []

    def flatten(e) -> bool:
        if isinstance(e, Root):
            return True
        if isinstance(e, Child):
            if not flatten(e.left):
                return False
            r = e.right
            if isinstance(r, Fields) and len(r.fields) == 1 and r.fields[0] != "*":
                steps.append((False, r.fields[0]))
                return True
            if isinstance(r, Index) and len(r.indices) == 1:
                steps.append((True, r.indices[0]))
                return True
        return False
    if flatten(expr):
        return JsonPath(text, steps, None)
    return JsonPath(text, None, expr)


def is_valid_path(text) -> bool:
    try:
        compile_path(text)
        return True
    except ValueError:
        return False


def is_variable_ref(text) -> bool:
    return isinstance(text, str) and _VAR_REF.match(text) is not None and not text.startswith("$$")


def split_variable_ref(text: str) -> tuple[str, str]:
    """'$order.items[0]' -> ('order', '$.items[0]'); '$order' -> ('order', '$')."""
    m = _VAR_REF.match(text)
    rest = m.group(2)
    return m.group(1), "$" + rest if rest else "$"


def select(text: str, data):
    """Select a path from data, raising PathError if a definite path has no value."""
    return compile_path(text).select(data)


def select_input_path(text: str, data, variables=None):
    """InputPath/OutputPath/ItemsPath semantics: States.Runtime 'Invalid path ...' on a miss."""
    try:
        if variables is not None and is_variable_ref(text):
            name, rest = split_variable_ref(text)
            if name not in variables:
                raise PathError(f"No results for path: $['{name}']")
            return compile_path(rest).select(variables[name])
        return compile_path(text).select(data)
    except PathError as exc:
        raise runtime_error(f"Invalid path '{text}' : {exc.message}") from None


def apply_result_path(text: str | None, state_input, result):
    """ResultPath: where the result goes in (a copy of) the state input."""
    if text is None:
        return state_input
    path = compile_path(text)
    steps = path.steps
    if not steps:
        return result
    out = _copy_containers(state_input, steps)
    cur = out
    for is_index, key in steps[:-1]:
        if is_index:
            if type(cur) is not list or not -len(cur) <= key < len(cur):
                raise _result_path_failure(text, state_input)
            cur = cur[key]
        else:
            if type(cur) is not dict:
                raise _result_path_failure(text, state_input)
            child = cur.get(key)
            if child is None:
                child = cur[key] = {}
            elif type(child) not in (dict, list):
                raise _result_path_failure(text, state_input)
            cur = child
    is_index, key = steps[-1]
    if is_index:
        if type(cur) is not list or not -len(cur) <= key < len(cur):
            raise _result_path_failure(text, state_input)
        cur[key] = result
    else:
        if type(cur) is not dict:
            raise _result_path_failure(text, state_input)
        cur[key] = result
    return out


def _copy_containers(value, steps):
    """Copy only the containers along `steps` (the rest is shared, never mutated)."""
    if type(value) is dict:
        out = dict(value)
    elif type(value) is list:
        out = list(value)
    else:
        return value
    cur = out
    for is_index, key in steps[:-1]:
        try:
            child = cur[key]
        except (KeyError, IndexError, TypeError):
            break
        if type(child) is dict:
            child = dict(child)
        elif type(child) is list:
            child = list(child)
        else:
            break
        cur[key] = child
        cur = child
    return out


def _result_path_failure(text: str, state_input):
    from services.stepfunctions.asl.errors import RESULT_PATH_MATCH_FAILURE, StatesError
    return StatesError(RESULT_PATH_MATCH_FAILURE,
                       f"Unable to apply ReplacementPath '{text}' to input '{to_json(state_input)}'")
