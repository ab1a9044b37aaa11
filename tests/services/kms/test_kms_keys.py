"""Keys, lifecycle, aliases, policies, tags, grants, dispatch table."""

from __future__ import annotations

import json

import pytest

from services.kms import IMPLEMENTED_OPERATIONS, UNSUPPORTED_OPERATIONS, KmsBackend

from .conftest import ACCOUNT, REGION, Client, kms_model


def arn(key_id):
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


# ---------------------------------------------------------------- dispatch vs model

def test_dispatch_table_matches_model(backend):
    names = set(kms_model().operation_names)
    assert set(IMPLEMENTED_OPERATIONS) <= names
    assert set(UNSUPPORTED_OPERATIONS) <= names
    assert set(IMPLEMENTED_OPERATIONS) | set(UNSUPPORTED_OPERATIONS) == names
    assert set(backend._dispatch) == set(IMPLEMENTED_OPERATIONS)


@pytest.mark.parametrize("op", UNSUPPORTED_OPERATIONS)
def test_unsupported_operations(kms, op):
    err = kms.error(op)
    assert err.code == "UnsupportedOperationException"
    assert op in err.message


# ---------------------------------------------------------------- CreateKey / DescribeKey

def test_create_symmetric_key_metadata(kms, clock):
    md = kms("CreateKey", Description="hello", Tags=[{"TagKey": "a", "TagValue": "1"}])[
        "KeyMetadata"]
    assert md["AWSAccountId"] == ACCOUNT
    assert md["Arn"] == arn(md["KeyId"])
    assert md["Enabled"] is True and md["KeyState"] == "Enabled"
    assert md["Description"] == "hello"
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeySpec"] == md["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert md["Origin"] == "AWS_KMS" and md["KeyManager"] == "CUSTOMER"
    assert md["MultiRegion"] is False
    assert md["CreationDate"].timestamp() == clock.t
    assert len(md["CurrentKeyMaterialId"]) == 64
    assert "SigningAlgorithms" not in md and "DeletionDate" not in md
    for ident in (md["KeyId"], md["Arn"]):
        assert kms("DescribeKey", KeyId=ident)["KeyMetadata"] == md


