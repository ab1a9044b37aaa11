"""Secrets stay secret: nothing on disk holds the master key, a credential's
secret key or a message body; files are private; run.json is 0600, holds no
secret and is removed on a clean exit; admin calls need the admin token or a
signature when credentials are configured."""

from __future__ import annotations

import base64
import json
import os
import stat
import urllib.error
import urllib.request
import uuid

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.helpers.brokerproc import BrokerProcess

ACCESS, SECRET = "AKIASECRETTEST000001", "s3cr3t-" + uuid.uuid4().hex
TOKEN = "admin-" + uuid.uuid4().hex
# files the server writes public on purpose: no secrets in them
PUBLIC = {"endpoints.json", "broker.json", "ca.pem", "server.pem"}


def _req(url, method="GET", headers=None, data=None):
    r = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _signed_headers(url, method="GET"):
    req = AWSRequest(method=method, url=url, data=b"")
    SigV4Auth(Credentials(ACCESS, SECRET), "sqs", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def test_no_secret_or_body_on_disk_and_admin_is_guarded(tmp_path):
    master = os.urandom(32)
    master_b64 = base64.b64encode(master).decode()
    env = {"BROKER_SECURITY_MASTER_KEY": master_b64,
           "BROKER_AWS_CREDENTIALS": json.dumps([{"access_key": ACCESS, "secret_key": SECRET,
                                                   "account_id": "111122223333"}]),
           "BROKER_SECURITY_ADMIN_TOKEN": TOKEN}
    body = "BODY-" + uuid.uuid4().hex
    data = tmp_path / "data"
    b = BrokerProcess(data, "--workers", "1", "--shards", "1", env=env)
    try:
        run_json = data / "run" / "run.json"
        text = run_json.read_text()
        for secret in (master_b64, SECRET, TOKEN):
            assert secret not in text
        assert stat.S_IMODE(run_json.stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "run").stat().st_mode) == 0o700

        sqs = boto3.client("sqs", endpoint_url=b.url, region_name="us-east-1", aws_access_key_id=ACCESS,
                           aws_secret_access_key=SECRET)
        url = sqs.create_queue(QueueName="secrets")["QueueUrl"]
        for i in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=f"{body}-{i}",
                             MessageAttributes={"a": {"DataType": "String", "StringValue": body}})
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        assert got[0]["Body"].startswith(body)

        # admin: open health; reset and info need the token or a signature
        assert _req(b.url + "/_broker/health")[0] == 200
        assert _req(b.url + "/_broker/info")[0] == 403
        assert _req(b.url + "/_broker/reset", "POST", data=b"")[0] == 403
        assert _req(b.url + "/moto-api/reset", "POST", data=b"")[0] == 403
        assert _req(b.url + "/_localstack/state/reset", "POST", data=b"")[0] == 403
        assert _req(b.url + "/_broker/info", headers={"X-Broker-Admin-Token": "wrong"})[0] == 403
        assert _req(b.url + "/_broker/info", headers={"X-Broker-Admin-Token": TOKEN})[0] == 200
        assert _req(b.url + "/_broker/info", headers=_signed_headers(b.url + "/_broker/info"))[0] == 200
        assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
                   .get("Messages", [])) > 0       # nothing was wiped by the refused resets

        rc, _ = b.stop()
        assert rc == 0
        assert not run_json.exists()
    finally:
        b.close()

    needles = [master, master_b64.encode(), SECRET.encode(), TOKEN.encode(), body.encode()]
    for root, dirs, files in os.walk(data):
        for name in files:
            path = os.path.join(root, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            if name == "broker.log":     # the harness's capture of stderr: checked for secrets only
                content = open(path, "rb").read()
                for n in needles[:4]:
                    assert n not in content, f"secret in server log"
                assert body.encode() not in content, "message body in server log"
                continue
            content = open(path, "rb").read()
            for n in needles:
                assert n not in content, f"{path} holds a secret or a message body"
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if name not in PUBLIC:
                assert mode & 0o077 == 0, f"{path} is readable by others: {oct(mode)}"
        for d in dirs:
            mode = stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode)
            assert mode & 0o027 == 0, f"{os.path.join(root, d)}: {oct(mode)}"
