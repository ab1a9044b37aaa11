"""Helpers shared by the SQS tests (import as tests.services.sqs._helpers)."""

from __future__ import annotations

import time


def error_of(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")


def attrs_of(client, url: str, *names: str) -> dict:
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"])["Attributes"]


def receive_all(client, url: str, n: int, timeout: float = 10.0, **kw) -> list[dict]:
    """Receive until `n` messages were seen (deadline `timeout`)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        resp = client.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, n - len(got)),
                                      WaitTimeSeconds=1, **kw)
        got.extend(resp.get("Messages", []))
    return got


def signed(method: str, url: str, body: bytes | str = b"", headers: dict | None = None,
           region: str = "us-east-1") -> tuple[int, dict, bytes]:
    """One SigV4-signed raw HTTP request (as any SDK would sign it): (status, lower-cased headers, body)."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET
    data = body.encode() if isinstance(body, str) else body
    req = AWSRequest(method, url, data=data, headers=dict(headers or {}))
    SigV4Auth(Credentials(DUMMY_KEY, DUMMY_SECRET), "sqs", region).add_auth(req)
    r = urllib.request.Request(url, data=data if method != "GET" else None, headers=dict(req.headers.items()),
                               method=method)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def json_call(server_url: str, op: str, params: dict | bytes) -> tuple[int, dict, dict]:
    """A raw AWS JSON 1.0 SQS request: (status, headers, decoded body)."""
    import json
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    status, headers, raw = signed("POST", server_url + "/", body, {
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{op}"})
    return status, headers, json.loads(raw) if raw else {}