@pytest.mark.parametrize("spec,usage,field,algs", [
    ("HMAC_224", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_224"]),
    ("HMAC_512", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_512"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms",
     ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
    ("RSA_2048", "SIGN_VERIFY", "SigningAlgorithms", None),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
])
def test_create_key_specs(kms, spec, usage, field, algs):
    md = kms("CreateKey", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert md["KeySpec"] == spec and md["KeyUsage"] == usage
    if algs is not None:
        assert md[field] == algs
    else:
        assert len(md[field]) == 6
    assert "CurrentKeyMaterialId" not in md


def test_create_key_customer_master_key_spec(kms):
    md = kms("CreateKey", CustomerMasterKeySpec="RSA_3072", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert md["KeySpec"] == "RSA_3072"
    err = kms.error("CreateKey", CustomerMasterKeySpec="RSA_3072", KeySpec="RSA_3072",
                    KeyUsage="SIGN_VERIFY")
    assert err.code == "ValidationException"


@pytest.mark.parametrize("params,code", [
    ({"KeySpec": "RSA_2048"}, "ValidationException"),  # KeyUsage required
    ({"KeySpec": "HMAC_256", "KeyUsage": "ENCRYPT_DECRYPT"}, "ValidationException"),
    ({"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "SIGN_VERIFY"}, "ValidationException"),
    ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCRYPT_DECRYPT"}, "ValidationException"),
    ({"KeySpec": "NOPE"}, "ValidationException"),
    ({"KeyUsage": "NOPE"}, "ValidationException"),
    ({"KeySpec": "ML_DSA_44", "KeyUsage": "SIGN_VERIFY"}, "UnsupportedOperationException"),
    ({"Origin": "AWS_CLOUDHSM"}, "UnsupportedOperationException"),
    ({"Origin": "EXTERNAL", "MultiRegion": True}, "UnsupportedOperationException"),
    ({"KeySpec": "RSA_2048", "KeyUsage": "KEY_AGREEMENT"}, "ValidationException"),
    ({"Policy": "not json"}, "MalformedPolicyDocumentException"),
    ({"Tags": [{"TagKey": "aws:x", "TagValue": "1"}]}, "TagException"),
])
def test_create_key_errors(kms, params, code):
    assert kms.error("CreateKey", **params).code == code


def test_create_key_usage_message(kms):
    err = kms.error("CreateKey", KeySpec="HMAC_256", KeyUsage="SIGN_VERIFY")
    assert err.message == "KeyUsage SIGN_VERIFY is not compatible with KeySpec HMAC_256"


def test_describe_missing_key(kms):
    kid = "11111111-2222-3333-4444-555555555555"
    err = kms.error("DescribeKey", KeyId=kid)
    assert err.code == "NotFoundException"
    assert err.message == f"Key '{arn(kid)}' does not exist"
    assert kms.error("DescribeKey", KeyId="junk").message == "Invalid keyId 'junk'"
    err = kms.error("DescribeKey", KeyId="alias/none")
    assert err.message == f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none is not found."


def test_namespaces_are_isolated(backend):
    a = Client(backend, "111111111111", "us-east-1")
    b = Client(backend, "222222222222", "us-east-1")
    c = Client(backend, "111111111111", "eu-west-1")
    kid = a("CreateKey")["KeyMetadata"]["KeyId"]
    a("CreateAlias", AliasName="alias/x", TargetKeyId=kid)
    for other in (b, c):
        assert other.error("DescribeKey", KeyId=kid).code == "NotFoundException"
        assert other.error("DescribeKey", KeyId="alias/x").code == "NotFoundException"
        assert other("ListKeys")["Keys"] == []
    # a foreign ARN is not found either
    foreign = f"arn:aws:kms:us-east-1:111111111111:key/{kid}"
    assert b.error("DescribeKey", KeyId=foreign).code == "NotFoundException"
    blob = a("Encrypt", KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
    assert b.error("Decrypt", CiphertextBlob=blob).code == "NotFoundException"


def test_list_keys_pagination(kms):
    ids = sorted(kms("CreateKey")["KeyMetadata"]["KeyId"] for _ in range(7))
    seen, marker = [], None
    while True:
        params = {"Limit": 3}
        if marker:
            params["Marker"] = marker
        out = kms("ListKeys", **params)
        seen += [k["KeyId"] for k in out["Keys"]]
        for k in out["Keys"]:
            assert k["KeyArn"] == arn(k["KeyId"])
        if not out["Truncated"]:
            assert "NextMarker" not in out
            break
        marker = out["NextMarker"]
    assert seen == ids
    assert kms("ListKeys")["Truncated"] is False
    assert kms.error("ListKeys", Limit=0).code == "ValidationException"
    assert kms.error("ListKeys", Limit=1001).code == "ValidationException"
    assert kms.error("ListKeys", Marker="garbage!").code == "InvalidMarkerException"


def test_update_key_description(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("UpdateKeyDescription", KeyId=kid, Description="new")
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["Description"] == "new"


# ---------------------------------------------------------------- lifecycle

def test_enable_disable(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("DisableKey", KeyId=kid)
    md = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "Disabled" and md["Enabled"] is False
    err = kms.error("Encrypt", KeyId=kid, Plaintext=b"x")
    assert err.code == "DisabledException" and err.message == f"{arn(kid)} is disabled."
    kms("DisableKey", KeyId=kid)  # idempotent
    kms("EnableKey", KeyId=kid)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    kms("Encrypt", KeyId=kid, Plaintext=b"x")


def test_schedule_and_cancel_deletion(kms, clock):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    blob = kms("Encrypt", KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
    out = kms("ScheduleKeyDeletion", KeyId=kid)
    assert out["KeyId"] == arn(kid) and out["KeyState"] == "PendingDeletion"
    assert out["PendingWindowInDays"] == 30
    assert out["DeletionDate"].timestamp() == clock.t + 30 * 86400
    md = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion" and md["PendingDeletionWindowInDays"] == 30
    assert md["DeletionDate"] == out["DeletionDate"]
    for op, params in [("Encrypt", {"Plaintext": b"x"}), ("Decrypt", {"CiphertextBlob": blob}),
                       ("EnableKey", {}), ("DisableKey", {}),
                       ("ScheduleKeyDeletion", {})]:
        err = kms.error(op, KeyId=kid, **params)
        assert err.code == "KMSInvalidStateException", op
        assert err.message == f"{arn(kid)} is pending deletion."
    err = kms.error("Decrypt", CiphertextBlob=blob)
    assert err.code == "KMSInvalidStateException"
    assert kms("CancelKeyDeletion", KeyId=kid) == {"KeyId": arn(kid)}
    md = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "Disabled" and "DeletionDate" not in md
    assert kms.error("CancelKeyDeletion", KeyId=kid).code == "KMSInvalidStateException"


@pytest.mark.parametrize("days", [6, 31])
def test_schedule_deletion_window_bounds(kms, days):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    assert kms.error("ScheduleKeyDeletion", KeyId=kid,
                     PendingWindowInDays=days).code == "ValidationException"


def test_key_deleted_after_window(kms, clock):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/gone", TargetKeyId=kid)
    kms("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    clock.advance(6.9)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    clock.advance(0.2)
    assert kms.error("DescribeKey", KeyId=kid).code == "NotFoundException"
    assert kms("ListKeys")["Keys"] == []
    assert kms("ListAliases")["Aliases"] == []


# ---------------------------------------------------------------- aliases

def test_aliases(kms):
    k1 = kms("CreateKey")["KeyMetadata"]["KeyId"]
    k2 = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/app", TargetKeyId=k1)
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app"
    for ident in ("alias/app", alias_arn):
        assert kms("DescribeKey", KeyId=ident)["KeyMetadata"]["KeyId"] == k1
    blob = kms("Encrypt", KeyId="alias/app", Plaintext=b"x")["CiphertextBlob"]
    err = kms.error("CreateAlias", AliasName="alias/app", TargetKeyId=k2)
    assert err.code == "AlreadyExistsException"
    assert err.message == f"An alias with the name {alias_arn} already exists"
    kms("UpdateAlias", AliasName="alias/app", TargetKeyId=arn(k2))
    assert kms("DescribeKey", KeyId="alias/app")["KeyMetadata"]["KeyId"] == k2
    # the old ciphertext still names its key
    assert kms("Decrypt", CiphertextBlob=blob)["KeyId"] == arn(k1)
    entries = kms("ListAliases")["Aliases"]
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in entries] == [
        ("alias/app", alias_arn, k2)]
    assert kms("ListAliases", KeyId=k1)["Aliases"] == []
    assert len(kms("ListAliases", KeyId=arn(k2))["Aliases"]) == 1
    kms("DeleteAlias", AliasName="alias/app")
    err = kms.error("DeleteAlias", AliasName="alias/app")
    assert err.code == "NotFoundException" and err.message == f"Alias {alias_arn} is not found."
    assert kms.error("UpdateAlias", AliasName="alias/app",
                     TargetKeyId=k1).code == "NotFoundException"


@pytest.mark.parametrize("name,code", [
    ("app", "ValidationException"),
    ("alias/aws/mine", "NotAuthorizedException"),
    ("alias/bad name", "ValidationException"),
    ("alias/", "InvalidAliasNameException"),
    ("alias/" + "a" * 251, "ValidationException"),
])
def test_alias_name_errors(kms, name, code):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    assert kms.error("CreateAlias", AliasName=name, TargetKeyId=kid).code == code


def test_alias_prefix_message(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    err = kms.error("CreateAlias", AliasName="app", TargetKeyId=kid)
    assert err.message.startswith('Alias must start with the prefix "alias/".')


def test_alias_errors_on_targets(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/a", TargetKeyId=kid)
    assert kms.error("CreateAlias", AliasName="alias/b",
                     TargetKeyId="alias/a").code == "ValidationException"
    assert kms.error("CreateAlias", AliasName="alias/b",
                     TargetKeyId="11111111-2222-3333-4444-555555555555").code == \
        "NotFoundException"
    kms("ScheduleKeyDeletion", KeyId=kid)
    assert kms.error("CreateAlias", AliasName="alias/b",
                     TargetKeyId=kid).code == "KMSInvalidStateException"
    mac = kms("CreateKey", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/c", TargetKeyId=sym)
    assert kms.error("UpdateAlias", AliasName="alias/c",
                     TargetKeyId=mac["KeyId"]).code == "ValidationException"


def test_list_aliases_pagination(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    names = [f"alias/n{i:02d}" for i in range(5)]
    for n in names:
        kms("CreateAlias", AliasName=n, TargetKeyId=kid)
    out = kms("ListAliases", Limit=2)
    got = [a["AliasName"] for a in out["Aliases"]]
    while out["Truncated"]:
        out = kms("ListAliases", Limit=2, Marker=out["NextMarker"])
        got += [a["AliasName"] for a in out["Aliases"]]
    assert got == names


# ---------------------------------------------------------------- AWS managed keys

def test_aws_managed_key_created_on_first_use(kms):
    assert kms("ListAliases")["Aliases"] == []
    out = kms("Encrypt", KeyId="alias/aws/sqs", Plaintext=b"secret")
    md = kms("DescribeKey", KeyId="alias/aws/sqs")["KeyMetadata"]
    assert md["KeyManager"] == "AWS" and out["KeyId"] == md["Arn"]
    assert kms("Decrypt", CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"secret"
    aliases = kms("ListAliases")["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in aliases] == [
        ("alias/aws/sqs", md["KeyId"])]
    # same key the next time
    assert kms("DescribeKey", KeyId=f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/sqs")[
        "KeyMetadata"]["KeyId"] == md["KeyId"]
    gen = kms("GenerateDataKey", KeyId="alias/aws/sns", KeySpec="AES_256")
    assert kms("DescribeKey", KeyId="alias/aws/sns")["KeyMetadata"]["Arn"] == gen["KeyId"]
    status = kms("GetKeyRotationStatus", KeyId="alias/aws/sqs")
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    # customers cannot manage them
    for op in ("DisableKey", "ScheduleKeyDeletion", "EnableKeyRotation"):
        assert kms.error(op, KeyId=md["KeyId"]).code == "UnsupportedOperationException"
    assert kms.error("DeleteAlias", AliasName="alias/aws/sqs").code == "NotAuthorizedException"
    assert kms.error("DescribeKey", KeyId="alias/aws/unknownsvc").code == "NotFoundException"


# ---------------------------------------------------------------- policies

def test_key_policies(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    out = kms("GetKeyPolicy", KeyId=kid, PolicyName="default")
    doc = json.loads(out["Policy"])
    assert out["PolicyName"] == "default"
    assert doc["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert doc["Statement"][0]["Action"] == "kms:*"
    assert kms("GetKeyPolicy", KeyId=kid)["Policy"] == out["Policy"]
    assert kms("ListKeyPolicies", KeyId=kid) == {"PolicyNames": ["default"], "Truncated": False}
    new = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]})
    kms("PutKeyPolicy", KeyId=kid, PolicyName="default", Policy=new)
    assert kms("GetKeyPolicy", KeyId=kid, PolicyName="default")["Policy"] == new
    assert kms.error("PutKeyPolicy", KeyId=kid, PolicyName="default",
                     Policy="{").code == "MalformedPolicyDocumentException"
    assert kms.error("GetKeyPolicy", KeyId=kid, PolicyName="other").code == "NotFoundException"
    custom = kms("CreateKey", Policy=new)["KeyMetadata"]["KeyId"]
    assert kms("GetKeyPolicy", KeyId=custom)["Policy"] == new


# ---------------------------------------------------------------- tags

def test_tags(kms):
    kid = kms("CreateKey", Tags=[{"TagKey": "a", "TagValue": "1"}])["KeyMetadata"]["KeyId"]
    kms("TagResource", KeyId=kid, Tags=[{"TagKey": "b", "TagValue": "2"},
                                        {"TagKey": "a", "TagValue": "3"}])
    assert kms("ListResourceTags", KeyId=kid) == {
        "Tags": [{"TagKey": "a", "TagValue": "3"}, {"TagKey": "b", "TagValue": "2"}],
        "Truncated": False}
    kms("UntagResource", KeyId=kid, TagKeys=["a", "missing"])
    assert kms("ListResourceTags", KeyId=arn(kid))["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    kms("TagResource", KeyId=kid, Tags=[{"TagKey": f"k{i}", "TagValue": ""} for i in range(49)])
    page = kms("ListResourceTags", KeyId=kid, Limit=20)
    assert len(page["Tags"]) == 20 and page["Truncated"]
    page2 = kms("ListResourceTags", KeyId=kid, Limit=20, Marker=page["NextMarker"])
    assert page2["Tags"][0] == {"TagKey": "k19", "TagValue": ""}
    err = kms.error("TagResource", KeyId=kid, Tags=[{"TagKey": "one-too-many", "TagValue": ""}])
    assert err.code == "TagException"
    assert kms.error("TagResource", KeyId=kid,
                     Tags=[{"TagKey": "aws:x", "TagValue": ""}]).code == "TagException"
    assert kms.error("TagResource", KeyId=kid, Tags=[
        {"TagKey": "x" * 129, "TagValue": ""}]).code == "ValidationException"
    assert kms.error("TagResource", KeyId=kid, Tags=[
        {"TagKey": "x", "TagValue": "v" * 257}]).code == "ValidationException"
    assert kms.error("TagResource", KeyId=kid, Tags=[
        {"TagKey": "d", "TagValue": "1"}, {"TagKey": "d", "TagValue": "2"}]).code == "TagException"
    assert kms.error("TagResource", KeyId="11111111-2222-3333-4444-555555555555",
                     Tags=[]).code == "NotFoundException"
    kms("ScheduleKeyDeletion", KeyId=kid)
    assert kms.error("TagResource", KeyId=kid, Tags=[{"TagKey": "z", "TagValue": ""}]).code == \
        "KMSInvalidStateException"


# ---------------------------------------------------------------- grants

def test_grants(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    grantee = f"arn:aws:iam::{ACCOUNT}:role/app"
    retiree = f"arn:aws:iam::{ACCOUNT}:role/admin"
    g1 = kms("CreateGrant", KeyId=kid, GranteePrincipal=grantee, RetiringPrincipal=retiree,
             Operations=["Encrypt", "Decrypt"], Name="g1",
             Constraints={"EncryptionContextSubset": {"a": "b"}})
    again = kms("CreateGrant", KeyId=kid, GranteePrincipal=grantee,
                Operations=["Encrypt", "Decrypt"], Name="g1")
    assert again["GrantId"] == g1["GrantId"] and again["GrantToken"] != g1["GrantToken"]
    g2 = kms("CreateGrant", KeyId=arn(kid), GranteePrincipal=grantee, Operations=["Sign"])
    grants = kms("ListGrants", KeyId=kid)["Grants"]
    assert {g["GrantId"] for g in grants} == {g1["GrantId"], g2["GrantId"]}
    entry = next(g for g in grants if g["GrantId"] == g1["GrantId"])
    assert entry["KeyId"] == arn(kid) and entry["Name"] == "g1"
    assert entry["Operations"] == ["Encrypt", "Decrypt"]
    assert entry["RetiringPrincipal"] == retiree
    assert entry["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert entry["Constraints"] == {"EncryptionContextSubset": {"a": "b"}}
    assert [g["GrantId"] for g in kms("ListRetirableGrants", RetiringPrincipal=retiree)[
        "Grants"]] == [g1["GrantId"]]
    page = kms("ListGrants", KeyId=kid, Limit=1)
    assert page["Truncated"] and len(page["Grants"]) == 1
    kms("RetireGrant", GrantToken=g1["GrantToken"])
    assert kms.error("RetireGrant", GrantToken=g1["GrantToken"]).code == \
        "InvalidGrantTokenException"
    kms("RevokeGrant", KeyId=kid, GrantId=g2["GrantId"])
    assert kms.error("RevokeGrant", KeyId=kid, GrantId=g2["GrantId"]).code == \
        "InvalidGrantIdException"
    assert kms("ListGrants", KeyId=kid)["Grants"] == []
    assert kms.error("CreateGrant", KeyId=kid, GranteePrincipal=grantee,
                     Operations=["Fly"]).code == "ValidationException"
    g3 = kms("CreateGrant", KeyId=kid, GranteePrincipal=grantee, Operations=["Encrypt"])
    kms("RetireGrant", KeyId=kid, GrantId=g3["GrantId"])
    err = kms.error("CreateGrant", KeyId=kid, GranteePrincipal=grantee, Operations=["Encrypt"],
                    DryRun=True)
    assert err.code == "DryRunOperationException"
    assert kms("ListGrants", KeyId=kid)["Grants"] == []
