"""Drop-in: suites written for moto's server mode and for LocalStack, unchanged but for
where the endpoint comes from, run against the broker (under `broker run`, which gives
each its own server, since both reset all state as those emulators allow)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

MOTO_STYLE = '''
import json, os, urllib.request
import boto3, pytest

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://localhost:5000")   # moto_server's default


@pytest.fixture(autouse=True)
def reset():
    urllib.request.urlopen(urllib.request.Request(ENDPOINT + "/moto-api/reset", method="POST"))


def client(name):
    return boto3.client(name, region_name="us-east-1", endpoint_url=ENDPOINT,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_queue_arn_in_motos_account():
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn == "arn:aws:sqs:us-east-1:123456789012:orders"


def test_reset_between_tests():
    assert client("sqs").list_queues().get("QueueUrls", []) == []


def test_sns_to_sqs():
    sqs, sns = client("sqs"), client("sns")
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    topic = sns.create_topic(Name="events")["TopicArn"]
    assert topic == "arn:aws:sns:us-east-1:123456789012:events"
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:inbox",
                  Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="hello")
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["hello"]
'''

LOCALSTACK_STYLE = '''
import json, os, time, urllib.request
import boto3, pytest

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566")


def get(path):
    with urllib.request.urlopen(ENDPOINT + path, timeout=10) as r:
        return json.loads(r.read())


def setup_module():
    deadline = time.time() + 30
    while not get("/_localstack/init/ready")["completed"]:
        assert time.time() < deadline
        time.sleep(0.2)
    assert get("/_localstack/health")["services"]["sqs"] in ("running", "available")


@pytest.fixture(autouse=True)
def reset():
    urllib.request.urlopen(urllib.request.Request(ENDPOINT + "/_localstack/state/reset", method="POST"))


def client(name):
    return boto3.client(name, region_name="us-east-1", endpoint_url=ENDPOINT,
                        aws_access_key_id="test", aws_secret_access_key="test")


def test_sqs_in_the_default_account():
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    assert "/000000000000/jobs" in url
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]["Body"] == "x"


def test_ses_messages_endpoint():
    ses = client("ses")
    ses.verify_email_identity(EmailAddress="app@example.com")
    mid = ses.send_email(Source="app@example.com", Destination={"ToAddresses": ["u@example.org"]},
                         Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "body"}}})["MessageId"]
    msgs = get("/_aws/ses?email=app@example.com")["messages"]
    assert [(m["Id"], m["Subject"], m["Body"]["text_part"]) for m in msgs] == [(mid, "hi", "body")]


def test_sns_sms_messages_endpoint():
    client("sns").publish(PhoneNumber="+15550001111", Message="code 42")
    doc = get("/_aws/sns/sms-messages?phoneNumber=%2B15550001111")
    assert [m["Message"] for m in doc["sms_messages"]["+15550001111"]] == ["code 42"]
'''


def _run_suite(tmp_path, source: str, **env) -> subprocess.CompletedProcess:
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(source))
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BROKER_"))}
    run_env.update(env)
    cmd = [sys.executable, "-m", "broker", "run", "--durability", "memory", "--",
           sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:broker", "test_suite.py"]
    return subprocess.run(cmd, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL)


def test_a_moto_server_mode_suite_runs_unchanged(tmp_path):
    # moto's default account; the one setting a moto suite needs (README, "Testing your application")
    p = _run_suite(tmp_path, MOTO_STYLE, BROKER_AWS_DEFAULT_ACCOUNT="123456789012")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 passed" in p.stdout


def test_a_localstack_suite_runs_unchanged(tmp_path):
    p = _run_suite(tmp_path, LOCALSTACK_STYLE)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 passed" in p.stdout
