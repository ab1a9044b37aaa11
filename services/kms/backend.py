"""AWS KMS semantics (json 1.1, botocore model ``kms``) as a pure backend.

`KmsBackend.handle(account, region, operation, params)` takes decoded
request params (botocore-style python values) and returns the result dict in
the operation's output shape, or raises `ServiceError` with AWS's code.

State: hot in memory, every change persisted as a record through the
`EntityStore` (kinds ``kms.key``, ``kms.alias``, ``kms.grant``); a new backend
rebuilds itself from ``scan``. Key material is stored only wrapped by the
master key, with AAD ``<key arn>#<key material id>``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from botocore import xform_name

from broker.core.crypto import AesGcmKey, DecryptError
from broker.core.entities import EntityStore
from services.errors import ServiceError

from . import crypto as kc

KIND_KEY = "kms.key"
KIND_ALIAS = "kms.alias"
KIND_GRANT = "kms.grant"

DAY = 86400.0
MAX_ON_DEMAND_ROTATIONS = 10
MAX_TAGS = 50

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ALIAS_RE = re.compile(r"^[a-zA-Z0-9:/_-]+$")
_KEY_ARN_RE = re.compile(r"^arn:[^:]+:kms:([^:]*):([^:]*):key/(.+)$")
_ALIAS_ARN_RE = re.compile(r"^arn:[^:]+:kms:([^:]*):([^:]*):(alias/.+)$")

# alias/aws/<service> -> the service's display name for the managed key description.
AWS_MANAGED_SERVICES = {
    "acm": "ACM", "backup": "Backup", "cloud9": "Cloud9", "codeartifact": "CodeArtifact",
    "codecommit": "CodeCommit", "dynamodb": "DynamoDB", "ebs": "EBS",
    "elasticfilesystem": "Elastic File System", "es": "Elasticsearch", "firehose": "Firehose",
    "glue": "Glue", "kinesis": "Kinesis", "kinesisvideo": "Kinesis Video", "lambda": "Lambda",
    "lightsail": "Lightsail", "rds": "RDS", "redshift": "Redshift", "s3": "S3",
    "secretsmanager": "Secrets Manager", "ses": "SES", "sns": "SNS", "sqs": "SQS",
    "ssm": "SSM", "states": "Step Functions", "xray": "X-Ray", "events": "EventBridge",
    "mq": "Amazon MQ", "logs": "CloudWatch Logs", "cloudtrail": "CloudTrail",
}

GRANT_OPERATIONS = {
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
    "DeriveSharedSecret", "Encapsulate", "Decapsulate",
}

ALL_KEY_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                 "ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256",
                 "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87",
                 "ECC_NIST_EDWARDS25519", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"]
SUPPORTED_KEY_SPECS = {"SYMMETRIC_DEFAULT", *kc.HMAC_SPECS, *kc.RSA_SPECS, *kc.ECC_SPECS}
KEY_USAGES = ["SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT",
              "ENCAPSULATE_DECAPSULATE"]


# --------------------------------------------------------------------------- errors

def _err(code: str, message: str = "", status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def _validation(message: str) -> ServiceError:
    return _err("ValidationException", message)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _enum_error(value: Any, member: str, allowed) -> ServiceError:
    return _validation(
        f"1 validation error detected: Value '{value}' at '{_camel(member)}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")


def _range_check(params: dict, member: str, lo: int, hi: int, default: int | None = None):
    value = params.get(member)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise _validation(f"1 validation error detected: Value '{value}' at '{_camel(member)}' "
                          f"failed to satisfy constraint: Member must be an integer")
    if value < lo:
        raise _validation(f"1 validation error detected: Value '{value}' at '{_camel(member)}' "
                          f"failed to satisfy constraint: Member must have value greater than "
                          f"or equal to {lo}")
    if value > hi:
        raise _validation(f"1 validation error detected: Value '{value}' at '{_camel(member)}' "
                          f"failed to satisfy constraint: Member must have value less than or "
                          f"equal to {hi}")
    return value


def _required(params: dict, member: str):
    value = params.get(member)
    if value is None:
        raise _validation(f"1 validation error detected: Value null at '{_camel(member)}' failed "
                          f"to satisfy constraint: Member must not be null")
    return value


def _blob(params: dict, member: str, lo: int, hi: int, required: bool = True) -> bytes | None:
    value = params.get(member)
    if value is None:
        if required:
            _required(params, member)
        return None
    if isinstance(value, str):
        value = value.encode()
    if len(value) < lo:
        raise _validation(f"1 validation error detected: Value at '{_camel(member)}' failed to "
                          f"satisfy constraint: Member must have length greater than or equal "
                          f"to {lo}")
    if len(value) > hi:
        raise _validation(f"1 validation error detected: Value at '{_camel(member)}' failed to "
                          f"satisfy constraint: Member must have length less than or equal to {hi}")
    return bytes(value)


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc)


def _dry_run_error() -> ServiceError:
    return _err("DryRunOperationException",
                "The request would have succeeded, but the DryRun option is set.", 412)


# --------------------------------------------------------------------------- pagination

def _encode_marker(sort_key: str) -> str:
    return base64.urlsafe_b64encode(b"m1:" + sort_key.encode()).decode()


def _decode_marker(marker: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(marker.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"m1:"):
        raise _err("InvalidMarkerException",
                   "The request was rejected because the marker that specifies where "
                   "pagination should next begin is not valid.")
    return raw[3:].decode(errors="replace")


def _paginate(items: list, sort_key: Callable[[Any], str], params: dict, lo: int, hi: int,
              default: int, ordered: bool = True) -> tuple[list, dict]:
    """Pages items (already sorted when `ordered`) after the marker's sort key."""
    limit = _range_check(params, "Limit", lo, hi, default)
    marker = params.get("Marker")
    if marker:
        start_after = _decode_marker(marker)
        if ordered:
            items = [i for i in items if sort_key(i) > start_after]
        else:
            keys = [sort_key(i) for i in items]
            items = items[keys.index(start_after) + 1:] if start_after in keys else []
    page = items[:limit]
    extra: dict = {"Truncated": len(items) > limit}
    if len(items) > limit:
        extra["NextMarker"] = _encode_marker(sort_key(page[-1]))
    return page, extra


