"""SigV4 canonicalisation (equivalent to ``botocore.auth.SigV4Auth``): canonical
URI, query string, headers and request, and the HMAC step of key derivation.
See ``protocols.http.sigv4`` for the rules and their equivalence tests."""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, unquote, unquote_plus

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_EXPIRES = 604800  # seven days, the SigV4 limit
_TERMINATOR = "aws4_request"
_SIGV4_TIME = "%Y%m%dT%H%M%SZ"
_HEX = frozenset("0123456789abcdefABCDEF")
_CACHE_MAX = 4096


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
