"""Queue attribute validation for CreateQueue and SetQueueAttributes."""

from __future__ import annotations

import json
import re

from services.sqs.errors import err, invalid_attribute_name, invalid_attribute_value, invalid_parameter
from services.sqs.limits import (
    FIFO_ONLY, MAX_DELAY, MAX_MESSAGE_SIZE, MAX_RECEIVE_COUNT, MAX_RETENTION, MAX_VISIBILITY, MAX_WAIT,
    MIN_MESSAGE_SIZE, MIN_RETENTION, SETTABLE,
)
from services.sqs.urls import parse_arn

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_INT_RANGES = {
    "DelaySeconds": (0, MAX_DELAY),
    "MaximumMessageSize": (MIN_MESSAGE_SIZE, MAX_MESSAGE_SIZE),
    "MessageRetentionPeriod": (MIN_RETENTION, MAX_RETENTION),
    "ReceiveMessageWaitTimeSeconds": (0, MAX_WAIT),
    "VisibilityTimeout": (0, MAX_VISIBILITY),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}
_BOOLS = {"FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"}


def check_queue_name(name: str, fifo: bool) -> None:
    if fifo:
        base = name[:-5] if name.endswith(".fifo") else None
        if base is None or len(name) > 80 or not _QUEUE_NAME.match(base):
            raise invalid_parameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                                    "or underscores, must end with .fifo suffix and be 1 to 80 in length.")
    elif not _QUEUE_NAME.match(name):
        raise invalid_parameter("Can only include alphanumeric characters, hyphens, or underscores. "
                                "1 to 80 in length")


def _bool(name: str, value: str) -> str:
    low = str(value).lower()
    if low not in ("true", "false"):
        raise invalid_attribute_value(name)
    return low


def normalize(attrs: dict[str, str], *, fifo: bool, creating: bool) -> dict[str, str]:
    """Validate attribute values (not cross-queue rules); return canonical strings."""
    out: dict[str, str] = {}
    for name, value in attrs.items():
        if name not in SETTABLE:
            raise invalid_attribute_name(name)
        value = "" if value is None else str(value)
        if name in _INT_RANGES:
            lo, hi = _INT_RANGES[name]
            try:
                n = int(value)
            except ValueError:
                raise invalid_attribute_value(name) from None
            if not lo <= n <= hi:
                raise invalid_attribute_value(name)
            out[name] = str(n)
        elif name in _BOOLS:
            out[name] = _bool(name, value)
        elif name == "Policy":
            if value:
                try:
                    doc = json.loads(value)
                except ValueError:
                    raise invalid_attribute_value(name, "Policy is not a valid JSON document.") from None
                if not isinstance(doc, dict):
                    raise invalid_attribute_value(name)
            out[name] = value
        elif name == "RedrivePolicy":
            out[name] = _redrive_policy(value) if value else ""
        elif name == "RedriveAllowPolicy":
            out[name] = _redrive_allow_policy(value) if value else ""
        elif name == "DeduplicationScope":
            if value not in ("messageGroup", "queue"):
                raise invalid_attribute_value(name)
            out[name] = value
        elif name == "FifoThroughputLimit":
            if value not in ("perQueue", "perMessageGroupId"):
                raise invalid_attribute_value(name)
            out[name] = value
        else:  # KmsMasterKeyId
            out[name] = value
    if "FifoQueue" in out:
        if not fifo:
            raise invalid_attribute_name("FifoQueue")
        if out["FifoQueue"] == "false":
            raise invalid_attribute_value("FifoQueue", "Modifying queue type is not supported.")
    if not fifo:
        for name in attrs:   # in the order sent: AWS names the first one
            if name in FIFO_ONLY:
                if name in _FIFO_ONLY_TEXT:
                    raise err("InvalidAttributeName", _FIFO_ONLY_TEXT[name])
                raise invalid_attribute_name(name)
    if out.get("KmsMasterKeyId") and out.get("SqsManagedSseEnabled") == "true":
        raise err("InvalidAttributeName", "You can use one type of server-side encryption (SSE) at one time. "
                  "You can either enable KMS SSE or SQS SSE.")
    return out


