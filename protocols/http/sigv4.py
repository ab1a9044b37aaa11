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

Layout: ``_sigv4_canonical`` builds canonical requests, ``_sigv4_parse`` holds
the data types, errors and header/query/date parsing; this module holds the
verifier and re-exports the names other modules import from here.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import unquote

from . import _sigv4_canonical, _sigv4_parse
from ._sigv4_canonical import (
    _CACHE_MAX, _HEX, _TERMINATOR, ALGORITHM, EMPTY_SHA256, MAX_PRESIGN_EXPIRES, UNSIGNED_PAYLOAD,
    _hmac, _raw_pairs, canonical_headers, canonical_query_raw, canonical_query_spec, canonical_uri,
)
from ._sigv4_parse import (
    MSG_BOTH_AUTH, MSG_HOST_NOT_SIGNED, MSG_MISSING_TOKEN, MSG_REQUEST_EXPIRED, AuthError,
    Credential, Principal, _bad_date, _check_algorithm, _check_scope, _fmt, _host_signed,
    _invalid_token, _mismatch, _parse_amz_date, _parse_auth_params, _query_value,
    _request_time, _split_credential, scope_of,
)

# names the verifier does not use but other modules/tests import from here
canonical_request = _sigv4_canonical.canonical_request
MSG_INVALID_TOKEN = _sigv4_parse.MSG_INVALID_TOKEN
MSG_SIGNATURE_MISMATCH = _sigv4_parse.MSG_SIGNATURE_MISMATCH

__all__ = [
    "AuthError",
    "Credential",
    "Principal",
    "SigV4Verifier",
    "scope_of",
]


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
        if not self.dev_mode and cred.arn:
            arn = cred.arn
        p = Principal(access_key, account, user, arn, region, service, True)
        if len(self._principals) >= _CACHE_MAX:
            self._principals.clear()
        self._principals[key] = p
        return p

    # -- keys created at runtime (IAM access keys, STS sessions) ------------

    def add_credential(self, access_key: str, secret_key: str, account_id: str, user_name: str = "root",
                       session_token: str | None = None, arn: str | None = None) -> None:
        self.credentials[access_key] = Credential(access_key, secret_key, account_id, user_name, session_token, arn)

    def forget(self, access_key: str) -> None:
        """Stop accepting a key added with add_credential (deleted, deactivated, changed)."""
        if self.credentials.pop(access_key, None) is not None:
            for k in [k for k in self._principals if k[0] == access_key]:
                del self._principals[k]

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
        access_key, date, region, service, credential = self._identify(amz_date, signed_headers, algo, cred)
        if credential is None:   # dev mode: a well-formed signature is enough
            return self._principal(access_key, region, service)
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
        access_key, date, region, service, credential = self._identify(amz_date, signed_headers, algo, cred)
        if credential is None:   # dev mode: a well-formed signature is enough
            return self._principal(access_key, region, service)
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

    def _identify(self, amz_date: str, signed_headers: str, algo: str, cred: str):
        """Checks both forms share, in AWS's order: host signed, algorithm,
        credential scope, access key. (access_key, date, region, service,
        credential); credential is None in dev mode."""
        if not _host_signed(signed_headers):
            raise AuthError("SignatureDoesNotMatch", MSG_HOST_NOT_SIGNED)
        _check_algorithm(algo)
        parts = _split_credential(cred)
        _check_scope(parts, amz_date)
        access_key, date, region, service = parts[0], parts[1], parts[2], parts[3]
        if self.dev_mode:
            return access_key, date, region, service, None
        credential = self.credentials.get(access_key)
        if credential is None:
            raise _invalid_token()
        return access_key, date, region, service, credential

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
        if token != credential.session_token:   # a session key needs its token, other keys none
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
