"""Imported key material (Origin=EXTERNAL): GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, expiry, and new material waiting for an on-demand rotation.

A key created with Origin=EXTERNAL has no material (state PendingImport) until one is
imported. GetParametersForImport hands out an RSA wrapping public key and an import
token valid for 24 hours; the private half is kept (wrapped by the master key) in the
key record under the token. Material ids are derived from the material, so importing
the same material again (after a delete or expiry) restores it under the same id. A
symmetric key may take NEW_KEY_MATERIAL while it has material: that one waits
(PENDING_ROTATION) until RotateKeyOnDemand makes it current; older material keeps
decrypting what it encrypted.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from . import crypto as kc
from .model import DAY, _Key
from .validation import _enum_error, _err, _required, _ts, _validation

WRAPPING_ALGORITHMS = ["RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1",
                       "RSA_AES_KEY_WRAP_SHA_256", "SM2PKE"]
WRAPPING_KEY_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096", "SM2"]
EXPIRATION_MODELS = ["KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"]
IMPORT_TYPES = ["NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"]
PARAMETERS_VALID = 1 * DAY
MAX_OPEN_PARAMETERS = 5          # import tokens kept per key (the newest)
HMAC_MATERIAL_BYTES = {"HMAC_224": (28, 64), "HMAC_256": (32, 64), "HMAC_384": (48, 128), "HMAC_512": (64, 128)}
_TOKEN_MAGIC = b"kms-import-token:"


def material_id(material: bytes) -> str:
    """The id of a piece of key material: the same material always has the same id."""
    return hashlib.sha256(b"kms-key-material-id\0" + material).hexdigest()


def _incorrect_material():
    return _err("IncorrectKeyMaterialException", "The key material in the request is, expired, invalid, or is not "
                "the same key material that was previously imported into this KMS key.")


def _not_external(key: _Key):
    return _err("UnsupportedOperationException", f"{key.arn} origin is {key.origin} which is not valid for this "
                "operation.")


def _unwrap(priv, algorithm: str, blob: bytes) -> bytes:
    """Unwrap EncryptedKeyMaterial as KMS does for each wrapping algorithm."""
    if algorithm == "RSAES_PKCS1_V1_5":
        return priv.decrypt(blob, padding.PKCS1v15())
    if algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        h = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
        return priv.decrypt(blob, padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
    # RSA_AES_KEY_WRAP_*: an ephemeral AES key (RSA-OAEP) then the material (AES key wrap, RFC 5649)
    h = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    n = priv.key_size // 8
    aes = priv.decrypt(blob[:n], padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
    return aes_key_unwrap_with_padding(aes, blob[n:])


def _check_material(key: _Key, material: bytes) -> bytes:
    """The material in the form we store for `key`'s spec (raw bytes, or PKCS#8 DER)."""
    if key.spec == "SYMMETRIC_DEFAULT":
        if len(material) != 32:
            raise _incorrect_material()
        return material
    if key.spec in HMAC_MATERIAL_BYTES:
        lo, hi = HMAC_MATERIAL_BYTES[key.spec]
        if not lo <= len(material) <= hi:
            raise _incorrect_material()
        return material
    try:
        priv = serialization.load_der_private_key(material, password=None)
    except (ValueError, TypeError):
        raise _incorrect_material() from None
    if key.spec in kc.RSA_SPECS:
        ok = isinstance(priv, rsa.RSAPrivateKey) and priv.key_size == kc.RSA_SPECS[key.spec]
    else:
        ok = isinstance(priv, ec.EllipticCurvePrivateKey) and isinstance(priv.curve, kc.ECC_SPECS[key.spec])
    if not ok:
        raise _incorrect_material()
    return material


