"""Encryption at rest: recognisable values written through the public path never
reach any file under the data directory in clear (stores, -wal, -shm, journals,
logs), neither while the server runs (after the write was acknowledged, i.e.
committed) nor after it stopped."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import BrokerProcess


def files_containing(root: Path, markers: list[bytes]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_socket():
            continue
        try:
            data = path.read_bytes()
        except (FileNotFoundError, PermissionError):  # e.g. a -journal that just went away
            continue
        found = [m.decode() for m in markers if m in data]
        if found:
            hits[str(path.relative_to(root))] = found
    return hits


def store_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "partitions").iterdir())


@pytest.mark.parametrize("durability", ["process", "fsync"])
def test_kms_descriptions_and_tags_never_on_disk_in_clear(tmp_path, durability):
    data = tmp_path / "d"
    markers: list[bytes] = []

    def marker() -> str:
        m = f"SECRET-MARKER-{uuid.uuid4().hex}"
        markers.append(m.encode())
        return m

    with BrokerProcess(data, "--workers", "1", "--shards", "2", "--durability", durability) as b:
        kms = b.client("kms")
        ids = []
        for _ in range(5):
            meta = kms.create_key(Description=marker(),
                                  Tags=[{"TagKey": "k", "TagValue": marker()},
                                        {"TagKey": "other", "TagValue": marker()}])["KeyMetadata"]
            ids.append(meta["KeyId"])
        kms.update_key_description(KeyId=ids[0], Description=marker())
        kms.tag_resource(KeyId=ids[1], Tags=[{"TagKey": "later", "TagValue": marker()}])
        # acknowledged = committed: the values are on disk now (encrypted), and readable back
        assert kms.describe_key(KeyId=ids[0])["KeyMetadata"]["Description"] == markers[-2].decode()
        assert any(f.endswith("-wal") for f in store_files(data)), store_files(data)
        hits = files_containing(data, markers)
        assert not hits, f"plaintext markers on disk while running: {hits}"
        assert b.stop()[0] == 0
    assert any(f.endswith(".db") for f in store_files(data))
    hits = files_containing(data, markers)
    assert not hits, f"plaintext markers on disk after stop: {hits}"
    # and the data is really there: restart and read back
    with BrokerProcess(data, "--workers", "1", "--shards", "1", "--durability", durability) as b:
        tags = {t["TagKey"]: t["TagValue"] for t in b.client("kms").list_resource_tags(KeyId=ids[1])["Tags"]}
        assert tags["later"] == markers[-1].decode()
        assert b.stop()[0] == 0


def test_sqs_bodies_and_attributes_never_on_disk_in_clear(tmp_path):
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "2") as b:
        sqs = b.client("sqs")
        qname = f"enc-{uuid.uuid4().hex[:12]}"
        try:
            url = sqs.create_queue(QueueName=qname)["QueueUrl"]
        except ClientError as exc:
            b.stop()
            pytest.skip(f"SQS not served by this build yet (CreateQueue -> {exc.response['Error']['Code']}); "
                        "this part runs once services/sqs answers CreateQueue")
        markers = []
        for i in range(10):
            body, attr, sysattr = (f"SECRET-MARKER-{uuid.uuid4().hex}" for _ in range(3))
            markers += [body.encode(), attr.encode()]
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={
                "a": {"DataType": "String", "StringValue": attr},
                "b": {"DataType": "Binary", "BinaryValue": sysattr.encode()}})
            markers.append(sysattr.encode())
        batch_markers = [f"SECRET-MARKER-{uuid.uuid4().hex}" for _ in range(5)]
        markers += [m.encode() for m in batch_markers]
        res = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": m} for i, m in enumerate(batch_markers)])
        assert len(res.get("Successful", [])) == 5
        hits = files_containing(data, markers)
        assert not hits, f"plaintext SQS data on disk while running: {hits}"
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, MessageAttributeNames=["All"])
        assert got["Messages"][0]["Body"].encode() in markers
        assert b.stop()[0] == 0
    hits = files_containing(data, markers)
    assert not hits, f"plaintext SQS data on disk after stop: {hits}"
