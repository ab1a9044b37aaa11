"""The README stays true: every config key with its default, the test command CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from broker.cli import schema

SCHEMA = schema()

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _default_text(value) -> str:
    if value == "":
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[]"
    return str(value)


def test_every_config_key_is_in_the_readme_table_with_its_default():
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9_]+\.[a-z0-9_]+)` \|.*$", README, re.M)}
    assert set(rows) == {k.dotted for k in SCHEMA}
    for key in SCHEMA:
        row = rows[key.dotted]
        assert f"`{key.env}`" in row
        assert f"`{_default_text(key.default)}`" in row, key.dotted


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    command = ci[-1].strip()
    assert command.startswith("python -m pytest")
    assert command in README
