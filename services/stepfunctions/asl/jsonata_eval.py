"""JSONata states: `{% expression %}` fields evaluated with jsonata-python.

Expressions see `$states` ({input, context, result, errorOutput}) and the
variables in scope as `$name`, plus Step Functions' own functions
($partition, $range, $hash, $random, $uuid, $parse). An expression that
yields nothing, or fails, is a States.QueryEvaluationError whose cause
quotes the expression and the field, as at AWS. Expressions are compiled
once (jsonata-python is imported on first use).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import uuid

from services.stepfunctions.asl.errors import QUERY_EVALUATION_ERROR, StatesError

_OPEN, _CLOSE = "{%", "%}"
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def is_expression(value) -> bool:
    return isinstance(value, str) and value.startswith(_OPEN) and value.endswith(_CLOSE) and len(value) >= 4


def body(value: str) -> str:
    return value[2:-2].strip()


class QuerySyntaxError(ValueError):
    pass


@functools.lru_cache(maxsize=4096)
def _compiled(text: str):
    import jsonata
    try:
        expr = jsonata.Jsonata(text)
    except Exception as exc:
        raise QuerySyntaxError(str(exc)) from None
    expr.output_convert_nulls = False
    _register(expr)
    return expr


def check_syntax(value: str) -> None:
    """Raise QuerySyntaxError if the `{% %}` expression does not parse."""
    _compiled(body(value))


def _register(expr) -> None:
    def partition(arr, size):
        arr = list(arr) if isinstance(arr, list) else [arr]
        size = int(size)
        if size <= 0:
            raise ValueError("The chunk size must be greater than 0.")
        return [arr[i:i + size] for i in range(0, len(arr), size)]

    def range_(start, end, step):
        start, end, step = int(start), int(end), int(step)
        if step == 0:
            raise ValueError("The step must not be 0.")
        out = list(range(start, end + (1 if step > 0 else -1), step))
        if len(out) > 1000:
            raise ValueError("The range can produce at most 1000 items.")
        return out

    def hash_(data, algo):
        if algo not in _HASHES:
            raise ValueError(f"The hashing algorithm {algo} is not supported.")
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        return hashlib.new(_HASHES[algo], text.encode()).hexdigest()

    def random_(seed=None):
        return random.Random(seed).random() if seed is not None else random.random()

    def parse(text):
        return json.loads(text)

    expr.register_lambda("partition", partition)
    expr.register_lambda("range", range_)
    expr.register_lambda("hash", hash_)
    expr.register_lambda("random", random_)
    expr.register_lambda("uuid", lambda: str(uuid.uuid4()))
    expr.register_lambda("parse", parse)


def _plain(value):
    """jsonata-python values -> plain JSON values (its null marker -> None, integral floats -> int)."""
    from jsonata import utils
    if value is utils.Utils.NULL_VALUE:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if callable(value):
        raise TypeError("function")
    return value


def evaluate(value: str, field: str, states: dict, variables: dict | None = None):
    """Evaluate one `{% %}` string for `field` (e.g. 'Output/result')."""
    text = body(value)
    expr = _compiled(text)
    bindings = dict(variables) if variables else {}
    bindings["states"] = states
    try:
        result = expr.evaluate(None, bindings)
    except Exception as exc:
        code = getattr(exc, "error", None)
        detail = f"{code}: {getattr(exc, 'message', None) or _message(exc)}" if code else _message(exc)
        raise StatesError(QUERY_EVALUATION_ERROR,
                          f"The JSONata expression '{text}' specified for the field '{field}' threw an error "
                          f"during evaluation. {detail}") from None
    if result is None:
        raise StatesError(QUERY_EVALUATION_ERROR,
                          f"The JSONata expression '{text}' specified for the field '{field}' returned nothing "
                          "(undefined).")
    try:
        return _plain(result)
    except TypeError:
        raise StatesError(QUERY_EVALUATION_ERROR,
                          f"The JSONata expression '{text}' specified for the field '{field}' returned an "
                          "unsupported result type.") from None


def _message(exc) -> str:
    msg = str(exc)
    code = getattr(exc, "error", None)
    if code and msg.startswith(code):
        msg = msg[len(code):].lstrip(": ")
    return msg


def evaluate_template(spec, field: str, states: dict, variables: dict | None = None):
    """Arguments/Output/Assign: every `{% %}` string inside objects and arrays is evaluated."""
    if is_expression(spec):
        return evaluate(spec, field, states, variables)
    if isinstance(spec, dict):
        return {k: evaluate_template(v, f"{field}/{k}", states, variables) for k, v in spec.items()}
    if isinstance(spec, list):
        return [evaluate_template(v, field, states, variables) for v in spec]
    return spec


def has_expressions(spec) -> bool:
    if is_expression(spec):
        return True
    if isinstance(spec, dict):
        return any(has_expressions(v) for v in spec.values())
    if isinstance(spec, list):
        return any(has_expressions(v) for v in spec)
    return False


def check_template(spec) -> None:
    """Raise QuerySyntaxError for any `{% %}` string in `spec` that does not parse."""
    if is_expression(spec):
        check_syntax(spec)
    elif isinstance(spec, dict):
        for v in spec.values():
            check_template(v)
    elif isinstance(spec, list):
        for v in spec:
            check_template(v)
