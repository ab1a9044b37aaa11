"""Encrypt/Decrypt/ReEncrypt, data keys, MAC, signatures, rotation, recovery, internal API."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, hmac as chmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.errors import ServiceError
from services.kms import KmsBackend

from .conftest import ACCOUNT, REGION, Client


def arn(key_id):
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def new_key(kms, **params):
    return kms("CreateKey", **params)["KeyMetadata"]["KeyId"]


# ---------------------------------------------------------------- symmetric

def test_encrypt_decrypt_roundtrip(kms):
    kid = new_key(kms)
    ctx = {"purpose": "test", "tenant": "a"}
    out = kms("Encrypt", KeyId=kid, Plaintext=b"hello world", EncryptionContext=ctx)
    assert out["KeyId"] == arn(kid) and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert b"hello world" not in out["CiphertextBlob"]
    dec = kms("Decrypt", CiphertextBlob=out["CiphertextBlob"], EncryptionContext=dict(ctx))
    assert dec["Plaintext"] == b"hello world" and dec["KeyId"] == arn(kid)
    assert dec["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    # KeyId given explicitly (id, arn, alias) also works
    kms("CreateAlias", AliasName="alias/rt", TargetKeyId=kid)
    for ident in (kid, arn(kid), "alias/rt"):
        assert kms("Decrypt", CiphertextBlob=out["CiphertextBlob"], EncryptionContext=ctx,
                   KeyId=ident)["Plaintext"] == b"hello world"


@pytest.mark.parametrize("ctx", [None, {}, {"purpose": "other"}, {"purpose": "test", "x": "y"}])
def test_encryption_context_mismatch(kms, ctx):
    kid = new_key(kms)
    blob = kms("Encrypt", KeyId=kid, Plaintext=b"x",
               EncryptionContext={"purpose": "test"})["CiphertextBlob"]
    params = {"CiphertextBlob": blob}
    if ctx is not None:
        params["EncryptionContext"] = ctx
    assert kms.error("Decrypt", **params).code == "InvalidCiphertextException"


def test_decrypt_errors(kms):
    kid, other = new_key(kms), new_key(kms)
    blob = kms("Encrypt", KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
    err = kms.error("Decrypt", CiphertextBlob=blob, KeyId=other)
    assert err.code == "IncorrectKeyException"
    assert kms.error("Decrypt", CiphertextBlob=b"not a kms blob").code == \
        "InvalidCiphertextException"
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    assert kms.error("Decrypt", CiphertextBlob=tampered).code == "InvalidCiphertextException"
    # swapping the key id inside the header is detected (header is authenticated)
    forged = blob.replace(kid.encode(), other.encode())
    assert kms.error("Decrypt", CiphertextBlob=forged).code == "InvalidCiphertextException"


def test_encrypt_limits_and_usage(kms):
    kid = new_key(kms)
    kms("Encrypt", KeyId=kid, Plaintext=b"x" * 4096)
    err = kms.error("Encrypt", KeyId=kid, Plaintext=b"x" * 4097)
    assert err.code == "ValidationException"
    assert kms.error("Encrypt", KeyId=kid, Plaintext=b"").code == "ValidationException"
    assert kms.error("Encrypt", KeyId=kid, Plaintext=b"x",
                     EncryptionAlgorithm="RSAES_OAEP_SHA_256").code == "InvalidKeyUsageException"
    mac = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    err = kms.error("Encrypt", KeyId=mac, Plaintext=b"x")
    assert err.code == "InvalidKeyUsageException"
    assert err.message == (f"{arn(mac)} key usage is GENERATE_VERIFY_MAC which is not valid "
                           f"for Encrypt.")
    missing = "11111111-2222-3333-4444-555555555555"
    err = kms.error("Encrypt", KeyId=missing, Plaintext=b"x")
    assert err.code == "NotFoundException"
    assert err.message == f"Key '{arn(missing)}' does not exist"


def test_re_encrypt(kms):
    k1, k2 = new_key(kms), new_key(kms)
    blob = kms("Encrypt", KeyId=k1, Plaintext=b"payload",
               EncryptionContext={"a": "1"})["CiphertextBlob"]
    out = kms("ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
              DestinationKeyId=k2, DestinationEncryptionContext={"b": "2"})
    assert out["SourceKeyId"] == arn(k1) and out["KeyId"] == arn(k2)
    assert out["SourceEncryptionAlgorithm"] == out["DestinationEncryptionAlgorithm"] == \
        "SYMMETRIC_DEFAULT"
    dec = kms("Decrypt", CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"b": "2"})
    assert dec["Plaintext"] == b"payload" and dec["KeyId"] == arn(k2)
    assert kms.error("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=k2).code == \
        "InvalidCiphertextException"
    assert kms.error("ReEncrypt", CiphertextBlob=blob, SourceKeyId=k2,
                     SourceEncryptionContext={"a": "1"},
                     DestinationKeyId=k2).code == "IncorrectKeyException"
    kms("DisableKey", KeyId=k2)
    assert kms.error("ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                     DestinationKeyId=k2).code == "DisabledException"


# ---------------------------------------------------------------- data keys

@pytest.mark.parametrize("params,length", [({"KeySpec": "AES_256"}, 32),
                                           ({"KeySpec": "AES_128"}, 16),
                                           ({"NumberOfBytes": 1}, 1),
                                           ({"NumberOfBytes": 1024}, 1024)])
def test_generate_data_key(kms, params, length):
    kid = new_key(kms)
    out = kms("GenerateDataKey", KeyId=kid, EncryptionContext={"c": "d"}, **params)
    assert len(out["Plaintext"]) == length and out["KeyId"] == arn(kid)
    assert len(out["KeyMaterialId"]) == 64
    dec = kms("Decrypt", CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"c": "d"})
    assert dec["Plaintext"] == out["Plaintext"]
    # the data key really is usable as an AES key
    if length in (16, 32):
        nonce = os.urandom(12)
        ct = AESGCM(out["Plaintext"]).encrypt(nonce, b"data", None)
        assert AESGCM(dec["Plaintext"]).decrypt(nonce, ct, None) == b"data"
    wo = kms("GenerateDataKeyWithoutPlaintext", KeyId=kid, **params)
    assert "Plaintext" not in wo
    assert len(kms("Decrypt", CiphertextBlob=wo["CiphertextBlob"])["Plaintext"]) == length


@pytest.mark.parametrize("params", [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32},
                                    {"NumberOfBytes": 0}, {"NumberOfBytes": 1025},
                                    {"KeySpec": "AES_512"}])
def test_generate_data_key_validation(kms, params):
    kid = new_key(kms)
    assert kms.error("GenerateDataKey", KeyId=kid, **params).code == "ValidationException"


def test_generate_data_key_requires_symmetric(kms):
    rsa_key = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    assert kms.error("GenerateDataKey", KeyId=rsa_key,
                     KeySpec="AES_256").code == "InvalidKeyUsageException"


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384",
                                  "ECC_SECG_P256K1"])
def test_generate_data_key_pair(kms, spec):
    kid = new_key(kms)
    out = kms("GenerateDataKeyPair", KeyId=kid, KeyPairSpec=spec, EncryptionContext={"k": "v"})
    assert out["KeyPairSpec"] == spec and out["KeyId"] == arn(kid)
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    public = serialization.load_der_public_key(out["PublicKey"])
    assert private.public_key().public_numbers() == public.public_numbers()
    if spec.startswith("RSA"):
        assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
        sig = private.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
        public.verify(sig, b"m", padding.PKCS1v15(), hashes.SHA256())
    else:
        sig = private.sign(b"m", ec.ECDSA(hashes.SHA256()))
        public.verify(sig, b"m", ec.ECDSA(hashes.SHA256()))
    dec = kms("Decrypt", CiphertextBlob=out["PrivateKeyCiphertextBlob"],
              EncryptionContext={"k": "v"})
    assert dec["Plaintext"] == out["PrivateKeyPlaintext"]
    wo = kms("GenerateDataKeyPairWithoutPlaintext", KeyId=kid, KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in wo
    priv2 = serialization.load_der_private_key(
        kms("Decrypt", CiphertextBlob=wo["PrivateKeyCiphertextBlob"])["Plaintext"], None)
    assert priv2.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        wo["PublicKey"]


def test_generate_data_key_pair_errors(kms):
    kid = new_key(kms)
    assert kms.error("GenerateDataKeyPair", KeyId=kid,
                     KeyPairSpec="SM2").code == "UnsupportedOperationException"
    assert kms.error("GenerateDataKeyPair", KeyId=kid,
                     KeyPairSpec="NOPE").code == "ValidationException"


def test_generate_random(kms):
    assert len(kms("GenerateRandom", NumberOfBytes=1)["Plaintext"]) == 1
    a = kms("GenerateRandom", NumberOfBytes=1024)["Plaintext"]
    assert len(a) == 1024 and a != kms("GenerateRandom", NumberOfBytes=1024)["Plaintext"]
    for n in (0, 1025):
        assert kms.error("GenerateRandom", NumberOfBytes=n).code == "ValidationException"


# ---------------------------------------------------------------- RSA encryption

@pytest.mark.parametrize("algorithm,hash_cls", [("RSAES_OAEP_SHA_1", hashes.SHA1),
                                                ("RSAES_OAEP_SHA_256", hashes.SHA256)])
def test_rsa_encrypt_decrypt(kms, algorithm, hash_cls):
    kid = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    out = kms("Encrypt", KeyId=kid, Plaintext=b"secret", EncryptionAlgorithm=algorithm)
    assert out["EncryptionAlgorithm"] == algorithm and len(out["CiphertextBlob"]) == 256
    dec = kms("Decrypt", KeyId=kid, CiphertextBlob=out["CiphertextBlob"],
              EncryptionAlgorithm=algorithm)
    assert dec["Plaintext"] == b"secret" and dec["EncryptionAlgorithm"] == algorithm
    # offline encryption with the public key decrypts in KMS
    pub = serialization.load_der_public_key(kms("GetPublicKey", KeyId=kid)["PublicKey"])
    ct = pub.encrypt(b"offline", padding.OAEP(padding.MGF1(hash_cls()), hash_cls(), None))
    assert kms("Decrypt", KeyId=kid, CiphertextBlob=ct,
               EncryptionAlgorithm=algorithm)["Plaintext"] == b"offline"
    # errors
    assert kms.error("Decrypt", CiphertextBlob=ct).code == "InvalidCiphertextException"
    assert kms.error("Encrypt", KeyId=kid, Plaintext=b"x").code == "InvalidKeyUsageException"
    limit = 214 if algorithm == "RSAES_OAEP_SHA_1" else 190
    kms("Encrypt", KeyId=kid, Plaintext=b"x" * limit, EncryptionAlgorithm=algorithm)
    assert kms.error("Encrypt", KeyId=kid, Plaintext=b"x" * (limit + 1),
                     EncryptionAlgorithm=algorithm).code == "ValidationException"
    assert kms.error("Decrypt", KeyId=kid, CiphertextBlob=b"\x00" * 256,
                     EncryptionAlgorithm=algorithm).code == "InvalidCiphertextException"


# ---------------------------------------------------------------- HMAC

@pytest.mark.parametrize("spec,alg,h", [("HMAC_224", "HMAC_SHA_224", hashes.SHA224),
                                        ("HMAC_256", "HMAC_SHA_256", hashes.SHA256),
                                        ("HMAC_384", "HMAC_SHA_384", hashes.SHA384),
                                        ("HMAC_512", "HMAC_SHA_512", hashes.SHA512)])
def test_mac(kms, spec, alg, h):
    kid = new_key(kms, KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
    out = kms("GenerateMac", KeyId=kid, Message=b"msg", MacAlgorithm=alg)
    assert out["KeyId"] == arn(kid) and out["MacAlgorithm"] == alg
    assert len(out["Mac"]) == h.digest_size
    assert kms("VerifyMac", KeyId=kid, Message=b"msg", MacAlgorithm=alg,
               Mac=out["Mac"]) == {"KeyId": arn(kid), "MacValid": True, "MacAlgorithm": alg}
    assert kms.error("VerifyMac", KeyId=kid, Message=b"msg2", MacAlgorithm=alg,
                     Mac=out["Mac"]).code == "KMSInvalidMacException"
    other = "HMAC_SHA_256" if alg != "HMAC_SHA_256" else "HMAC_SHA_512"
    err = kms.error("GenerateMac", KeyId=kid, Message=b"m", MacAlgorithm=other)
    assert err.code == "InvalidKeyUsageException"
    assert err.message == f"Algorithm {other} is incompatible with key spec {spec}."
    # the MAC is a standard HMAC: recompute with the (unwrapped) key material
    assert kms("GenerateMac", KeyId=kid, Message=b"msg", MacAlgorithm=alg)["Mac"] == out["Mac"]


def test_mac_usage_errors(kms):
    sym = new_key(kms)
    assert kms.error("GenerateMac", KeyId=sym, Message=b"m",
                     MacAlgorithm="HMAC_SHA_256").code == "InvalidKeyUsageException"
    mac = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    assert kms.error("GenerateMac", KeyId=mac, Message=b"m" * 4097,
                     MacAlgorithm="HMAC_SHA_256").code == "ValidationException"
    kms("DisableKey", KeyId=mac)
    assert kms.error("GenerateMac", KeyId=mac, Message=b"m",
                     MacAlgorithm="HMAC_SHA_256").code == "DisabledException"


def test_hmac_matches_standard_hmac(backend, kms):
    kid = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    key = backend._ns[(ACCOUNT, REGION)].keys[kid]
    material = backend._version_material(key, key.current)
    h = chmac.HMAC(material, hashes.SHA256())
    h.update(b"hello")
    assert kms("GenerateMac", KeyId=kid, Message=b"hello",
               MacAlgorithm="HMAC_SHA_256")["Mac"] == h.finalize()


# ---------------------------------------------------------------- signatures

RSA_ALGS = [
    ("RSASSA_PSS_SHA_256", hashes.SHA256, "pss"), ("RSASSA_PSS_SHA_384", hashes.SHA384, "pss"),
    ("RSASSA_PSS_SHA_512", hashes.SHA512, "pss"),
    ("RSASSA_PKCS1_V1_5_SHA_256", hashes.SHA256, "pkcs1"),
    ("RSASSA_PKCS1_V1_5_SHA_384", hashes.SHA384, "pkcs1"),
    ("RSASSA_PKCS1_V1_5_SHA_512", hashes.SHA512, "pkcs1"),
]


@pytest.fixture(scope="module")
def rsa_sign_key():
    from broker.core.crypto import AesGcmKey
    from broker.core.entities import MemoryEntityStore
    kms = Client(KmsBackend(MemoryEntityStore(), AesGcmKey.generate()[0]))
    kid = kms("CreateKey", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    return kms, kid


@pytest.mark.parametrize("alg,h,kind", RSA_ALGS)
@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_rsa_sign_verify(rsa_sign_key, alg, h, kind, message_type):
    kms, kid = rsa_sign_key
    message = b"the message"
    if message_type == "DIGEST":
        digest = hashes.Hash(h())
        digest.update(message)
        to_sign = digest.finalize()
    else:
        to_sign = message
    out = kms("Sign", KeyId=kid, Message=to_sign, MessageType=message_type,
              SigningAlgorithm=alg)
    assert out["SigningAlgorithm"] == alg and out["KeyId"].endswith(kid)
    pub = serialization.load_der_public_key(kms("GetPublicKey", KeyId=kid)["PublicKey"])
    pad = (padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size) if kind == "pss"
           else padding.PKCS1v15())
    # verifies with standard tooling over the raw message
    pub.verify(out["Signature"], message, pad, h())
    assert kms("Verify", KeyId=kid, Message=to_sign, MessageType=message_type,
               Signature=out["Signature"], SigningAlgorithm=alg)["SignatureValid"] is True
    bad = bytes([out["Signature"][0] ^ 1]) + out["Signature"][1:]
    assert kms.error("Verify", KeyId=kid, Message=to_sign, MessageType=message_type,
                     Signature=bad, SigningAlgorithm=alg).code == "KMSInvalidSignatureException"


def test_sign_errors(rsa_sign_key):
    kms, kid = rsa_sign_key
    err = kms.error("Sign", KeyId=kid, Message=b"x" * 31, MessageType="DIGEST",
                    SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert err.code == "ValidationException"
    assert err.message == "Digest is invalid length for algorithm RSASSA_PSS_SHA_256."
    assert kms.error("Sign", KeyId=kid, Message=b"x",
                     SigningAlgorithm="ECDSA_SHA_256").code == "InvalidKeyUsageException"
    assert kms.error("Sign", KeyId=kid, Message=b"x" * 4097,
                     SigningAlgorithm="RSASSA_PSS_SHA_256").code == "ValidationException"
    assert kms.error("Encrypt", KeyId=kid, Plaintext=b"x").code == "InvalidKeyUsageException"
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    assert kms.error("Sign", KeyId=sym, Message=b"x",
                     SigningAlgorithm="RSASSA_PSS_SHA_256").code == "InvalidKeyUsageException"
    assert kms.error("GetPublicKey", KeyId=sym).code == "UnsupportedOperationException"


@pytest.mark.parametrize("spec,alg,h", [("ECC_NIST_P256", "ECDSA_SHA_256", hashes.SHA256),
                                        ("ECC_NIST_P384", "ECDSA_SHA_384", hashes.SHA384),
                                        ("ECC_NIST_P521", "ECDSA_SHA_512", hashes.SHA512),
                                        ("ECC_SECG_P256K1", "ECDSA_SHA_256", hashes.SHA256)])
def test_ecdsa_sign_verify(kms, spec, alg, h):
    kid = new_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")
    pk = kms("GetPublicKey", KeyId=kid)
    assert pk["KeySpec"] == spec and pk["KeyUsage"] == "SIGN_VERIFY"
    assert pk["SigningAlgorithms"] == [alg] and pk["KeyId"] == arn(kid)
    pub = serialization.load_der_public_key(pk["PublicKey"])
    sig = kms("Sign", KeyId=kid, Message=b"raw message", SigningAlgorithm=alg)["Signature"]
    pub.verify(sig, b"raw message", ec.ECDSA(h()))  # DER-encoded ECDSA, like AWS
    digest = hashes.Hash(h())
    digest.update(b"raw message")
    d = digest.finalize()
    sig2 = kms("Sign", KeyId=kid, Message=d, MessageType="DIGEST",
               SigningAlgorithm=alg)["Signature"]
    pub.verify(sig2, d, ec.ECDSA(utils.Prehashed(h())))
    assert kms("Verify", KeyId=kid, Message=b"raw message", Signature=sig2,
               SigningAlgorithm=alg)["SignatureValid"] is True
    assert kms.error("Verify", KeyId=kid, Message=b"other", Signature=sig,
                     SigningAlgorithm=alg).code == "KMSInvalidSignatureException"
    assert kms.error("Verify", KeyId=kid, Message=b"other", Signature=b"garbage",
                     SigningAlgorithm=alg).code == "KMSInvalidSignatureException"


def test_get_public_key_rsa_encrypt(kms):
    kid = new_key(kms, KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")
    pk = kms("GetPublicKey", KeyId=kid)
    assert pk["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    assert serialization.load_der_public_key(pk["PublicKey"]).key_size == 3072
    kms("DisableKey", KeyId=kid)
    kms("GetPublicKey", KeyId=kid)  # AWS serves public keys of disabled keys


# ---------------------------------------------------------------- rotation

def test_rotation_on_demand_and_old_ciphertexts(kms, clock):
    kid = new_key(kms)
    md0 = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    old = kms("Encrypt", KeyId=kid, Plaintext=b"v1")
    assert kms("ListKeyRotations", KeyId=kid) == {"Rotations": [], "Truncated": False}
    clock.advance(1)
    assert kms("RotateKeyOnDemand", KeyId=kid) == {"KeyId": arn(kid)}   # the ARN, as AWS answers
    md1 = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert md1["CurrentKeyMaterialId"] != md0["CurrentKeyMaterialId"]
    new = kms("Encrypt", KeyId=kid, Plaintext=b"v2")
    assert kms("Decrypt", CiphertextBlob=old["CiphertextBlob"])["Plaintext"] == b"v1"
    d2 = kms("Decrypt", CiphertextBlob=new["CiphertextBlob"])
    assert d2["Plaintext"] == b"v2" and d2["KeyMaterialId"] == md1["CurrentKeyMaterialId"]
    rot = kms("ListKeyRotations", KeyId=kid)["Rotations"]
    assert len(rot) == 1 and rot[0]["RotationType"] == "ON_DEMAND"
    assert rot[0]["RotationDate"].timestamp() == clock.t
    assert rot[0]["KeyMaterialState"] == "CURRENT"
    allm = kms("ListKeyRotations", KeyId=kid, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [r["KeyMaterialState"] for r in allm] == ["NON_CURRENT", "CURRENT"]
    # on-demand limit
    for _ in range(9):
        kms("RotateKeyOnDemand", KeyId=kid)
    assert kms.error("RotateKeyOnDemand", KeyId=kid).code == "LimitExceededException"
    page = kms("ListKeyRotations", KeyId=kid, Limit=4)
    assert len(page["Rotations"]) == 4 and page["Truncated"]
    rest = kms("ListKeyRotations", KeyId=kid, Limit=100, Marker=page["NextMarker"])
    assert len(rest["Rotations"]) == 6
    assert kms("Decrypt", CiphertextBlob=old["CiphertextBlob"])["Plaintext"] == b"v1"


def test_automatic_rotation(kms, clock):
    kid = new_key(kms)
    assert kms("GetKeyRotationStatus", KeyId=kid) == {"KeyRotationEnabled": False,
                                                      "KeyId": arn(kid)}
    old = kms("Encrypt", KeyId=kid, Plaintext=b"before")["CiphertextBlob"]
    kms("EnableKeyRotation", KeyId=kid, RotationPeriodInDays=90)
    st = kms("GetKeyRotationStatus", KeyId=kid)
    assert st["KeyRotationEnabled"] is True and st["RotationPeriodInDays"] == 90
    assert st["NextRotationDate"].timestamp() == clock.t + 90 * 86400
    clock.advance(91)
    assert len(kms("ListKeyRotations", KeyId=kid)["Rotations"]) == 1
    rot = kms("ListKeyRotations", KeyId=kid)["Rotations"][0]
    assert rot["RotationType"] == "AUTOMATIC"
    clock.advance(200)  # two more periods elapsed
    assert len(kms("ListKeyRotations", KeyId=kid)["Rotations"]) == 3
    assert kms("Decrypt", CiphertextBlob=old)["Plaintext"] == b"before"
    kms("DisableKeyRotation", KeyId=kid)
    assert kms("GetKeyRotationStatus", KeyId=kid)["KeyRotationEnabled"] is False
    clock.advance(400)
    assert len(kms("ListKeyRotations", KeyId=kid)["Rotations"]) == 3
    kms("EnableKeyRotation", KeyId=kid)
    assert kms("GetKeyRotationStatus", KeyId=kid)["RotationPeriodInDays"] == 365


def test_rotation_errors(kms):
    kid = new_key(kms)
    for n in (89, 2561):
        assert kms.error("EnableKeyRotation", KeyId=kid,
                         RotationPeriodInDays=n).code == "ValidationException"
    rsa_key = new_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    mac_key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    for k in (rsa_key, mac_key):
        for op in ("EnableKeyRotation", "RotateKeyOnDemand", "GetKeyRotationStatus",
                   "ListKeyRotations"):
            assert kms.error(op, KeyId=k).code == "UnsupportedOperationException", op
    kms("DisableKey", KeyId=kid)
    assert kms.error("EnableKeyRotation", KeyId=kid).code == "DisabledException"
    assert kms.error("RotateKeyOnDemand", KeyId=kid).code == "DisabledException"


# ---------------------------------------------------------------- dry run

def test_dry_run(kms):
    kid = new_key(kms)
    err = kms.error("Encrypt", KeyId=kid, Plaintext=b"x", DryRun=True)
    assert err.code == "DryRunOperationException"
    # a dry run still validates
    kms("DisableKey", KeyId=kid)
    assert kms.error("Encrypt", KeyId=kid, Plaintext=b"x",
                     DryRun=True).code == "DisabledException"


# ---------------------------------------------------------------- recovery

def _all_bytes(value):
    if isinstance(value, (bytes, bytearray)):
        yield bytes(value)
    elif isinstance(value, str):
        yield value.encode()
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _all_bytes(k)
            yield from _all_bytes(v)
    elif isinstance(value, list):
        for v in value:
            yield from _all_bytes(v)


def test_recovery_from_store(store, master, clock):
    a = Client(KmsBackend(store, master, now=clock))
    sym = new_key(a, Description="sym", Tags=[{"TagKey": "t", "TagValue": "v"}])
    a("CreateAlias", AliasName="alias/recover", TargetKeyId=sym)
    before_rotation = a("Encrypt", KeyId=sym, Plaintext=b"old",
                        EncryptionContext={"x": "y"})["CiphertextBlob"]
    a("RotateKeyOnDemand", KeyId=sym)
    a("EnableKeyRotation", KeyId=sym, RotationPeriodInDays=100)
    after_rotation = a("Encrypt", KeyId="alias/recover", Plaintext=b"new")["CiphertextBlob"]
    mac_key = new_key(a, KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")
    tag = a("GenerateMac", KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    sign_key = new_key(a, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    pub = a("GetPublicKey", KeyId=sign_key)["PublicKey"]
    sig = a("Sign", KeyId=sign_key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    disabled = new_key(a)
    a("DisableKey", KeyId=disabled)
    doomed = new_key(a)
    a("ScheduleKeyDeletion", KeyId=doomed, PendingWindowInDays=7)
    policy = '{"Version": "2012-10-17", "Statement": []}'
    a("PutKeyPolicy", KeyId=sym, Policy=policy)
    managed = a("Encrypt", KeyId="alias/aws/sqs", Plaintext=b"managed")["CiphertextBlob"]
    grant = a("CreateGrant", KeyId=sym, GranteePrincipal="arn:aws:iam::000000000000:role/r",
              Operations=["Decrypt"])
    keys_before = a("ListKeys")
    aliases_before = a("ListAliases")
    md_before = a("DescribeKey", KeyId=sym)["KeyMetadata"]

    # key material never reaches the store in plaintext
    b = KmsBackend(store, master, now=clock)
    materials = [m for m in a.backend._material.values() if isinstance(m, bytes)]
    for key in a.backend._ns[(ACCOUNT, REGION)].keys.values():
        material = a.backend._version_material(key, key.current)
        if not isinstance(material, bytes):
            materials.append(material.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
    assert len(materials) >= 6
    stored = b"".join(_all_bytes([rec for kind in ("kms.key", "kms.alias", "kms.grant")
                                  for _, rec in store.scan(kind)]))
    for material in materials:
        assert material not in stored

    b = Client(b)
    assert b("ListKeys") == keys_before
    assert b("ListAliases") == aliases_before
    assert b("DescribeKey", KeyId=sym)["KeyMetadata"] == md_before
    assert b("Decrypt", CiphertextBlob=before_rotation,
             EncryptionContext={"x": "y"})["Plaintext"] == b"old"
    assert b("Decrypt", CiphertextBlob=after_rotation)["Plaintext"] == b"new"
    assert b("Decrypt", CiphertextBlob=managed)["Plaintext"] == b"managed"
    assert b("VerifyMac", KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_384",
             Mac=tag)["MacValid"] is True
    assert b("GetPublicKey", KeyId=sign_key)["PublicKey"] == pub
    assert b("Verify", KeyId=sign_key, Message=b"m", Signature=sig,
             SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    assert b("ListResourceTags", KeyId=sym)["Tags"] == [{"TagKey": "t", "TagValue": "v"}]
    assert b("GetKeyPolicy", KeyId=sym)["Policy"] == policy
    st = b("GetKeyRotationStatus", KeyId=sym)
    assert st["KeyRotationEnabled"] and st["RotationPeriodInDays"] == 100
    assert len(b("ListKeyRotations", KeyId=sym)["Rotations"]) == 1
    assert b("DescribeKey", KeyId=disabled)["KeyMetadata"]["KeyState"] == "Disabled"
    assert b("DescribeKey", KeyId=doomed)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert [g["GrantId"] for g in b("ListGrants", KeyId=sym)["Grants"]] == [grant["GrantId"]]
    b("RetireGrant", GrantToken=grant["GrantToken"])
    assert b("DescribeKey", KeyId="alias/aws/sqs")["KeyMetadata"]["KeyManager"] == "AWS"
    # lazy deletion still applies after restart, and is persisted
    clock.advance(8)
    assert b.error("DescribeKey", KeyId=doomed).code == "NotFoundException"
    c = Client(KmsBackend(store, master, now=clock))
    assert c.error("DescribeKey", KeyId=doomed).code == "NotFoundException"
    assert c("ListGrants", KeyId=sym)["Grants"] == []


def test_recovery_with_wrong_master_fails_closed(store, master, clock):
    from broker.core.crypto import AesGcmKey
    a = Client(KmsBackend(store, master, now=clock))
    kid = new_key(a)
    blob = a("Encrypt", KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
    b = KmsBackend(store, AesGcmKey.generate()[0], now=clock)
    with pytest.raises(ServiceError) as info:
        b.handle(ACCOUNT, REGION, "Decrypt", {"CiphertextBlob": blob})
    assert info.value.code == "KMSInternalException"


# ---------------------------------------------------------------- internal API (SQS SSE)

def test_internal_api(backend, kms):
    kid = new_key(kms)
    kms("CreateAlias", AliasName="alias/q", TargetKeyId=kid)
    assert backend.resolve_usable_key(ACCOUNT, REGION, "alias/q") == arn(kid)
    assert backend.resolve_usable_key(ACCOUNT, REGION, kid) == arn(kid)
    plaintext, blob, key_arn = backend.generate_data_key(ACCOUNT, REGION, "alias/q",
                                                         {"queue": "q1"})
    assert key_arn == arn(kid) and len(plaintext) == 32
    assert kms("Decrypt", CiphertextBlob=blob,
               EncryptionContext={"queue": "q1"})["Plaintext"] == plaintext
    assert backend.decrypt(ACCOUNT, REGION, blob, {"queue": "q1"}) == (plaintext, arn(kid))
    managed = backend.resolve_usable_key(ACCOUNT, REGION, "alias/aws/sqs")
    assert kms("DescribeKey", KeyId=managed)["KeyMetadata"]["KeyManager"] == "AWS"
    kms("DisableKey", KeyId=kid)
    for call in (lambda: backend.resolve_usable_key(ACCOUNT, REGION, kid),
                 lambda: backend.generate_data_key(ACCOUNT, REGION, kid, None)):
        with pytest.raises(ServiceError) as info:
            call()
        assert info.value.code == "DisabledException"
    kms("ScheduleKeyDeletion", KeyId=kid)
    with pytest.raises(ServiceError) as info:
        backend.resolve_usable_key(ACCOUNT, REGION, kid)
    assert info.value.code == "KMSInvalidStateException"
    with pytest.raises(ServiceError) as info:
        backend.resolve_usable_key(ACCOUNT, REGION, "alias/missing")
    assert info.value.code == "NotFoundException"
    sign_key = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    with pytest.raises(ServiceError) as info:
        backend.resolve_usable_key(ACCOUNT, REGION, sign_key)
    assert info.value.code == "InvalidKeyUsageException"


# ---------------------------------------------------------------- property: ciphertext format

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_ctx = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plaintext=st.binary(min_size=1, max_size=300), ctx=_ctx, other=_ctx)
def test_ciphertext_roundtrip_property(kms, plaintext, ctx, other):
    kid = kms.backend._ns.get((ACCOUNT, REGION)) and next(
        iter(kms.backend._ns[(ACCOUNT, REGION)].keys), None)
    kid = kid or new_key(kms)
    blob = kms("Encrypt", KeyId=kid, Plaintext=plaintext, EncryptionContext=ctx)["CiphertextBlob"]
    assert kms("Decrypt", CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == plaintext
    if other != ctx:
        assert kms.error("Decrypt", CiphertextBlob=blob,
                         EncryptionContext=other).code == "InvalidCiphertextException"
