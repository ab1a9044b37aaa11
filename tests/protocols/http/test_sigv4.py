"""SigV4 verifier: real botocore-signed requests, error codes, and hypothesis
equivalence of our canonicalisation with botocore's signer."""

from __future__ import annotations

import calendar
import datetime
import hashlib
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import (
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
    _host_from_url,
)
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.http.sigv4 import (
    AuthError,
    Credential,
    Principal,
    SigV4Verifier,
    _raw_pairs,
    canonical_query_raw,
    canonical_request,
    canonical_uri,
    scope_of,
)

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCT = "123456789012"
FIXED = datetime.datetime(2024, 5, 1, 12, 0, 0)  # naive UTC, as botocore uses
NOW = calendar.timegm(FIXED.timetuple())
HOST = "http://localhost:4566"

CREDS = {
    AK: Credential(AK, SK, ACCT, "alice"),
    "AKROOT": Credential("AKROOT", "rootsecret", "210987654321"),
    "ASIATEMP": Credential("ASIATEMP", "tempsecret", ACCT, "bob", session_token="tok-123"),
}


def verifier(creds=CREDS, now=NOW, **kw) -> SigV4Verifier:
    return SigV4Verifier(creds, clock=lambda: now, **kw)


def sign(
    method="GET",
    url=HOST + "/",
    headers=None,
    body=b"",
    service="sqs",
    region="us-east-1",
    key=AK,
    secret=SK,
    token=None,
    presign=None,
    s3=False,
    params=None,
    context=None,
    when=FIXED,
):
    """Sign with botocore and return what the server receives:
    (method, raw path, raw query, lower-case headers, body)."""
    req = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body, params=params)
    if context:
        req.context.update(context)
    creds = Credentials(key, secret, token)
    if presign is not None:
        signer = (S3SigV4QueryAuth if s3 else SigV4QueryAuth)(creds, service, region, expires=presign)
    else:
        signer = (S3SigV4Auth if s3 else SigV4Auth)(creds, service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(req)
    return wire(req.prepare())


def wire(prepared):
    parts = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    for name, value in prepared.headers.items():
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        # An HTTP parser strips optional whitespace around a field value.
        headers[name.lower()] = value.strip(" \t")
    headers.setdefault("host", _host_from_url(prepared.url))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    # An HTTP client always sends at least "/" as the request target.
    return prepared.method, parts.path or "/", parts.query, headers, body


def auth_error(fn, *args) -> AuthError:
    with pytest.raises(AuthError) as info:
        fn(*args)
    return info.value


# --------------------------------------------------------------------------
# Header auth, with credentials
# --------------------------------------------------------------------------


def test_get_with_query_authenticates():
    req = sign(url=HOST + "/?Action=ListQueues&Version=2012-11-05")
    p = verifier().authenticate(*req)
    assert p == Principal(AK, ACCT, "alice", f"arn:aws:iam::{ACCT}:user/alice", "us-east-1", "sqs", True)


def test_root_user_arn():
    req = sign(key="AKROOT", secret="rootsecret", region="eu-west-1", service="sns")
    p = verifier().authenticate(*req)
    assert p.arn == "arn:aws:iam::210987654321:root"
    assert (p.user_name, p.region, p.service) == ("root", "eu-west-1", "sns")


def test_post_form_body():
    body = b"Action=SendMessage&QueueUrl=http%3A%2F%2Flocalhost%2Fq&MessageBody=hello%20world"
    req = sign(
        "POST",
        HOST + "/",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        body,
    )
    assert verifier().authenticate(*req).signed


def test_json_body():
    req = sign(
        "POST",
        HOST + "/",
        {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"},
        b'{"QueueNamePrefix": "a"}',
    )
    assert verifier().authenticate(*req).account_id == ACCT


@pytest.mark.parametrize(
    "path",
    [
        "/a%20b/c",
        "/%E2%9C%93/%C3%A9t%C3%A9",
        "/bucket/x%2Fy%2Fz",
        "/a/./b/../c//d/",
        "/~user/a-b_c.d",
        "",
    ],
)
@pytest.mark.parametrize("service,s3", [("sqs", False), ("execute-api", False), ("s3", True)])
def test_awkward_paths(path, service, s3):
    if s3 and not path:
        pytest.skip("botocore's S3 signer signs an empty path as '' but the client sends '/'")
    req = sign(url=HOST + path, service=service, s3=s3)
    assert verifier().authenticate(*req).service == service


def test_repeated_keys_and_empty_values():
    req = sign(url=HOST + "/?b=2&a=2&a=1&empty=&bare&z=%2F%20%2B")
    assert verifier().authenticate(*req).signed


def test_params_encoded_with_plus_for_space():
    # AWSRequest.params are urlencoded with quote_plus on the wire but signed
    # with %20: the spec-form fallback (decoding '+' as space) verifies it.
    req = sign(url=HOST + "/", params={"a key": "a value/x", "b": "~"})
    assert "+" in req[2]
    assert verifier().authenticate(*req).signed


def test_headers_with_multiple_spaces_are_trimmed():
    req = sign(headers={"X-Custom": "  a   b \t c  ", "X-Other": "x"})
    method, path, query, headers, body = req
    assert "x-custom" in headers["authorization"]
    headers["x-custom"] = "a b c"  # any whitespace layout trims to the same
    assert verifier().authenticate(method, path, query, headers, body).signed


def test_date_header_instead_of_x_amz_date():
    req = sign(headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert "x-amz-date" not in req[3]
    assert verifier().authenticate(*req).signed


def test_unsigned_payload_header():
    req = sign(
        "PUT",
        "https://localhost:4566/x",
        body=b"data",
        context={"payload_signing_enabled": False},
    )
    assert req[3]["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    m, p, q, h, _ = req
    assert verifier().authenticate(m, p, q, h, b"other body").signed


def test_s3_content_sha256_header_checked_against_body():
    req = sign("PUT", HOST + "/bucket/key", body=b"payload", service="s3", s3=True)
    assert verifier().authenticate(*req).signed
    m, p, q, h, _ = req
    assert auth_error(verifier().authenticate, m, p, q, h, b"tampered").code == "SignatureDoesNotMatch"


def test_wrong_secret():
    req = sign(secret="not-the-secret")
    err = auth_error(verifier().authenticate, *req)
    assert err.code == "SignatureDoesNotMatch"
    assert err.status == 403
    assert err.message == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )


@pytest.mark.parametrize("what", ["body", "header", "query", "path", "method", "host"])
def test_tampering_is_detected(what):
    m, p, q, h, b = sign(
        "POST",
        HOST + "/queue?Action=X&Param=1",
        {"X-Amz-Target": "T.Op", "Content-Type": "application/json"},
        b'{"a": 1}',
    )
    if what == "body":
        b = b'{"a": 2}'
    elif what == "header":
        h = dict(h, **{"x-amz-target": "T.Other"})
    elif what == "query":
        q = q.replace("Param=1", "Param=2")
    elif what == "path":
        p = "/queue2"
    elif what == "method":
        m = "PUT"
    elif what == "host":
        h = dict(h, host="evil:4566")
    assert auth_error(verifier().authenticate, m, p, q, h, b).code == "SignatureDoesNotMatch"


def test_unsigned_header_may_change():
    m, p, q, h, b = sign()
    h = dict(h, **{"user-agent": "something else"})
    assert verifier().authenticate(m, p, q, h, b).signed


def test_unknown_access_key():
    req = sign(key="AKIDUNKNOWN")
    err = auth_error(verifier().authenticate, *req)
    assert (err.code, err.status) == ("InvalidClientTokenId", 403)
    assert err.message == "The security token included in the request is invalid."
    assert err.code_for("json") == "UnrecognizedClientException"
    assert err.status_for("json") == 400


def test_unsigned_rejected_with_credentials():
    err = auth_error(verifier().authenticate, "GET", "/", "Action=ListQueues", {"host": "localhost"}, b"")
    assert (err.code, err.message, err.status) == (
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
        403,
    )
    assert err.code_for("json") == "MissingAuthenticationTokenException"
    # A non-SigV4 scheme counts as unsigned.
    err = auth_error(verifier().authenticate, "GET", "/", "", {"authorization": "Bearer abc"}, b"")
    assert err.code == "MissingAuthenticationToken"


def test_session_token():
    req = sign(key="ASIATEMP", secret="tempsecret", token="tok-123")
    assert verifier().authenticate(*req).user_name == "bob"
    req = sign(key="ASIATEMP", secret="tempsecret", token="tok-other")
    assert auth_error(verifier().authenticate, *req).code == "InvalidClientTokenId"
    # A long-term key used with any session token is rejected too.
    req = sign(token="tok-123")
    assert auth_error(verifier().authenticate, *req).code == "InvalidClientTokenId"


# --------------------------------------------------------------------------
# Clock skew
# --------------------------------------------------------------------------


def test_signature_expired_message():
    when = datetime.datetime(2019, 1, 1, 0, 0, 0)
    now = calendar.timegm(datetime.datetime(2019, 1, 2, 0, 30, 0).timetuple())
    err = auth_error(verifier(now=now).authenticate, *sign(when=when))
    assert err.code == "SignatureDoesNotMatch"
    assert err.status == 403
    assert err.message == (
        "Signature expired: 20190101T000000Z is now earlier than 20190102T001500Z "
        "(20190102T003000Z - 15 min.)"
    )
    assert err.code_for("json") == "InvalidSignatureException"
    assert err.code_for("rest-xml") == "SignatureDoesNotMatch"


def test_signature_not_yet_current_message():
    when = datetime.datetime(2019, 1, 2, 1, 0, 0)
    now = calendar.timegm(datetime.datetime(2019, 1, 2, 0, 30, 0).timetuple())
    err = auth_error(verifier(now=now).authenticate, *sign(when=when))
    assert err.code == "SignatureDoesNotMatch"
    assert err.message == (
        "Signature not yet current: 20190102T010000Z is still later than 20190102T004500Z "
        "(20190102T003000Z + 15 min.)"
    )


def test_skew_within_window_is_fine():
    req = sign()
    assert verifier(now=NOW + 899).authenticate(*req).signed
    assert verifier(now=NOW - 899).authenticate(*req).signed
    assert auth_error(verifier(now=NOW + 901).authenticate, *req).message.startswith("Signature expired")


# --------------------------------------------------------------------------
# Presigned URLs
# --------------------------------------------------------------------------


def test_presigned_get_sqs():
    req = sign(url=HOST + "/123456789012/q?Action=ReceiveMessage", presign=3600)
    assert "X-Amz-Signature=" in req[2] and "authorization" not in req[3]
    p = verifier(now=NOW + 3000).authenticate(*req)
    assert (p.access_key, p.service) == (AK, "sqs")


def test_presigned_get_s3():
    req = sign(url=HOST + "/bucket/some%20key", presign=600, service="s3", s3=True)
    assert verifier().authenticate(*req).service == "s3"


def test_presigned_post_body_moved_to_query():
    req = sign(
        "POST",
        HOST + "/",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        {"Action": "ListQueues", "QueueNamePrefix": "a b"},
        presign=60,
    )
    assert verifier().authenticate(*req).signed


def test_presigned_with_session_token():
    req = sign(key="ASIATEMP", secret="tempsecret", token="tok-123", presign=60)
    assert "X-Amz-Security-Token=" in req[2]
    assert verifier().authenticate(*req).user_name == "bob"
    req = sign(key="ASIATEMP", secret="tempsecret", token="nope", presign=60)
    assert auth_error(verifier().authenticate, *req).code == "InvalidClientTokenId"


def test_presigned_tampered_param():
    m, p, q, h, b = sign(url=HOST + "/?Action=ReceiveMessage&MaxNumberOfMessages=1", presign=60)
    q = q.replace("MaxNumberOfMessages=1", "MaxNumberOfMessages=10")
    assert auth_error(verifier().authenticate, m, p, q, h, b).code == "SignatureDoesNotMatch"


def test_presigned_wrong_secret():
    req = sign(presign=60, secret="bad")
    assert auth_error(verifier().authenticate, *req).code == "SignatureDoesNotMatch"


def test_presigned_expired():
    req = sign(presign=60)
    assert verifier(now=NOW + 60).authenticate(*req).signed
    err = auth_error(verifier(now=NOW + 61).authenticate, *req)
    assert (err.code, err.message, err.status) == ("RequestExpired", "Request has expired.", 400)


def test_presigned_not_yet_current():
    req = sign(presign=60)
    err = auth_error(verifier(now=NOW - 901).authenticate, *req)
    assert err.code == "SignatureDoesNotMatch"
    assert err.message.startswith("Signature not yet current: 20240501T120000Z is still later than")


def test_presigned_expires_over_a_week():
    m, p, q, h, b = sign(presign=3600)
    q = q.replace("X-Amz-Expires=3600", "X-Amz-Expires=604801")
    err = auth_error(verifier().authenticate, m, p, q, h, b)
    assert err.code == "AuthorizationQueryParametersError"
    assert err.status == 400
    assert err.message == (
        "X-Amz-Expires must be less than a week (in seconds); that is, the given "
        "X-Amz-Expires must be less than 604800 seconds"
    )
    # The same rule holds in dev mode (it is a malformed request).
    assert auth_error(SigV4Verifier().authenticate, m, p, q, h, b).code == "AuthorizationQueryParametersError"
    q2 = q.replace("X-Amz-Expires=604801", "X-Amz-Expires=abc")
    assert auth_error(verifier().authenticate, m, p, q2, h, b).message == "X-Amz-Expires should be a number"


def test_presigned_missing_params():
    err = auth_error(
        verifier().authenticate,
        "GET",
        "/",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240501T120000Z",
        {"host": "localhost"},
        b"",
    )
    assert err.code == "IncompleteSignature"
    assert err.message == (
        "AWS query-string parameters must include 'X-Amz-Credential'. "
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
        "Re-examine the query-string parameters."
    )


def test_header_and_query_auth_together():
    m, p, q, h, b = sign(presign=60)
    h = dict(h, authorization=sign()[3]["authorization"])
    err = auth_error(verifier().authenticate, m, p, q, h, b)
    assert err.code == "SignatureDoesNotMatch"
    assert "Found both 'X-Amz-Algorithm'" in err.message


# --------------------------------------------------------------------------
# Malformed Authorization headers (rejected in both modes)
# --------------------------------------------------------------------------

DATE_HDR = {"host": "localhost", "x-amz-date": "20240501T120000Z"}


@pytest.mark.parametrize("creds", [CREDS, None])
def test_missing_parts(creds):
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/sqs/aws4_request"
    err = auth_error(
        SigV4Verifier(creds, clock=lambda: NOW).authenticate,
        "GET", "/", "", {"host": "localhost", "authorization": auth}, b"",
    )
    assert (err.code, err.status) == ("IncompleteSignature", 400)
    assert err.message == (
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={auth}"
    )
    assert err.code_for("json") == "IncompleteSignatureException"


@pytest.mark.parametrize("creds", [CREDS, None])
def test_bad_credential_scope(creds):
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/sqs, SignedHeaders=host;x-amz-date, Signature=abcd"
    err = auth_error(
        SigV4Verifier(creds, clock=lambda: NOW).authenticate,
        "GET", "/", "", dict(DATE_HDR, authorization=auth), b"",
    )
    assert err.code == "IncompleteSignature"
    assert err.message == (
        "Credential must have exactly 5 slash-delimited elements, "
        "e.g. keyid/date/region/service/term, got 'AKID/20240501/us-east-1/sqs'"
    )


@pytest.mark.parametrize("creds", [CREDS, None])
def test_scope_date_and_terminator(creds):
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20240502/us-east-1/sqs/aws5_request, SignedHeaders=host;x-amz-date, Signature=abcd"
    err = auth_error(
        SigV4Verifier(creds, clock=lambda: NOW).authenticate,
        "GET", "/", "", dict(DATE_HDR, authorization=auth), b"",
    )
    assert err.code == "SignatureDoesNotMatch"
    assert err.message == (
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20240502' != '20240501', from '20240501T120000Z'."
    )


@pytest.mark.parametrize("creds", [CREDS, None])
def test_bad_date_format(creds):
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=abcd"
    err = auth_error(
        SigV4Verifier(creds, clock=lambda: NOW).authenticate,
        "GET", "/", "", {"host": "h", "x-amz-date": "2024-05-01", "authorization": auth}, b"",
    )
    assert err.code == "IncompleteSignature"
    assert err.message == (
        "Date must be in ISO-8601 'basic format'. Got '2024-05-01'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


@pytest.mark.parametrize("creds", [CREDS, None])
def test_unsupported_algorithm_and_unsigned_host(creds):
    v = SigV4Verifier(creds, clock=lambda: NOW)
    auth = "AWS4-HMAC-SHA512 Credential=AKID/20240501/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=ab"
    err = auth_error(v.authenticate, "GET", "/", "", dict(DATE_HDR, authorization=auth), b"")
    assert (err.code, err.message) == (
        "IncompleteSignature",
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now).",
    )
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/sqs/aws4_request, SignedHeaders=x-amz-date, Signature=ab"
    err = auth_error(v.authenticate, "GET", "/", "", dict(DATE_HDR, authorization=auth), b"")
    assert (err.code, err.message) == (
        "SignatureDoesNotMatch",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    )


# --------------------------------------------------------------------------
# Dev mode
# --------------------------------------------------------------------------


def test_dev_mode_accepts_any_well_formed_signature():
    v = SigV4Verifier(default_account="111111111111")
    p = v.authenticate(*sign(secret="anything", key="test"))
    assert (p.account_id, p.user_name, p.arn, p.signed) == (
        "111111111111", "root", "arn:aws:iam::111111111111:root", True,
    )
    # ... without recomputing it (a garbage signature is fine) or checking the clock
    m, p_, q, h, b = sign(when=datetime.datetime(2001, 1, 1))
    h = dict(h, authorization=h["authorization"].rsplit("Signature=", 1)[0] + "Signature=zz")
    assert v.authenticate(m, p_, q, h, b).signed
    assert v.authenticate(*sign(presign=1, when=datetime.datetime(2001, 1, 1))).signed


def test_dev_mode_twelve_digit_key_is_the_account():
    v = SigV4Verifier()
    assert v.authenticate(*sign(key="444455556666")).account_id == "444455556666"
    assert v.authenticate(*sign(key="44445555666")).account_id == "000000000000"
    assert v.authenticate(*sign(key="4444555566667")).account_id == "000000000000"
    assert v.authenticate(*sign(key="444455556666", presign=60)).account_id == "444455556666"


def test_dev_mode_unsigned_and_tokens():
    v = SigV4Verifier({})
    p = v.authenticate("GET", "/", "", {"host": "localhost"}, b"")
    assert (p.signed, p.account_id, p.region, p.service) == (False, "000000000000", None, None)
    assert v.authenticate(*sign(token="whatever")).signed


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def test_scope_of():
    assert scope_of(*sign(region="eu-central-1", service="sns")[2:4]) == (AK, "eu-central-1", "sns")
    assert scope_of(*sign(presign=60, region="ap-south-1")[2:4]) == (AK, "ap-south-1", "sqs")
    assert scope_of("Action=X", {"host": "h"}) is None
    assert scope_of("", {"authorization": "AWS4-HMAC-SHA256 Credential=bad"}) is None


@pytest.mark.parametrize(
    "protocol,code,status",
    [
        ("query", "SignatureDoesNotMatch", 403),
        ("rest-xml", "SignatureDoesNotMatch", 403),
        ("json", "InvalidSignatureException", 400),
        ("smithy-rpc-v2-cbor", "InvalidSignatureException", 400),
        ("rest-json", "InvalidSignatureException", 403),
    ],
)
def test_code_for(protocol, code, status):
    err = AuthError("SignatureDoesNotMatch", "x")
    assert (err.code_for(protocol), err.status_for(protocol)) == (code, status)


def test_signing_keys_are_cached():
    v = verifier()
    for _ in range(5):
        v.authenticate(*sign())
    assert len(v._keys) == 1


def test_auth_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(AuthError("RequestExpired", "Request has expired.")))
    assert (err.code, err.message, err.status) == ("RequestExpired", "Request has expired.", 400)


# --------------------------------------------------------------------------
# Property tests: equivalence with botocore's signer on random requests
# --------------------------------------------------------------------------

_seg_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=32, max_codepoint=0x2FFF),
    max_size=8,
)
# Characters legal unencoded in a URL path segment / query component.
_raw_safe = st.text(alphabet="abcXYZ019-._~!$'()*,;:@", max_size=6)
_segment = st.one_of(
    _seg_text.map(lambda s: quote(s, safe="")),
    _seg_text.map(percent_encode),
    _raw_safe,
    st.sampled_from([".", "..", ""]),
)
_path = st.lists(_segment, max_size=5).map(lambda segs: "/" + "/".join(segs))
_qpart = st.one_of(_seg_text.map(percent_encode), _raw_safe)
_query = st.lists(
    st.tuples(_qpart, _qpart, st.booleans()), max_size=6
).map(lambda ps: "&".join(f"{k}={v}" if eq else k for k, v, eq in ps))
_header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8).map(
    lambda s: "x-h-" + s
)
_header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\t"), max_size=12)
_headers = st.dictionaries(_header_names, _header_values, max_size=4)
_service = st.sampled_from(["sqs", "sns", "events", "s3", "execute-api"])
_method = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"])