# --------------------------------------------------------------------------- model objects

class _Key:
    __slots__ = ("account", "region", "key_id", "arn", "created", "description", "usage", "spec",
                 "origin", "manager", "state", "deletion_date", "pending_window", "policy",
                 "tags", "rotation_enabled", "rotation_period", "next_rotation", "versions",
                 "on_demand_count")

    def to_record(self) -> dict:
        return {
            "account": self.account, "region": self.region, "key_id": self.key_id,
            "arn": self.arn, "created": self.created, "description": self.description,
            "usage": self.usage, "spec": self.spec, "origin": self.origin,
            "manager": self.manager, "state": self.state, "deletion_date": self.deletion_date,
            "pending_window": self.pending_window, "policy": self.policy,
            "tags": [[k, v] for k, v in self.tags.items()],
            "rotation_enabled": self.rotation_enabled, "rotation_period": self.rotation_period,
            "next_rotation": self.next_rotation, "on_demand_count": self.on_demand_count,
            "versions": [dict(v) for v in self.versions],
        }

    @classmethod
    def from_record(cls, r: dict) -> "_Key":
        k = cls()
        for name in ("account", "region", "key_id", "arn", "created", "description", "usage",
                     "spec", "origin", "manager", "state", "deletion_date", "pending_window",
                     "policy", "rotation_enabled", "rotation_period", "next_rotation",
                     "on_demand_count"):
            setattr(k, name, r.get(name))
        k.on_demand_count = k.on_demand_count or 0
        k.tags = {t[0]: t[1] for t in r.get("tags") or []}
        k.versions = [dict(v) for v in r.get("versions") or []]
        return k

    @property
    def current(self) -> dict:
        return self.versions[-1]

    @property
    def symmetric(self) -> bool:
        return self.spec == "SYMMETRIC_DEFAULT"

    @property
    def asymmetric(self) -> bool:
        return self.spec in kc.RSA_SPECS or self.spec in kc.ECC_SPECS


class _Namespace:
    __slots__ = ("keys", "aliases", "grants")

    def __init__(self) -> None:
        self.keys: dict[str, _Key] = {}
        self.aliases: dict[str, dict] = {}
        self.grants: dict[str, dict] = {}


def _default_policy(account: str) -> str:
    return ('{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n'
            '    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n'
            f'    "Principal" : {{\n      "AWS" : "arn:aws:iam::{account}:root"\n    }},\n'
            '    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}')


def _managed_policy(account: str, region: str, service: str) -> str:
    display = AWS_MANAGED_SERVICES.get(service, service)
    return json.dumps({
        "Version": "2012-10-17",
        "Id": f"auto-{service}-2",
        "Statement": [
            {"Sid": f"Allow access through {display} for all principals in the account that "
                    f"are authorized to use {display}",
             "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                        "kms:CreateGrant", "kms:DescribeKey"],
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:CallerAccount": account,
                                            "kms:ViaService": f"{service}.{region}.amazonaws.com"}}},
            {"Sid": "Allow direct access to key metadata to the account",
             "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
             "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
             "Resource": "*"},
        ],
    }, indent=2)


# --------------------------------------------------------------------------- backend

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
)

# Operations of the model this broker answers with UnsupportedOperationException.
UNSUPPORTED_OPERATIONS = (
    "ConnectCustomKeyStore", "CreateCustomKeyStore", "DeleteCustomKeyStore",
    "DescribeCustomKeyStores", "DisconnectCustomKeyStore", "UpdateCustomKeyStore",
    "DeleteImportedKeyMaterial", "GetParametersForImport", "ImportKeyMaterial",
    "ReplicateKey", "UpdatePrimaryRegion", "DeriveSharedSecret", "Encapsulate", "Decapsulate",
    "GetKeyLastUsage",
)


