"""Intrinsic functions of JSONPath states: `States.Format('{}', $.a)` and friends.

A small recursive-descent parser turns the call text into a tree once per
definition (`parse`); `evaluate` runs it against the state input, the
context object and the variables. Argument kinds: string literals in single
quotes (with `\\'`, `\\{`, `\\}`, `\\\\` escapes), numbers, true/false/null,
JSONPaths (`$.a`, `$$.Execution.Id`, `$var.x`) and nested calls.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import uuid

from services.stepfunctions.asl import jsonpath
from services.stepfunctions.asl.errors import INTRINSIC_FAILURE, StatesError

MAX_ARRAY_RANGE = 1000
MAX_BASE64_INPUT = 10000

_LITERAL, _PATH, _CALL = 0, 1, 2
_OPEN, _CLOSE = "\ue000", "\ue001"          # escaped '{' and '}' inside a string literal
_ESCAPED = {"{": _OPEN, "}": _CLOSE}
_UNMARK = str.maketrans({_OPEN: "{", _CLOSE: "}"})


class IntrinsicSyntaxError(ValueError):
    pass


class Call:
    __slots__ = ("name", "args")

    def __init__(self, name: str, args: list):
        self.name = name
        self.args = args      # [(kind, value)]


def looks_like_call(text) -> bool:
    return isinstance(text, str) and text.startswith("States.")


def parse(text: str) -> Call:
    p = _Parser(text)
    call = p.call()
    p.skip_ws()
    if p.i != len(text):
        raise IntrinsicSyntaxError(f"unexpected text after the call at {p.i}")
    return call


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def skip_ws(self) -> None:
        s = self.s
        while self.i < len(s) and s[self.i] in " \t\n\r":
            self.i += 1

    def call(self) -> Call:
        s = self.s
        start = self.i
        while self.i < len(s) and (s[self.i].isalnum() or s[self.i] in "._"):
            self.i += 1
        name = s[start:self.i]
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"unknown intrinsic function {name!r}")
        self.skip_ws()
        if self.i >= len(s) or s[self.i] != "(":
            raise IntrinsicSyntaxError("expected '('")
        self.i += 1
        args = []
        self.skip_ws()
        if self.i < len(s) and s[self.i] == ")":
            self.i += 1
            return Call(name, args)
        while True:
            self.skip_ws()
            args.append(self.arg())
            self.skip_ws()
            if self.i >= len(s):
                raise IntrinsicSyntaxError("unterminated argument list")
            c = s[self.i]
            self.i += 1
            if c == ")":
                return Call(name, args)
            if c != ",":
                raise IntrinsicSyntaxError(f"unexpected {c!r}")

    def arg(self):
        s = self.s
        if self.i >= len(s):
            raise IntrinsicSyntaxError("missing argument")
        c = s[self.i]
        if c == "'":
            return (_LITERAL, self.string())
        if c == "$":
            return (_PATH, self.path())
        if s.startswith("States.", self.i):
            return (_CALL, self.call())
        start = self.i
        while self.i < len(s) and s[self.i] not in ",) \t\n\r":
            self.i += 1
        tok = s[start:self.i]
        if tok in ("true", "false", "null"):
            return (_LITERAL, {"true": True, "false": False, "null": None}[tok])
        try:
            return (_LITERAL, int(tok))
        except ValueError:
            pass
        try:
            v = float(tok)
        except ValueError:
            raise IntrinsicSyntaxError(f"invalid argument {tok!r}") from None
        if math.isnan(v) or math.isinf(v):
            raise IntrinsicSyntaxError(f"invalid argument {tok!r}")
        return (_LITERAL, v)

    def string(self) -> str:
        s = self.s
        self.i += 1
        out = []
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                if self.i + 1 >= len(s):
                    raise IntrinsicSyntaxError("dangling escape")
                nxt = s[self.i + 1]
                if nxt not in "'{}\\":
                    raise IntrinsicSyntaxError(f"illegal escape \\{nxt}")
                out.append(_ESCAPED.get(nxt, nxt))   # escaped braces stay literal in States.Format
                self.i += 2
                continue
            if c == "'":
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        raise IntrinsicSyntaxError("unterminated string literal")

    def path(self) -> str:
        s = self.s
        start = self.i
        depth = 0
        quote = None
        while self.i < len(s):
            c = s[self.i]
            if quote:
                if c == quote:
                    quote = None
            elif c in "'\"":
                quote = c
            elif c in "[(":
                depth += 1
            elif c in "])":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            self.i += 1
        text = s[start:self.i].rstrip()
        if text.startswith("$$"):
            target = text[1:]
        elif jsonpath.is_variable_ref(text):
            target = jsonpath.split_variable_ref(text)[1]
        else:
            target = text
        if not jsonpath.is_valid_path(target):
            raise IntrinsicSyntaxError(f"invalid path {text!r}")
        return text


# -- evaluation -------------------------------------------------------------

class Env:
    """What a path argument can reach: state input, context object, variables."""
    __slots__ = ("input", "context", "variables")

    def __init__(self, state_input, context, variables=None):
        self.input = state_input
        self.context = context
        self.variables = variables


def evaluate(call: Call, env: Env):
    if call.name == "States.Format" and call.args and call.args[0][0] == _LITERAL:
        args = [call.args[0][1]] + [_arg_value(a, env) for a in call.args[1:]]
    else:
        args = [_arg_value(a, env) for a in call.args]
    return FUNCTIONS[call.name](args)


def _arg_value(arg, env: Env):
    kind, v = arg
    if kind == _LITERAL:
        return v.translate(_UNMARK) if isinstance(v, str) else v
    if kind == _CALL:
        return evaluate(v, env)
    if v.startswith("$$"):
        return jsonpath.select(v[1:], env.context)
    if jsonpath.is_variable_ref(v):
        name, rest = jsonpath.split_variable_ref(v)
        variables = env.variables or {}
        if name not in variables:
            raise jsonpath.PathError(f"No results for path: $['{name}']")
        return jsonpath.select(rest, variables[name])
    return jsonpath.select(v, env.input)


def _fail(message: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, message)


def _need(args, n_min, n_max, name):
    if not n_min <= len(args) <= n_max:
        want = n_min if n_min == n_max else f"{n_min} to {n_max}"
        raise _fail(f"Function {name} expects {want} arguments, got {len(args)}.")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_int(v, name, what):
    if _is_number(v) and float(v).is_integer():
        return int(v)
    raise _fail(f"The {what} argument of {name} must be an integer.")


def _java_string(v) -> str:
    """How Step Functions renders a value inside States.Format (Java toString)."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_java_string(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_java_string(x) for x in v) + "]"
    return jsonpath.to_json(v)


