"""aws-sdk-js v3 (tests/node/sfn_smoke.mjs; CI runs `npm ci` there) against the Step Functions service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[2] / "node"


def test_sfn_smoke_js_sdk_v3(server):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-sfn").is_dir():
        pytest.skip("tests/node/node_modules missing: run `npm ci` in tests/node")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["BROKER_ENDPOINT"] = server.url
    p = subprocess.run([node, str(NODE_DIR / "sfn_smoke.mjs")], cwd=NODE_DIR, env=env, capture_output=True,
                       text=True, timeout=90)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    std = out["standard"]
    assert std["status"] == "SUCCEEDED" and std["output"] == {"got": 41} and std["startIsDate"]
    assert std["events"] == [[1, 0, "ExecutionStarted"], [2, 0, "PassStateEntered"], [3, 2, "PassStateExited"],
                             [4, 3, "WaitStateEntered"], [5, 4, "WaitStateExited"], [6, 5, "ExecutionSucceeded"]]
    assert out["activity"] == {"input": {"n": 1}, "status": "SUCCEEDED", "output": {"n": 2}}
    assert out["sync"] == {"status": "SUCCEEDED", "output": {"sync": True}, "billed": 64}
    assert out["distributed"] == {"status": "SUCCEEDED", "output": ["a", "b"], "runStatus": "SUCCEEDED",
                                  "succeeded": 2, "children": [["SUCCEEDED", True], ["SUCCEEDED", True]]}
    missing = out["missing"]
    assert missing["name"] == "StateMachineDoesNotExist" and missing["status"] == 400
    assert missing["message"].startswith("State Machine Does Not Exist: 'arn:aws:states:us-east-1:000000000000:")
