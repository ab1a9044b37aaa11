"""`broker env` (sh, json, dotenv) and `broker aws`, against the session's server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
from botocore.loaders import Loader

from broker.commands import env as envcmd
from broker.runtime.config import load
from services.registry import SERVICES

BROKER = [sys.executable, "-m", "broker"]


def _clean_env(**extra) -> dict[str, str]:
    """The caller's environment without anything that would point clients elsewhere."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BROKER_"))}
    out.update(extra)
    return out


def _run(args, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env or _clean_env(), capture_output=True, text=True, timeout=120, **kw)


def _env_json(server, *extra) -> dict:
    p = _run([*BROKER, "env", "--data-dir", str(server.data_dir), "--format", "json", *extra])
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_env_names_every_served_service_by_its_sdk_name(server):
    env = _env_json(server)
    url = server.url
    assert env["AWS_ENDPOINT_URL"] == url
    loader = Loader()
    for s in SERVICES:
        if s.api:
            sid = loader.load_service_model(s.name, "service-2")["metadata"]["serviceId"]
            assert env["AWS_ENDPOINT_URL_" + sid.replace(" ", "_").upper()] == url, s.name
    # the SDKs' spellings of a few, written out
    for name in ("SQS", "SNS", "SFN", "EVENTBRIDGE", "CLOUDWATCH_LOGS", "SESV2", "KMS", "STS"):
        assert env[f"AWS_ENDPOINT_URL_{name}"] == url
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("test", "test")     # dev mode
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_CA_BUNDLE" not in env                                                       # plain HTTP
    assert env["BROKER_CA_BUNDLE"] == str(server.data_dir / "tls" / "ca.pem")


def test_env_lists_every_wire_listener_with_its_default_user(server):
    env = _env_json(server)
    eps = server.read_endpoints()
    amqp_port = eps["amqp"].rsplit(":", 1)[1]
    assert env["BROKER_AMQP_URL"] == f"amqp://guest:guest@127.0.0.1:{amqp_port}/%2F"
    assert env["BROKER_AMQPS_URL"].startswith("amqps://guest:guest@127.0.0.1:")
    smtp_port = eps["smtp"].rsplit(":", 1)[1]
    assert env["BROKER_SMTP_URL"] == f"smtp://test:test@127.0.0.1:{smtp_port}"
    assert env["BROKER_SMTP_INBOUND_URL"] == eps["smtp_inbound"]          # inbound: no AUTH
    # data-driven: one variable per endpoints.json key besides the AWS gateway's
    listeners = {k for k in eps if k not in ("http", "https", "https_only")}
    assert {k for k in env if k.startswith("BROKER_") and k.endswith("_URL")} == \
        {envcmd.env_name(k) for k in listeners}


def test_env_urls_work_with_pika(server):
    pika = pytest.importorskip("pika")
    env = _env_json(server)
    conn = pika.BlockingConnection(pika.URLParameters(env["BROKER_AMQP_URL"]))
    try:
        ch = conn.channel()
        q = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.basic_publish("", q, b"via broker env")
        body = None
        for _m, _p, b in ch.consume(q, auto_ack=True, inactivity_timeout=10):
            body = b
            break
        assert body == b"via broker env"
    finally:
        conn.close()


def test_eval_in_bash_then_sdk_calls_and_broker_commands_still_start(server):
    """`eval "$(broker env)"`: an SDK that reads only the environment reaches the server, and
    the exported BROKER_*_URL variables are not mistaken for server configuration."""
    script = f"""
set -e
eval "$({' '.join(BROKER)} env --data-dir '{server.data_dir}')"
{sys.executable} -c 'import boto3; print(boto3.client("sts").get_caller_identity()["Account"])'
{' '.join(BROKER)} env --data-dir '{server.data_dir}' --format json > /dev/null
echo "$BROKER_AMQP_URL"
"""
    p = _run(["bash", "-c", script])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines[0] == "000000000000"
    assert lines[1].startswith("amqp://guest:guest@")


def test_dotenv_format_is_plain_key_value(server):
    p = _run([*BROKER, "env", "--data-dir", str(server.data_dir), "--format", "dotenv"])
    assert p.returncode == 0, p.stderr
    parsed = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert parsed == _env_json(server)      # nothing needed quoting: values read back literally
    try:
        from dotenv import dotenv_values
    except ImportError:
        return
    import io
    assert dict(dotenv_values(stream=io.StringIO(p.stdout))) == parsed


def test_tls_points_clients_at_https_with_the_local_ca(server):
    env = _env_json(server, "--tls")
    assert env["AWS_ENDPOINT_URL"] == server.https_url
    assert env["AWS_CA_BUNDLE"] == str(server.data_dir / "tls" / "ca.pem")
    code = 'import boto3; print(boto3.client("sts").get_caller_identity()["Account"])'
    p = _run([sys.executable, "-c", code], env=_clean_env(**env))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "000000000000"


