"""SES templates: Handlebars (pybars3) with SES's rules.

SES renders subject, text and HTML parts with Handlebars (``{{var}}``,
dotted paths, ``{{#if}}``/``{{else}}``, ``{{#unless}}``, ``{{#each}}`` with
``{{this}}``/``{{@index}}``, ``{{#with}}``, ``{{{raw}}}``; ``{{var}}`` is
HTML-escaped in every part). A top-level reference outside any block that
the data does not hold fails the render with "Attribute 'x' is not present
in the rendering data." (MissingRenderingAttribute; a RenderingFailure event
for sends). Compiled templates are cached by source text.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from services.ses.errors import err

_TAG = re.compile(r"\{\{(\{?)([~!#/^&]?)\s*([^}]*?)\s*~?\}\}\}?")
_PATH = re.compile(r"^[A-Za-z_$][\w$-]*(?:\.[A-Za-z_$][\w$-]*)*$")
_KEYWORDS = {"else", "this", "true", "false", "null", "undefined"}


class RenderError(Exception):
    """A render failed: `code` is the SES error code, `message` AWS's text."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    def as_service_error(self):
        return err(self.code, self.message)


@lru_cache(maxsize=1)
def _compiler():
    import pybars   # loaded on the first template render only
    return pybars.Compiler()


@lru_cache(maxsize=512)
def compile_part(source: str):
    try:
        return _compiler().compile(source)
    except Exception as exc:
        raise RenderError("InvalidTemplate", f"Template is invalid: {exc}") from None


def check_syntax(source: str | None) -> None:
    if source:
        compile_part(source)
        depth = 0
        for m in _TAG.finditer(source):
            if m.group(2) == "#":
                depth += 1
            elif m.group(2) == "/":
                depth -= 1
                if depth < 0:
                    break
        if depth != 0:
            raise RenderError("InvalidTemplate", "Template is invalid: unbalanced block helpers")


def top_level_references(source: str) -> list[str]:
    """Paths referenced outside every block (``{{a.b}}``, ``{{{c}}}``), in order."""
    out = []
    depth = 0
    for m in _TAG.finditer(source):
        kind, body = m.group(2), m.group(3)
        if kind in ("#", "^"):
            depth += 1
            continue
        if kind == "/":
            depth = max(0, depth - 1)
            continue
        if kind == "!" or depth or not body:
            continue
        expr = body.split()[0] if " " not in body else None
        if expr and _PATH.match(expr) and expr.split(".")[0] not in _KEYWORDS:
            out.append(expr)
    return out


def _lookup(data, path: str) -> bool:
    cur = data
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False
        cur = cur[part]
    return True


def parse_data(template_data: str | None) -> dict:
    if template_data is None or template_data == "":
        return {}
    try:
        data = json.loads(template_data)
    except ValueError:
        raise RenderError("InvalidRenderingParameter",
                          "Template rendering data is invalid: the data is not valid JSON.") from None
    if not isinstance(data, dict):
        raise RenderError("InvalidRenderingParameter",
                          "Template rendering data is invalid: the data must be a JSON object.")
    return data


def render_part(source: str | None, data: dict) -> str | None:
    if source is None:
        return None
    for path in top_level_references(source):
        if not _lookup(data, path):
            raise RenderError("MissingRenderingAttribute",
                              f"Attribute '{path}' is not present in the rendering data.")
    try:
        return str(compile_part(source)(data))
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError("InvalidTemplate", f"Template could not be rendered: {exc}") from None


def render(template: dict, data: dict) -> tuple[str | None, str | None, str | None]:
    """(subject, text, html) of `template` ({"subject", "text", "html"}) with `data`."""
    return (render_part(template.get("subject"), data), render_part(template.get("text"), data),
            render_part(template.get("html"), data))
