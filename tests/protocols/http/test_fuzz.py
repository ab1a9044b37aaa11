"""Fuzz the AWS gateway with mutated valid requests of every codec family.

Valid requests are serialized by botocore (query: SQS and STS; json: SQS and KMS;
rest-json: AppConfig; rest-xml: Route 53; smithy-rpc-v2-cbor: Translate -- the last three
are not implemented here, so the codec's decoding and error encoding are what gets
exercised), then mutated as an attacker would (bytes flipped, cut, repeated, values of the
wrong type, nulls, deep nesting, huge numbers, invalid UTF-8) and sent signed. Every answer
must be a client error or a deliberate 501 NotImplemented -- never another 5xx -- and no
worker may restart. A bounded slice runs in CI; the long form is marked slow.
"""

from __future__ import annotations

import http.client
import json
import random
import uuid
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer

from protocols.http.codec import get_service_codec
from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION

_session = botocore.session.get_session()


def _model(service: str, protocol: str):
    if service == "sqs" and protocol == "query":     # the query model SDKs before 2023 used
        return get_service_codec("sqs")._models["query"]
    return _session.get_service_model(service)


def templates(queue_url: str, key_id: str) -> list[tuple[str, str, str, dict]]:
    """(service, protocol, operation, params): valid requests to start from."""
    attrs = {"a": {"DataType": "String", "StringValue": "v"}, "n": {"DataType": "Number", "StringValue": "1.5"},
             "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    sqs = [
        ("SendMessage", {"QueueUrl": queue_url, "MessageBody": "hello", "DelaySeconds": 0, "MessageAttributes": attrs,
                         "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}}}),
        ("SendMessageBatch", {"QueueUrl": queue_url, "Entries": [
            {"Id": "a", "MessageBody": "x", "MessageAttributes": attrs}, {"Id": "b", "MessageBody": "y"}]}),
        ("ReceiveMessage", {"QueueUrl": queue_url, "MaxNumberOfMessages": 2, "VisibilityTimeout": 0,
                            "AttributeNames": ["All"], "MessageAttributeNames": ["All"]}),
        ("CreateQueue", {"QueueName": "fuzz-" + uuid.uuid4().hex[:8], "Attributes": {"DelaySeconds": "0"},
                         "tags": {"k": "v"}}),
        ("SetQueueAttributes", {"QueueUrl": queue_url, "Attributes": {"VisibilityTimeout": "30", "Policy": "{}"}}),
        ("GetQueueAttributes", {"QueueUrl": queue_url, "AttributeNames": ["All"]}),
        ("ChangeMessageVisibilityBatch", {"QueueUrl": queue_url, "Entries": [
            {"Id": "a", "ReceiptHandle": "AQEB", "VisibilityTimeout": 5}]}),
        ("DeleteMessageBatch", {"QueueUrl": queue_url, "Entries": [{"Id": "a", "ReceiptHandle": "AQEB"}]}),
        ("AddPermission", {"QueueUrl": queue_url, "Label": "l", "AWSAccountIds": ["111122223333"],
                           "Actions": ["SendMessage"]}),
        ("TagQueue", {"QueueUrl": queue_url, "Tags": {"a": "b"}}),
        ("ListQueues", {"QueueNamePrefix": "fuzz", "MaxResults": 5}),
        ("StartMessageMoveTask", {"SourceArn": "arn:aws:sqs:us-east-1:000000000000:none"}),
    ]
    kms = [
        ("Encrypt", {"KeyId": key_id, "Plaintext": b"secret", "EncryptionContext": {"a": "b"}}),
        ("GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256"}),
        ("CreateKey", {"Description": "fuzz", "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        ("CreateAlias", {"AliasName": "alias/fuzz-" + uuid.uuid4().hex[:8], "TargetKeyId": key_id}),
        ("TagResource", {"KeyId": key_id, "Tags": [{"TagKey": "t", "TagValue": "v"}]}),
        ("GenerateRandom", {"NumberOfBytes": 16}),
        ("ReEncrypt", {"CiphertextBlob": b"\x01" * 80, "DestinationKeyId": key_id}),
        ("ImportKeyMaterial", {"KeyId": key_id, "ImportToken": b"t", "EncryptedKeyMaterial": b"m"}),
        ("DeriveSharedSecret", {"KeyId": key_id, "KeyAgreementAlgorithm": "ECDH", "PublicKey": b"pk"}),
        ("ListKeys", {"Limit": 10}),
    ]
    out = [("sqs", "json", op, p) for op, p in sqs] + [("sqs", "query", op, p) for op, p in sqs]
    out += [("kms", "json", op, p) for op, p in kms]
    out += [("sts", "query", "GetCallerIdentity", {}),
            ("sts", "query", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "session"})]
    out += [("appconfig", "rest-json", "CreateApplication", {"Name": "app", "Tags": {"a": "b"}}),
            ("appconfig", "rest-json", "GetApplication", {"ApplicationId": "abc1234"})]
    out += [("route53", "rest-xml", "ChangeResourceRecordSets", {"HostedZoneId": "Z123", "ChangeBatch": {
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": {"Name": "a.example.com", "Type": "A", "TTL": 60,
                                                               "ResourceRecords": [{"Value": "1.2.3.4"}]}}]}}),
            ("route53", "rest-xml", "ListHostedZones", {"MaxItems": "5"})]
    out += [("translate", "smithy-rpc-v2-cbor", "TranslateText", {
        "Text": "hello", "SourceLanguageCode": "en", "TargetLanguageCode": "de"})]
    return out


