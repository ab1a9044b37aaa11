"""Server-side AWS Signature Version 4 verification.

Verifies both forms real SDK clients send:

* the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
  Signature=...`` header, and
* presigned query strings (``X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=
  ...&X-Amz-Date=...&X-Amz-Expires=...&X-Amz-SignedHeaders=...&X-Amz-Signature=...``).

The canonical request is rebuilt with the same rules as botocore's signer
(``botocore.auth.SigV4Auth`` / ``SigV4QueryAuth`` and the S3 variants), written
here as a faster equivalent; ``tests/protocols/http/test_sigv4.py`` proves the
equivalence against botocore with hypothesis on random requests:

* canonical URI: ``quote(remove_dot_segments(raw_path), safe='/~')`` (which
  double-encodes an already percent-encoded path) for every service but S3,
  whose raw path is used as sent;
* canonical query string: the raw ``key=value`` pairs as sent, sorted
  (botocore's rule for a URL it serialised itself).  If that does not verify,
  the spec form (each name and value decoded then re-encoded with
  ``-_.~`` safe, sorted) is tried too, for clients that encode differently;
* canonical headers: the signed names, each value whitespace-trimmed with
  inner runs collapsed to one space;
* payload hash: ``x-amz-content-sha256`` when present (including
  ``UNSIGNED-PAYLOAD``), else SHA-256 of the body; ``UNSIGNED-PAYLOAD`` for S3
  presigned URLs.

Errors carry the code, message and HTTP status AWS's query-protocol front
door returns; :meth:`AuthError.code_for` / :meth:`AuthError.status_for` give
the names and statuses the JSON-family protocols use instead.

Headers passed to :meth:`SigV4Verifier.authenticate` must have lower-case
names; a header that arrived several times must be joined with ``,``.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import hmac
import time
from dataclasses import dataclass
from email.utils import parsedate_tz, mktime_tz
from urllib.parse import quote, unquote, unquote_plus

__all__ = [
    "AuthError",
    "Credential",
    "Principal",
    "SigV4Verifier",
    "scope_of",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_EXPIRES = 604800  # seven days, the SigV4 limit
_TERMINATOR = "aws4_request"
_SIGV4_TIME = "%Y%m%dT%H%M%SZ"
_HEX = frozenset("0123456789abcdefABCDEF")
_CACHE_MAX = 4096

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
# Canonicalisation (equivalent to botocore.auth.SigV4Auth)
# --------------------------------------------------------------------------


def _remove_dot_segments(url: str) -> str:
    # Same rules as botocore.utils.remove_dot_segments (RFC 3986 5.2.4 plus
    # removal of empty segments).
    if not url:
        return ""
    output: list[str] = []
    for seg in url.split("/"):
        if seg and seg != ".":
            if seg == "..":
                if output:
                    output.pop()
            else:
                output.append(seg)
    first = "/" if url[0] == "/" else ""
    last = "/" if url[-1] == "/" and output else ""
    return first + "/".join(output) + last


_uri_cache: dict[tuple[str, bool], str] = {}


def canonical_uri(path: str, s3: bool = False) -> str:
    """Canonical URI of a raw (as received, percent-encoded) request path."""
    key = (path, s3)
    got = _uri_cache.get(key)
    if got is not None:
        return got
    if s3:
        # S3 signs the path exactly as it was put in the URL.
        result = path or "/"
    else:
        if not path:
            norm = "/"
        elif "//" in path or "/." in path or path[0] == ".":
            norm = _remove_dot_segments(path)
        else:
            norm = path
        result = quote(norm, safe="/~")
    if len(_uri_cache) >= _CACHE_MAX:
        _uri_cache.clear()
    _uri_cache[key] = result
    return result


def _raw_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for pair in query.split("&"):
        k, _, v = pair.partition("=")
        pairs.append((k, v))
    return pairs


def canonical_query_raw(pairs: list[tuple[str, str]]) -> str:
    """botocore's rule for a URL it serialised: raw pairs sorted as sent."""
    if not pairs:
        return ""
    return "&".join([f"{k}={v}" for k, v in sorted(pairs)])