def _build(method, path, query, headers, body, service):
    url = HOST + path + ("?" + query if query else "")
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    return req


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_method, _path, _query, _headers, st.binary(max_size=64), _service)
def test_canonical_request_equals_botocore(method, path, query, headers, body, service):
    s3 = service == "s3"
    req = _build(method, path, query, headers, body, service)
    signer = (S3SigV4Auth if s3 else SigV4Auth)(Credentials(AK, SK), service, "us-east-1")
    if s3:
        req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    expected = signer.canonical_request(req)
    to_sign = signer.headers_to_sign(req)
    signed = signer.signed_headers(to_sign)
    _, wpath, wquery, wheaders, wbody = wire(req.prepare())
    payload = wheaders.get("x-amz-content-sha256") or hashlib.sha256(wbody).hexdigest()
    ours = canonical_request(
        method,
        canonical_uri(wpath, s3),
        canonical_query_raw(_raw_pairs(wquery) if wquery else []),
        wheaders,
        signed,
        payload,
    )
    assert ours == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _method, _path, _query, _headers, st.binary(max_size=64), _service,
    st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
    st.booleans(),
)
def test_botocore_signed_requests_verify(method, path, query, headers, body, service, region, presigned):
    s3 = service == "s3"
    url = HOST + path + ("?" + query if query else "")
    if presigned:
        body = b""
    req = sign(method, url, headers, body, service=service, region=region, s3=s3,
               presign=300 if presigned else None)
    p = verifier().authenticate(*req)
    assert (p.access_key, p.region, p.service) == (AK, region, service)
    # ... and the wrong secret never verifies
    bad = sign(method, url, headers, body, service=service, region=region, s3=s3, secret="x",
               presign=300 if presigned else None)
    assert auth_error(verifier().authenticate, *bad).code == "SignatureDoesNotMatch"
