"""Helpers shared by the Step Functions tests (import as tests.services.stepfunctions._helpers)."""

from __future__ import annotations

import json
import time
import uuid

from tests.helpers.brokerproc import wait_for

ROLE = "arn:aws:iam::000000000000:role/StepFunctionsRole"
_JSON_FIELDS = ("input", "output", "parameters")


def name(prefix: str = "sm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_sm(sfn, definition, *, type: str = "STANDARD", sm_name: str | None = None, **kw) -> str:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    return sfn.create_state_machine(name=sm_name or name(), definition=text, roleArn=ROLE, type=type,
                                    **kw)["stateMachineArn"]


def wait_done(sfn, execution_arn: str, timeout: float = 20.0) -> dict:
    def done():
        d = sfn.describe_execution(executionArn=execution_arn)
        return d if d["status"] != "RUNNING" else None
    return wait_for(done, timeout, what=f"execution {execution_arn} to finish")


def run(sfn, definition, input_value=None, *, timeout: float = 20.0, **kw) -> tuple[str, dict]:
    arn = make_sm(sfn, definition, **kw)
    text = "{}" if input_value is None else (input_value if isinstance(input_value, str) else json.dumps(input_value))
    ex = sfn.start_execution(stateMachineArn=arn, input=text)["executionArn"]
    return ex, wait_done(sfn, ex, timeout)


def history(sfn, execution_arn: str) -> list[dict]:
    """Every event, oldest first, with JSON detail fields parsed and timestamps dropped."""
    out, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000, **kw)
        out.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    return [normalize(e) for e in out]


def normalize(event: dict) -> dict:
    e = {k: v for k, v in event.items() if k != "timestamp"}
    for k, v in list(e.items()):
        if k.endswith("EventDetails"):
            d = dict(v)
            for f in _JSON_FIELDS:
                if f in d and isinstance(d[f], str):
                    d[f] = json.loads(d[f])
            if "assignedVariables" in d:
                d["assignedVariables"] = {n: json.loads(x) for n, x in d["assignedVariables"].items()}
            e[k] = d
    return e


def details(event: dict) -> dict | None:
    for k, v in event.items():
        if k.endswith("EventDetails"):
            return v
    return None


def assert_history(events: list[dict], expected: list[tuple]) -> None:
    """Compare event by event: (type, previousEventId[, details subset]) per event, ids counted from 1."""
    got = [(e["type"], e["previousEventId"]) for e in events]
    want = [(x[0], x[1]) for x in expected]
    assert got == want, f"history differs:\n got={got}\nwant={want}"
    for i, (e, x) in enumerate(zip(events, expected), 1):
        assert e["id"] == i
        if len(x) > 2 and x[2] is not None:
            d = details(e) or {}
            for k, v in x[2].items():
                assert d.get(k) == v, f"event {i} {e['type']}: {k}={d.get(k)!r}, expected {v!r}"


def wait_until(pred, timeout: float = 10.0, what: str = "condition"):
    return wait_for(pred, timeout, what=what)


def now() -> float:
    return time.time()
