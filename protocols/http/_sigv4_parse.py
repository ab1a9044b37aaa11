"""SigV4 data types, auth errors (with AWS's codes/messages/statuses) and the
parsing of Authorization headers, presigned query parameters, dates and scopes."""
from __future__ import annotations

import calendar
import datetime
import time
from dataclasses import dataclass
from email.utils import parsedate_tz, mktime_tz
from urllib.parse import unquote

from ._sigv4_canonical import _CACHE_MAX, _SIGV4_TIME, _TERMINATOR, ALGORITHM

# --------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    access_key: str
    secret_key: str
    account_id: str
    user_name: str = "root"
    # Session token for temporary credentials; a request carrying an
    # ``X-Amz-Security-Token`` that does not equal this (or any token when
    # this is None) is rejected with InvalidClientTokenId.
    session_token: str | None = None
    # Principal ARN when it is not the user's (STS sessions: assumed-role ARNs).
    arn: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    access_key: str
    account_id: str
    user_name: str
    arn: str
    region: str | None
    service: str | None
    signed: bool


# code (query protocol) -> (json-family code, query status, json status, rest-json status)
_ERRORS: dict[str, tuple[str, int, int, int]] = {
    "IncompleteSignature": ("IncompleteSignatureException", 400, 400, 400),
    "InvalidClientTokenId": ("UnrecognizedClientException", 403, 400, 403),
    "SignatureDoesNotMatch": ("InvalidSignatureException", 403, 400, 403),
    "MissingAuthenticationToken": ("MissingAuthenticationTokenException", 403, 400, 403),
    "RequestExpired": ("InvalidSignatureException", 400, 400, 403),
    "AuthorizationQueryParametersError": ("IncompleteSignatureException", 400, 400, 400),
    "ExpiredToken": ("ExpiredTokenException", 403, 400, 403),
}
_JSON_FAMILY = frozenset({"json", "smithy-rpc-v2-cbor", "rpc-v2-cbor"})


class AuthError(Exception):
    """An authentication failure, named as AWS's query-protocol services name it.

    ``code``/``status`` are the query (and rest-xml) values; use
    :meth:`code_for` and :meth:`status_for` for another protocol family.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else _ERRORS.get(code, ("", 403))[1]

    def code_for(self, protocol: str) -> str:
        """Error code for a protocol family: "query", "json", "rest-json",
        "rest-xml" or "smithy-rpc-v2-cbor"."""
        if protocol in _JSON_FAMILY or protocol == "rest-json":
            entry = _ERRORS.get(self.code)
            if entry is not None:
                return entry[0]
        return self.code

    def status_for(self, protocol: str) -> int:
        entry = _ERRORS.get(self.code)
        if entry is None:
            return self.status
        if protocol in _JSON_FAMILY:
            return entry[2]
        if protocol == "rest-json":
            return entry[3]
        return self.status

    def __reduce__(self):  # keep picklable across IPC
        return (AuthError, (self.code, self.message, self.status))


MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
MSG_MISSING_TOKEN = "Request is missing Authentication Token"
MSG_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
MSG_REQUEST_EXPIRED = "Request has expired."
MSG_BOTH_AUTH = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."


def _invalid_token() -> AuthError:
    return AuthError("InvalidClientTokenId", MSG_INVALID_TOKEN)


def _mismatch() -> AuthError:
    return AuthError("SignatureDoesNotMatch", MSG_SIGNATURE_MISMATCH)


# --------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------


def _parse_auth_params(auth: str) -> tuple[str, dict[str, str]]:
    """Split an Authorization header into algorithm and key=value params."""
    auth = auth.strip()
    algo, _, rest = auth.partition(" ")
    params: dict[str, str] = {}
    for part in rest.replace(" ", ",").split(","):
        if part:
            k, _, v = part.partition("=")
            params[k] = v
    return algo, params


def _query_value(query: str, name: str) -> str | None:
    """Decoded value of the first ``name=`` parameter of a raw query string."""
    marker = name + "="
    start = 0
    while True:
        i = query.find(marker, start)
        if i < 0:
            return None
        if i == 0 or query[i - 1] == "&":
            j = query.find("&", i)
            raw = query[i + len(marker) : j if j >= 0 else len(query)]
            return unquote(raw) if "%" in raw else raw
        start = i + 1


def scope_of(query: str, headers: dict[str, str]) -> tuple[str, str, str] | None:
    """(access_key, region, service) of a signed request, without verifying it.

    Returns None for an unsigned request or one whose credential is malformed.
    """
    auth = headers.get("authorization")
    cred = None
    if auth:
        i = auth.find("Credential=")
        if i >= 0:
            j = auth.find(",", i)
            cred = auth[i + 11 : j if j >= 0 else len(auth)].strip()
    elif query and "X-Amz-Credential=" in query:
        cred = _query_value(query, "X-Amz-Credential")
    if not cred:
        return None
    parts = cred.rstrip("/").split("/")
    if len(parts) != 5:
        return None
    return parts[0], parts[2], parts[3]


_time_cache: dict[str, int] = {}


def _parse_amz_date(value: str) -> int | None:
    """Epoch seconds of a ``YYYYMMDDTHHMMSSZ`` timestamp, None if malformed."""
    got = _time_cache.get(value)
    if got is not None:
        return got
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    digits = value[:8] + value[9:15]
    if not digits.isdigit() or not digits.isascii():
        return None
    y, mo, d = int(value[0:4]), int(value[4:6]), int(value[6:8])
    h, mi, s = int(value[9:11]), int(value[11:13]), int(value[13:15])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        return None
    try:
        datetime.date(y, mo, d)
    except ValueError:
        return None
    epoch = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    if len(_time_cache) >= _CACHE_MAX:
        _time_cache.clear()
    _time_cache[value] = epoch
    return epoch


def _fmt(epoch: float) -> str:
    return time.strftime(_SIGV4_TIME, time.gmtime(epoch))


def _bad_date(value: str) -> AuthError:
    return AuthError(
        "IncompleteSignature",
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601",
    )


def _request_time(headers: dict[str, str]) -> str | None:
    """The signing timestamp from X-Amz-Date, else converted from Date."""
    amz = headers.get("x-amz-date")
    if amz is not None:
        return amz.strip()
    date = headers.get("date")
    if date is None:
        return None
    parsed = parsedate_tz(date)
    if parsed is None:
        return date.strip()  # rejected by the format check
    return _fmt(mktime_tz(parsed))


def _check_scope(parts: list[str], amz_date: str) -> None:
    errors = []
    if parts[4] != _TERMINATOR:
        errors.append(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{parts[4]}'."
        )
    if parts[1] != amz_date[:8]:
        errors.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{parts[1]}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if errors:
        raise AuthError("SignatureDoesNotMatch", " ".join(errors))


def _split_credential(cred: str) -> list[str]:
    parts = cred.rstrip("/").split("/")
    if len(parts) != 5:
        raise AuthError(
            "IncompleteSignature",
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{cred}'",
        )
    return parts


def _check_algorithm(algo: str) -> None:
    if algo != ALGORITHM:
        raise AuthError(
            "IncompleteSignature",
            f"Unsupported AWS 'algorithm': '{algo}' (only AWS4-HMAC-SHA256 for now).",
        )


def _host_signed(signed_headers: str) -> bool:
    for name in signed_headers.split(";"):
        if name.lower() in ("host", ":authority"):
            return True
    return False
