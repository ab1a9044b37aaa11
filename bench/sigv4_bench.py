"""SigV4 verification throughput (not a test).

Prints JSON: verifications per second for dev mode (no hashing), verified
mode (header and presigned forms), and a baseline measured in the same run:
recomputing the signature with botocore's own SigV4Auth per request.

    .venv/bin/python bench/sigv4_bench.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import hmac
import json
import os
import sys
import time
from unittest import mock
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from botocore.auth import SigV4Auth, SigV4QueryAuth, _host_from_url  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from protocols.http.sigv4 import Credential, SigV4Verifier  # noqa: E402

AK, SK, ACCT = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "123456789012"
WHEN = datetime.datetime(2024, 5, 1, 12, 0, 0)
NOW = calendar.timegm(WHEN.timetuple())
URL = "http://localhost:4566/123456789012/my-queue"
BODY = (
    b"Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2Flocalhost%3A4566%2F123456789012%2Fmy-queue"
    b"&MessageBody=" + b"x" * 256
)


def signed(presign: bool):
    req = AWSRequest(
        method="GET" if presign else "POST",
        url=URL + ("?Action=ReceiveMessage&MaxNumberOfMessages=10" if presign else ""),
        headers={} if presign else {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        data=b"" if presign else BODY,
    )
    creds = Credentials(AK, SK)
    signer = SigV4QueryAuth(creds, "sqs", "us-east-1", expires=3600) if presign else SigV4Auth(creds, "sqs", "us-east-1")
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        signer.add_auth(req)
    p = req.prepare()
    parts = urlsplit(p.url)
    headers = {k.lower(): v for k, v in p.headers.items()}
    headers.setdefault("host", _host_from_url(p.url))
    return p.method, parts.path, parts.query, headers, p.body or b""


def botocore_baseline(method, path, query, headers, body):
    """Naive verifier: rebuild an AWSRequest and let botocore recompute."""
    auth = headers["authorization"]
    fields = dict(part.strip().split("=", 1) for part in auth.split(" ", 1)[1].split(","))
    ak, date, region, service, _ = fields["Credential"].split("/")
    signed_names = fields["SignedHeaders"].split(";")
    req = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{path}" + (f"?{query}" if query else ""),
        headers={n: headers[n] for n in signed_names},
        data=body,
    )
    req.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ak, SK), service, region)
    creq = signer.canonical_request(req)
    sig = signer.signature(signer.string_to_sign(req, creq), req)
    return hmac.compare_digest(sig, fields["Signature"])


def rate(fn, args, seconds: float) -> float:
    n, batch = 0, 200
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn(*args)
        n += batch
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    a = ap.parse_args()
    header_req = signed(False)
    presigned_req = signed(True)
    dev = SigV4Verifier(clock=lambda: NOW)
    strict = SigV4Verifier({AK: Credential(AK, SK, ACCT)}, clock=lambda: NOW + 60)
    assert botocore_baseline(*header_req)
    strict.authenticate(*header_req)
    strict.authenticate(*presigned_req)

    baseline = rate(botocore_baseline, header_req, a.seconds)
    results = {
        "body_bytes": len(header_req[4]),
        "baseline_botocore_recompute_per_s": round(baseline),
        "dev_header_per_s": round(rate(dev.authenticate, header_req, a.seconds)),
        "dev_presigned_per_s": round(rate(dev.authenticate, presigned_req, a.seconds)),
        "verified_header_per_s": round(rate(strict.authenticate, header_req, a.seconds)),
        "verified_presigned_per_s": round(rate(strict.authenticate, presigned_req, a.seconds)),
    }
    for k in ("dev_header_per_s", "verified_header_per_s"):
        results[k.replace("_per_s", "_vs_baseline")] = round(results[k] / baseline, 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