def _format(args):
    if not args or not isinstance(args[0], str):
        raise _fail("The first argument of States.Format must be a string.")
    template, values = args[0], args[1:]
    out = []
    i = n = 0
    while i < len(template):
        c = template[i]
        if c == _OPEN or c == _CLOSE:
            out.append("{" if c == _OPEN else "}")
            i += 1
            continue
        if c == "{" and template.startswith("{}", i):
            if n >= len(values):
                raise _fail("The number of arguments does not match the number of placeholders in States.Format.")
            out.append(_java_string(values[n]))
            n += 1
            i += 2
            continue
        out.append(c)
        i += 1
    if n != len(values):
        raise _fail("The number of arguments does not match the number of placeholders in States.Format.")
    return "".join(out)


def _string_to_json(args):
    _need(args, 1, 1, "States.StringToJson")
    s = args[0]
    if not isinstance(s, str):
        raise _fail("The argument of States.StringToJson must be a string.")
    if not s.strip():
        return None
    try:
        return json.loads(s)
    except ValueError:
        raise _fail(f"The argument of States.StringToJson is not a valid JSON string: {s}") from None


def _json_to_string(args):
    _need(args, 1, 1, "States.JsonToString")
    return jsonpath.to_json(args[0])


def _array(args):
    return list(args)


def _array_of(v, name):
    if not isinstance(v, list):
        raise _fail(f"The first argument of {name} must be an array.")
    return v


def _array_partition(args):
    _need(args, 2, 2, "States.ArrayPartition")
    arr = _array_of(args[0], "States.ArrayPartition")
    size = _as_int(args[1], "States.ArrayPartition", "second")
    if size <= 0:
        raise _fail("The chunk size of States.ArrayPartition must be greater than 0.")
    return [arr[i:i + size] for i in range(0, len(arr), size)]


def _key(v):
    """Type-aware identity for equality (True is not 1)."""
    return jsonpath.to_json(v) if not isinstance(v, bool) else ("bool", v)


def _array_contains(args):
    _need(args, 2, 2, "States.ArrayContains")
    arr = _array_of(args[0], "States.ArrayContains")
    k = _key(args[1])
    return any(_key(x) == k for x in arr)


