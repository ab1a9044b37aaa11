"""SNS with the other real clients: the AWS CLI (awscli from the venv) and
aws-sdk-js v3 (@aws-sdk/client-sns, tests/node)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION
from tests.services.sns.conftest import receive, uid

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
AWS = Path(sys.executable).with_name("aws")


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    exe = str(AWS) if AWS.exists() else shutil.which("aws")
    if not exe:
        pytest.skip("aws CLI not installed")
    home = tmp_path_factory.mktemp("awshome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=DUMMY_KEY, AWS_SECRET_ACCESS_KEY=DUMMY_SECRET, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=str(home / "config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "creds"),
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run([exe, "sns", *args, "--endpoint-url", server.url, "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"aws sns {' '.join(args)} failed: {p.stderr}")
        return p
    return run


def test_cli_roundtrip(aws, sqs, make_queue):
    name = uid("cli")
    topic = json.loads(aws("create-topic", "--name", name, "--attributes", "DisplayName=cli").stdout)["TopicArn"]
    try:
        url, qarn = make_queue()
        sub = json.loads(aws("subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", qarn,
                             "--attributes", '{"RawMessageDelivery":"true"}', "--return-subscription-arn").stdout)
        out = json.loads(aws("publish", "--topic-arn", topic, "--message", "from cli", "--message-attributes",
                             '{"n":{"DataType":"Number","StringValue":"42"}}').stdout)
        assert out["MessageId"]
        (m,) = receive(sqs, url, 1, MessageAttributeNames=["All"])
        assert m["Body"] == "from cli" and m["MessageAttributes"]["n"]["StringValue"] == "42"
        attrs = json.loads(aws("get-topic-attributes", "--topic-arn", topic).stdout)["Attributes"]
        assert attrs["DisplayName"] == "cli" and attrs["SubscriptionsConfirmed"] == "1"
        subs = json.loads(aws("list-subscriptions-by-topic", "--topic-arn", topic).stdout)["Subscriptions"]
        assert [s["SubscriptionArn"] for s in subs] == [sub["SubscriptionArn"]]
        bad = aws("publish", "--topic-arn", topic + "-gone", "--message", "x", check=False)
        assert bad.returncode != 0 and "NotFound" in bad.stderr and "Topic does not exist" in bad.stderr
    finally:
        aws("delete-topic", "--topic-arn", topic)


def test_js_sdk_v3(server):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-sns").is_dir():
        pytest.skip("tests/node/node_modules missing: run `npm install` in tests/node")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["BROKER_ENDPOINT"] = server.url
    p = subprocess.run([node, str(NODE_DIR / "sns_smoke.mjs")], cwd=NODE_DIR, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    std = out["standard"]
    env_ = std["envelope"]
    assert env_["Type"] == "Notification" and env_["MessageId"] == std["messageId"] and env_["Subject"] == "js"
    assert env_["MessageAttributes"] == {"kind": {"Type": "String", "Value": "smoke"},
                                         "blob": {"Type": "Binary", "Value": "AQID"}}
    assert sorted((r["body"], r["n"]) for r in std["raw"]) == [("batch one", None), ("batch two", "7")]
    assert std["batchOk"] == ["one", "two"] and std["batchFailed"] == 0
    assert out["attributes"] == {"displayName": "node", "confirmed": "1", "raw": "true",
                                 "listed": [std["subscriptionArn"]]}
    seqs = out["fifo"]["sequenceNumbers"]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert out["fifo"]["bodies"] == ["f0", "f1", "f2", "f3", "f4"]
    assert out["missing"]["name"] == "NotFoundException" and out["missing"]["status"] == 404
    assert out["missing"]["message"] == "Topic does not exist"
