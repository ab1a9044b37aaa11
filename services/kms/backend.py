"""AWS KMS semantics (json 1.1, botocore model ``kms``) as a pure backend.

`KmsBackend.handle(account, region, operation, params)` takes decoded
request params (botocore-style python values) and returns the result dict in
the operation's output shape, or raises `ServiceError` with AWS's code.

State: hot in memory, every change persisted as a record through the
`EntityStore` (kinds ``kms.key``, ``kms.alias``, ``kms.grant``); a new backend
rebuilds itself from ``scan``. Key material is stored only wrapped by the
master key, with AAD ``<key arn>#<key material id>``.

The operations live in one mixin per concern (keys, aliases, material,
cryptoops, rotation, policy, grants); this module keeps the class itself:
construction, recovery, persistence, dispatch and the internal API used by
other services.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from botocore import xform_name

from broker.core.crypto import AesGcmKey
from broker.core.entities import EntityStore

from .agreement import AgreementMixin
from .aliases import AliasesMixin
from .cryptoops import CryptoOpsMixin
from .grants import GrantsMixin
from .imports import ImportsMixin
from .keys import KeysMixin
from .material import MaterialMixin
from .model import KIND_ALIAS, KIND_GRANT, KIND_KEY, _Key, _Namespace
from .multiregion import MultiRegionMixin
from .policy import PolicyMixin
from .rotation import RotationMixin
from .validation import _dry_run_error, _err

IMPLEMENTED_OPERATIONS = (
    "CreateKey", "DescribeKey", "ListKeys", "UpdateKeyDescription",
    "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion",
    "CreateAlias", "DeleteAlias", "UpdateAlias", "ListAliases",
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom",
    "GenerateMac", "VerifyMac", "Sign", "Verify", "GetPublicKey",
    "EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand",
    "ListKeyRotations",
    "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies",
    "TagResource", "UntagResource", "ListResourceTags",
    "CreateGrant", "ListGrants", "ListRetirableGrants", "RetireGrant", "RevokeGrant",
    "GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial",
    "ReplicateKey", "UpdatePrimaryRegion", "DeriveSharedSecret",
)

# Operations of the model this broker answers with UnsupportedOperationException.
UNSUPPORTED_OPERATIONS = (
    "ConnectCustomKeyStore", "CreateCustomKeyStore", "DeleteCustomKeyStore",
    "DescribeCustomKeyStores", "DisconnectCustomKeyStore", "UpdateCustomKeyStore",
    "Encapsulate", "Decapsulate", "GetKeyLastUsage",
)

# Operations whose work is CPU-heavy whatever the key (RSA key generation): the shard runs
# them off its event loop. Others are heavy only with an asymmetric key (see `is_heavy`).
_HEAVY_ALWAYS = frozenset({"GetParametersForImport", "ImportKeyMaterial"})
_HEAVY_WITH_ASYMMETRIC_KEY = frozenset({"Encrypt", "Decrypt", "ReEncrypt", "Sign", "Verify", "GetPublicKey",
                                        "DeriveSharedSecret"})
_ASYMMETRIC_PAIRS = frozenset({"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                               "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"})


class KmsBackend(KeysMixin, AliasesMixin, MaterialMixin, CryptoOpsMixin, RotationMixin,
                 PolicyMixin, GrantsMixin, ImportsMixin, MultiRegionMixin, AgreementMixin):
    def __init__(self, store: EntityStore, master: AesGcmKey,
                 now: Callable[[], float] = time.time):
        self._store = store
        self._master = master
        self._now = now
        self._ns: dict[tuple[str, str], _Namespace] = {}
        self._material: dict[tuple[str, str], Any] = {}  # (arn, version id) -> bytes/key object
        self._tokens: dict[str, tuple[str, str, str]] = {}  # grant token -> (acct, region, id)
        self._dispatch: dict[str, Callable[..., dict]] = {
            op: getattr(self, "_op_" + xform_name(op)) for op in IMPLEMENTED_OPERATIONS}
        self._principal: str | None = None
        self._outgoing: list[tuple[str, str, dict]] = []   # replica messages (multiregion.py)
        self._load()

    # ------------------------------------------------------------------ recovery

    def _load(self) -> None:
        for _, rec in self._store.scan(KIND_KEY):
            key = _Key.from_record(rec)
            self._namespace(key.account, key.region).keys[key.key_id] = key
        for _, rec in self._store.scan(KIND_ALIAS):
            self._namespace(rec["account"], rec["region"]).aliases[rec["name"]] = dict(rec)
        for _, rec in self._store.scan(KIND_GRANT):
            ns = self._namespace(rec["account"], rec["region"])
            ns.grants[rec["grant_id"]] = dict(rec)
            for token in rec.get("tokens") or []:
                self._tokens[token] = (rec["account"], rec["region"], rec["grant_id"])

    def _namespace(self, account: str, region: str) -> _Namespace:
        ns = self._ns.get((account, region))
        if ns is None:
            ns = self._ns[(account, region)] = _Namespace()
        return ns

    # ------------------------------------------------------------------ persistence

    @staticmethod
    def _rec_key(account: str, region: str, name: str) -> str:
        return f"{account}:{region}:{name}"

    def _save_key(self, key: _Key) -> None:
        self._store.put(KIND_KEY, self._rec_key(key.account, key.region, key.key_id),
                        key.to_record())

    def _save_alias(self, alias: dict) -> None:
        self._store.put(KIND_ALIAS, self._rec_key(alias["account"], alias["region"],
                                                  alias["name"]), dict(alias))

    def _save_grant(self, grant: dict) -> None:
        rec = dict(grant)
        rec["operations"] = list(grant["operations"])
        self._store.put(KIND_GRANT, self._rec_key(grant["account"], grant["region"],
                                                  grant["grant_id"]), rec)

    # ------------------------------------------------------------------ entry point

    def handle(self, account: str, region: str, operation: str, params: dict, *,
               principal_arn: str | None = None) -> dict:
        fn = self._dispatch.get(operation)
        if fn is None:
            if operation in UNSUPPORTED_OPERATIONS:
                raise _err("UnsupportedOperationException",
                           f"{operation} is not supported by this KMS implementation.")
            raise _err("UnknownOperationException", f"Unknown operation {operation}")
        self._principal = principal_arn
        if params and params.get("DryRun"):
            # everything an actual call would check, without its effects
            snapshot = self._outgoing[:]
            fn(self._namespace(account, region), account, region, params or {})
            self._outgoing = snapshot
            raise _dry_run_error()
        result = fn(self._namespace(account, region), account, region, params or {})
        return result if result is not None else {}

    def is_heavy(self, account: str, region: str, operation: str, params: dict) -> bool:
        """Will this call do CPU-heavy cryptography (RSA/ECC key generation, RSA operations)?
        Read-only: looks keys and aliases up without side effects."""
        if operation in _HEAVY_ALWAYS:
            return True
        if operation == "CreateKey":
            return (params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT") in \
                _ASYMMETRIC_PAIRS and (params.get("Origin") or "AWS_KMS") == "AWS_KMS"
        if operation in ("GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"):
            return params.get("KeyPairSpec") in _ASYMMETRIC_PAIRS
        if operation in _HEAVY_WITH_ASYMMETRIC_KEY:
            # without a KeyId, Decrypt takes the key from a symmetric ciphertext: light
            key = self._peek(account, region, params.get("KeyId") or params.get("SourceKeyId"))
            dest = self._peek(account, region, params.get("DestinationKeyId")) if operation == "ReEncrypt" else None
            return any(k is not None and k.asymmetric for k in (key, dest))
        return False

    def _peek(self, account: str, region: str, ident) -> "_Key | None":
        if not isinstance(ident, str):
            return None
        ns = self._ns.get((account, region))
        if ns is None:
            return None
        key_id = ident.rsplit("key/", 1)[-1] if ident.startswith("arn:") else ident
        alias = ns.aliases.get(ident if ident.startswith("alias/") else ident.split(":", 5)[-1])
        if alias is not None:
            key_id = alias["target"]
        return ns.keys.get(key_id)

    def take_outgoing(self) -> list[tuple[str, str, dict]]:
        out, self._outgoing = self._outgoing, []
        return out

    # ------------------------------------------------------------------ internal API

    def resolve_usable_key(self, account: str, region: str, key_id: str) -> str:
        """The ARN of a key usable for Encrypt/GenerateDataKey (same errors as Encrypt)."""
        key = self._usable(self._namespace(account, region), account, region, key_id,
                           "GenerateDataKey")
        self._require_symmetric(key, "GenerateDataKey")
        return key.arn

    def generate_data_key(self, account: str, region: str, key_id: str,
                          context: dict | None) -> tuple[bytes, bytes, str]:
        key = self._usable(self._namespace(account, region), account, region, key_id,
                           "GenerateDataKey")
        self._require_symmetric(key, "GenerateDataKey")
        plaintext = os.urandom(32)
        return plaintext, self._encrypt_symmetric(key, plaintext, context), key.arn

    def decrypt(self, account: str, region: str, ciphertext_blob: bytes,
                context: dict | None) -> tuple[bytes, str]:
        """Decrypt one of our symmetric ciphertext blobs (e.g. a data key); (plaintext, arn)."""
        out = self._op_decrypt(self._namespace(account, region), account, region,
                               {"CiphertextBlob": ciphertext_blob, "EncryptionContext": context})
        return out["Plaintext"], out["KeyId"]
