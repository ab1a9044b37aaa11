"""Recognisable KMS entities written through the public path, and their check."""

from __future__ import annotations

from tests.helpers.brokerproc import BrokerProcess


def create_entities(server: BrokerProcess, tag: str, n: int = 6) -> list[dict]:
    """Keys with description, tags and alias; plus a ciphertext per key."""
    kms = server.client("kms")
    out = []
    for i in range(n):
        meta = kms.create_key(Description=f"{tag} key {i}",
                              Tags=[{"TagKey": "n", "TagValue": str(i)}, {"TagKey": "t", "TagValue": tag}])["KeyMetadata"]
        alias = f"alias/{tag}-{i}"
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        blob = kms.encrypt(KeyId=alias, Plaintext=f"plain-{tag}-{i}".encode())["CiphertextBlob"]
        out.append({"id": meta["KeyId"], "arn": meta["Arn"], "alias": alias, "i": i, "tag": tag, "blob": blob})
    return out


def check_entities(server: BrokerProcess, entities: list[dict]) -> None:
    kms = server.client("kms")
    aliases = {}
    for page in kms.get_paginator("list_aliases").paginate():
        aliases.update({a["AliasName"]: a.get("TargetKeyId") for a in page["Aliases"]})
    for e in entities:
        meta = kms.describe_key(KeyId=e["id"])["KeyMetadata"]
        assert meta["Description"] == f"{e['tag']} key {e['i']}"
        assert meta["KeyState"] == "Enabled"
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=e["id"])["Tags"]}
        assert tags["n"] == str(e["i"]) and tags["t"] == e["tag"]
        assert aliases.get(e["alias"]) == e["id"], e["alias"]
        out = kms.decrypt(CiphertextBlob=e["blob"])
        assert out["Plaintext"] == f"plain-{e['tag']}-{e['i']}".encode()
        assert out["KeyId"] == e["arn"]
