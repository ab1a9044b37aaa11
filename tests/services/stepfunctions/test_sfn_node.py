"""aws-sdk-js v3 (tests/node/sfn_smoke.mjs; CI runs `npm ci` there) against the Step Functions service."""

from __future__ import annotations

from tests.helpers.clients import run_node, without_aws_env


def test_sfn_smoke_js_sdk_v3(server):
    out = run_node("sfn_smoke.mjs", without_aws_env(BROKER_ENDPOINT=server.url), "@aws-sdk/client-sfn", timeout=90)
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
