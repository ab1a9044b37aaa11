"""Message bodies and attributes: validation, sizes and AWS's MD5 digests."""

from __future__ import annotations

import hashlib
import re
import struct
from decimal import Decimal, InvalidOperation

from services.sqs.errors import err, invalid_parameter
from services.sqs.limits import MAX_MESSAGE_ATTRIBUTES

_LEN = struct.Struct(">I")
# XML 1.0 characters SQS accepts in a body or string attribute.
_INVALID_CHARS = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_TYPE_PREFIXES = ("String", "Number", "Binary")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_of_attributes(attrs: dict) -> str:
    """AWS's digest of message (or system) attributes, sorted by name."""
    parts = []
    for name in sorted(attrs):
        value = attrs[name]
        dtype = value["DataType"]
        nb = name.encode()
        tb = dtype.encode()
        parts += (_LEN.pack(len(nb)), nb, _LEN.pack(len(tb)), tb)
        if value.get("StringValue") is not None:
            sb = value["StringValue"].encode()
            parts += (b"\x01", _LEN.pack(len(sb)), sb)
        elif value.get("BinaryValue") is not None:
            bb = value["BinaryValue"]
            parts += (b"\x02", _LEN.pack(len(bb)), bb)
        elif value.get("StringListValues"):
            parts.append(b"\x03")
            for s in value["StringListValues"]:
                sb = s.encode()
                parts += (_LEN.pack(len(sb)), sb)
        elif value.get("BinaryListValues"):
            parts.append(b"\x04")
            for b in value["BinaryListValues"]:
                parts += (_LEN.pack(len(b)), b)
    return hashlib.md5(b"".join(parts)).hexdigest()


def check_body(body: str) -> None:
    m = _INVALID_CHARS.search(body)
    if m is not None:
        raise err("InvalidMessageContents",
                  f"Invalid binary character '#x{ord(m.group()):X}' was found in the message body, the set of "
                  "allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")


def valid_batch_id(entry_id: str) -> bool:
    return bool(_BATCH_ID.match(entry_id or ""))


def check_attributes(attrs: dict | None, *, system: bool = False) -> int:
    """Validate message attributes; return their size in bytes (names + types + values)."""
    if not attrs:
        return 0
    kind = "system" if system else "user"
    if not system and len(attrs) > MAX_MESSAGE_ATTRIBUTES:
        raise invalid_parameter(
            f"Number of message attributes [{len(attrs)}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].")
    size = 0
    for name, value in attrs.items():
        if not isinstance(value, dict):
            value = {}   # a null value: answered below as a value without a type
        if system:
            if name != "AWSTraceHeader":
                raise invalid_parameter(f"Message system attribute name '{name}' is invalid.")
        else:
            low = name.lower()
            if (not _valid_attribute_name(name) or name.startswith(".") or name.endswith(".") or ".." in name):
                raise invalid_parameter(
                    f"Message ({kind}) attribute name '{name}' is invalid. Message attribute names can contain "
                    "only alphanumeric characters, hyphens, underscores and periods, must not start or end "
                    "with a period, must not contain two consecutive periods and must be 1 to 256 characters long.")
            if low.startswith("aws.") or low.startswith("amazon."):
                raise invalid_parameter(
                    f"Message ({kind}) attribute name '{name}' is invalid. Message attribute names must not "
                    "start with the reserved prefixes AWS. or Amazon.")
        dtype = value.get("DataType")
        if not dtype:
            raise invalid_parameter(f"The message attribute '{name}' must contain non-empty message attribute type.")
        base = dtype.split(".", 1)[0]
        if base not in _TYPE_PREFIXES or len(dtype) > 256 or dtype.endswith("."):
            raise invalid_parameter(
                f"The type of message ({kind}) attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String.")
        if system and base != "String":
            raise invalid_parameter(f"The message system attribute '{name}' must be of type String.")
        sv, bv = value.get("StringValue"), value.get("BinaryValue")
        if value.get("StringListValues") or value.get("BinaryListValues"):
            raise invalid_parameter(f"Message ({kind}) attribute '{name}' must contain a non-empty "
                                    f"message attribute value for message attribute type '{base}'.")
        if base == "Binary":
            if bv is None or len(bv) == 0:
                raise invalid_parameter(f"Message ({kind}) attribute '{name}' must contain a non-empty value of "
                                        "type 'Binary'.")
            if sv is not None:
                raise invalid_parameter(f"Message ({kind}) attribute '{name}' with type '{dtype}' must use "
                                        "field 'Binary'.")
            vlen = len(bv)
        else:
            if sv is None or sv == "":
                raise invalid_parameter(f"Message ({kind}) attribute '{name}' must contain a non-empty value of "
                                        f"type '{base}'.")
            if bv is not None:
                raise invalid_parameter(f"Message ({kind}) attribute '{name}' with type '{dtype}' must use "
                                        "field 'String'.")
            if _INVALID_CHARS.search(sv):   # control characters: a parameter error, unlike in a body
                raise invalid_parameter(f"Invalid characters found in the message ({kind}) attribute '{name}'.")
            if base == "Number":
                _check_number(name, sv, kind)
            vlen = len(sv.encode())
        size += len(name.encode()) + len(dtype.encode()) + vlen
    return size


def _check_number(name: str, text: str, kind: str) -> None:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite():
        raise invalid_parameter(f"Can't cast the value of message ({kind}) attribute '{name}' to a number.")
    digits = len(d.as_tuple().digits)
    if digits > 38 or (d != 0 and not (Decimal("1E-128") <= abs(d) <= Decimal("9.9999999999999999999999999999999999999E+126"))):
        raise invalid_parameter(f"Value of message ({kind}) attribute '{name}' is out of range for a number: "
                                "numbers can have up to 38 digits of precision and be from 10^-128 to 10^+126.")


def _valid_attribute_name(name: str) -> bool:
    # letters and digits of any script (AWS accepts "attr.1øßä"), hyphen, underscore, period
    return 0 < len(name) <= 256 and all(c.isalnum() or c in "-_." for c in name)


def select_attributes(attrs: dict | None, names: list[str] | None) -> dict:
    """MessageAttributeNames selection: All, * or .*, prefix.* (Hel.*), or exact names."""
    if not attrs or not names:
        return {}
    if "All" in names or ".*" in names or "*" in names:
        return attrs
    out = {}
    prefixes = [n[:-2] for n in names if n.endswith(".*")]   # "Hel.*": names starting with "Hel"
    exact = set(names)
    for k, v in attrs.items():
        if k in exact or any(k.startswith(p) for p in prefixes):
            out[k] = v
    return out
