"""Micro-benchmark of the HTTP codec (not a test): SQS SendMessage decode+encode.

Prints JSON: ops/s and µs/op for json and query, plus botocore's own client-side
serializer+parser on the same operation as an in-run baseline.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import botocore.session  # noqa: E402
from botocore.parsers import create_parser  # noqa: E402
from botocore.serialize import create_serializer  # noqa: E402

from protocols.http.codec import HttpRequest, get_service_codec  # noqa: E402
from protocols.http.router import ServiceRouter  # noqa: E402

PARAMS = {"QueueUrl": "http://localhost:4566/000000000000/bench", "MessageBody": "hello world " * 8,
          "DelaySeconds": 0, "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}}}
RESULT = {"MessageId": "0a6c5c2e-8b1a-4f8e-9c0e-1d2b3c4d5e6f", "MD5OfMessageBody": "5d41402abc4b2a76b9719d911017c592",
          "MD5OfMessageAttributes": "9e107d9d372bb6826bd81d3542a419d6"}


def timeit(fn, seconds=1.0):
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(200):
            fn()
        n += 200
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def main():
    router = ServiceRouter(["sqs", "sns", "kms", "sts", "events", "scheduler", "mq", "cloudwatch"])
    codec = get_service_codec("sqs")
    model = botocore.session.get_session().get_service_model("sqs")
    om = model.operation_model("SendMessage")
    ser = create_serializer("json").serialize_to_request(PARAMS, om)
    json_req = HttpRequest("POST", "/", "", {"host": "sqs.us-east-1.amazonaws.com",
                                             "x-amz-target": "AmazonSQS.SendMessage",
                                             "content-type": "application/x-amz-json-1.0"}, ser["body"])
    form = {"Action": "SendMessage", "Version": "2012-11-05", "QueueUrl": PARAMS["QueueUrl"],
            "MessageBody": PARAMS["MessageBody"], "DelaySeconds": "0",
            "MessageAttribute.1.Name": "a", "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "v"}
    query_req = HttpRequest("POST", "/", "", {"host": "sqs.us-east-1.amazonaws.com",
                                              "content-type": "application/x-www-form-urlencoded"},
                            urlencode(form).encode())

    def run(req):
        def once():
            c, m = router.route(req, "sqs")
            c.decode(m, req)
            c.encode_result(m, RESULT, "rid")
        return once

    for req in (json_req, query_req):  # warm + correctness
        c, m = router.route(req, "sqs")
        assert c.decode(m, req)["MessageAttributes"] == PARAMS["MessageAttributes"]

    json_ops = timeit(run(json_req))
    query_ops = timeit(run(query_req))
    # Baseline in the same run: botocore client-side serialize (request) + parse (response).
    resp = codec.encode_result(next(iter([router.route(json_req, "sqs")[1]])), RESULT, "rid")
    parser = create_parser("json")
    serializer = create_serializer("json")
    http = {"status_code": 200, "headers": dict(resp.headers), "body": resp.body}

    def boto_once():
        serializer.serialize_to_request(PARAMS, om)
        parser.parse(http, om.output_shape)
    boto_ops = timeit(boto_once)
    out = {
        "sqs_send_message_json": {"ops_per_s": round(json_ops), "us_per_op": round(1e6 / json_ops, 2)},
        "sqs_send_message_query": {"ops_per_s": round(query_ops), "us_per_op": round(1e6 / query_ops, 2)},
        "baseline_botocore_client_json_serialize_parse": {"ops_per_s": round(boto_ops),
                                                          "us_per_op": round(1e6 / boto_ops, 2)},
        "ratio_json_vs_baseline": round(json_ops / boto_ops, 2),
        "includes": "route + decode + validate + encode",
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