_FIFO_ONLY_TEXT = {
    "DeduplicationScope": "You can specify the DeduplicationScope only when FifoQueue is set to true.",
    "FifoThroughputLimit": "You can specify the FifoThroughputLimit only when FifoQueue is set to true.",
}


def queue_type(name: str, attrs: dict) -> bool:
    """CreateQueue: is the queue FIFO? Checks the name against FifoQueue as AWS does."""
    value = attrs.get("FifoQueue")
    fifo = value is not None and str(value).lower() == "true"
    if fifo:
        check_queue_name(name, True)
    elif value is not None:
        check_queue_name(name, False)
        raise invalid_attribute_name("FifoQueue")    # FifoQueue=false is no attribute of a standard queue
    else:
        check_queue_name(name, False)
    return fifo


def _redrive_policy(value: str) -> str:
    try:
        doc = json.loads(value)
    except ValueError:
        raise invalid_parameter(f"Value {value} for parameter RedrivePolicy is invalid. "
                                "Reason: Redrive policy is not a valid JSON map.") from None
    if not isinstance(doc, dict) or "deadLetterTargetArn" not in doc or "maxReceiveCount" not in doc:
        raise invalid_parameter(f"Value {value} for parameter RedrivePolicy is invalid. Reason: Redrive policy "
                                "does not contain mandatory attribute: "
                                f"{'deadLetterTargetArn' if 'deadLetterTargetArn' not in (doc or {}) else 'maxReceiveCount'}.")
    extra = set(doc) - {"deadLetterTargetArn", "maxReceiveCount"}
    if extra:
        raise invalid_parameter(f"Value {value} for parameter RedrivePolicy is invalid. Reason: Only following "
                                "attributes are supported: [deadLetterTargetArn, maxReceiveCount].")
    try:
        count = int(doc["maxReceiveCount"])
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_RECEIVE_COUNT:
        raise invalid_parameter(f"Value {value} for parameter RedrivePolicy is invalid. Reason: Invalid value for "
                                f"maxReceiveCount: {doc['maxReceiveCount']}, valid values are from 1 to "
                                f"{MAX_RECEIVE_COUNT} both inclusive.")
    if parse_arn(doc["deadLetterTargetArn"]) is None:
        raise invalid_parameter(f"Value {value} for parameter RedrivePolicy is invalid. Reason: Invalid value for "
                                "deadLetterTargetArn.")
    return json.dumps({"deadLetterTargetArn": doc["deadLetterTargetArn"], "maxReceiveCount": count},
                      separators=(",", ":"))


def _redrive_allow_policy(value: str) -> str:
    def bad(reason: str):
        return invalid_parameter(f"Value {value} for parameter RedriveAllowPolicy is invalid. Reason: {reason}")
    try:
        doc = json.loads(value)
    except ValueError:
        raise bad("Redrive allow policy is not a valid JSON map.") from None
    if not isinstance(doc, dict) or "redrivePermission" not in doc:
        raise bad("Redrive allow policy does not contain mandatory attribute: redrivePermission.")
    perm = doc["redrivePermission"]
    if perm not in ("allowAll", "denyAll", "byQueue"):
        raise bad("Invalid value for redrivePermission.")
    arns = doc.get("sourceQueueArns")
    if perm == "byQueue":
        if not isinstance(arns, list) or not arns:
            raise bad("sourceQueueArns is required when redrivePermission is byQueue.")
        if len(arns) > 10:
            raise bad("Maximum 10 source queue ARNs are allowed.")
        if any(parse_arn(a) is None for a in arns):
            raise bad("Invalid value for sourceQueueArns.")
    elif arns:
        raise bad("sourceQueueArns is only supported when redrivePermission is byQueue.")
    out = {"redrivePermission": perm}
    if arns:
        out["sourceQueueArns"] = arns
    return json.dumps(out, separators=(",", ":"))


def redrive_allows(allow_policy: str, source_arn: str) -> bool:
    if not allow_policy:
        return True
    doc = json.loads(allow_policy)
    perm = doc["redrivePermission"]
    if perm == "allowAll":
        return True
    if perm == "denyAll":
        return False
    return source_arn in doc.get("sourceQueueArns", [])
