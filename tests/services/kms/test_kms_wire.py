"""KMS through the real server with boto3: multi-Region keys across partitions, imported
key material, key agreement, and error bodies as AWS sends them."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION, wait_for

from .test_kms_complete import wrap


@pytest.fixture(scope="module")
def kms(server):
    return server.client("kms")


def test_multi_region_key_across_regions(server, kms):
    west = server.client("kms", region_name="eu-west-1")
    kid = kms.create_key(MultiRegion=True, Description="mr over the wire")["KeyMetadata"]["KeyId"]
    out = kms.replicate_key(KeyId=kid, ReplicaRegion="eu-west-1", Description="west copy")
    assert out["ReplicaKeyMetadata"]["KeyState"] == "Creating"
    md = wait_for(lambda: west.describe_key(KeyId=kid)["KeyMetadata"], 10, what="the replica")
    assert md["Description"] == "west copy" and md["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    blob = kms.encrypt(KeyId=kid, Plaintext=b"from the east")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from the east"
    kms.update_primary_region(KeyId=kid, PrimaryRegion="eu-west-1")
    wait_for(lambda: west.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]
             ["MultiRegionKeyType"] == "PRIMARY", 10, what="the new primary")


def test_import_key_material(kms):
    kid = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
                                           WrappingKeySpec="RSA_3072")
    material = os.urandom(32)
    out = kms.import_key_material(KeyId=kid, ImportToken=params["ImportToken"],
                                  EncryptedKeyMaterial=wrap(params, material, "RSA_AES_KEY_WRAP_SHA_256"),
                                  ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert out["KeyMaterialId"]
    blob = kms.encrypt(KeyId=kid, Plaintext=b"imported")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"
    kms.delete_imported_key_material(KeyId=kid)
    with pytest.raises(ClientError) as ei:
        kms.encrypt(KeyId=kid, Plaintext=b"x")
    assert ei.value.response["Error"]["Code"] == "KMSInvalidStateException"


def test_derive_shared_secret_over_the_wire(kms):
    kid = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    mine = ec.generate_private_key(ec.SECP384R1())
    der = mine.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = kms.derive_shared_secret(KeyId=kid, KeyAgreementAlgorithm="ECDH", PublicKey=der)["SharedSecret"]
    theirs = serialization.load_der_public_key(kms.get_public_key(KeyId=kid)["PublicKey"])
    assert secret == mine.exchange(ec.ECDH(), theirs)


def raw(server, target: str, body: dict) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    req = AWSRequest("POST", server.url + "/", data=data, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"})
    SigV4Auth(Credentials(DUMMY_KEY, DUMMY_SECRET), "kms", REGION).add_auth(req)
    r = urllib.request.Request(server.url + "/", data=data, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_errors_without_message_and_dry_run_status(server, kms):
    kid = kms.create_key()["KeyMetadata"]["KeyId"]
    import base64
    status, body = raw(server, "Decrypt", {"CiphertextBlob": base64.b64encode(b"\x01garbage" * 10).decode()})
    assert status == 400 and body == {"__type": "InvalidCiphertextException"}
    status, body = raw(server, "Encrypt", {"KeyId": kid, "Plaintext": base64.b64encode(b"x").decode(),
                                           "DryRun": True})
    assert status == 400 and body["__type"] == "DryRunOperationException"
    assert body["message"] == "The request would have succeeded, but the DryRun option is set."
