"""Key material and cryptographic primitives for the KMS service.

Nothing here knows about accounts, key states or the store: it turns key
specs into material (bytes) and material into operations.

Material formats (what gets wrapped by the master key):
- SYMMETRIC_DEFAULT: 32 random bytes (AES-256-GCM key)
- HMAC_*: random bytes of the HMAC's digest size
- RSA_* / ECC_*: the private key, PKCS#8 DER
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

RSA_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
ECC_SPECS = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
HMAC_SPECS = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}

ECC_SIGNING = {
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
}
RSA_SIGNING = [
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
]
RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
HMAC_ALGORITHMS = {"HMAC_224": "HMAC_SHA_224", "HMAC_256": "HMAC_SHA_256",
                   "HMAC_384": "HMAC_SHA_384", "HMAC_512": "HMAC_SHA_512"}
MAC_HASHES = {"HMAC_SHA_224": hashes.SHA224, "HMAC_SHA_256": hashes.SHA256,
              "HMAC_SHA_384": hashes.SHA384, "HMAC_SHA_512": hashes.SHA512}
SIGN_HASHES = {"SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}

# Largest plaintext RSAES_OAEP can encrypt per key size (AWS's documented numbers).
RSA_MAX_PLAINTEXT = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214, ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342, ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470, ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}

DATA_KEY_PAIR_SPECS = set(RSA_SPECS) | set(ECC_SPECS) | {"ECC_NIST_EDWARDS25519"}


class CryptoFailure(Exception):
    """Authentication/parsing failure; the caller maps it to an AWS error."""


# --------------------------------------------------------------------------- material

def generate_material(key_spec: str) -> bytes:
    if key_spec == "SYMMETRIC_DEFAULT":
        return os.urandom(32)
    if key_spec in HMAC_SPECS:
        return os.urandom(HMAC_SPECS[key_spec])
    return _private_to_der(generate_private_key(key_spec))


def generate_private_key(key_spec: str):
    if key_spec in RSA_SPECS:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_SPECS[key_spec])
    if key_spec in ECC_SPECS:
        return ec.generate_private_key(ECC_SPECS[key_spec]())
    if key_spec == "ECC_NIST_EDWARDS25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported asymmetric key spec {key_spec}")


def _private_to_der(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate_key_pair_der(key_spec: str) -> tuple[bytes, bytes]:
    """(private PKCS#8 DER, public SubjectPublicKeyInfo DER) for GenerateDataKeyPair."""
    key = generate_private_key(key_spec)
    return _private_to_der(key), public_der(key)


def load_private(material: bytes):
    return serialization.load_der_private_key(material, password=None)


def public_der(private_key) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# --------------------------------------------------------------------------- symmetric

_BLOB_VERSION = 0x01
VERSION_ID_BYTES = 32
_NONCE = 12


def encode_context(context: dict | None) -> bytes:
    """Canonical, unambiguous serialization of an encryption context (used as AAD)."""
    if not context:
        return b""
    out = bytearray()
    for k in sorted(context):
        kb, vb = k.encode(), str(context[k]).encode()
        out += struct.pack(">I", len(kb)) + kb + struct.pack(">I", len(vb)) + vb
    return bytes(out)


def seal_symmetric(material: bytes, key_id: str, version_id: bytes, plaintext: bytes,
                   context: dict | None) -> bytes:
    """Ciphertext blob: 0x01 | len(key_id) | key_id | version id (32) | nonce (12) | ct+tag.

    The header (which key, which key version) is authenticated together with
    the encryption context, so neither can be swapped without detection.
    """
    kid = key_id.encode()
    header = bytes([_BLOB_VERSION, len(kid)]) + kid + version_id
    nonce = os.urandom(_NONCE)
    ct = AESGCM(material).encrypt(nonce, plaintext, header + b"\x00" + encode_context(context))
    return header + nonce + ct


def parse_symmetric_blob(blob: bytes) -> tuple[str, bytes] | None:
    """(key id, version id) of one of our ciphertext blobs, or None if it is not one."""
    if len(blob) < 2 or blob[0] != _BLOB_VERSION:
        return None
    n = blob[1]
    if n == 0 or len(blob) < 2 + n + VERSION_ID_BYTES + _NONCE + 16:
        return None
    try:
        key_id = blob[2:2 + n].decode("ascii")
    except UnicodeDecodeError:
        return None
    return key_id, blob[2 + n:2 + n + VERSION_ID_BYTES]


def open_symmetric(material: bytes, blob: bytes, context: dict | None) -> bytes:
    n = blob[1]
    hlen = 2 + n + VERSION_ID_BYTES
    header, nonce, ct = blob[:hlen], blob[hlen:hlen + _NONCE], blob[hlen + _NONCE:]
    try:
        return AESGCM(material).decrypt(nonce, ct, header + b"\x00" + encode_context(context))
    except InvalidTag:
        raise CryptoFailure("authentication failed") from None


# --------------------------------------------------------------------------- RSA encryption

def _oaep(algorithm: str):
    h = hashes.SHA1() if algorithm == "RSAES_OAEP_SHA_1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def rsa_encrypt(private_key, algorithm: str, plaintext: bytes) -> bytes:
    return private_key.public_key().encrypt(plaintext, _oaep(algorithm))


def rsa_decrypt(private_key, algorithm: str, ciphertext: bytes) -> bytes:
    try:
        return private_key.decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise CryptoFailure("decryption failed") from None


# --------------------------------------------------------------------------- HMAC

def mac(material: bytes, algorithm: str, message: bytes) -> bytes:
    h = hmac.HMAC(material, MAC_HASHES[algorithm]())
    h.update(message)
    return h.finalize()


def mac_verify(material: bytes, algorithm: str, message: bytes, tag: bytes) -> bool:
    h = hmac.HMAC(material, MAC_HASHES[algorithm]())
    h.update(message)
    try:
        h.verify(tag)
        return True
    except InvalidSignature:
        return False


# --------------------------------------------------------------------------- signatures

def sign_hash(algorithm: str):
    return SIGN_HASHES["_".join(algorithm.rsplit("_", 2)[-2:])]()


def _sig_params(algorithm: str, message_type: str):
    h = sign_hash(algorithm)
    algo = utils.Prehashed(h) if message_type == "DIGEST" else h
    if algorithm.startswith("RSASSA_PSS"):
        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
    elif algorithm.startswith("RSASSA_PKCS1"):
        pad = padding.PKCS1v15()
    else:
        pad = None
    return algo, pad


def sign(private_key, algorithm: str, message_type: str, message: bytes) -> bytes:
    algo, pad = _sig_params(algorithm, message_type)
    if algorithm.startswith("ECDSA"):
        return private_key.sign(message, ec.ECDSA(algo))  # DER-encoded, as AWS returns
    return private_key.sign(message, pad, algo)


def verify(private_key, algorithm: str, message_type: str, message: bytes,
           signature: bytes) -> bool:
    algo, pad = _sig_params(algorithm, message_type)
    pub = private_key.public_key()
    try:
        if algorithm.startswith("ECDSA"):
            pub.verify(signature, message, ec.ECDSA(algo))
        else:
            pub.verify(signature, message, pad, algo)
        return True
    except (InvalidSignature, ValueError):
        return False
