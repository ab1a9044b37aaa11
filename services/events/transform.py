"""What a target receives: the event, ``Input``, ``InputPath`` or ``InputTransformer``.

``InputTransformer`` fills ``<name>`` placeholders of ``InputTemplate`` from
``InputPathsMap`` (JSONPath into the event) and the predefined
``<aws.events.*>`` variables. A placeholder inside a JSON string literal of
the template takes the value's text (a string without its quotes, an object
or list in AWS's unquoted ``{k:v}`` / ``[a,b]`` form, null as nothing); a
placeholder outside a string takes the value as JSON. The template is
otherwise passed through as written, so a template that is a quoted string
arrives as that quoted string.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from jsonpath_ng import parse as jsonpath_parse

PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
              "aws.events.event", "aws.events.event.json")
_MISSING = object()


@lru_cache(maxsize=4096)
def _path(expr: str):
    return jsonpath_parse(expr)


def valid_path(expr: str) -> bool:
    try:
        _path(expr)
        return True
    except Exception:
        return False


def extract(event: dict, expr: str):
    """Value at a JSONPath; several matches give a list; none gives _MISSING."""
    try:
        found = [m.value for m in _path(expr).find(event)]
    except Exception:
        return _MISSING
    if not found:
        return _MISSING
    if len(found) == 1 and "[*]" not in expr and ".." not in expr:
        return found[0]
    return found


def template_placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def _text(v) -> str:
    """A value's text inside a string literal of the template."""
    if v is _MISSING or v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)[1:-1]
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_text(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_text(x) for x in v) + "]"
    return json.dumps(v)


def _json(v) -> str:
    return "null" if v is _MISSING else json.dumps(v, separators=(", ", ": "))


def _envelope(event: dict) -> dict:
    """<aws.events.event>: the event without its detail (AWS spells detailType)."""
    out = {}
    for k, v in event.items():
        if k == "detail":
            continue
        out["detailType" if k == "detail-type" else k] = v
    return out


def render(template: str, paths: dict, event: dict, *, rule_arn: str, rule_name: str,
           ingestion_time: str) -> str:
    values = {name: extract(event, expr) for name, expr in (paths or {}).items()}
    values.setdefault("aws.events.rule-arn", rule_arn)
    values.setdefault("aws.events.rule-name", rule_name)
    values.setdefault("aws.events.event.ingestion-time", ingestion_time)
    values.setdefault("aws.events.event", _envelope(event))
    values.setdefault("aws.events.event.json", event)
    out = []
    in_string = False
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c == "\\" and in_string and i + 1 < n:
            out.append(template[i:i + 2])
            i += 2
            continue
        if c == '"':
            in_string = not in_string
            out.append(c)
            i += 1
            continue
        if c == "<":
            m = PLACEHOLDER.match(template, i)
            if m and m.group(1) in values:
                v = values[m.group(1)]
                out.append(_text(v) if in_string else _json(v))
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def payload(target: dict, event: dict, *, rule_arn: str, rule_name: str) -> str:
    """The body a target of a rule receives for `event` (JSON text)."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath"):
        return _json(extract(event, target["InputPath"]))
    tr = target.get("InputTransformer")
    if tr:
        return render(tr["InputTemplate"], tr.get("InputPathsMap") or {}, event, rule_arn=rule_arn,
                      rule_name=rule_name, ingestion_time=event.get("time", ""))
    return json.dumps(event, separators=(",", ":"))
