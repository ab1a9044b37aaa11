"""A server with credentials configured for two accounts (IAM enforced), and
boto3 clients for its configured administrators and for IAM-created keys."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.config import Config

from tests.helpers.brokerproc import BrokerProcess

A = "111111111111"
B = "222222222222"
ADMIN_A = ("AKIAIAMTESTADMINA001", "admin-a-secret-0001/abcdefghijklmnopqrst")
ADMIN_B = ("AKIAIAMTESTADMINB002", "admin-b-secret-0002/abcdefghijklmnopqrst")


@pytest.fixture(scope="package")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("iam")
    creds = [{"access_key": ADMIN_A[0], "secret_key": ADMIN_A[1], "account_id": A},
             {"access_key": ADMIN_B[0], "secret_key": ADMIN_B[1], "account_id": B}]
    proc = BrokerProcess(d / "data", "--workers", "2", "--shards", "2", "--durability", "memory",
                         env={"BROKER_AWS_CREDENTIALS": json.dumps(creds)})
    try:
        yield proc
    finally:
        proc.close()


class Clients:
    def __init__(self, server):
        self.server = server

    def make(self, service, key, secret, token=None, region="us-east-1"):
        return self.server.client(service, aws_access_key_id=key, aws_secret_access_key=secret,
                                  aws_session_token=token, region_name=region,
                                  config=Config(retries={"max_attempts": 1}))

    def a(self, service):
        return self.make(service, *ADMIN_A)

    def b(self, service):
        return self.make(service, *ADMIN_B)

    def of(self, creds: dict, service: str):
        """A client signing with an IAM key (CreateAccessKey) or STS credentials."""
        return self.make(service, creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken"))


@pytest.fixture(scope="package")
def clients(secured):
    return Clients(secured)


def new_user(iam, name=None, policy: dict | None = None, boundary: str | None = None) -> dict:
    """An IAM user with an inline policy and an access key; returns the key."""
    name = name or f"u-{uuid.uuid4().hex[:10]}"
    kw = {"PermissionsBoundary": boundary} if boundary else {}
    iam.create_user(UserName=name, **kw)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName=name)["AccessKey"]


def allow(action, resource="*", **extra) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource,
                                                     **extra}]}


def error(exc_info) -> tuple[str, str, int]:
    r = exc_info.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]
