"""SigV4 through the real server: a server with configured credentials verifies
header and presigned signatures; the shared dev-mode server accepts any
well-formed signature and maps a 12-digit access key to that account."""

from __future__ import annotations

import datetime
import http.client
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.helpers.brokerproc import BrokerProcess

ALICE = ("AKIAGATEWAYALICE0001", "alice-secret-key-0001/abcdefghijklmnopqrstu", "111122223333", "alice")
ROOT = ("AKIAGATEWAYROOT00002", "root-secret-key-0002/abcdefghijklmnopqrstuv", "444455556666", None)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("sigv4")
    cfg = d / "broker.toml"
    cfg.write_text(
        "[aws]\n"
        "credentials = [\n"
        f'  {{ access_key = "{ALICE[0]}", secret_key = "{ALICE[1]}", account_id = "{ALICE[2]}", '
        f'user_name = "{ALICE[3]}" }},\n'
        f'  {{ access_key = "{ROOT[0]}", secret_key = "{ROOT[1]}", account_id = "{ROOT[2]}" }},\n'
        "]\n")
    proc = BrokerProcess(d / "data", "--workers", "1", "--shards", "1", "--durability", "memory",
                         "--config", str(cfg))
    try:
        yield proc
    finally:
        proc.close()


def _client(server, service, key=ALICE[0], secret=ALICE[1], **kw):
    return server.client(service, aws_access_key_id=key, aws_secret_access_key=secret,
                         config=Config(retries={"max_attempts": 1}), **kw)


def _err(ei):
    r = ei.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def skewed_clock(monkeypatch):
    """Make botocore sign with a clock `delta` away from now."""
    def set_delta(delta: datetime.timedelta):
        real = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real + delta)
    return set_delta


# -- credentials configured ----------------------------------------------------

def test_caller_identity_of_configured_user_and_root(secured):
    me = _client(secured, "sts").get_caller_identity()
    assert me["Account"] == ALICE[2]
    assert me["Arn"] == f"arn:aws:iam::{ALICE[2]}:user/{ALICE[3]}"
    root = _client(secured, "sts", key=ROOT[0], secret=ROOT[1]).get_caller_identity()
    assert root["Account"] == ROOT[2]
    assert root["Arn"] == f"arn:aws:iam::{ROOT[2]}:root"


def test_valid_signature_over_tls_and_json(secured):
    assert _client(secured, "sts", https=True).get_caller_identity()["Account"] == ALICE[2]
    kms = _client(secured, "kms")
    key = kms.create_key(Description="sigv4 test")["KeyMetadata"]
    assert key["Arn"].startswith(f"arn:aws:kms:us-east-1:{ALICE[2]}:key/")
    # Keys are per account: root's account does not see alice's key.
    other = _client(secured, "kms", key=ROOT[0], secret=ROOT[1])
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        other.describe_key(KeyId=key["KeyId"])
    assert _err(ei)[0] == "NotFoundException"


def test_wrong_secret_is_signature_does_not_match(secured):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _client(secured, "sts", secret="wrong").get_caller_identity()
    code, msg, status = _err(ei)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert msg.startswith("The request signature we calculated does not match the signature you provided.")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _client(secured, "kms", secret="wrong").list_keys()
    assert _err(ei)[0] == "InvalidSignatureException"
    assert _err(ei)[2] == 400


def test_unknown_access_key_is_invalid_client_token_id(secured):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _client(secured, "sts", key="AKIANOTCONFIGURED000").get_caller_identity()
    code, msg, status = _err(ei)
    assert (code, status) == ("InvalidClientTokenId", 403)
    assert msg == "The security token included in the request is invalid."
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _client(secured, "kms", key="AKIANOTCONFIGURED000").list_keys()
    assert _err(ei)[:3:2] == ("UnrecognizedClientException", 400)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _client(secured, "sqs", key="AKIANOTCONFIGURED000").list_queues()
    code, _, status = _err(ei)
    assert code in ("InvalidClientTokenId", "UnrecognizedClientException") and status in (400, 403)


def test_tampered_body_is_rejected(secured):
    kms = _client(secured, "kms")

    def tamper(request, **kw):  # same length, different content
        request.body = request.body.replace(b'"Limit": 5', b'"Limit": 6')
    kms.meta.events.register("before-send", tamper)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.list_keys(Limit=5)
    assert _err(ei)[0] == "InvalidSignatureException"


def test_incomplete_signature(secured):
    u = urlsplit(secured.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Amz-Date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
            "Authorization": f"AWS4-HMAC-SHA256 Credential={ALICE[0]}/20240101/us-east-1/sts/aws4_request, "
                             "SignedHeaders=host;x-amz-date"})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status == 400
    assert b"<Code>IncompleteSignature</Code>" in body
    assert b"requires 'Signature' parameter" in body