def canonical_query_spec(pairs: list[tuple[str, str]], plus_is_space: bool = False) -> str:
    """SigV4 spec rule: decode each name/value, re-encode (safe ``-_.~``), sort."""
    dec = unquote_plus if plus_is_space else unquote
    enc = []
    for k, v in pairs:
        enc.append((quote(dec(k), safe="-_.~"), quote(dec(v), safe="-_.~")))
    enc.sort()
    return "&".join([f"{k}={v}" for k, v in enc])


def _trimall(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(signed_headers: str, headers: dict[str, str]) -> str:
    out = []
    for name in signed_headers.split(";"):
        value = headers.get(name)
        if value is None:
            value = headers.get(name.lower(), "")
        out.append(f"{name}:{_trimall(value)}\n")
    return "".join(out)


def canonical_request(
    method: str,
    curi: str,
    cquery: str,
    headers: dict[str, str],
    signed_headers: str,
    payload_hash: str,
) -> str:
    return (
        f"{method.upper()}\n{curi}\n{cquery}\n"
        f"{canonical_headers(signed_headers, headers)}\n{signed_headers}\n{payload_hash}"
    )


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


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


# --------------------------------------------------------------------------
# Verifier
# --------------------------------------------------------------------------


class SigV4Verifier:
    """Authenticates requests signed with SigV4 (header or presigned query).

    ``credentials`` maps access key -> :class:`Credential`.  When it is None
    or empty the verifier runs in dev mode: any well-formed signature is
    accepted without being recomputed (and without clock checks), unsigned
    requests are accepted, and a 12-digit access key names its own account.
    """

    def __init__(
        self,
        credentials: dict[str, Credential] | None = None,
        default_account: str = "000000000000",
        max_skew_seconds: int = 900,
        clock=time.time,
    ) -> None:
        self.credentials: dict[str, Credential] = dict(credentials or {})
        self.dev_mode = not self.credentials
        self.default_account = default_account
        self.max_skew_seconds = max_skew_seconds
        self.clock = clock
        self._keys: dict[tuple[str, str, str, str], bytes] = {}
        self._principals: dict[tuple[str, str | None, str | None], Principal] = {}
        self._anonymous = Principal(
            access_key="",
            account_id=default_account,
            user_name="root",
            arn=f"arn:aws:iam::{default_account}:root",
            region=None,
            service=None,
            signed=False,
        )

    # -- principals -------------------------------------------------------

    def _principal(self, access_key: str, region: str, service: str) -> Principal:
        key = (access_key, region, service)
        p = self._principals.get(key)
        if p is not None:
            return p
        if self.dev_mode:
            account = access_key if len(access_key) == 12 and access_key.isdigit() and access_key.isascii() else self.default_account
            user = "root"
        else:
            cred = self.credentials[access_key]
            account, user = cred.account_id, cred.user_name
        arn = f"arn:aws:iam::{account}:root" if user == "root" else f"arn:aws:iam::{account}:user/{user}"
        p = Principal(access_key, account, user, arn, region, service, True)
        if len(self._principals) >= _CACHE_MAX:
            self._principals.clear()
        self._principals[key] = p
        return p

    # -- keys -------------------------------------------------------------

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        key = (secret, date, region, service)
        k = self._keys.get(key)
        if k is None:
            k = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode("utf-8"), date), region), service), _TERMINATOR)
            if len(self._keys) >= 1024:
                self._keys.clear()
            self._keys[key] = k
        return k

    # -- entry point ------------------------------------------------------

    def authenticate(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Principal:
        auth = headers.get("authorization")
        presigned = bool(query) and "X-Amz-Algorithm=" in query and _query_value(query, "X-Amz-Algorithm") is not None
        if presigned:
            if auth:
                raise AuthError("SignatureDoesNotMatch", MSG_BOTH_AUTH)
            return self._presigned(method, path, query, headers, body)
        if not auth or not auth.lstrip().startswith("AWS4-"):
            if self.dev_mode:
                return self._anonymous
            raise AuthError("MissingAuthenticationToken", MSG_MISSING_TOKEN)
        return self._header(method, path, query, headers, body, auth)

    # -- Authorization header form ----------------------------------------

    def _header(self, method, path, query, headers, body, auth) -> Principal:
        algo, params = _parse_auth_params(auth)
        cred = params.get("Credential")
        signed_headers = params.get("SignedHeaders")
        signature = params.get("Signature")
        amz_date = _request_time(headers)
        if not cred or not signature or not signed_headers or amz_date is None:
            msg = []
            if not cred:
                msg.append("Authorization header requires 'Credential' parameter.")
            if not signature:
                msg.append("Authorization header requires 'Signature' parameter.")
            if not signed_headers:
                msg.append("Authorization header requires 'SignedHeaders' parameter.")
            if amz_date is None:
                msg.append(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                )
            msg.append(f"Authorization={auth}")
            raise AuthError("IncompleteSignature", " ".join(msg))
        t = _parse_amz_date(amz_date)
        if t is None:
            raise _bad_date(amz_date)
        if not self.dev_mode:
            self._check_skew(amz_date, t)
        if not _host_signed(signed_headers):
            raise AuthError("SignatureDoesNotMatch", MSG_HOST_NOT_SIGNED)
        _check_algorithm(algo)
        parts = _split_credential(cred)
        _check_scope(parts, amz_date)
        access_key, date, region, service = parts[0], parts[1], parts[2], parts[3]
        if self.dev_mode:
            return self._principal(access_key, region, service)

        credential = self.credentials.get(access_key)
        if credential is None:
            raise _invalid_token()
        s3 = service == "s3"
        curi = canonical_uri(path, s3)
        declared = headers.get("x-amz-content-sha256")
        payload = declared if declared is not None else hashlib.sha256(body).hexdigest()
        key = self.signing_key(credential.secret_key, date, region, service)
        scope = f"{date}/{region}/{service}/{_TERMINATOR}"
        pairs = _raw_pairs(query) if query else []
        ok = self._matches(
            key, signature, amz_date, scope, method, curi, pairs, headers, signed_headers, (payload,)
        )
        if not ok:
            raise _mismatch()
        if declared is not None and len(declared) == 64 and _HEX.issuperset(declared):
            if declared.lower() != hashlib.sha256(body).hexdigest():
                raise _mismatch()
        self._check_token(credential, headers.get("x-amz-security-token"))
        return self._principal(access_key, region, service)

    # -- presigned query form ---------------------------------------------

    def _presigned(self, method, path, query, headers, body) -> Principal:
        pairs = _raw_pairs(query)
        auth: dict[str, str] = {}
        signed_pairs: list[tuple[str, str]] = []
        for k, v in pairs:
            if k.startswith("X-Amz-") or k.startswith("X%2D"):
                name = unquote(k) if "%" in k else k
                if name not in auth:
                    auth[name] = unquote(v) if "%" in v else v
                if name == "X-Amz-Signature":
                    continue
            signed_pairs.append((k, v))
        missing = [
            f"AWS query-string parameters must include '{name}'."
            for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
            if not auth.get(name)
        ]
        if missing:
            missing.append("Re-examine the query-string parameters.")
            raise AuthError("IncompleteSignature", " ".join(missing))
        algo = auth["X-Amz-Algorithm"]
        cred = auth["X-Amz-Credential"]
        signed_headers = auth["X-Amz-SignedHeaders"]
        signature = auth["X-Amz-Signature"]
        amz_date = auth["X-Amz-Date"]
        expires_raw = auth.get("X-Amz-Expires")
        expires = None
        if expires_raw is not None:
            try:
                expires = int(expires_raw)
            except ValueError:
                raise AuthError("AuthorizationQueryParametersError", "X-Amz-Expires should be a number") from None
            if expires < 0:
                raise AuthError("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative")
            if expires > MAX_PRESIGN_EXPIRES:
                raise AuthError(
                    "AuthorizationQueryParametersError",
                    "X-Amz-Expires must be less than a week (in seconds); that is, the given "
                    "X-Amz-Expires must be less than 604800 seconds",
                )
        t = _parse_amz_date(amz_date)
        if t is None:
            raise _bad_date(amz_date)
        if not self.dev_mode:
            now = self.clock()
            if expires is not None:
                if now > t + expires:
                    raise AuthError("RequestExpired", MSG_REQUEST_EXPIRED)
                if t > now + self.max_skew_seconds:
                    self._check_skew(amz_date, t, now)
            else:
                self._check_skew(amz_date, t, now)
        if not _host_signed(signed_headers):
            raise AuthError("SignatureDoesNotMatch", MSG_HOST_NOT_SIGNED)
        _check_algorithm(algo)
        parts = _split_credential(cred)
        _check_scope(parts, amz_date)
        access_key, date, region, service = parts[0], parts[1], parts[2], parts[3]
        if self.dev_mode:
            return self._principal(access_key, region, service)

        credential = self.credentials.get(access_key)
        if credential is None:
            raise _invalid_token()
        s3 = service == "s3"
        curi = canonical_uri(path, s3)
        declared = headers.get("x-amz-content-sha256") or auth.get("X-Amz-Content-Sha256")
        if declared is not None:
            payloads: tuple[str, ...] = (declared,)
        else:
            digest = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
            payloads = (UNSIGNED_PAYLOAD, digest) if s3 else (digest, UNSIGNED_PAYLOAD)
        key = self.signing_key(credential.secret_key, date, region, service)
        scope = f"{date}/{region}/{service}/{_TERMINATOR}"
        if not self._matches(
            key, signature, amz_date, scope, method, curi, signed_pairs, headers, signed_headers, payloads
        ):
            raise _mismatch()
        self._check_token(credential, auth.get("X-Amz-Security-Token") or headers.get("x-amz-security-token"))
        return self._principal(access_key, region, service)

    # -- shared -----------------------------------------------------------

    def _check_skew(self, amz_date: str, t: int, now: float | None = None) -> None:
        if now is None:
            now = self.clock()
        skew = self.max_skew_seconds
        minutes = f"{skew // 60} min." if skew % 60 == 0 else f"{skew} sec."
        if t < now - skew:
            raise AuthError(
                "SignatureDoesNotMatch",
                f"Signature expired: {amz_date} is now earlier than {_fmt(now - skew)} "
                f"({_fmt(now)} - {minutes})",
            )
        if t > now + skew:
            raise AuthError(
                "SignatureDoesNotMatch",
                f"Signature not yet current: {amz_date} is still later than {_fmt(now + skew)} "
                f"({_fmt(now)} + {minutes})",
            )

    @staticmethod
    def _check_token(credential: Credential, token: str | None) -> None:
        if token is not None and token != credential.session_token:
            raise _invalid_token()

    @staticmethod
    def _matches(
        key: bytes,
        signature: str,
        amz_date: str,
        scope: str,
        method: str,
        curi: str,
        pairs: list[tuple[str, str]],
        headers: dict[str, str],
        signed_headers: str,
        payloads: tuple[str, ...],
    ) -> bool:
        if not signature.isascii():
            return False
        signature = signature.lower()
        cheaders = canonical_headers(signed_headers, headers)
        prefix_sts = f"{ALGORITHM}\n{amz_date}\n{scope}\n"
        head = f"{method.upper()}\n{curi}\n"
        tail_mid = f"\n{cheaders}\n{signed_headers}\n"
        tried: set[str] = set()
        queries = [canonical_query_raw(pairs)]
        for payload in payloads:
            for i in range(3):
                if i == len(queries):
                    # Fallbacks, only computed when the botocore form failed.
                    if i == 1:
                        queries.append(canonical_query_spec(pairs))
                    else:
                        queries.append(canonical_query_spec(pairs, plus_is_space=True))
                cquery = queries[i]
                creq = head + cquery + tail_mid + payload
                if creq in tried:
                    continue
                tried.add(creq)
                sts = prefix_sts + hashlib.sha256(creq.encode("utf-8")).hexdigest()
                expected = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
                if hmac.compare_digest(expected, signature):
                    return True
                if not pairs:
                    break
        return False
