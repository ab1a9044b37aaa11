"""Payload templates of JSONPath states: Parameters, ResultSelector, ItemSelector.

A key ending in `.$` takes its value from a path (`$.a`), the context object
(`$$.Execution.Id`), a variable (`$order.id`) or an intrinsic function
call; every other value is copied as it is. Templates are compiled once per
definition, so a state run only walks the compiled tree.
"""

from __future__ import annotations

from services.stepfunctions.asl import intrinsics, jsonpath
from services.stepfunctions.asl.errors import runtime_error

_LIT, _DICT, _LIST, _PATH, _CTX, _VAR, _CALL = range(7)


class TemplateError(ValueError):
    """A template the definition validator rejects (message names the field)."""


def compile_template(spec):
    """-> compiled node; raises TemplateError for an invalid `.$` value."""
    if isinstance(spec, dict):
        items = []
        dynamic = False
        for k, v in spec.items():
            if isinstance(k, str) and k.endswith(".$"):
                items.append((k[:-2], compile_expression(v, k), k))
                dynamic = True
            else:
                node = compile_template(v)
                dynamic = dynamic or node[0] != _LIT
                items.append((k, node, k))
        if not dynamic:
            return (_LIT, spec)
        return (_DICT, items)
    if isinstance(spec, list):
        nodes = [compile_template(v) for v in spec]
        if all(n[0] == _LIT for n in nodes):
            return (_LIT, spec)
        return (_LIST, nodes)
    return (_LIT, spec)


def compile_expression(text, field: str):
    """The value of a `.$` field: a path, context path, variable or intrinsic call."""
    if not isinstance(text, str):
        raise TemplateError(f"The value for the field '{field}' must be a STRING that contains a JSONPath "
                            "but was an INTEGER" if isinstance(text, int) else
                            f"The value for the field '{field}' must be a valid JSONPath or a valid intrinsic "
                            "function call")
    if text.startswith("$$"):
        if not jsonpath.is_valid_path(text[1:]):
            raise _bad(field)
        return (_CTX, text)
    if jsonpath.is_variable_ref(text):
        name, rest = jsonpath.split_variable_ref(text)
        if not jsonpath.is_valid_path(rest):
            raise _bad(field)
        return (_VAR, (text, name, rest))
    if text.startswith("$"):
        if not jsonpath.is_valid_path(text):
            raise _bad(field)
        return (_PATH, text)
    if intrinsics.looks_like_call(text):
        try:
            return (_CALL, (text, intrinsics.parse(text)))
        except intrinsics.IntrinsicSyntaxError:
            raise _bad(field) from None
    raise _bad(field)


def _bad(field: str) -> TemplateError:
    return TemplateError(f"The value for the field '{field}' must be a valid JSONPath or a valid intrinsic "
                         "function call")


def is_static(node) -> bool:
    return node[0] == _LIT


def evaluate(node, state_input, context, variables=None):
    kind = node[0]
    if kind == _LIT:
        return node[1]
    if kind == _DICT:
        out = {}
        for key, sub, src in node[1]:
            out[key] = _eval_field(sub, src, state_input, context, variables)
        return out
    if kind == _LIST:
        return [evaluate(n, state_input, context, variables) for n in node[1]]
    return _eval_field(node, "", state_input, context, variables)


def _eval_field(node, field, state_input, context, variables):
    kind = node[0]
    if kind in (_LIT, _DICT, _LIST):
        return evaluate(node, state_input, context, variables)
    try:
        if kind == _PATH:
            return jsonpath.select(node[1], state_input)
        if kind == _CTX:
            return jsonpath.select(node[1][1:], context)
        if kind == _VAR:
            text, name, rest = node[1]
            if variables is None or name not in variables:
                raise jsonpath.PathError("")
            return jsonpath.select(rest, variables[name])
        text, call = node[1]
        return intrinsics.evaluate(call, intrinsics.Env(state_input, context, variables))
    except jsonpath.PathError:
        text = node[1] if kind in (_PATH, _CTX) else node[1][0]
        raise runtime_error(f"The JSONPath '{text}' specified for the field '{field}' could not be found in "
                            f"the input '{jsonpath.to_json(state_input)}'") from None


def evaluate_path_value(text: str, state_input, context, variables=None):
    """Resolve a path-valued field (`SecondsPath`, `ErrorPath`, Choice `Variable`, ...)."""
    if text.startswith("$$"):
        return jsonpath.select(text[1:], context)
    if variables is not None and jsonpath.is_variable_ref(text):
        name, rest = jsonpath.split_variable_ref(text)
        if name not in variables:
            raise jsonpath.PathError(f"No results for path: $['{name}']")
        return jsonpath.select(rest, variables[name])
    return jsonpath.select(text, state_input)
