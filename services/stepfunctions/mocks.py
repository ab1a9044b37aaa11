"""Mocked service integrations, in Step Functions Local's MockConfigFile format.

    {"StateMachines": {"<machine name>": {"TestCases": {"<case>": {"<state>": "<response name>"}}}},
     "MockedResponses": {"<response name>": {"0": {"Return": {...}}, "1-2": {"Throw": {"Error": "...",
                                                                                      "Cause": "..."}}}}}

StartExecution with ``stateMachineArn#<case>`` runs the execution with that
test case: a Task state named in it does not call its resource; invocation
n of that state (0 first, retries counting) answers with the response whose
key or key range ("1-2") holds n. The file is the config key
``stepfunctions.mock_config_file``, re-read when it changes.
"""

from __future__ import annotations

import json
import os

from services.stepfunctions.asl.errors import StatesError

_cache: dict[str, tuple[float, dict]] = {}


class MockConfigError(ValueError):
    pass


def load(path: str) -> dict:
    if not path:
        raise MockConfigError("No mock configuration file is configured (stepfunctions.mock_config_file).")
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        raise MockConfigError(f"The mock configuration file {path} cannot be read.") from None
    hit = _cache.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise MockConfigError(f"The mock configuration file {path} is not valid JSON: {exc}") from None
    _check(doc)
    _cache[path] = (mtime, doc)
    return doc


def _check(doc) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("StateMachines", {}), dict) or \
            not isinstance(doc.get("MockedResponses", {}), dict):
        raise MockConfigError("The mock configuration must be an object with StateMachines and MockedResponses.")
    for name, resp in (doc.get("MockedResponses") or {}).items():
        if not isinstance(resp, dict):
            raise MockConfigError(f"Mocked response {name} must be an object.")
        for key, entry in resp.items():
            _range(key)
            if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("Return", "Throw"):
                raise MockConfigError(f"Mocked response {name}[{key}] must have exactly one of Return or Throw.")


def _range(key: str) -> tuple[int, int]:
    try:
        if "-" in key:
            lo, hi = key.split("-", 1)
            return int(lo), int(hi)
        n = int(key)
        return n, n
    except ValueError:
        raise MockConfigError(f"Invalid invocation key {key!r} in a mocked response.") from None


def config_path(part) -> str:
    run = getattr(part.shard, "run", None)
    return (run.config.get("stepfunctions.mock_config_file", "") if run is not None else "") or ""


def test_case(part, case: str, sm_name: str) -> dict:
    """The resolved test case {state name: {invocation key: Return/Throw}} for a machine."""
    doc = load(config_path(part))
    machine = (doc.get("StateMachines") or {}).get(sm_name)
    cases = (machine or {}).get("TestCases") or {}
    if case not in cases:
        raise MockConfigError(f"Test case {case} is not defined for the state machine {sm_name} in the mock "
                              "configuration.")
    responses = doc.get("MockedResponses") or {}
    out = {}
    for state, resp_name in cases[case].items():
        if resp_name not in responses:
            raise MockConfigError(f"Mocked response {resp_name} is not defined in the mock configuration.")
        out[state] = responses[resp_name]
    return out


def response_for(ex, st, attempt: int):
    case = ex.mock_case
    if not case:
        return None
    resp = case.get(st.name)
    if resp is None:
        return None
    for key, entry in resp.items():
        lo, hi = _range(key)
        if lo <= attempt <= hi:
            return entry
    return None


def apply(entry: dict):
    """The mocked outcome: the Return value, or raise the Throw as the task's failure."""
    if "Throw" in entry:
        t = entry["Throw"] or {}
        raise StatesError(t.get("Error"), t.get("Cause"), task=True)
    return entry["Return"]
