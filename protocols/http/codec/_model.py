"""Service model loading from botocore data (+ per-service query overlays)."""
from __future__ import annotations

import copy
import functools
import gzip
import json
import os
from pathlib import Path

import botocore   # the bare package (its data directory); not botocore.loaders, which imports botocore.utils

_OVERLAY_DIR = Path(__file__).parent / "overlays"
_ALIASES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions", "airflow": "mwaa"}


class UnknownServiceError(LookupError):
    pass


@functools.cache
def _search_paths() -> tuple[Path, ...]:
    # botocore.loaders.create_loader's search path: AWS_DATA_PATH's entries first,
    # then ~/.aws/models, then botocore's own data directory.
    extra = os.environ.get("AWS_DATA_PATH")
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep)] if extra is not None else []
    paths += [os.path.join(os.path.expanduser("~"), ".aws", "models"), os.path.join(os.path.dirname(botocore.__file__), "data")]
    return tuple(Path(p) for p in paths if os.path.isdir(p))


def _read(base: Path):
    """``<base>.json`` or ``<base>.json.gz`` (botocore ships most models gzipped), or None."""
    for ext, opener in ((".json", open), (".json.gz", gzip.open)):
        f = base.with_name(base.name + ext)
        if f.is_file():
            with opener(f, "rb") as fp:
                return json.loads(fp.read().decode("utf-8"))
    return None


def _deep_merge(base: dict, extra: dict) -> None:
    # botocore.utils.deep_merge: nested dicts merge, anything else replaces
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v


@functools.cache
def _load_service_model(name: str) -> dict:
    """What ``botocore.loaders.Loader.load_service_model(name, "service-2")`` returns: the
    latest API version found on any search path, read from the first path that has it,
    with its ``service-2.sdk-extras`` merged in."""
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise UnknownServiceError(name)
    versions = {v.name for p in _search_paths() if (p / name).is_dir() for v in (p / name).iterdir()
                if v.is_dir() and any((v / f"service-2{e}").is_file() for e in (".json", ".json.gz"))}
    if not versions:
        raise UnknownServiceError(name)
    rel = Path(name, max(versions))
    model = next((m for p in _search_paths() if (m := _read(p / rel / "service-2")) is not None), None)
    for p in _search_paths():
        extras = _read(p / rel / "service-2.sdk-extras")
        if extras is not None:
            if "merge" in extras:
                _deep_merge(model, extras["merge"])
            break
    return model


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
    raw = _load_service_model(name)
    if name in SERVICE_VALIDATES_ENUMS:   # a copy: the cached model stays intact
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