def serialize(service: str, protocol: str, operation: str, params: dict) -> dict:
    om = _model(service, protocol).operation_model(operation)
    return create_serializer(protocol).serialize_to_request(params, om)


# ---------------------------------------------------------------- mutations

def _mutate_json(value, rng: random.Random, depth: int = 0):
    if isinstance(value, dict) and value and rng.random() < 0.7:
        k = rng.choice(list(value))
        value[k] = _mutate_json(value[k], rng, depth + 1)
        return value
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        value[i] = _mutate_json(value[i], rng, depth + 1)
        return value
    return rng.choice([None, 0, -1, 2 ** 63, 1e308, -0.0, True, "", "x" * 300, [], {}, [None], {"a": None},
                       "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"), "\u0000\u0001\u0008",
                       "9" * 400, {"DataType": None}, [[[[[]]]]]])


def mutate(req: dict, rng: random.Random) -> tuple[str, bytes, dict]:
    """(path and query, body, headers) of a mutated request."""
    body = req["body"]
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, dict):     # query: form dict
        from urllib.parse import urlencode
        body = urlencode(body).encode()
    body = body or b""
    path = req["url_path"]
    qs = req.get("query_string") or ""
    if isinstance(qs, dict):
        from urllib.parse import urlencode
        qs = urlencode(qs, doseq=True)
    headers = dict(req["headers"])
    kind = rng.randrange(12)
    if kind == 0 and body:                                       # flip bytes
        b = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        body = bytes(b)
    elif kind == 1 and body:                                     # cut
        body = body[:rng.randrange(len(body))]
    elif kind == 2:                                              # repeat / grow
        body = body * rng.randint(2, 50)
    elif kind == 3 and body.startswith(b"{"):                    # JSON values of the wrong type
        try:
            doc = json.loads(body)
            body = json.dumps(_mutate_json(doc, rng)).encode()
        except ValueError:
            pass
    elif kind == 4:                                              # deep nesting
        depth = rng.choice([100, 1000, 10000])
        body = b'{"a":' * depth + b"1" + b"}" * depth if rng.random() < 0.5 else b"[" * depth + b"]" * depth
    elif kind == 5 and b"=" in body:                             # form values: invalid UTF-8, dotted keys
        body += rng.choice([b"&MessageBody=%FF%FE", b"&Attribute.1.Value=%C0", b"&a.b.c.d.e.f=1",
                            b"&Entries.member.99999.Id=x", b"&MaxNumberOfMessages=99999999999999999999",
                            b"&" + b"x." * 2000 + b"y=1"])
    elif kind == 6:                                              # random bytes
        body = rng.randbytes(rng.randint(1, 2000))
    elif kind == 7:                                              # path and query
        path = path + rng.choice(["/..", "%00", "/%FF", "?", "/" + "a" * 3000])
        qs = qs + rng.choice(["&Action=", "&Action=%FF", "&a=%", "&" * 50])
    elif kind == 8:                                              # headers
        for h in list(headers):
            if rng.random() < 0.3:
                headers[h] = rng.choice(["", "x" * 5000, "\x7f", "application/x-amz-json-1.0; x"])
        headers["Content-Type"] = rng.choice([headers.get("Content-Type", ""), "", "text/plain",
                                              "application/cbor", "application/x-www-form-urlencoded"])
    elif kind == 9 and body.startswith(b"{"):                    # nulls everywhere
        body = body.replace(b'"v"', b"null").replace(b'"x"', b"null").replace(b"[", b"[null,", 1)
    elif kind == 10 and body:                                    # invalid UTF-8 in a string
        i = rng.randrange(len(body))
        body = body[:i] + rng.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\\ud800"]) + body[i:]
    # kind 11: unchanged (a valid request is fine too)
    return path + ("?" + qs if qs else ""), body, headers


