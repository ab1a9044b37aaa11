"""Imported key material, multi-Region keys, key agreement and AWS's recorded wording,
against the backend (no server; the wire is covered in test_kms_wire.py)."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from services.kms import KmsBackend

from .conftest import ACCOUNT, REGION, Client


def arn(key_id, region=REGION):
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def wrap(params: dict, material: bytes, algorithm: str) -> bytes:
    """What a client does with GetParametersForImport's public key."""
    pub = serialization.load_der_public_key(params["PublicKey"])
    h = hashes.SHA256() if algorithm.endswith("SHA_256") else hashes.SHA1()
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    if algorithm.startswith("RSA_AES_KEY_WRAP"):
        aes = os.urandom(32)
        return pub.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)
    return pub.encrypt(material, oaep)


def import_material(kms, kid, material, algorithm="RSAES_OAEP_SHA_256", **extra):
    params = kms("GetParametersForImport", KeyId=kid, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")
    extra.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms("ImportKeyMaterial", KeyId=kid, ImportToken=params["ImportToken"],
               EncryptedKeyMaterial=wrap(params, material, algorithm), **extra)


def external_key(kms, **params):
    return kms("CreateKey", Origin="EXTERNAL", **params)["KeyMetadata"]


# ---------------------------------------------------------------- imported key material

def test_symmetric_import_lifecycle(kms):
    md = external_key(kms, Description="imported")
    kid = md["KeyId"]
    assert (md["KeyState"], md["Enabled"], md["Origin"]) == ("PendingImport", False, "EXTERNAL")
    assert "CurrentKeyMaterialId" not in md and "ExpirationModel" not in md
    err = kms.error("Encrypt", KeyId=kid, Plaintext=b"x")
    assert (err.code, err.message) == ("KMSInvalidStateException", f"{arn(kid)} is pending import.")
    params = kms("GetParametersForImport", KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                 WrappingKeySpec="RSA_2048")
    assert params["KeyId"] == arn(kid) and params["ImportToken"] and params["PublicKey"]
    material = os.urandom(32)
    err = kms.error("ImportKeyMaterial", KeyId=kid, ImportToken=params["ImportToken"],
                    EncryptedKeyMaterial=wrap(params, material, "RSAES_OAEP_SHA_256"))
    assert (err.code, err.message) == ("ValidationException",
                                       "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    out = kms("ImportKeyMaterial", KeyId=kid, ImportToken=params["ImportToken"],
              EncryptedKeyMaterial=wrap(params, material, "RSAES_OAEP_SHA_256"),
              ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert out["KeyId"] == arn(kid)
    md = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"], md["ExpirationModel"]) == ("Enabled", True, "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert md["CurrentKeyMaterialId"] == out["KeyMaterialId"]
    blob = kms("Encrypt", KeyId=kid, Plaintext=b"secret")["CiphertextBlob"]
    kms("DeleteImportedKeyMaterial", KeyId=kid)
    md = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("PendingImport", False) and "ExpirationModel" not in md
    assert md["CurrentKeyMaterialId"] == out["KeyMaterialId"]          # AWS still names it
    assert kms.error("Decrypt", CiphertextBlob=blob).code == "KMSInvalidStateException"
    # the same material again restores the key: same id, old ciphertexts decrypt
    again = import_material(kms, kid, material)
    assert again["KeyMaterialId"] == out["KeyMaterialId"]
    assert kms("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_new_material_waits_for_on_demand_rotation(kms):
    kid = external_key(kms)["KeyId"]
    first = import_material(kms, kid, os.urandom(32))["KeyMaterialId"]
    old = kms("Encrypt", KeyId=kid, Plaintext=b"v1")["CiphertextBlob"]
    second = import_material(kms, kid, os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"] == first
    states = {r["KeyMaterialId"]: r["KeyMaterialState"] for r in
              kms("ListKeyRotations", KeyId=kid, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]}
    assert states == {first: "CURRENT", second: "PENDING_ROTATION"}
    third = os.urandom(32)
    params = kms("GetParametersForImport", KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048")
    err = kms.error("ImportKeyMaterial", KeyId=kid, ImportToken=params["ImportToken"],
                    EncryptedKeyMaterial=wrap(params, third, "RSAES_OAEP_SHA_1"),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
    assert err.code == "KMSInvalidStateException"
    assert err.message.startswith("New key material (id: ") and err.message.endswith(
        f") cannot be imported into KMS key {kid}, because another key material (id: {second}) is pending rotation.")
    assert kms("RotateKeyOnDemand", KeyId=kid) == {"KeyId": arn(kid)}
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"] == second
    assert kms("Decrypt", CiphertextBlob=old)["Plaintext"] == b"v1"
    err = kms.error("RotateKeyOnDemand", KeyId=kid)
    assert (err.code, err.message) == ("KMSInvalidStateException",
                                       f"No available key material pending rotation for the key: {arn(kid)}.")


def test_imported_material_expires(kms, clock):
    kid = external_key(kms)["KeyId"]
    valid_to = datetime.datetime.fromtimestamp(clock() + 3600, datetime.timezone.utc)
    import_material(kms, kid, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    md = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and md["ValidTo"] == valid_to
    clock.advance(1 / 24 + 0.001)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"


@pytest.mark.parametrize("spec, algorithm", [("ECC_NIST_P256", "RSA_AES_KEY_WRAP_SHA_256"),
                                             ("RSA_2048", "RSA_AES_KEY_WRAP_SHA_1")])
def test_asymmetric_import_signs(kms, spec, algorithm):
    from cryptography.hazmat.primitives.asymmetric import rsa
    kid = external_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyId"]
    priv = ec.generate_private_key(ec.SECP256R1()) if spec.startswith("ECC") else rsa.generate_private_key(65537, 2048)
    der = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    import_material(kms, kid, der, algorithm)
    alg = "ECDSA_SHA_256" if spec.startswith("ECC") else "RSASSA_PKCS1_V1_5_SHA_256"
    sig = kms("Sign", KeyId=kid, Message=b"m", SigningAlgorithm=alg)["Signature"]
    pub = priv.public_key()
    if spec.startswith("ECC"):
        pub.verify(sig, b"m", ec.ECDSA(hashes.SHA256()))
    else:
        pub.verify(sig, b"m", padding.PKCS1v15(), hashes.SHA256())
    assert kms("GetPublicKey", KeyId=kid)["PublicKey"] == pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # material of another spec is refused
    other = external_key(kms, KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyId"]
    params = kms("GetParametersForImport", KeyId=other, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")
    assert kms.error("ImportKeyMaterial", KeyId=other, ImportToken=params["ImportToken"],
                     EncryptedKeyMaterial=wrap(params, der, algorithm),
                     ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE").code == "IncorrectKeyMaterialException"


def test_hmac_import(kms):
    import hmac as std_hmac
    kid = external_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    material = os.urandom(32)
    import_material(kms, kid, material)
    mac = kms("GenerateMac", KeyId=kid, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == std_hmac.new(material, b"m", "sha256").digest()


def test_import_errors(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    err = kms.error("GetParametersForImport", KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                    WrappingKeySpec="RSA_2048")
    assert (err.code, err.message) == ("UnsupportedOperationException",
                                       f"{arn(kid)} origin is AWS_KMS which is not valid for this operation.")
    ext = external_key(kms)["KeyId"]
    err = kms.error("RotateKeyOnDemand", KeyId=ext)
    assert (err.code, err.message) == ("KMSInvalidStateException", f"{arn(ext)} is pending import.")
    assert kms.error("EnableKey", KeyId=ext).code == "KMSInvalidStateException"
    assert kms.error("ImportKeyMaterial", KeyId=ext, ImportToken=b"nope", EncryptedKeyMaterial=b"x",
                     ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE").code == "InvalidImportTokenException"


# ---------------------------------------------------------------- multi-Region keys

def test_multi_region_primary_replica_and_update(backend):
    east, west = Client(backend), Client(backend, region="eu-west-1")
    md = east("CreateKey", MultiRegion=True, Description="mr")["KeyMetadata"]
    kid = md["KeyId"]
    assert kid.startswith("mrk-") and len(kid) == 36 and md["MultiRegion"] is True
    assert md["MultiRegionConfiguration"] == {"MultiRegionKeyType": "PRIMARY",
                                              "PrimaryKey": {"Arn": arn(kid), "Region": REGION}, "ReplicaKeys": []}
    out = east("ReplicateKey", KeyId=kid, ReplicaRegion="eu-west-1")
    rmd = out["ReplicaKeyMetadata"]
    assert (rmd["Arn"], rmd["KeyState"], rmd["Enabled"], rmd["Description"]) == (
        arn(kid, "eu-west-1"), "Creating", False, "")
    assert "CurrentKeyMaterialId" not in rmd and out["ReplicaPolicy"]
    assert west.error("DescribeKey", KeyId=kid).code == "NotFoundException"    # still on its way
    backend.deliver_local()
    wmd = west("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (wmd["KeyState"], wmd["MultiRegionConfiguration"]["MultiRegionKeyType"]) == ("Enabled", "REPLICA")
    assert wmd["MultiRegionConfiguration"]["ReplicaKeys"] == [{"Arn": arn(kid, "eu-west-1"), "Region": "eu-west-1"}]
    # one key, two regions: encrypt in one, decrypt in the other
    blob = east("Encrypt", KeyId=kid, Plaintext=b"everywhere")["CiphertextBlob"]
    assert west("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"everywhere"
    err = west.error("ReplicateKey", KeyId=kid, ReplicaRegion="ap-southeast-1")
    assert (err.code, err.message) == ("UnsupportedOperationException",
                                       f"{arn(kid, 'eu-west-1')} is not a multi-region primary key.")
    # rotation at the primary reaches the replica
    east("RotateKeyOnDemand", KeyId=kid)
    backend.deliver_local()
    new_blob = west("Encrypt", KeyId=kid, Plaintext=b"rotated")["CiphertextBlob"]
    assert east("Decrypt", CiphertextBlob=new_blob)["Plaintext"] == b"rotated"
    east("UpdatePrimaryRegion", KeyId=kid, PrimaryRegion="eu-west-1")
    backend.deliver_local()
    assert west("DescribeKey", KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == \
        "PRIMARY"
    cfg = east("DescribeKey", KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]
    assert cfg["MultiRegionKeyType"] == "REPLICA" and cfg["PrimaryKey"]["Region"] == "eu-west-1"


def test_non_multi_region_key_cannot_replicate(kms):
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    err = kms.error("ReplicateKey", KeyId=kid, ReplicaRegion="eu-west-1")
    assert (err.code, err.message) == ("UnsupportedOperationException",
                                       f"{arn(kid)} is not a multi-region primary key.")


def test_key_ids_and_arns_as_aws_words_them(kms, backend):
    mrk = "mrk-" + "0" * 32
    err = kms.error("DescribeKey", KeyId=mrk)
    assert (err.code, err.message) == ("NotFoundException", f"Key '{arn(mrk)}' does not exist")
    for bad in ("mrk-fake-key-id", "134f2428cec14b25a1ae9048164dba47"):
        assert kms.error("DescribeKey", KeyId=bad).message == f"Invalid keyId '{bad}'"
    west = Client(backend, region="us-west-2")
    kid = west("CreateKey")["KeyMetadata"]["KeyId"]
    err = kms.error("DescribeKey", KeyId=arn(kid, "us-west-2"))
    assert (err.code, err.message) == ("NotFoundException", "Invalid arn us-west-2")
    err = kms.error("DescribeKey", KeyId=kid)
    assert err.message == f"Key '{arn(kid)}' does not exist"


# ---------------------------------------------------------------- key agreement

def test_derive_shared_secret(kms):
    md = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    kid = md["KeyId"]
    assert md["KeyAgreementAlgorithms"] == ["ECDH"]
    pub = kms("GetPublicKey", KeyId=kid)
    assert pub["KeyAgreementAlgorithms"] == ["ECDH"]
    mine = ec.generate_private_key(ec.SECP256R1())
    my_pub = mine.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms("DeriveSharedSecret", KeyId=kid, KeyAgreementAlgorithm="ECDH", PublicKey=my_pub)
    theirs = serialization.load_der_public_key(pub["PublicKey"])
    assert out["SharedSecret"] == mine.exchange(ec.ECDH(), theirs)
    assert (out["KeyId"], out["KeyAgreementAlgorithm"], out["KeyOrigin"]) == (arn(kid), "ECDH", "AWS_KMS")
    err = kms.error("DeriveSharedSecret", KeyId=kid, KeyAgreementAlgorithm="ECDH", PublicKey=b"not a key")
    assert (err.code, err.message) == ("ValidationException", "")
    other = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert kms.error("DeriveSharedSecret", KeyId=kid, KeyAgreementAlgorithm="ECDH",
                     PublicKey=other).code == "ValidationException"
    signer = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    err = kms.error("DeriveSharedSecret", KeyId=signer, KeyAgreementAlgorithm="ECDH", PublicKey=my_pub)
    assert (err.code, err.message) == ("InvalidKeyUsageException", f"{arn(signer)} key usage is SIGN_VERIFY which "
                                                                   "is not valid for DeriveSharedSecret.")
    err = kms.error("CreateKey", KeySpec="RSA_2048", KeyUsage="KEY_AGREEMENT")
    assert err.message == "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048"


# ---------------------------------------------------------------- recorded wording

def test_small_drifts(kms):
    signer = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    blob = kms("Encrypt", KeyId=sym, Plaintext=b"x")["CiphertextBlob"]
    for op, params in [("Decrypt", {"CiphertextBlob": blob, "KeyId": signer}),
                       ("ReEncrypt", {"CiphertextBlob": blob, "SourceKeyId": signer, "DestinationKeyId": sym})]:
        err = kms.error(op, **params)
        assert (err.code, err.message) == ("IncorrectKeyException", "The key ID in the request does not identify a "
                                                                    "CMK that can perform this operation.")
    err = kms.error("GenerateDataKeyPair", KeyId=sym, KeyPairSpec="ECC_NIST_P256", DryRun=True)
    assert (err.code, err.status) == ("DryRunOperationException", 400)
    err = kms.error("RotateKeyOnDemand", KeyId=signer)
    assert (err.code, err.message) == ("UnsupportedOperationException", "")
    err = kms.error("GenerateRandom", NumberOfBytes=0)
    assert err.message == ("1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
                           "constraint: Member must have value greater than or equal to 1")


def test_state_survives_a_new_backend(store, master, clock):
    b1 = KmsBackend(store, master, now=clock)
    kms = Client(b1)
    kid = external_key(kms)["KeyId"]
    material = os.urandom(32)
    import_material(kms, kid, material)
    import_material(kms, kid, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    blob = kms("Encrypt", KeyId=kid, Plaintext=b"kept")["CiphertextBlob"]
    mr = kms("CreateKey", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms("ReplicateKey", KeyId=mr, ReplicaRegion="eu-west-1")
    b1.deliver_local()
    kms2 = Client(KmsBackend(store, master, now=clock))
    assert kms2("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"kept"
    kms2("RotateKeyOnDemand", KeyId=kid)        # the pending material survived
    assert Client(kms2.backend, region="eu-west-1")("DescribeKey", KeyId=mr)["KeyMetadata"]["MultiRegion"]
