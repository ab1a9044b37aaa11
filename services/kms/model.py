"""KMS constants and the in-memory model: key records and per-namespace state."""

from __future__ import annotations

import re

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


# Enum values in the order AWS lists them in its own messages.
KEY_SPECS_AWS_ORDER = ["RSA_2048", "ECC_NIST_P384", "ECC_NIST_P256", "ECC_NIST_P521", "HMAC_384", "RSA_3072",
                       "ECC_SECG_P256K1", "RSA_4096", "SYMMETRIC_DEFAULT", "HMAC_256", "HMAC_224", "HMAC_512"]
KEY_USAGES_AWS_ORDER = ["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"]
MAC_ALGORITHMS_AWS_ORDER = ["HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512"]

_MRK_ID_RE = re.compile(r"^mrk-[0-9a-f]{32}$")


def valid_key_id(key_id: str) -> bool:
    """A well-formed key id: a UUID, or mrk- and 32 hex digits (multi-Region keys)."""
    return bool(_UUID_RE.match(key_id) or _MRK_ID_RE.match(key_id))


class _Key:
    __slots__ = ("account", "region", "key_id", "arn", "created", "description", "usage", "spec",
                 "origin", "manager", "state", "deletion_date", "pending_window", "policy",
                 "tags", "rotation_enabled", "rotation_period", "next_rotation", "versions",
                 "on_demand_count", "pending", "import_params", "mr")

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
            "pending": [dict(v) for v in self.pending], "import_params": [dict(v) for v in self.import_params],
            "mr": dict(self.mr) if self.mr else None,
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
        k.pending = [dict(v) for v in r.get("pending") or []]            # imported, pending rotation
        k.import_params = [dict(v) for v in r.get("import_params") or []]
        k.mr = dict(r["mr"]) if r.get("mr") else None   # {"primary": region, "replicas": [regions]}
        return k

    @property
    def current(self) -> dict:
        return self.versions[-1]

    @property
    def multi_region(self) -> bool:
        return self.mr is not None

    @property
    def is_primary(self) -> bool:
        return self.mr is not None and self.mr["primary"] == self.region

    @property
    def symmetric(self) -> bool:
        return self.spec == "SYMMETRIC_DEFAULT"

    @property
    def asymmetric(self) -> bool:
        return self.spec in kc.RSA_SPECS or self.spec in kc.ECC_SPECS

    @property
    def has_material(self) -> bool:
        return bool(self.versions) and self.versions[-1].get("wrapped") is not None


class _Namespace:
    __slots__ = ("keys", "aliases", "grants")

    def __init__(self) -> None:
        self.keys: dict[str, _Key] = {}
        self.aliases: dict[str, dict] = {}
        self.grants: dict[str, dict] = {}
