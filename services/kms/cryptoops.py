"""Cryptographic operations: Encrypt/Decrypt/ReEncrypt, data keys and key pairs,
GenerateRandom, MACs, signatures and GetPublicKey."""

from __future__ import annotations

import os
from typing import Any

from . import crypto as kc
from .model import MAC_ALGORITHMS_AWS_ORDER, _Key, valid_key_id
from .validation import _blob, _enum_error, _err, _range_check, _required, _validation


class CryptoOpsMixin:
    """Cryptographic operations of `KmsBackend`."""

    # ================================================================== symmetric/RSA crypto

    def _context(self, p: dict, member: str = "EncryptionContext") -> dict | None:
        ctx = p.get(member)
        if ctx is None:
            return None
        if not isinstance(ctx, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in ctx.items()):
            raise _validation(f"{member} must be a map of strings to strings")
        return ctx

    def _encrypt(self, key: _Key, algorithm: str | None, plaintext: bytes,
                 context: dict | None, op: str) -> tuple[bytes, str]:
        self._require_usage(key, "ENCRYPT_DECRYPT", op)
        algorithm = algorithm or "SYMMETRIC_DEFAULT"
        valid = ["SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"]
        if algorithm not in valid:
            raise _enum_error(algorithm, "EncryptionAlgorithm", valid)
        if key.symmetric:
            if algorithm != "SYMMETRIC_DEFAULT":
                raise _err("InvalidKeyUsageException",
                           f"Algorithm {algorithm} is incompatible with key spec {key.spec}.")
            return self._encrypt_symmetric(key, plaintext, context), algorithm
        if algorithm not in kc.RSA_ENCRYPTION:
            raise _err("InvalidKeyUsageException",
                       f"Algorithm {algorithm} is incompatible with key spec {key.spec}.")
        if context:
            raise _validation("EncryptionContext is not supported with asymmetric KMS keys.")
        limit = kc.RSA_MAX_PLAINTEXT[(key.spec, algorithm)]
        if len(plaintext) > limit:
            raise _validation(f"Algorithm {algorithm} and key spec {key.spec} cannot encrypt "
                              f"data larger than {limit} bytes.")
        priv = self._version_material(key, key.current)
        return kc.rsa_encrypt(priv, algorithm, plaintext), algorithm

    def _decrypt(self, ns, account, region, blob: bytes, key_param: Any,
                 algorithm: str | None, context: dict | None, op: str):
        """(key, plaintext, algorithm, key material id or None)."""
        valid = ["SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"]
        if algorithm is not None and algorithm not in valid:
            raise _enum_error(algorithm, "EncryptionAlgorithm", valid)
        parsed = kc.parse_symmetric_blob(blob)
        if key_param is not None:
            key = self._resolve(ns, account, region, key_param)
            self._check_state(key)
            if key.usage != "ENCRYPT_DECRYPT":     # AWS: the named key cannot have produced it
                raise _err("IncorrectKeyException", "The key ID in the request does not identify a CMK that "
                           "can perform this operation.")
            if not key.symmetric:
                algorithm = algorithm or "SYMMETRIC_DEFAULT"
                if algorithm not in kc.RSA_ENCRYPTION:
                    raise _err("InvalidKeyUsageException",
                               f"Algorithm {algorithm} is incompatible with key spec "
                               f"{key.spec}.")
                if context:
                    raise _validation("EncryptionContext is not supported with asymmetric KMS "
                                      "keys.")
                priv = self._version_material(key, key.current)
                try:
                    return key, kc.rsa_decrypt(priv, algorithm, blob), algorithm, None
                except kc.CryptoFailure:
                    raise _err("InvalidCiphertextException", "") from None
            if algorithm not in (None, "SYMMETRIC_DEFAULT"):
                raise _err("InvalidKeyUsageException",
                           f"Algorithm {algorithm} is incompatible with key spec {key.spec}.")
            if parsed is None:
                raise _err("InvalidCiphertextException", "")
            if parsed[0] != key.key_id:
                raise _err("IncorrectKeyException",
                           "The key ID in the request does not identify a CMK that can perform "
                           "this operation.")
        else:
            if algorithm not in (None, "SYMMETRIC_DEFAULT"):
                raise _validation("KeyId is required when the EncryptionAlgorithm is "
                                  f"{algorithm}.")
            if parsed is None:
                raise _err("InvalidCiphertextException", "")
            key = ns.keys.get(parsed[0])
            key = self._refresh(ns, key) if key is not None else None
            if key is None:
                raise _err("NotFoundException",
                           f"Key '{self._key_arn(account, region, parsed[0])}' does not exist"
                           if valid_key_id(parsed[0]) else "")
            self._check_state(key)
            self._require_usage(key, "ENCRYPT_DECRYPT", op)
        vid = parsed[1].hex()
        version = next((v for v in key.versions if v["id"] == vid), None)
        if version is None:
            raise _err("InvalidCiphertextException", "")
        try:
            plaintext = kc.open_symmetric(self._version_material(key, version), blob, context)
        except kc.CryptoFailure:
            raise _err("InvalidCiphertextException", "") from None
        return key, plaintext, "SYMMETRIC_DEFAULT", vid

    def _op_encrypt(self, ns, account, region, p):
        key = self._usable(ns, account, region, _required(p, "KeyId"), "Encrypt")
        plaintext = _blob(p, "Plaintext", 1, 4096)
        blob, algorithm = self._encrypt(key, p.get("EncryptionAlgorithm"), plaintext,
                                        self._context(p), "Encrypt")
        return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}

    def _op_decrypt(self, ns, account, region, p):
        if p.get("Recipient"):
            raise _err("UnsupportedOperationException",
                       "Recipient (Nitro Enclaves attestation) is not supported.")
        blob = _blob(p, "CiphertextBlob", 1, 6144)
        key, plaintext, algorithm, vid = self._decrypt(
            ns, account, region, blob, p.get("KeyId"), p.get("EncryptionAlgorithm"),
            self._context(p), "Decrypt")
        out = {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}
        if vid:
            out["KeyMaterialId"] = vid
        return out

    def _op_re_encrypt(self, ns, account, region, p):
        blob = _blob(p, "CiphertextBlob", 1, 6144)
        dest_param = _required(p, "DestinationKeyId")
        src_key, plaintext, src_alg, src_vid = self._decrypt(
            ns, account, region, blob, p.get("SourceKeyId"), p.get("SourceEncryptionAlgorithm"),
            self._context(p, "SourceEncryptionContext"), "ReEncrypt")
        dest = self._usable(ns, account, region, dest_param, "ReEncrypt")
        new_blob, dest_alg = self._encrypt(dest, p.get("DestinationEncryptionAlgorithm"),
                                           plaintext,
                                           self._context(p, "DestinationEncryptionContext"),
                                           "ReEncrypt")
        out = {"CiphertextBlob": new_blob, "SourceKeyId": src_key.arn, "KeyId": dest.arn,
               "SourceEncryptionAlgorithm": src_alg, "DestinationEncryptionAlgorithm": dest_alg}
        if src_vid:
            out["SourceKeyMaterialId"] = src_vid
        if dest.symmetric:
            out["DestinationKeyMaterialId"] = dest.current["id"]
        return out

    def _data_key_length(self, p: dict) -> int:
        spec, n = p.get("KeySpec"), p.get("NumberOfBytes")
        if (spec is None) == (n is None):
            raise _validation("Please specify either number of bytes or key spec.")
        if spec is not None:
            if spec not in ("AES_256", "AES_128"):
                raise _enum_error(spec, "KeySpec", ["AES_256", "AES_128"])
            return 32 if spec == "AES_256" else 16
        return _range_check(p, "NumberOfBytes", 1, 1024)

    def _generate_data_key(self, ns, account, region, p, op):
        if p.get("Recipient"):
            raise _err("UnsupportedOperationException",
                       "Recipient (Nitro Enclaves attestation) is not supported.")
        key = self._usable(ns, account, region, _required(p, "KeyId"), op)
        self._require_symmetric(key, op)
        length = self._data_key_length(p)
        plaintext = os.urandom(length)
        blob = self._encrypt_symmetric(key, plaintext, self._context(p))
        return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn,
                "KeyMaterialId": key.current["id"]}

    def _op_generate_data_key(self, ns, account, region, p):
        return self._generate_data_key(ns, account, region, p, "GenerateDataKey")

    def _op_generate_data_key_without_plaintext(self, ns, account, region, p):
        out = self._generate_data_key(ns, account, region, p, "GenerateDataKeyWithoutPlaintext")
        del out["Plaintext"]
        return out

    def _generate_data_key_pair(self, ns, account, region, p, op):
        if p.get("Recipient"):
            raise _err("UnsupportedOperationException",
                       "Recipient (Nitro Enclaves attestation) is not supported.")
        key = self._usable(ns, account, region, _required(p, "KeyId"), op)
        spec = _required(p, "KeyPairSpec")
        valid = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                 "ECC_NIST_P521", "ECC_SECG_P256K1", "SM2", "ECC_NIST_EDWARDS25519",
                 "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"]
        if spec not in valid:
            raise _enum_error(spec, "KeyPairSpec", valid)
        self._require_symmetric(key, op)
        if spec not in kc.DATA_KEY_PAIR_SPECS:
            raise _err("UnsupportedOperationException",
                       f"KeyPairSpec {spec} is not supported by this KMS implementation.")
        private, public = kc.generate_key_pair_der(spec)
        blob = self._encrypt_symmetric(key, private, self._context(p))
        return {"PrivateKeyCiphertextBlob": blob, "PrivateKeyPlaintext": private,
                "PublicKey": public, "KeyId": key.arn, "KeyPairSpec": spec,
                "KeyMaterialId": key.current["id"]}

    def _op_generate_data_key_pair(self, ns, account, region, p):
        return self._generate_data_key_pair(ns, account, region, p, "GenerateDataKeyPair")

    def _op_generate_data_key_pair_without_plaintext(self, ns, account, region, p):
        out = self._generate_data_key_pair(ns, account, region, p,
                                           "GenerateDataKeyPairWithoutPlaintext")
        del out["PrivateKeyPlaintext"]
        return out

    def _op_generate_random(self, ns, account, region, p):
        if p.get("CustomKeyStoreId"):
            raise _err("CustomKeyStoreNotFoundException",
                       f"Custom key store {p['CustomKeyStoreId']} does not exist.")
        if p.get("Recipient"):
            raise _err("UnsupportedOperationException",
                       "Recipient (Nitro Enclaves attestation) is not supported.")
        n = _range_check(p, "NumberOfBytes", 1, 1024)
        if n is None:
            raise _validation("NumberOfBytes is required.")
        return {"Plaintext": os.urandom(n)}

    # ================================================================== MAC

    def _mac_key(self, ns, account, region, p, op) -> tuple[_Key, str, bytes]:
        message = _blob(p, "Message", 1, 4096)
        key = self._usable(ns, account, region, _required(p, "KeyId"), op)
        algorithm = _required(p, "MacAlgorithm")
        if algorithm not in MAC_ALGORITHMS_AWS_ORDER:
            raise _enum_error(algorithm, "MacAlgorithm", MAC_ALGORITHMS_AWS_ORDER)
        self._require_usage(key, "GENERATE_VERIFY_MAC", op)
        if kc.HMAC_ALGORITHMS[key.spec] != algorithm:
            raise _err("InvalidKeyUsageException",
                       f"Algorithm {algorithm} is incompatible with key spec {key.spec}.")
        return key, algorithm, message

    def _op_generate_mac(self, ns, account, region, p):
        key, algorithm, message = self._mac_key(ns, account, region, p, "GenerateMac")
        tag = kc.mac(self._version_material(key, key.current), algorithm, message)
        return {"Mac": tag, "MacAlgorithm": algorithm, "KeyId": key.arn}

    def _op_verify_mac(self, ns, account, region, p):
        key, algorithm, message = self._mac_key(ns, account, region, p, "VerifyMac")
        tag = _blob(p, "Mac", 1, 6144)
        if not kc.mac_verify(self._version_material(key, key.current), algorithm, message, tag):
            raise _err("KMSInvalidMacException", "")
        return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": algorithm}

    # ================================================================== signatures

    def _sign_key(self, ns, account, region, p, op):
        message = _blob(p, "Message", 1, 4096)
        key = self._usable(ns, account, region, _required(p, "KeyId"), op)
        algorithm = _required(p, "SigningAlgorithm")
        valid = ["RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                 "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                 "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512",
                 "SM2DSA", "ML_DSA_SHAKE_256", "ED25519_SHA_512", "ED25519_PH_SHA_512"]
        if algorithm not in valid:
            raise _enum_error(algorithm, "SigningAlgorithm", valid)
        message_type = p.get("MessageType") or "RAW"
        if message_type not in ("RAW", "DIGEST", "EXTERNAL_MU"):
            raise _enum_error(message_type, "MessageType", ["RAW", "DIGEST", "EXTERNAL_MU"])
        self._require_usage(key, "SIGN_VERIFY", op)
        if algorithm not in self._signing_algorithms(key):
            raise _err("InvalidKeyUsageException",
                       f"Algorithm {algorithm} is incompatible with key spec {key.spec}.")
        if message_type == "EXTERNAL_MU":
            raise _err("InvalidKeyUsageException",
                       f"MessageType EXTERNAL_MU is incompatible with key spec {key.spec}.")
        if message_type == "DIGEST" and len(message) != kc.sign_hash(algorithm).digest_size:
            raise _validation(f"Digest is invalid length for algorithm {algorithm}.")
        return key, algorithm, message_type, message

    def _op_sign(self, ns, account, region, p):
        key, algorithm, message_type, message = self._sign_key(ns, account, region, p, "Sign")
        signature = kc.sign(self._version_material(key, key.current), algorithm, message_type,
                            message)
        return {"KeyId": key.arn, "Signature": signature, "SigningAlgorithm": algorithm}

    def _op_verify(self, ns, account, region, p):
        key, algorithm, message_type, message = self._sign_key(ns, account, region, p, "Verify")
        signature = _blob(p, "Signature", 1, 6144)
        if not kc.verify(self._version_material(key, key.current), algorithm, message_type,
                         message, signature):
            raise _err("KMSInvalidSignatureException", "")
        return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}

    def _op_get_public_key(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        # AWS answers GetPublicKey for disabled keys too (unlike the key-state table says).
        self._check_state(key, disabled=True, importing=False)
        if not key.asymmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec} which is not valid for GetPublicKey.")
        out = {"KeyId": key.arn,
               "PublicKey": kc.public_der(self._version_material(key, key.current)),
               "CustomerMasterKeySpec": key.spec, "KeySpec": key.spec, "KeyUsage": key.usage}
        if key.usage == "ENCRYPT_DECRYPT":
            out["EncryptionAlgorithms"] = list(kc.RSA_ENCRYPTION)
        elif key.usage == "KEY_AGREEMENT":
            out["KeyAgreementAlgorithms"] = ["ECDH"]
        else:
            out["SigningAlgorithms"] = self._signing_algorithms(key)
        return out
