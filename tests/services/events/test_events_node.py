"""aws-sdk-js v3 (@aws-sdk/client-eventbridge, @aws-sdk/client-scheduler) against the server."""

from __future__ import annotations

import json


from tests.helpers.clients import run_node, without_aws_env


def test_eventbridge_and_scheduler_with_js_sdk_v3(server):
    out = run_node("events_smoke.mjs", without_aws_env(BROKER_ENDPOINT=server.url), "@aws-sdk/client-eventbridge",
                   "@aws-sdk/client-scheduler", "@aws-sdk/client-sqs")
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