def send(server, service: str, method: str, target: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    u = urlsplit(server.url)
    url = server.url + target
    headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host", "authorization")}
    try:
        req = AWSRequest(method, url, data=body, headers=headers)
        SigV4Auth(Credentials(DUMMY_KEY, DUMMY_SECRET), service, REGION).add_auth(req)
        signed = dict(req.headers.items())
    except Exception:      # what botocore cannot sign, send unsigned
        signed = headers
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
        for k, v in signed.items():
            conn.putheader(k, v.encode("latin-1", "replace") if isinstance(v, str) else v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        answer = resp.read()
        return resp.status, answer + (resp.getheader("x-amzn-ErrorType") or "").encode()
    finally:
        conn.close()


def _fuzz(server, n: int, seed: int) -> None:
    sqs, kms = server.client("sqs"), server.client("kms")
    queue_url = sqs.create_queue(QueueName=f"fuzz-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    key_id = kms.create_key(Description="fuzz")["KeyMetadata"]["KeyId"]
    before = {(p["role"], p["index"]): (p["pid"], p.get("restarts")) for p in server.processes()}
    rng = random.Random(seed)
    reqs = [(svc, proto, op, serialize(svc, proto, op, p)) for svc, proto, op, p in templates(queue_url, key_id)]
    families = {proto for _s, proto, _o, _r in reqs}
    assert families == {"query", "json", "rest-json", "rest-xml", "smithy-rpc-v2-cbor"}
    bad = []
    for _ in range(n):
        svc, proto, op, req = rng.choice(reqs)
        target, body, headers = mutate(req, rng)
        status, answer = send(server, svc, req["method"], target, body, headers)
        if status >= 500 and not (status == 501 and b"NotImplemented" in answer):
            bad.append((svc, proto, op, status, target[:200], body[:300], answer[:300]))
    assert not bad, f"{len(bad)} 5xx answers, e.g. {bad[:3]}"
    after = {(p["role"], p["index"]): (p["pid"], p.get("restarts")) for p in server.processes()}
    assert after == before, "a worker restarted during the fuzz run"
    assert server.health()["status"] == "ok"


def test_fuzz_every_codec_family(server):
    _fuzz(server, n=1200, seed=16)


@pytest.mark.slow
def test_fuzz_every_codec_family_long(server):
    _fuzz(server, n=22000, seed=8)
