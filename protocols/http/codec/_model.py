"""Service model loading from botocore data (+ per-service query overlays)."""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path

import botocore.loaders

_OVERLAY_DIR = Path(__file__).parent / "overlays"
_ALIASES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions", "airflow": "mwaa"}


@functools.cache
def _loader():
    # The loader a botocore session would use (same search path, AWS_DATA_PATH
    # included), without importing the session's client machinery: that is
    # about 4 MB and 35 ms every server process would share but never use.
    return botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))


# Services whose servers do not enforce the model's enums at the edge: the
# value reaches the service, which answers with its own error (SQS takes
# message attribute names in AttributeNames and answers InvalidAttributeName
# for unknown queue attributes, not a ValidationException).
SERVICE_VALIDATES_ENUMS = frozenset({"sqs"})
# The same for single shapes: SES takes any NotificationType and answers
# InvalidParameterValue "Invalid notification type: X. Valid values are: ...".
SHAPES_VALIDATED_BY_SERVICE: dict[str, frozenset[str]] = {"ses": frozenset({"NotificationType"})}


# Enum values as AWS lists them in a validation message (its own order, and the set it
# answered with when recorded), keyed by (service, shape name); validation itself still
# accepts every value of the model.
ENUM_MESSAGE_ORDER: dict[tuple[str, str], tuple[str, ...]] = {
    ("kms", "KeySpec"): ("RSA_2048", "ECC_NIST_P384", "ECC_NIST_P256", "ECC_NIST_P521", "HMAC_384", "RSA_3072",
                         "ECC_SECG_P256K1", "RSA_4096", "SYMMETRIC_DEFAULT", "HMAC_256", "HMAC_224", "HMAC_512"),
    ("kms", "KeyUsageType"): ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"),
    ("kms", "MacAlgorithmSpec"): ("HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512"),
    ("kms", "KeyAgreementAlgorithmSpec"): ("ECDH",),
}

# Codes a JSON-protocol service sends under another name in ``__type`` than in its
# query-compatible ``x-amzn-query-error`` header (errors without a model shape).
JSON_ERROR_TYPES: dict[str, dict[str, str]] = {
    "sqs": {"InvalidParameterValue": "InvalidParameterValueException",
            "MissingParameter": "MissingRequiredParameterException",
            "AccessDenied": "AccessDeniedException"},
}

# InvalidAction texts where a query service words it its own way (default: "... web service.")
INVALID_ACTION_TEXT = {"sqs": "The action {} is not valid for this endpoint."}

# Services that answer a missing required member with their own error instead of a
# ValidationException: SQS says MissingParameter "The request must contain the parameter X."
MISSING_PARAMETER_SERVICES = frozenset({"sqs"})

# Query services whose constraint violations carry another code than ValidationException
# and name a map's values "member" in the path (SNS: ValidationError, "Value null at
# 'messageAttributes.attr1.member.dataType' failed to satisfy constraint: ...").
VALIDATION_ERROR_CODES: dict[str, str] = {"ses": "ValidationError", "sns": "ValidationError"}
MAP_VALUE_LABELS: dict[str, str] = {"sns": "member"}


def _raw_model(name: str) -> dict:
    raw = _loader().load_service_model(name, "service-2")
    if name in SERVICE_VALIDATES_ENUMS:   # a copy: botocore's cached model stays intact
        raw = {**raw, "shapes": {k: {a: b for a, b in s.items() if a != "enum"} for k, s in raw["shapes"].items()}}
    elif name in SHAPES_VALIDATED_BY_SERVICE:
        own = SHAPES_VALIDATED_BY_SERVICE[name]
        raw = {**raw, "shapes": {k: {a: b for a, b in s.items() if a != "enum" or k not in own}
                                 for k, s in raw["shapes"].items()}}
    return raw


def _apply_overlay(raw: dict, overlay: dict) -> dict:
    m = copy.deepcopy(raw)
    m["metadata"].update(overlay.get("metadata", {}))
    m["metadata"]["protocols"] = ["query"]
    m["metadata"].pop("awsQueryCompatible", None)
    for op, tr in overlay.get("operations", {}).items():
        if op in m["operations"] and m["operations"][op].get("output"):
            m["operations"][op]["output"].update(tr)
    for name, tr in overlay.get("shapes", {}).items():
        sh = m["shapes"].get(name)
        if sh is None:
            continue
        if tr.get("flattened"):
            sh["flattened"] = True
        if "error" in tr:
            sh["error"] = tr["error"]
        for part in ("member", "key", "value"):
            if part in tr and part in sh:
                sh[part].update(tr[part])
        for mname, mt in tr.get("members", {}).items():
            if mname in sh.get("members", {}):
                sh["members"][mname].update(mt)
    return m