def test_missing_authentication(secured):
    status, body = _fetch(secured.url + "/?Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in body


@pytest.mark.parametrize("minutes,phrase", [(-20, b"Signature expired"), (20, b"Signature not yet current")])
def test_clock_skew_rejected(secured, skewed_clock, minutes, phrase):
    skewed_clock(datetime.timedelta(minutes=minutes))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _client(secured, "sts").get_caller_identity()
    code, msg, status = _err(ei)
    assert code == "SignatureDoesNotMatch" and status == 403
    assert phrase.decode() in msg
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        _client(secured, "kms").list_keys()
    assert _err(ei)[0] == "InvalidSignatureException"


def test_small_skew_accepted(secured, skewed_clock):
    skewed_clock(datetime.timedelta(minutes=-4))
    assert _client(secured, "sts").get_caller_identity()["Account"] == ALICE[2]


def test_manipulated_x_amz_date_breaks_signature(secured):
    sts = _client(secured, "sts")
    sts.meta.events.register("before-send", lambda request, **kw: _shift_date(request))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sts.get_caller_identity()
    assert _err(ei)[0] == "SignatureDoesNotMatch"


def _shift_date(request):
    d = request.headers["X-Amz-Date"]
    d = d.decode() if isinstance(d, bytes) else d
    t = datetime.datetime.strptime(d, "%Y%m%dT%H%M%SZ") + datetime.timedelta(seconds=1)
    del request.headers["X-Amz-Date"]
    request.headers["X-Amz-Date"] = t.strftime("%Y%m%dT%H%M%SZ")


def test_presigned_sts_url(secured):
    sts = _client(secured, "sts")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=300, HttpMethod="GET")
    assert "X-Amz-Signature=" in url
    status, body = _fetch(url)
    assert status == 200, body
    assert f"<Account>{ALICE[2]}</Account>".encode() in body
    assert f"<Arn>arn:aws:iam::{ALICE[2]}:user/{ALICE[3]}</Arn>".encode() in body
    # Tampering with a signed parameter breaks it.
    status, body = _fetch(url.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    # Without HttpMethod botocore signs the operation's POST; fetched with GET that
    # is a different canonical request, and AWS rejects it too.
    status, body = _fetch(sts.generate_presigned_url("get_caller_identity"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body


def test_presigned_sqs_url(secured, unique_name):
    sqs = _client(secured, "sqs")
    qurl = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    # A query-protocol presigned GET for GetQueueUrl, signed by botocore's signer.
    creds = Credentials(ALICE[0], ALICE[1])
    req = AWSRequest(method="GET", url=secured.url + "/",
                     params={"Action": "GetQueueUrl", "QueueName": unique_name, "Version": "2012-11-05"})
    botocore.auth.SigV4QueryAuth(creds, "sqs", "us-east-1", expires=120).add_auth(req)
    status, body = _fetch(req.prepare().url)
    assert status == 200, body
    assert b"GetQueueUrlResult" in body and qurl.rsplit("/", 1)[1].encode() in body


def test_presigned_url_expired(secured, skewed_clock):
    skewed_clock(datetime.timedelta(minutes=-10))
    url = _client(secured, "sts").generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    status, body = _fetch(url)
    assert status in (400, 403)
    assert b"<Code>RequestExpired</Code>" in body or b"<Code>AccessDenied</Code>" in body
    assert b"expired" in body.lower()


def test_presigned_with_unknown_key(secured):
    url = _client(secured, "sts", key="AKIANOTCONFIGURED000").generate_presigned_url("get_caller_identity", HttpMethod="GET")
    status, body = _fetch(url)
    assert status == 403 and b"<Code>InvalidClientTokenId</Code>" in body


# -- dev mode (shared server: no credentials configured) ----------------------------

def test_dev_mode_accepts_any_secret(server):
    sts = server.client("sts", aws_access_key_id="AKIAANYTHING", aws_secret_access_key="whatever")
    assert sts.get_caller_identity()["Account"] == "000000000000"


def test_dev_mode_twelve_digit_key_is_the_account(server):
    sts = server.client("sts", aws_access_key_id="123456789012", aws_secret_access_key="x")
    me = sts.get_caller_identity()
    assert me["Account"] == "123456789012"
    assert me["Arn"] == "arn:aws:iam::123456789012:root"
    kms = server.client("kms", aws_access_key_id="123456789012", aws_secret_access_key="x")
    assert kms.create_key()["KeyMetadata"]["Arn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_dev_mode_still_rejects_malformed_signature(server):
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15", headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Amz-Date": "not-a-date",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=abcd"})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status == 400 and b"<Code>IncompleteSignature</Code>" in body


def test_dev_mode_presigned_url(server):
    sts = server.client("sts", aws_access_key_id="210987654321", aws_secret_access_key="x")
    status, body = _fetch(sts.generate_presigned_url("get_caller_identity", HttpMethod="GET"))
    assert status == 200 and b"<Account>210987654321</Account>" in body


def test_aws_endpoint_url_environment(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "333344445555")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    session = boto3.session.Session()
    assert session.client("sts").get_caller_identity()["Account"] == "333344445555"
    assert "Keys" in session.client("kms").list_keys()
