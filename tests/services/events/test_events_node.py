"""aws-sdk-js v3 (@aws-sdk/client-eventbridge, @aws-sdk/client-scheduler) against the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[2] / "node"


@pytest.fixture(scope="module")
def node():
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed")
    for pkg in ("client-eventbridge", "client-scheduler", "client-sqs"):
        if not (NODE_DIR / "node_modules" / "@aws-sdk" / pkg).is_dir():
            pytest.skip("tests/node/node_modules missing: run `npm install` in tests/node")
    return exe


def test_eventbridge_and_scheduler_with_js_sdk_v3(server, node):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["BROKER_ENDPOINT"] = server.url
    p = subprocess.run([node, str(NODE_DIR / "events_smoke.mjs")], cwd=NODE_DIR, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["busArn"].startswith("arn:aws:events:us-east-1:000000000000:event-bus/node-bus-")
    assert out["ruleArn"].startswith("arn:aws:events:us-east-1:000000000000:rule/node-bus-")
    assert out["state"] == "ENABLED"
    assert out["failed"] == 1 and out["entryError"] == "InvalidArgument"
    assert json.loads(out["delivered"]) == {"amount": 42}
    assert out["match"] is True
    assert out["patternError"]["name"] == "InvalidEventPatternException"
    assert out["patternError"]["message"].startswith(
        'Event pattern is not valid. Reason: "source" must be an object or an array')
    assert out["scheduleArn"].startswith("arn:aws:scheduler:us-east-1:000000000000:schedule/default/node-sched-")
    assert out["scheduleState"] == "ENABLED"
    assert out["scheduled"] == "from the js scheduler"
    assert out["missing"] == {"name": "ResourceNotFoundException", "status": 404}