def _array_range(args):
    _need(args, 3, 3, "States.ArrayRange")
    start = _as_int(args[0], "States.ArrayRange", "first")
    end = _as_int(args[1], "States.ArrayRange", "second")
    step = _as_int(args[2], "States.ArrayRange", "third")
    if step == 0:
        raise _fail("The step of States.ArrayRange must not be 0.")
    out = list(range(start, end + (1 if step > 0 else -1), step))
    if len(out) > MAX_ARRAY_RANGE:
        raise _fail(f"States.ArrayRange can produce at most {MAX_ARRAY_RANGE} items.")
    return out


def _array_get_item(args):
    _need(args, 2, 2, "States.ArrayGetItem")
    arr = _array_of(args[0], "States.ArrayGetItem")
    i = _as_int(args[1], "States.ArrayGetItem", "second")
    if not 0 <= i < len(arr):
        raise _fail(f"The index {i} is out of bounds for the array of length {len(arr)} in States.ArrayGetItem.")
    return arr[i]


def _array_length(args):
    _need(args, 1, 1, "States.ArrayLength")
    return len(_array_of(args[0], "States.ArrayLength"))


def _array_unique(args):
    _need(args, 1, 1, "States.ArrayUnique")
    seen = set()
    out = []
    for x in _array_of(args[0], "States.ArrayUnique"):
        k = _key(x)
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


def _base64_encode(args):
    _need(args, 1, 1, "States.Base64Encode")
    s = args[0]
    if not isinstance(s, str):
        raise _fail("The argument of States.Base64Encode must be a string.")
    if len(s) > MAX_BASE64_INPUT:
        raise _fail(f"The input of States.Base64Encode is longer than {MAX_BASE64_INPUT} characters.")
    return base64.b64encode(s.encode()).decode()


def _base64_decode(args):
    _need(args, 1, 1, "States.Base64Decode")
    s = args[0]
    if not isinstance(s, str):
        raise _fail("The argument of States.Base64Decode must be a string.")
    if len(s) > MAX_BASE64_INPUT:
        raise _fail(f"The input of States.Base64Decode is longer than {MAX_BASE64_INPUT} characters.")
    try:
        return base64.b64decode(s, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise _fail("The argument of States.Base64Decode is not valid base64.") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(args):
    _need(args, 2, 2, "States.Hash")
    data, algo = args
    if algo not in _HASHES:
        raise _fail(f"The hashing algorithm {algo} is not supported. Supported algorithms: "
                    "MD5, SHA-1, SHA-256, SHA-384, SHA-512.")
    if data is None:
        raise _fail("The input of States.Hash must not be null.")
    text = data if isinstance(data, str) else jsonpath.to_json(data)
    return hashlib.new(_HASHES[algo], text.encode()).hexdigest()


def _json_merge(args):
    _need(args, 3, 3, "States.JsonMerge")
    a, b, deep = args
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise _fail("The first two arguments of States.JsonMerge must be JSON objects.")
    if deep is not False:
        raise _fail("States.JsonMerge supports only a shallow merge: the third argument must be false.")
    out = dict(a)
    out.update(b)
    return out


def _math_random(args):
    _need(args, 2, 3, "States.MathRandom")
    start = _as_int(args[0], "States.MathRandom", "first")
    end = _as_int(args[1], "States.MathRandom", "second")
    if end <= start:
        raise _fail("The end of States.MathRandom must be greater than its start.")
    rng = random.Random(_as_int(args[2], "States.MathRandom", "third")) if len(args) == 3 else random
    return rng.randrange(start, end)


def _java_round(v) -> int:
    return math.floor(v + 0.5)


def _math_add(args):
    _need(args, 2, 2, "States.MathAdd")
    a, b = args
    if not _is_number(a) or not _is_number(b):
        raise _fail("The arguments of States.MathAdd must be numbers.")
    return _java_round(a) + _java_round(b)


def _string_split(args):
    _need(args, 2, 2, "States.StringSplit")
    s, delims = args
    if not isinstance(s, str) or not isinstance(delims, str):
        raise _fail("The arguments of States.StringSplit must be strings.")
    out, cur = [], []
    for c in s:
        if c in delims:
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if cur:
        out.append("".join(cur))
    return out


def _uuid(args):
    _need(args, 0, 0, "States.UUID")
    return str(uuid.uuid4())


FUNCTIONS = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}
