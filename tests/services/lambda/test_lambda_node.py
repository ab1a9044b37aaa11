"""aws-sdk-js v3 (@aws-sdk/client-lambda, tests/node/package.json) against the Lambda API:
tests/node/lambda_smoke.mjs drives it and prints what it saw."""

from __future__ import annotations

from tests.helpers.clients import run_node, without_aws_env

HANDLER = """
import os
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    print("node sent", event)
    return {"doubled": event.get("n", 0) * 2, "greeting": os.environ["GREETING"],
            "version": context.function_version}
"""


def test_lambda_with_js_sdk_v3(server, zip_of, tmp_path):
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(zip_of({"handler.py": HANDLER}))
    out = run_node("lambda_smoke.mjs", without_aws_env(BROKER_ENDPOINT=server.url, LAMBDA_ZIP=str(zip_path)),
                   "@aws-sdk/client-lambda")
    name = out["name"]
    assert out["created"] == {"arn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}", "state": "Active",
                              "env": {"Variables": {"GREETING": "hi"}}}
    sync = out["sync"]
    assert sync["status"] == 200 and sync["version"] == "$LATEST" and sync["functionError"] is None
    assert sync["payload"] == {"doubled": 4, "greeting": "hi", "version": "$LATEST"}
    assert "START RequestId:" in sync["tail"] and "node sent {'n': 2}" in sync["tail"] and "REPORT RequestId:" in sync["tail"]
    assert out["failed"]["status"] == 200 and out["failed"]["functionError"] == "Unhandled"
    assert out["failed"]["payload"]["errorType"] == "ValueError"
    assert out["failed"]["payload"]["errorMessage"] == "asked to fail"
    assert out["event"] == {"status": 202}
    assert out["alias"] == {"version": "1", "executed": "1",
                            "payload": {"doubled": 10, "greeting": "hi", "version": "1"}}
    assert out["get"]["env"] == {"Variables": {"GREETING": "hi"}} and out["get"]["tags"] == {"from": "node"}
    assert out["get"]["location"].startswith(server.url)
    assert out["listed"] is True
    assert out["throttled"] == {"name": "TooManyRequestsException", "message": "Rate Exceeded.", "status": 429,
                                "reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert out["missing"]["name"] == "ResourceNotFoundException" and out["missing"]["status"] == 404
    assert out["missing"]["message"] == f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"
