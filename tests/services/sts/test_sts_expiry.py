"""Temporary credentials expire: a session issued by AssumeRole is refused with
ExpiredToken once the server's clock has passed its Expiration. The server is
restarted (its sessions are durable) an hour ahead with libfaketime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import botocore.exceptions
import pytest
from botocore.config import Config

from tests.helpers.brokerproc import BrokerProcess

A = "333333333333"
ADMIN = ("AKIAIAMEXPIRYADMIN01", "expiry-admin-secret/abcdefghijklmnopqrstu")
LIBS = [Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"),
        Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1")]
LIB = next((p for p in LIBS if p.exists()), None)


def _client(b, service, key, secret, token=None):
    return b.client(service, aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                    config=Config(retries={"max_attempts": 1}))


@pytest.mark.skipif(LIB is None, reason="libfaketime is not installed (Debian package faketime; .ci/run installs it)")
def test_expired_session_token(tmp_path):
    env = {"BROKER_AWS_CREDENTIALS": json.dumps([{"access_key": ADMIN[0], "secret_key": ADMIN[1],
                                                 "account_id": A}])}
    args = ("--workers", "1", "--shards", "1", "--durability", "process")
    data = tmp_path / "data"
    with BrokerProcess(data, *args, env=env) as b:
        iam = _client(b, "iam", *ADMIN)
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": A},
                                                         "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="short", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="short", PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}))
        creds = _client(b, "sts", *ADMIN).assume_role(RoleArn=role, RoleSessionName="sess",
                                                      DurationSeconds=900)["Credentials"]
        session = _client(b, "sqs", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        session.list_queues()
    later = {**env, "LD_PRELOAD": str(LIB), "FAKETIME": "+1h", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
             "FAKETIME_NO_CACHE": "1"}
    with BrokerProcess(data, *args, env=later) as b:
        session = _client(b, "sqs", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            session.list_queues()
        r = ei.value.response            # SQS speaks JSON: the json-family name
        assert r["Error"]["Code"] == "ExpiredTokenException"
        assert r["Error"]["Message"] == "The security token included in the request is expired"
        sts = _client(b, "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            sts.get_caller_identity()
        r = ei.value.response            # query protocol
        assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("ExpiredToken", 403)