class KmsBackend:
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
        result = fn(self._namespace(account, region), account, region, params or {})
        if params and params.get("DryRun"):
            raise _dry_run_error()
        return result if result is not None else {}

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

    # ------------------------------------------------------------------ key lookup

    def _key_arn(self, account: str, region: str, key_id: str) -> str:
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"

    def _alias_arn(self, account: str, region: str, name: str) -> str:
        return f"arn:aws:kms:{region}:{account}:{name}"

    def _resolve(self, ns: _Namespace, account: str, region: str, ident: Any,
                 allow_alias: bool = True) -> _Key:
        """Find a key from a key id, key ARN, alias name or alias ARN (NotFoundException)."""
        if not isinstance(ident, str) or not ident:
            raise _validation("1 validation error detected: Value null at 'keyId' failed to "
                              "satisfy constraint: Member must not be null")
        alias_name = None
        if ident.startswith("arn:"):
            m = _KEY_ARN_RE.match(ident)
            if m:
                if (m.group(1), m.group(2)) != (region, account):
                    raise _err("NotFoundException", f"Key '{ident}' does not exist")
                key_id = m.group(3)
            else:
                m = _ALIAS_ARN_RE.match(ident)
                if not m or not allow_alias:
                    raise _err("NotFoundException", f"Invalid arn {ident}")
                if (m.group(1), m.group(2)) != (region, account):
                    raise _err("NotFoundException", f"Alias {ident} is not found.")
                alias_name = m.group(3)
        elif ident.startswith("alias/"):
            if not allow_alias:
                raise _err("NotFoundException", f"Invalid keyId '{ident}'")
            alias_name = ident
        else:
            key_id = ident
        if alias_name is not None:
            alias = self._alias(ns, account, region, alias_name)
            if alias is None:
                raise _err("NotFoundException",
                           f"Alias {self._alias_arn(account, region, alias_name)} is not found.")
            key_id = alias["target"]
        key = ns.keys.get(key_id)
        if key is not None:
            key = self._refresh(ns, key)
        if key is None:
            if not _UUID_RE.match(key_id):
                raise _err("NotFoundException", f"Invalid keyId '{key_id}'")
            raise _err("NotFoundException",
                       f"Key '{self._key_arn(account, region, key_id)}' does not exist")
        return key

    def _alias(self, ns: _Namespace, account: str, region: str, name: str) -> dict | None:
        alias = ns.aliases.get(name)
        if alias is not None and alias["target"] not in ns.keys:
            alias = None
        if alias is None and name.startswith("alias/aws/"):
            service = name[len("alias/aws/"):]
            if service in AWS_MANAGED_SERVICES:
                alias = self._create_managed_key(ns, account, region, service)
        return alias

    def _usable(self, ns: _Namespace, account: str, region: str, ident: Any, op: str) -> _Key:
        key = self._resolve(ns, account, region, ident)
        self._check_state(key, enabled=True)
        return key

    def _check_state(self, key: _Key, enabled: bool = True, disabled: bool = False,
                     pending: bool = False) -> None:
        if key.state == "Disabled" and not disabled:
            raise _err("DisabledException", f"{key.arn} is disabled.")
        if key.state == "PendingDeletion" and not pending:
            raise _err("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        if key.state == "Enabled" and not enabled:
            raise _err("KMSInvalidStateException",
                       f"{key.arn} is enabled, but the operation doesn't support such a state")

    def _check_mutable(self, key: _Key) -> None:
        """Customers cannot change AWS managed keys."""
        if key.manager == "AWS":
            raise _err("UnsupportedOperationException",
                       f"{key.arn} is an AWS managed key; it cannot be modified.")

    def _require_usage(self, key: _Key, usage: str, op: str) -> None:
        if key.usage != usage:
            raise _err("InvalidKeyUsageException",
                       f"{key.arn} key usage is {key.usage} which is not valid for {op}.")

    def _require_symmetric(self, key: _Key, op: str) -> None:
        self._require_usage(key, "ENCRYPT_DECRYPT", op)
        if not key.symmetric:
            raise _err("InvalidKeyUsageException",
                       f"{key.arn} key spec is {key.spec} which is not valid for {op}.")

    # ------------------------------------------------------------------ lazy time events

    def _refresh(self, ns: _Namespace, key: _Key) -> _Key | None:
        """Apply what time did to a key: deletion past its date, due automatic rotations."""
        now = self._now()
        if key.state == "PendingDeletion" and key.deletion_date is not None \
                and key.deletion_date <= now:
            self._delete_key(ns, key)
            return None
        if key.rotation_enabled and key.next_rotation is not None and key.next_rotation <= now \
                and key.state == "Enabled":
            period = (key.rotation_period or 365) * DAY
            for _ in range(64):
                if key.next_rotation > now:
                    break
                self._add_version(key, "AUTOMATIC", key.next_rotation)
                key.next_rotation += period
            if key.next_rotation <= now:
                key.next_rotation = now + period
            self._save_key(key)
        return key

    def _delete_key(self, ns: _Namespace, key: _Key) -> None:
        ns.keys.pop(key.key_id, None)
        self._store.delete(KIND_KEY, self._rec_key(key.account, key.region, key.key_id))
        for v in key.versions:
            self._material.pop((key.arn, v["id"]), None)
        for name in [n for n, a in ns.aliases.items() if a["target"] == key.key_id]:
            ns.aliases.pop(name)
            self._store.delete(KIND_ALIAS, self._rec_key(key.account, key.region, name))
        for gid in [g for g, gr in ns.grants.items() if gr["key_id"] == key.key_id]:
            self._drop_grant(ns, ns.grants[gid])

    def _sweep(self, ns: _Namespace) -> None:
        for key in list(ns.keys.values()):
            self._refresh(ns, key)

    # ------------------------------------------------------------------ material

    def _wrap_aad(self, arn: str, version_id: str) -> bytes:
        return f"{arn}#{version_id}".encode()

    def _add_version(self, key: _Key, rotation_type: str | None, when: float) -> dict:
        material = kc.generate_material(key.spec)
        vid = os.urandom(kc.VERSION_ID_BYTES).hex()
        version = {"id": vid, "created": when, "rotation_type": rotation_type,
                   "wrapped": self._master.wrap(material, aad=self._wrap_aad(key.arn, vid))}
        key.versions.append(version)
        self._material[(key.arn, vid)] = (material if not key.asymmetric
                                          else kc.load_private(material))
        return version

    def _version_material(self, key: _Key, version: dict):
        cached = self._material.get((key.arn, version["id"]))
        if cached is None:
            try:
                raw = self._master.unwrap(version["wrapped"],
                                          aad=self._wrap_aad(key.arn, version["id"]))
            except DecryptError:
                raise _err("KMSInternalException",
                           "The key material could not be unwrapped.", 500) from None
            cached = kc.load_private(raw) if key.asymmetric else raw
            self._material[(key.arn, version["id"])] = cached
        return cached

    def _encrypt_symmetric(self, key: _Key, plaintext: bytes, context: dict | None) -> bytes:
        v = key.current
        return kc.seal_symmetric(self._version_material(key, v), key.key_id,
                                 bytes.fromhex(v["id"]), plaintext, context)

    # ------------------------------------------------------------------ metadata

    def _metadata(self, key: _Key) -> dict:
        md: dict[str, Any] = {
            "AWSAccountId": key.account, "KeyId": key.key_id, "Arn": key.arn,
            "CreationDate": _ts(key.created), "Enabled": key.state == "Enabled",
            "Description": key.description, "KeyUsage": key.usage, "KeyState": key.state,
            "Origin": key.origin, "KeyManager": key.manager,
            "CustomerMasterKeySpec": key.spec, "KeySpec": key.spec,
        }
        if key.state == "PendingDeletion":
            md["DeletionDate"] = _ts(key.deletion_date)
            md["PendingDeletionWindowInDays"] = key.pending_window
        if key.usage == "ENCRYPT_DECRYPT":
            md["EncryptionAlgorithms"] = (["SYMMETRIC_DEFAULT"] if key.symmetric
                                          else list(kc.RSA_ENCRYPTION))
        if key.usage == "SIGN_VERIFY":
            md["SigningAlgorithms"] = self._signing_algorithms(key)
        if key.usage == "GENERATE_VERIFY_MAC":
            md["MacAlgorithms"] = [kc.HMAC_ALGORITHMS[key.spec]]
        md["MultiRegion"] = False
        if key.symmetric:
            md["CurrentKeyMaterialId"] = key.current["id"]
        return md

    @staticmethod
    def _signing_algorithms(key: _Key) -> list[str]:
        if key.spec in kc.RSA_SPECS:
            return list(kc.RSA_SIGNING)
        return list(kc.ECC_SIGNING.get(key.spec, []))

    # ------------------------------------------------------------------ key creation

    def _new_key(self, ns: _Namespace, account: str, region: str, *, spec: str, usage: str,
                 description: str, policy: str, tags: dict, manager: str = "CUSTOMER") -> _Key:
        key = _Key()
        key.account, key.region = account, region
        key.key_id = str(uuid.uuid4())
        key.arn = self._key_arn(account, region, key.key_id)
        key.created = self._now()
        key.description, key.usage, key.spec = description, usage, spec
        key.origin, key.manager, key.state = "AWS_KMS", manager, "Enabled"
        key.deletion_date = key.pending_window = None
        key.policy, key.tags = policy, tags
        key.rotation_enabled, key.rotation_period, key.next_rotation = False, None, None
        key.on_demand_count = 0
        key.versions = []
        self._add_version(key, None, key.created)
        if manager == "AWS":  # AWS rotates AWS managed keys every year
            key.rotation_enabled, key.rotation_period = True, 365
            key.next_rotation = key.created + 365 * DAY
        ns.keys[key.key_id] = key
        self._save_key(key)
        return key

    def _create_managed_key(self, ns: _Namespace, account: str, region: str,
                            service: str) -> dict:
        display = AWS_MANAGED_SERVICES[service]
        key = self._new_key(
            ns, account, region, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT",
            description=f"Default key that protects my {display} data when no other key is "
                        f"defined",
            policy=_managed_policy(account, region, service), tags={}, manager="AWS")
        return self._put_alias(ns, account, region, f"alias/aws/{service}", key.key_id)

    def _put_alias(self, ns: _Namespace, account: str, region: str, name: str,
                   target: str) -> dict:
        now = self._now()
        alias = {"account": account, "region": region, "name": name, "target": target,
                 "created": now, "updated": now}
        ns.aliases[name] = alias
        self._save_alias(alias)
        return alias

    # ------------------------------------------------------------------ tags

    def _validate_tags(self, tags: Any) -> list[tuple[str, str]]:
        if not isinstance(tags, list):
            raise _validation("Tags must be a list")
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for i, tag in enumerate(tags, start=1):
            k, v = tag.get("TagKey"), tag.get("TagValue")
            if k is None:
                raise _validation(f"1 validation error detected: Value null at "
                                  f"'tags.{i}.member.tagKey' failed to satisfy constraint: "
                                  f"Member must not be null")
            if v is None:
                raise _validation(f"1 validation error detected: Value null at "
                                  f"'tags.{i}.member.tagValue' failed to satisfy constraint: "
                                  f"Member must not be null")
            if not 1 <= len(k) <= 128:
                raise _validation(f"1 validation error detected: Value '{k}' at "
                                  f"'tags.{i}.member.tagKey' failed to satisfy constraint: "
                                  f"Member must have length less than or equal to 128"
                                  if k else
                                  f"1 validation error detected: Value '' at "
                                  f"'tags.{i}.member.tagKey' failed to satisfy constraint: "
                                  f"Member must have length greater than or equal to 1")
            if len(v) > 256:
                raise _validation(f"1 validation error detected: Value '{v}' at "
                                  f"'tags.{i}.member.tagValue' failed to satisfy constraint: "
                                  f"Member must have length less than or equal to 256")
            if k.lower().startswith("aws:"):
                raise _err("TagException", "Tags beginning with aws: are reserved")
            if k in seen:
                raise _err("TagException", "Duplicate tag keys")
            seen.add(k)
            out.append((k, v))
        return out

    def _apply_tags(self, current: dict, new: list[tuple[str, str]]) -> dict:
        merged = dict(current)
        for k, v in new:
            merged[k] = v
        if len(merged) > MAX_TAGS:
            raise _err("TagException", "Too many tags")
        return merged

    # ================================================================== operations: keys

    def _op_create_key(self, ns, account, region, p):
        origin = p.get("Origin") or "AWS_KMS"
        if origin not in ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
            raise _enum_error(origin, "Origin",
                              ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"])
        if origin != "AWS_KMS" or p.get("CustomKeyStoreId") or p.get("XksKeyId"):
            raise _err("UnsupportedOperationException",
                       f"Origin {origin} and custom key stores are not supported by this KMS "
                       f"implementation; only AWS_KMS keys can be created.")
        if p.get("MultiRegion"):
            raise _err("UnsupportedOperationException",
                       "Multi-Region keys are not supported by this KMS implementation.")
        if p.get("KeySpec") and p.get("CustomerMasterKeySpec"):
            raise _validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same "
                              "request. CustomerMasterKeySpec is deprecated.")
        spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        if spec not in ALL_KEY_SPECS:
            raise _enum_error(spec, "KeySpec", ALL_KEY_SPECS)
        usage = p.get("KeyUsage")
        if usage is not None and usage not in KEY_USAGES:
            raise _enum_error(usage, "KeyUsage", KEY_USAGES)
        if usage is None:
            if spec != "SYMMETRIC_DEFAULT":
                raise _validation("You must specify a KeyUsage value for all KMS keys except for "
                                  "symmetric encryption keys.")
            usage = "ENCRYPT_DECRYPT"
        if spec not in SUPPORTED_KEY_SPECS:
            raise _err("UnsupportedOperationException",
                       f"KeySpec {spec} is not supported by this KMS implementation.")
        allowed = {"SYMMETRIC_DEFAULT": ("ENCRYPT_DECRYPT",)}
        allowed.update({s: ("GENERATE_VERIFY_MAC",) for s in kc.HMAC_SPECS})
        allowed.update({s: ("ENCRYPT_DECRYPT", "SIGN_VERIFY") for s in kc.RSA_SPECS})
        allowed.update({s: ("SIGN_VERIFY", "KEY_AGREEMENT") for s in kc.ECC_SPECS})
        if usage not in allowed[spec]:
            raise _validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        if usage == "KEY_AGREEMENT":
            raise _err("UnsupportedOperationException",
                       "KeyUsage KEY_AGREEMENT is not supported by this KMS implementation.")
        description = p.get("Description") or ""
        if len(description) > 8192:
            raise _validation("1 validation error detected: Value at 'description' failed to "
                              "satisfy constraint: Member must have length less than or equal "
                              "to 8192")
        policy = p.get("Policy")
        if policy is not None:
            self._validate_policy(policy)
        tags = self._apply_tags({}, self._validate_tags(p.get("Tags") or []))
        key = self._new_key(ns, account, region, spec=spec, usage=usage,
                            description=description,
                            policy=policy if policy is not None else _default_policy(account),
                            tags=tags)
        return {"KeyMetadata": self._metadata(key)}

    def _op_describe_key(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        return {"KeyMetadata": self._metadata(key)}

    def _op_list_keys(self, ns, account, region, p):
        self._sweep(ns)
        keys = sorted(ns.keys.values(), key=lambda k: k.key_id)
        page, extra = _paginate(keys, lambda k: k.key_id, p, 1, 1000, 100)
        return {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in page], **extra}

    def _op_update_key_description(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        description = _required(p, "Description")
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        key.description = description
        self._save_key(key)
        return {}

    def _op_enable_key(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        if key.state != "Enabled":
            key.state = "Enabled"
            self._save_key(key)
        return {}

    def _op_disable_key(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        if key.state != "Disabled":
            key.state = "Disabled"
            self._save_key(key)
        return {}

    def _op_schedule_key_deletion(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        window = _range_check(p, "PendingWindowInDays", 7, 30, 30)
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        key.state = "PendingDeletion"
        key.pending_window = window
        key.deletion_date = self._now() + window * DAY
        self._save_key(key)
        return {"KeyId": key.arn, "DeletionDate": _ts(key.deletion_date),
                "KeyState": "PendingDeletion", "PendingWindowInDays": window}

    def _op_cancel_key_deletion(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if key.state != "PendingDeletion":
            raise _err("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
        key.state = "Disabled"
        key.deletion_date = key.pending_window = None
        self._save_key(key)
        return {"KeyId": key.arn}

    # ================================================================== aliases

    def _validate_alias_name(self, name: Any, account: str, region: str,
                             creating: bool) -> str:
        if not isinstance(name, str) or not name:
            raise _validation("1 validation error detected: Value null at 'aliasName' failed to "
                              "satisfy constraint: Member must not be null")
        if len(name) > 256:
            raise _validation(f"1 validation error detected: Value '{name}' at 'aliasName' "
                              f"failed to satisfy constraint: Member must have length less than "
                              f"or equal to 256")
        if not _ALIAS_RE.match(name):
            raise _validation(f"1 validation error detected: Value '{name}' at 'aliasName' "
                              f"failed to satisfy constraint: Member must satisfy regular "
                              f"expression pattern: ^[a-zA-Z0-9:/_-]+$")
        if not name.startswith("alias/"):
            raise _validation('Alias must start with the prefix "alias/". Please see '
                              'https://docs.aws.amazon.com/kms/latest/developerguide/'
                              'kms-alias.html')
        if name == "alias/" or ":" in name:
            raise _err("InvalidAliasNameException",
                       f"Alias name {name} is not valid." if name == "alias/" else
                       f"{name} contains invalid characters for an alias")
        if name.startswith("alias/aws/") and creating:
            raise _err("NotAuthorizedException",
                       f"Alias names starting with alias/aws/ are reserved for AWS managed "
                       f"keys: {self._alias_arn(account, region, name)}")
        return name

    def _op_create_alias(self, ns, account, region, p):
        name = self._validate_alias_name(p.get("AliasName"), account, region, creating=True)
        target = _required(p, "TargetKeyId")
        if isinstance(target, str) and (target.startswith("alias/") or ":alias/" in target):
            raise _validation("Aliases must refer to keys. Not aliases")
        key = self._resolve(ns, account, region, target, allow_alias=False)
        existing = ns.aliases.get(name)
        if existing is not None and existing["target"] in ns.keys:
            raise _err("AlreadyExistsException",
                       f"An alias with the name {self._alias_arn(account, region, name)} "
                       f"already exists")
        self._check_state(key, disabled=True)
        if key.manager == "AWS":
            raise _err("NotAuthorizedException",
                       f"An alias cannot refer to an AWS managed key: {key.arn}")
        self._put_alias(ns, account, region, name, key.key_id)
        return {}

    def _op_update_alias(self, ns, account, region, p):
        name = self._validate_alias_name(p.get("AliasName"), account, region, creating=True)
        target = _required(p, "TargetKeyId")
        alias = ns.aliases.get(name)
        if alias is None or alias["target"] not in ns.keys:
            raise _err("NotFoundException",
                       f"Alias {self._alias_arn(account, region, name)} is not found.")
        if isinstance(target, str) and (target.startswith("alias/") or ":alias/" in target):
            raise _validation("Aliases must refer to keys. Not aliases")
        key = self._resolve(ns, account, region, target, allow_alias=False)
        self._check_state(key, disabled=True)
        if key.manager == "AWS":
            raise _err("NotAuthorizedException",
                       f"An alias cannot refer to an AWS managed key: {key.arn}")
        old = ns.keys.get(alias["target"])
        if old is not None and (old.usage != key.usage or old.spec != key.spec):
            raise _validation(
                f"{self._alias_arn(account, region, name)} is associated with a key of key "
                f"usage {old.usage} and key spec {old.spec}; the new target key {key.arn} must "
                f"have the same key usage and key spec.")
        alias = dict(alias, target=key.key_id, updated=self._now())
        ns.aliases[name] = alias
        self._save_alias(alias)
        return {}

    def _op_delete_alias(self, ns, account, region, p):
        name = _required(p, "AliasName")
        if isinstance(name, str) and name.startswith("arn:"):
            m = _ALIAS_ARN_RE.match(name)
            name = m.group(3) if m else name
        if isinstance(name, str) and name.startswith("alias/aws/"):
            raise _err("NotAuthorizedException",
                       f"Cannot delete AWS managed alias "
                       f"{self._alias_arn(account, region, name)}")
        self._validate_alias_name(name, account, region, creating=False)
        alias = ns.aliases.get(name)
        if alias is None or alias["target"] not in ns.keys:
            raise _err("NotFoundException",
                       f"Alias {self._alias_arn(account, region, name)} is not found.")
        ns.aliases.pop(name)
        self._store.delete(KIND_ALIAS, self._rec_key(account, region, name))
        return {}

    def _op_list_aliases(self, ns, account, region, p):
        self._sweep(ns)
        target = None
        if p.get("KeyId") is not None:
            target = self._resolve(ns, account, region, p["KeyId"], allow_alias=False).key_id
        aliases = sorted((a for a in ns.aliases.values()
                          if a["target"] in ns.keys and (target is None or a["target"] == target)),
                         key=lambda a: a["name"])
        page, extra = _paginate(aliases, lambda a: a["name"], p, 1, 100, 50)
        return {"Aliases": [{"AliasName": a["name"],
                             "AliasArn": self._alias_arn(account, region, a["name"]),
                             "TargetKeyId": a["target"], "CreationDate": _ts(a["created"]),
                             "LastUpdatedDate": _ts(a["updated"])} for a in page], **extra}

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
            self._require_usage(key, "ENCRYPT_DECRYPT", op)
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
                           if _UUID_RE.match(parsed[0]) else "")
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
        valid = ["HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"]
        if algorithm not in valid:
            raise _enum_error(algorithm, "MacAlgorithm", valid)
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
        self._check_state(key, disabled=True)
        if not key.asymmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec} which is not valid for GetPublicKey.")
        out = {"KeyId": key.arn,
               "PublicKey": kc.public_der(self._version_material(key, key.current)),
               "CustomerMasterKeySpec": key.spec, "KeySpec": key.spec, "KeyUsage": key.usage}
        if key.usage == "ENCRYPT_DECRYPT":
            out["EncryptionAlgorithms"] = list(kc.RSA_ENCRYPTION)
        else:
            out["SigningAlgorithms"] = self._signing_algorithms(key)
        return out

    # ================================================================== rotation

    def _rotatable(self, ns, account, region, p, op) -> _Key:
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        self._check_state(key)
        if not key.symmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec}; only symmetric encryption KMS keys "
                       f"support key rotation.")
        return key

    def _op_enable_key_rotation(self, ns, account, region, p):
        period = _range_check(p, "RotationPeriodInDays", 90, 2560, 365)
        key = self._rotatable(ns, account, region, p, "EnableKeyRotation")
        self._check_mutable(key)
        if not key.rotation_enabled or key.rotation_period != period:
            key.rotation_enabled, key.rotation_period = True, period
            key.next_rotation = self._now() + period * DAY
            self._save_key(key)
        return {}

    def _op_disable_key_rotation(self, ns, account, region, p):
        key = self._rotatable(ns, account, region, p, "DisableKeyRotation")
        self._check_mutable(key)
        key.rotation_enabled, key.rotation_period, key.next_rotation = False, None, None
        self._save_key(key)
        return {}

    def _op_get_key_rotation_status(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if not key.symmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec}; only symmetric encryption KMS keys "
                       f"support key rotation.")
        enabled = key.rotation_enabled and key.state != "PendingDeletion"
        out: dict[str, Any] = {"KeyRotationEnabled": enabled, "KeyId": key.arn}
        if enabled:
            out["RotationPeriodInDays"] = key.rotation_period
            out["NextRotationDate"] = _ts(key.next_rotation)
        return out

    def _op_rotate_key_on_demand(self, ns, account, region, p):
        key = self._rotatable(ns, account, region, p, "RotateKeyOnDemand")
        self._check_mutable(key)
        if key.on_demand_count >= MAX_ON_DEMAND_ROTATIONS:
            raise _err("LimitExceededException",
                       f"The on-demand rotations limit has been reached for the given keyId. "
                       f"No more on-demand rotations can be performed for this key: {key.arn}")
        key.on_demand_count += 1
        self._add_version(key, "ON_DEMAND", self._now())
        self._save_key(key)
        return {"KeyId": key.key_id}

    def _op_list_key_rotations(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if not key.symmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec}; only symmetric encryption KMS keys "
                       f"support key rotation.")
        include = p.get("IncludeKeyMaterial") or "ROTATIONS_ONLY"
        if include not in ("ALL_KEY_MATERIAL", "ROTATIONS_ONLY"):
            raise _enum_error(include, "IncludeKeyMaterial",
                              ["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"])
        entries = []
        for i, v in enumerate(key.versions):
            if v["rotation_type"] is None and include == "ROTATIONS_ONLY":
                continue
            e = {"KeyId": key.key_id, "KeyMaterialId": v["id"],
                 "KeyMaterialState": "CURRENT" if i == len(key.versions) - 1 else "NON_CURRENT"}
            if v["rotation_type"] is not None:
                e["RotationDate"] = _ts(v["created"])
                e["RotationType"] = v["rotation_type"]
            entries.append(e)
        page, extra = _paginate(entries, lambda e: e["KeyMaterialId"], p, 1, 1000, 100,
                                ordered=False)
        return {"Rotations": page, **extra}

    # ================================================================== policies

    def _validate_policy(self, policy: Any) -> None:
        if not isinstance(policy, str) or not policy:
            raise _validation("1 validation error detected: Value null at 'policy' failed to "
                              "satisfy constraint: Member must not be null")
        if len(policy) > 32768:
            raise _validation("1 validation error detected: Value at 'policy' failed to satisfy "
                              "constraint: Member must have length less than or equal to 32768")
        try:
            doc = json.loads(policy)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise _err("MalformedPolicyDocumentException",
                       "The new key policy will not allow you to update the key policy in the "
                       "future." if isinstance(doc, dict) else
                       "The request was rejected because the specified policy is not "
                       "syntactically or semantically correct.")

    def _policy_name(self, p: dict) -> str:
        name = p.get("PolicyName") or "default"
        if not re.match(r"^[\w]+$", name) or len(name) > 128:
            raise _validation(f"1 validation error detected: Value '{name}' at 'policyName' "
                              f"failed to satisfy constraint: Member must satisfy regular "
                              f"expression pattern: [\\w]+")
        return name

    def _op_get_key_policy(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        name = self._policy_name(p)
        if name != "default":
            raise _err("NotFoundException", "No such policy exists")
        return {"Policy": key.policy, "PolicyName": "default"}

    def _op_put_key_policy(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        name = self._policy_name(p)
        policy = p.get("Policy")
        self._validate_policy(policy)
        if name != "default":
            raise _err("UnsupportedOperationException", "Only the default policy is supported.")
        self._check_mutable(key)
        key.policy = policy
        self._save_key(key)
        return {}

    def _op_list_key_policies(self, ns, account, region, p):
        self._resolve(ns, account, region, _required(p, "KeyId"))
        page, extra = _paginate(["default"], lambda n: n, p, 1, 1000, 100)
        return {"PolicyNames": page, **extra}

    # ================================================================== tags

    def _op_tag_resource(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        tags = self._validate_tags(_required(p, "Tags"))
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        key.tags = self._apply_tags(key.tags, tags)
        self._save_key(key)
        return {}

    def _op_untag_resource(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        keys = _required(p, "TagKeys")
        for i, k in enumerate(keys, start=1):
            if not isinstance(k, str) or not 1 <= len(k) <= 128:
                raise _validation(f"1 validation error detected: Value '{k}' at "
                                  f"'tagKeys.{i}.member' failed to satisfy constraint: Member "
                                  f"must have length less than or equal to 128")
            if k.lower().startswith("aws:"):
                raise _err("TagException", "Tags beginning with aws: are reserved")
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        for k in keys:
            key.tags.pop(k, None)
        self._save_key(key)
        return {}

    def _op_list_resource_tags(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        tags = [{"TagKey": k, "TagValue": v} for k, v in key.tags.items()]
        page, extra = _paginate(tags, lambda t: t["TagKey"], p, 1, 50, 50, ordered=False)
        return {"Tags": page, **extra}

    # ================================================================== grants

    def _grant_entry(self, g: dict) -> dict:
        e = {"KeyId": g["key_arn"], "GrantId": g["grant_id"], "Name": g.get("name") or "",
             "CreationDate": _ts(g["created"]), "GranteePrincipal": g["grantee"],
             "IssuingAccount": f"arn:aws:iam::{g['account']}:root",
             "Operations": list(g["operations"])}
        if g.get("retiring"):
            e["RetiringPrincipal"] = g["retiring"]
        if g.get("constraints"):
            e["Constraints"] = g["constraints"]
        return e

    def _op_create_grant(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        operations = _required(p, "Operations")
        grantee = p.get("GranteePrincipal") or p.get("GranteeServicePrincipal")
        if not grantee:
            raise _validation("1 validation error detected: Value null at 'granteePrincipal' "
                              "failed to satisfy constraint: Member must not be null")
        if not operations:
            raise _validation("1 validation error detected: Value '[]' at 'operations' failed "
                              "to satisfy constraint: Member must have length greater than or "
                              "equal to 1")
        for op in operations:
            if op not in GRANT_OPERATIONS:
                raise _validation(
                    f"1 validation error detected: Value '[{', '.join(operations)}]' at "
                    f"'operations' failed to satisfy constraint: Member must satisfy constraint: "
                    f"[Member must satisfy enum value set: [{', '.join(sorted(GRANT_OPERATIONS))}]]")
        self._check_state(key, disabled=True)
        name = p.get("Name")
        if p.get("DryRun"):
            raise _dry_run_error()
        token = base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
        if name:
            for g in ns.grants.values():
                if g["key_id"] == key.key_id and g.get("name") == name:
                    g["tokens"].append(token)
                    self._tokens[token] = (account, region, g["grant_id"])
                    self._save_grant(g)
                    return {"GrantToken": token, "GrantId": g["grant_id"]}
        grant = {"account": account, "region": region, "grant_id": os.urandom(32).hex(),
                 "key_id": key.key_id, "key_arn": key.arn, "name": name or "",
                 "created": self._now(), "grantee": grantee,
                 "retiring": p.get("RetiringPrincipal") or p.get("RetiringServicePrincipal"),
                 "operations": list(operations), "constraints": p.get("Constraints"),
                 "tokens": [token]}
        ns.grants[grant["grant_id"]] = grant
        self._tokens[token] = (account, region, grant["grant_id"])
        self._save_grant(grant)
        return {"GrantToken": token, "GrantId": grant["grant_id"]}

    def _op_list_grants(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        grants = [g for g in ns.grants.values() if g["key_id"] == key.key_id]
        if p.get("GrantId"):
            grants = [g for g in grants if g["grant_id"] == p["GrantId"]]
            if not grants:
                raise _err("InvalidGrantIdException", "Grant ID not found")
        if p.get("GranteePrincipal"):
            grants = [g for g in grants if g["grantee"] == p["GranteePrincipal"]]
        if p.get("GranteeServicePrincipal"):
            grants = [g for g in grants if g["grantee"] == p["GranteeServicePrincipal"]]
        grants.sort(key=lambda g: g["grant_id"])
        page, extra = _paginate(grants, lambda g: g["grant_id"], p, 1, 100, 50)
        return {"Grants": [self._grant_entry(g) for g in page], **extra}

    def _op_list_retirable_grants(self, ns, account, region, p):
        principal = p.get("RetiringPrincipal") or p.get("RetiringServicePrincipal")
        if not principal:
            raise _validation("1 validation error detected: Value null at 'retiringPrincipal' "
                              "failed to satisfy constraint: Member must not be null")
        grants = sorted((g for g in ns.grants.values() if g.get("retiring") == principal),
                        key=lambda g: g["grant_id"])
        page, extra = _paginate(grants, lambda g: g["grant_id"], p, 1, 100, 50)
        return {"Grants": [self._grant_entry(g) for g in page], **extra}

    def _drop_grant(self, ns: _Namespace, grant: dict) -> None:
        ns.grants.pop(grant["grant_id"], None)
        for t in grant.get("tokens") or []:
            self._tokens.pop(t, None)
        self._store.delete(KIND_GRANT, self._rec_key(grant["account"], grant["region"],
                                                     grant["grant_id"]))

    def _op_retire_grant(self, ns, account, region, p):
        token, grant_id, key_param = p.get("GrantToken"), p.get("GrantId"), p.get("KeyId")
        if token:
            loc = self._tokens.get(token)
            if loc is None:
                raise _err("InvalidGrantTokenException", "The grant token is not valid.")
            grant_ns = self._namespace(loc[0], loc[1])
            grant = grant_ns.grants.get(loc[2])
            if grant is None:
                raise _err("InvalidGrantTokenException", "The grant token is not valid.")
        else:
            if not grant_id or not key_param:
                raise _validation("Grant token OR (grant ID, key ID) must be specified")
            key = self._resolve(ns, account, region, key_param, allow_alias=False)
            grant_ns = ns
            grant = ns.grants.get(grant_id)
            if grant is None or grant["key_id"] != key.key_id:
                raise _err("InvalidGrantIdException", "Grant ID not found")
        if p.get("DryRun"):
            raise _dry_run_error()
        self._drop_grant(grant_ns, grant)
        return {}

    def _op_revoke_grant(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        grant_id = _required(p, "GrantId")
        grant = ns.grants.get(grant_id)
        if grant is None or grant["key_id"] != key.key_id:
            raise _err("InvalidGrantIdException", "Grant ID not found")
        if p.get("DryRun"):
            raise _dry_run_error()
        self._drop_grant(ns, grant)
        return {}