def test_env_without_a_running_server_says_where_it_looked(tmp_path):
    p = _run([*BROKER, "env", "--data-dir", str(tmp_path)])
    assert p.returncode == 1
    assert f"no server running with data directory {tmp_path}" in p.stderr


def test_configured_credentials_replace_the_dev_keys():
    from broker.cli import schema
    from services.ses.smtp import smtp_password
    config = load(None, env={}, overrides={
        "aws.credentials": [{"access_key": "AKIAEXAMPLEKEY000001", "secret_key": "s3cr3t/+=", "account_id":
                             "111122223333"}, {"access_key": "AKIAOTHER", "secret_key": "x"}],
        "aws.default_region": "eu-west-1",
        "mq.users": [{"name": "app", "password": "p@ss word"}]}, schema=schema())
    eps = {"http": "http://127.0.0.1:1", "amqp": "amqp://127.0.0.1:2", "smtp": "smtp://127.0.0.1:3",
           "mqtt": "mqtt://127.0.0.1:4", "my-broker_amqps": "amqps://127.0.0.1:5"}
    env = envcmd.client_env(eps, config)
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLEKEY000001" and env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t/+="
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["BROKER_AMQP_URL"] == "amqp://app:p%40ss%20word@127.0.0.1:2/%2F"
    assert env["BROKER_MQTT_URL"] == "mqtt://app:p%40ss%20word@127.0.0.1:4"
    password = smtp_password("s3cr3t/+=", "eu-west-1")
    from urllib.parse import quote
    assert env["BROKER_SMTP_URL"] == f"smtp://AKIAEXAMPLEKEY000001:{quote(password, safe='')}@127.0.0.1:3"
    assert env["BROKER_MY_BROKER_AMQPS_URL"].startswith("amqps://app:")
    assert "BROKER_CA_BUNDLE" not in env and "AWS_CA_BUNDLE" not in env


def test_exported_client_variables_are_not_config_keys():
    from broker.cli import schema
    from broker.runtime.config import ConfigError
    config = load(None, env={"BROKER_AMQP_URL": "amqp://x", "BROKER_CA_BUNDLE": "/x", "BROKER_SMTP_INBOUND_URL": "y",
                             "BROKER_AWS_DEFAULT_REGION": "eu-north-1"}, schema=schema())
    assert config["aws.default_region"] == "eu-north-1"
    with pytest.raises(ConfigError, match="BROKER_AMQP_PORT: unknown config key"):
        load(None, env={"BROKER_AMQP_PORT": "1"}, schema=schema())


# -- broker aws ---------------------------------------------------------------------------

def _aws_available() -> bool:
    from broker.commands.aws import aws_executable
    return aws_executable() is not None


@pytest.mark.skipif(not _aws_available(), reason="no AWS CLI installed")
def test_broker_aws_reaches_sqs_despite_the_cli_v1_endpoint_quirk(server):
    name = f"aws-{uuid.uuid4().hex[:8]}"
    base = [*BROKER, "aws", "--data-dir", str(server.data_dir)]
    p = _run([*base, "sqs", "create-queue", "--queue-name", name, "--query", "QueueUrl", "--output", "text"])
    assert p.returncode == 0, p.stderr
    url = p.stdout.strip()
    assert url.endswith(f"/000000000000/{name}")
    p = _run([*base, "sqs", "send-message", "--queue-url", url, "--message-body", "from the cli"])
    assert p.returncode == 0, p.stderr
    assert server.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]["Body"] == \
        "from the cli"


@pytest.mark.skipif(not _aws_available(), reason="no AWS CLI installed")
def test_broker_aws_keeps_a_12_digit_key_from_the_environment(server):
    account = "210987654321"
    env = _clean_env(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="x")
    p = _run([*BROKER, "aws", "--data-dir", str(server.data_dir), "sts", "get-caller-identity", "--query", "Account",
              "--output", "text"], env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == account


@pytest.mark.skipif(not _aws_available(), reason="no AWS CLI installed")
def test_broker_aws_failures(tmp_path, server):
    p = _run([*BROKER, "aws", "--data-dir", str(tmp_path), "sqs", "list-queues"])
    assert p.returncode == 1 and "no server running" in p.stderr
    p = _run([*BROKER, "aws", "--data-dir"])
    assert p.returncode == 2 and "--data-dir needs a value" in p.stderr
    # the AWS CLI's own errors and exit codes come through unchanged
    p = _run([*BROKER, "aws", "--data-dir", str(server.data_dir), "sqs", "get-queue-url", "--queue-name",
              f"missing-{uuid.uuid4().hex[:6]}"])
    assert p.returncode == 254 or p.returncode == 255
    assert "NonExistentQueue" in p.stderr or "QueueDoesNotExist" in p.stderr


def test_help_lists_the_commands():
    p = _run([*BROKER, "--help"])
    assert p.returncode == 0
    for cmd in ("env", "run", "aws"):
        assert cmd in p.stdout
    assert shutil.which("bash")
