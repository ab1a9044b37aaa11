"""Admin API on the HTTP listener: /_broker/*, plus the moto and LocalStack paths."""

from __future__ import annotations

import json
import urllib.request

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import BrokerProcess


def _post(server, path):
    req = urllib.request.Request(server.url + path, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read())


def test_health(server):
    status, doc = server.get("/_broker/health")
    assert status == 200 and doc["status"] == "ok"
    roles = sorted(p["role"] for p in doc["processes"])
    assert roles.count("gateway") >= 1 and roles.count("shard") >= 1 and "supervisor" in roles
    assert all(s["status"] == "ok" for s in doc["shards"])
    status, doc = server.get("/_broker/health", https=True)
    assert status == 200 and doc["status"] == "ok"


def test_info(server):
    doc = server.info()
    assert doc["endpoints"]["http"] == server.url
    assert doc["endpoints"]["https"] == server.https_url
    assert {"sts", "kms"} <= set(doc["services"])
    assert isinstance(doc["version"], str) and doc["version"]


def test_localstack_health(server):
    status, doc = server.get("/_localstack/health")
    assert status == 200
    assert doc["services"]["kms"] == "running" and doc["services"]["sts"] == "running"


def test_unknown_admin_path_is_404_json(server):
    status, doc = server.get("/_broker/nope")
    assert status == 404 and "error" in doc


def test_openapi_document_is_structurally_valid(server):
    status, doc = server.get("/_broker/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    schemas = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        assert path.startswith("/_broker/")
        for method, op in item.items():
            assert method in ("get", "post", "put", "delete", "head", "patch")
            assert op["responses"]
            for code, resp in op["responses"].items():
                assert code.isdigit() and resp["description"]
    # every $ref resolves
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    # and every documented GET path answers
    for path, item in doc["paths"].items():
        if "get" in item:
            assert server.get(path)[0] == 200, path
    try:
        from openapi_spec_validator import validate  # optional, full validation when installed
    except ImportError:
        return
    validate(doc)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    proc = BrokerProcess(tmp_path_factory.mktemp("admin"), "--workers", "1", "--shards", "2",
                         "--durability", "memory")
    try:
        yield proc
    finally:
        proc.close()


@pytest.mark.parametrize("path", ["/_broker/reset", "/moto-api/reset", "/_localstack/state/reset"])
def test_reset_wipes_state(own_server, path, unique_name):
    kms = own_server.client("kms")
    sqs = own_server.client("sqs")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{unique_name}", TargetKeyId=key_id)
    qurl = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    sqs.send_message(QueueUrl=qurl, MessageBody="x")
    status, doc = _post(own_server, path)
    assert status == 200 and doc["reset"] is True
    assert kms.list_keys()["Keys"] == []
    assert kms.list_aliases().get("Aliases", []) == [] or all(
        a["AliasName"].startswith("alias/aws/") for a in kms.list_aliases()["Aliases"])
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.describe_key(KeyId=key_id)
    assert ei.value.response["Error"]["Code"] == "NotFoundException"
    assert sqs.list_queues().get("QueueUrls", []) == []
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sqs.get_queue_url(QueueName=unique_name)
    assert ei.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    # still fully usable afterwards
    assert sqs.create_queue(QueueName=unique_name)["QueueUrl"] == qurl
    assert own_server.health()["status"] == "ok"
