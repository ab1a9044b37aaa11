"""Publish input, checked at the gateway with SNS's messages: message
attributes, MessageStructure=json, subject, FIFO ids and batch entries.
What needs the topic (FIFO rules, its size limit) is checked by its shard."""

from __future__ import annotations

import json
import re

from services.sns.attributes import MAX_MESSAGE_CEILING
from services.sns.errors import err, invalid, value_invalid

MAX_BATCH = 10
MAX_BATCH_BYTES = 262_144
_NAME_OK = re.compile(r"[A-Za-z0-9_\-.]")
_ID_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_FIFO_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_BASE_TYPES = ("String", "Number", "Binary")


def _check_name(name: str) -> None:
    if len(name.encode()) > 255:
        raise value_invalid("Length of message attribute name must be less than 256 bytes.")
    for ch in name:
        if not _NAME_OK.match(ch):
            raise value_invalid(f"Invalid non-alphanumeric character '#x{ord(ch):X}' was found in the message "
                                f"attribute name. Can only include alphanumeric characters, hyphens, underscores, "
                                f"or dots.")
    if name.startswith("."):
        raise value_invalid("Invalid message attribute name starting with character '.' was found.")
    if name.endswith("."):
        raise value_invalid("Invalid message attribute name ending with character '.' was found.")
    if ".." in name:
        raise value_invalid("Message attribute name can not have successive '.' character.")


def _base_type(name: str, dtype: str) -> str:
    base, dot, custom = dtype.partition(".")
    if base not in _BASE_TYPES or (dot and not custom):
        raise value_invalid(f"The message attribute '{name}' has an invalid message attribute type, the set of "
                            f"supported type prefixes is Binary, Number, and String.")
    return base


def check_attributes(attrs: dict | None) -> tuple[dict, int]:
    """({name: [DataType, value]}, bytes they count toward the message size)."""
    out: dict = {}
    size = 0
    for name, a in (attrs or {}).items():
        _check_name(name)
        dtype = a.get("DataType") or ""
        base = _base_type(name, dtype)
        sval, bval = a.get("StringValue"), a.get("BinaryValue")
        if base == "Binary":
            if sval is not None and not bval:
                raise value_invalid(f"The message attribute '{name}' with type 'Binary' must use field 'Binary'.")
            if not bval:
                raise value_invalid(f"The message attribute '{name}' must contain non-empty message attribute "
                                    f"value for message attribute type 'Binary'.")
            value = bytes(bval)
            size += len(value)
        else:
            if bval is not None and not sval:
                raise value_invalid(f"The message attribute '{name}' with type '{base}' must use field 'String'.")
            if not sval:
                raise value_invalid(f"The message attribute '{name}' must contain non-empty message attribute "
                                    f"value for message attribute type '{base}'.")
            if base == "Number":
                try:
                    float(sval)
                except ValueError:
                    raise value_invalid(f"Could not cast message attribute '{name}' value to number.") from None
            elif dtype == "String.Array":
                try:
                    ok = isinstance(json.loads(sval), list)
                except ValueError:
                    ok = False
                if not ok:
                    raise value_invalid(f"The message attribute '{name}' with type 'String.Array' must be a JSON "
                                        f"array.")
            value = sval
            size += len(sval.encode())
        size += len(name.encode()) + len(dtype.encode())
        out[name] = [dtype, value]
    return out, size


def check_structure(message: str, structure: str | None, platform: str | None = None) -> dict | None:
    """The per-protocol messages of MessageStructure=json (string values only).
    Publishing straight to a push endpoint (`platform`), its platform's key may
    stand in for 'default'."""
    if structure is None:
        return None
    if structure != "json":
        raise invalid("MessageStructure")
    try:
        doc = json.loads(message)
    except ValueError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if isinstance(doc, dict) and platform and not isinstance(doc.get("default"), str) \
            and isinstance(doc.get(platform), str):
        doc = {**doc, "default": doc[platform]}
    if not isinstance(doc, dict) or not isinstance(doc.get("default"), str):
        raise invalid("Message Structure - No default entry in JSON message body")
    return {k: v for k, v in doc.items() if isinstance(v, str)}


def check_subject(subject: str | None) -> None:
    if subject is None:
        return
    if not subject or len(subject) >= 100 or any(ord(c) < 32 or c == "\x7f" for c in subject):
        raise invalid("Subject")


def check_fifo_ids(group: str | None, dedup: str | None) -> None:
    if group is not None and not _FIFO_ID.match(group):
        raise invalid("MessageGroupId Reason: The MessageGroupId can contain up to 128 alphanumeric characters "
                      "(a-z, A-Z, 0-9) and punctuation")
    if dedup is not None and not _FIFO_ID.match(dedup):
        raise invalid("MessageDeduplicationId Reason: The MessageDeduplicationId can contain up to 128 "
                      "alphanumeric characters (a-z, A-Z, 0-9) and punctuation")


def entry(p: dict, batch_id: str | None = None, platform: str | None = None) -> dict:
    """One message for the shard: m, st, sj, a, g, d, sz (and i: its batch Id)."""
    message = p.get("Message")
    if message is None or message == "":
        raise invalid("Empty message")
    st = check_structure(message, p.get("MessageStructure"), platform)
    check_subject(p.get("Subject"))
    attrs, asize = check_attributes(p.get("MessageAttributes"))
    group, dedup = p.get("MessageGroupId"), p.get("MessageDeduplicationId")
    check_fifo_ids(group, dedup)
    size = len(message.encode()) + asize
    if size > MAX_MESSAGE_CEILING:
        raise invalid("Message too long")
    out = {"m": message, "st": st, "sj": p.get("Subject"), "a": attrs or None, "g": group, "d": dedup, "sz": size}
    if batch_id is not None:
        out["i"] = batch_id
    return out


def batch_entries(entries: list) -> list[dict]:
    if not entries:
        raise err("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > MAX_BATCH:
        raise err("TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
    seen = set()
    for e in entries:
        eid = e.get("Id") or ""
        if len(eid) > 80:
            raise err("InvalidBatchEntryId", f"The Id of a batch entry in the batch request is too long: {eid}")
        if not _ID_CHARS.match(eid):
            raise err("InvalidBatchEntryId", f"The Id of a batch entry in the batch request contains an "
                      f"impermissible character: {eid}")
        if eid in seen:
            raise err("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
        seen.add(eid)
    out = [entry(e, e["Id"]) for e in entries]
    if sum(e["sz"] for e in out) > MAX_BATCH_BYTES:
        raise err("BatchRequestTooLong", "The length of all the messages put together is more than the limit.")
    return out
