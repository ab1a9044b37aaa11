"""Scalar conversions shared by the protocol compilers (no shape walking here)."""
from __future__ import annotations

import base64
import binascii
import calendar
import math
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime

from services.errors import ServiceError

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SerializationError(ServiceError):
    """Wire value of the wrong type / undecodable (JSON and CBOR protocols)."""
    code = "SerializationException"


class MalformedInput(ServiceError):
    """Body is not parseable at all."""


# ---- timestamps -------------------------------------------------------------

def ts_from_epoch(v) -> datetime:
    return datetime.fromtimestamp(v, UTC)


def parse_timestamp(v) -> datetime:
    """Accept epoch numbers, ISO8601 and RFC822 strings (any location)."""
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return ts_from_epoch(v)
    if not isinstance(v, str):
        raise ValueError("not a timestamp")
    s = v.strip()
    try:
        return ts_from_epoch(float(s))
    except ValueError:
        pass
    try:
        d = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    except ValueError:
        pass
    d = parsedate_to_datetime(s)  # raises ValueError/TypeError when not RFC822
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _aware(v) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    return parse_timestamp(v)


def ts_iso8601(v) -> str:
    d = _aware(v).astimezone(UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (d.microsecond // 1000)


def ts_epoch(v):
    d = _aware(v)
    secs = calendar.timegm(d.utctimetuple())
    ms = d.microsecond // 1000
    return secs if not ms else secs + ms / 1000.0


def ts_rfc822(v) -> str:
    return formatdate(calendar.timegm(_aware(v).utctimetuple()), usegmt=True)


TS_FORMATTERS = {"iso8601": ts_iso8601, "unixtimestamp": ts_epoch, "rfc822": ts_rfc822}


# ---- blobs, floats, booleans ------------------------------------------------

def b64encode(v) -> str:
    if isinstance(v, str):
        v = v.encode()
    return base64.b64encode(v).decode("ascii")


def b64decode(v: str) -> bytes:
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("invalid base64")


def float_out(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
    return v


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def float_in_str(s: str) -> float:
    if s in _SPECIAL:
        return _SPECIAL[s]
    return float(s)


def bool_in_str(s: str) -> bool:
    if s == "true":
        return True
    if s == "false":
        return False
    raise ValueError("not a boolean")


# ---- XML text ---------------------------------------------------------------

def xml_escape(s: str) -> str:
    # \r must be a char reference or an XML parser normalises it to \n.
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    if "\r" in s:
        s = s.replace("\r", "&#xD;")
    if '"' in s:
        s = s.replace('"', "&quot;")
    return s


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name