class ImportsMixin:
    """Imported key material of `KmsBackend`."""

    def _external(self, ns, account, region, p) -> _Key:
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if key.origin != "EXTERNAL":
            raise _not_external(key)
        self._check_state(key, disabled=True)
        return key

    def _op_get_parameters_for_import(self, ns, account, region, p):
        key = self._external(ns, account, region, p)
        algorithm = _required(p, "WrappingAlgorithm")
        if algorithm not in WRAPPING_ALGORITHMS:
            raise _enum_error(algorithm, "WrappingAlgorithm", WRAPPING_ALGORITHMS)
        spec = _required(p, "WrappingKeySpec")
        if spec not in WRAPPING_KEY_SPECS:
            raise _enum_error(spec, "WrappingKeySpec", WRAPPING_KEY_SPECS)
        if spec == "SM2" or algorithm == "SM2PKE":
            raise _err("UnsupportedOperationException", "SM2 wrapping keys are only available in China Regions.")
        priv = rsa.generate_private_key(public_exponent=65537, key_size=kc.RSA_SPECS[spec])
        token_id = os.urandom(16).hex()
        now = self._now()
        der = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        key.import_params = [q for q in key.import_params if q["valid_to"] > now][-(MAX_OPEN_PARAMETERS - 1):]
        key.import_params.append({"token": token_id, "algorithm": algorithm, "valid_to": now + PARAMETERS_VALID,
                                  "wrapped": self._master.wrap(der, aad=self._token_aad(key, token_id))})
        self._save_key(key)
        return {"KeyId": key.arn, "ImportToken": _TOKEN_MAGIC + token_id.encode(),
                "PublicKey": kc.public_der(priv), "ParametersValidTo": _ts(now + PARAMETERS_VALID)}

    @staticmethod
    def _token_aad(key: _Key, token_id: str) -> bytes:
        return f"{key.arn}#import#{token_id}".encode()

    def _op_import_key_material(self, ns, account, region, p):
        key = self._external(ns, account, region, p)
        token = _required(p, "ImportToken")
        blob = _required(p, "EncryptedKeyMaterial")
        model = p.get("ExpirationModel") or "KEY_MATERIAL_EXPIRES"
        if model not in EXPIRATION_MODELS:
            raise _enum_error(model, "ExpirationModel", EXPIRATION_MODELS)
        valid_to = p.get("ValidTo")
        if model == "KEY_MATERIAL_EXPIRES" and valid_to is None:
            raise _validation("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
        if model == "KEY_MATERIAL_DOES_NOT_EXPIRE" and valid_to is not None:
            raise _validation("A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")
        valid_to = valid_to.timestamp() if valid_to is not None else None
        import_type = p.get("ImportType")
        if import_type is not None and import_type not in IMPORT_TYPES:
            raise _enum_error(import_type, "ImportType", IMPORT_TYPES)
        now = self._now()
        if valid_to is not None and valid_to <= now:
            raise _validation("The ValidTo date must be in the future.")
        token = bytes(token)
        params = next((q for q in key.import_params if _TOKEN_MAGIC + q["token"].encode() == token
                       and q["valid_to"] > now), None)
        if params is None:
            raise _err("InvalidImportTokenException", "The import token is invalid or has expired. Call "
                       "GetParametersForImport again.")
        priv = serialization.load_der_private_key(
            self._master.unwrap(params["wrapped"], aad=self._token_aad(key, params["token"])), password=None)
        try:
            material = _unwrap(priv, params["algorithm"], bytes(blob))
        except (ValueError, InvalidUnwrap):
            raise _err("InvalidCiphertextException") from None
        material = _check_material(key, material)
        mid = material_id(material)
        if p.get("KeyMaterialId") is not None and p["KeyMaterialId"] != mid:
            raise _incorrect_material()
        entry = {"expiration_model": model, "valid_to": valid_to,
                 "description": p.get("KeyMaterialDescription")}
        known = next((v for v in key.versions + key.pending if v["id"] == mid), None)
        if known is not None:                       # the same material again: restore it
            known.update(entry, wrapped=self._master.wrap(material, aad=self._wrap_aad(key.arn, mid)))
        elif not key.versions:                      # the first material of the key
            self._add_version(key, None, now, material, vid=mid, **entry)
        elif not key.symmetric or import_type != "NEW_KEY_MATERIAL":
            raise _incorrect_material()
        elif key.pending:
            raise _err("KMSInvalidStateException",
                       f"New key material (id: {mid}) cannot be imported into KMS key {key.key_id}, because "
                       f"another key material (id: {key.pending[0]['id']}) is pending rotation.")
        else:                                       # waits for RotateKeyOnDemand
            key.pending.append({"id": mid, "created": now, "rotation_type": "ON_DEMAND",
                                "wrapped": self._master.wrap(material, aad=self._wrap_aad(key.arn, mid)),
                                **entry})
        self._material.pop((key.arn, mid), None)
        if key.state == "PendingImport" and key.has_material:
            key.state = "Enabled"
        self._save_key(key)
        return {"KeyId": key.arn, "KeyMaterialId": mid}

    def _op_delete_imported_key_material(self, ns, account, region, p):
        key = self._external(ns, account, region, p)
        mid = p.get("KeyMaterialId")
        if mid is None:
            if not key.versions:
                raise _err("KMSInvalidStateException", f"{key.arn} is pending import.")
            mid = key.current["id"]
        pending = next((v for v in key.pending if v["id"] == mid), None)
        if pending is not None:
            key.pending.remove(pending)
        else:
            version = next((v for v in key.versions if v["id"] == mid), None)
            if version is None:
                raise _err("NotFoundException", f"Key material '{mid}' does not exist for key {key.arn}.")
            version["wrapped"] = None
            if version is key.current:
                key.state = "PendingImport"
        self._material.pop((key.arn, mid), None)
        self._save_key(key)
        return {"KeyId": key.arn, "KeyMaterialId": mid}

    def _expire_material(self, key: _Key, now: float) -> None:
        """Imported material past its ValidTo is deleted, as if by DeleteImportedKeyMaterial."""
        v = key.current
        if v.get("valid_to") is not None and v["valid_to"] <= now and v.get("wrapped") is not None:
            v["wrapped"] = None
            self._material.pop((key.arn, v["id"]), None)
            if key.state in ("Enabled", "Disabled"):
                key.state = "PendingImport"
            self._save_key(key)

    def _rotate_imported(self, key: _Key) -> None:
        """RotateKeyOnDemand on an EXTERNAL key: the pending material becomes current."""
        if not key.pending:
            raise _err("KMSInvalidStateException",
                       f"No available key material pending rotation for the key: {key.arn}.")
        version = key.pending.pop(0)
        version["created"] = self._now()
        key.versions.append(version)
