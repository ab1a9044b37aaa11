"""ServiceRouter: targets, actions with ambiguity, REST templates, host prefixes, CBOR paths."""
import json

import pytest
from botocore.parsers import create_parser

from protocols.http.codec import HttpRequest, OperationNotFound
from protocols.http.router import ServiceRouter

from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[3])

R = ServiceRouter(["sqs", "sns", "kms", "sts", "events", "scheduler", "mq", "cloudwatch", "s3", "route53",
                   "stepfunctions", "mwaa", "ses", "sesv2"])


def req(method="POST", path="/", query="", headers=None, body=b""):
    return HttpRequest(method, path, query, {k.lower(): v for k, v in (headers or {}).items()}, body)


def form(body, host="localhost:4566"):
    return req(headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": host},
               body=body.encode())


def test_json_target():
    c, m = R.route(req(headers={"X-Amz-Target": "TrentService.Encrypt"}), "kms")
    assert (c.service_name, m.operation, m.protocol) == ("kms", "Encrypt", "json")
    c, m = R.route(req(headers={"X-Amz-Target": "AmazonSQS.SendMessage"}), None)
    assert c.service_name == "sqs"
    c, m = R.route(req(headers={"X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}), None)
    assert (c.service_name, m.protocol) == ("cloudwatch", "json")


def test_unknown_json_operation():
    with pytest.raises(OperationNotFound) as ei:
        R.route(req(headers={"X-Amz-Target": "AmazonSQS.Nope"}), None)
    resp = ei.value.encode("rid")
    parsed = create_parser("json").parse({"status_code": resp.status, "headers": dict(resp.headers),
                                          "body": resp.body}, None)
    assert resp.status == 400 and parsed["Error"]["Code"] == "UnknownOperationException"
    with pytest.raises(OperationNotFound):
        R.route(req(headers={"X-Amz-Target": "NoSuchPrefix.Op"}), None)


def test_query_action_disambiguation():
    # TagResource exists in SNS and CloudWatch (query)
    body = "Action=TagResource&Version=x&ResourceARN=a"
    assert R.route(form(body), "sns")[0].service_name == "sns"
    assert R.route(form(body), "monitoring")[0].service_name == "cloudwatch"
    assert R.route(form(body, host="monitoring.us-east-1.amazonaws.com"), None)[0].service_name == "cloudwatch"
    assert R.route(form(body, host="sns.us-east-1.localhost.localstack.cloud:4566"), None)[0].service_name == "sns"
    c, m = R.route(form("Action=Publish&TopicArn=a&Message=m"), None)
    assert (c.service_name, m.protocol, m.operation) == ("sns", "query", "Publish")
    c, m = R.route(form("Action=AssumeRole&RoleArn=a&RoleSessionName=ss"), None)
    assert c.service_name == "sts"


def test_query_get_and_queue_url_path():
    c, m = R.route(req("GET", "/", "Action=ListQueues&Version=2012-11-05",
                       {"Host": "sqs.us-east-1.amazonaws.com"}), None)
    assert (c.service_name, m.operation, m.uri_params) == ("sqs", "ListQueues", {})
    r = form("Action=SendMessage&MessageBody=x")
    r.path = "/000000000000/my-queue"
    c, m = R.route(r, "sqs")
    assert m.uri_params == {"__path__": "/000000000000/my-queue"}
    # An absent QueueUrl is filled from the request URL so validation passes.
    assert c.decode(m, r) == {"MessageBody": "x", "QueueUrl": "http://localhost:4566/000000000000/my-queue"}


def test_unknown_query_action():
    with pytest.raises(OperationNotFound) as ei:
        R.route(form("Action=Frobnicate", host="sqs.us-east-1.amazonaws.com"), "sqs")
    resp = ei.value.encode("rid")
    parsed = create_parser("query").parse({"status_code": resp.status, "headers": dict(resp.headers),
                                           "body": resp.body}, None)
    assert parsed["Error"]["Code"] == "InvalidAction"
    # SQS's own wording (other query services say "web service")
    assert parsed["Error"]["Message"] == "The action Frobnicate is not valid for this endpoint."
    with pytest.raises(OperationNotFound) as ei:
        R.route(form("Action=Frobnicate", host="sns.us-east-1.amazonaws.com"), "sns")
    assert ei.value.message == "The action Frobnicate is not valid for this web service."


def test_queue_url_without_action_is_unknown_operation():
    r = req(path="/000000000000/my-queue")
    r.method, r.query = "GET", ""
    with pytest.raises(OperationNotFound) as ei:
        R.route(r, None)
    resp = ei.value.encode("rid")
    assert resp.status == 404 and b"<UnknownOperationException/>" in resp.body


def test_cbor_path():
    c, m = R.route(req(path="/service/GraniteServiceVersion20100801/operation/GetMetricData",
                       headers={"smithy-protocol": "rpc-v2-cbor"}), None)
    assert (c.service_name, m.operation, m.protocol) == ("cloudwatch", "GetMetricData", "smithy-rpc-v2-cbor")
    with pytest.raises(OperationNotFound):
        R.route(req(path="/service/GraniteServiceVersion20100801/operation/Nope",
                    headers={"smithy-protocol": "rpc-v2-cbor"}), None)


def test_rest_templates_greedy_and_specific():
    c, m = R.route(req("GET", "/bkt/a/b/c.txt", headers={"Host": "s3.amazonaws.com"}), "s3")
    assert (m.operation, m.uri_params) == ("GetObject", {"Bucket": "bkt", "Key": "a/b/c.txt"})
    c, m = R.route(req("GET", "/bkt", "tagging", {"Host": "s3.amazonaws.com"}), "s3")
    assert m.operation == "GetBucketTagging"
    c, m = R.route(req("GET", "/bkt", "list-type=2&prefix=a", {"Host": "s3.amazonaws.com"}), "s3")
    assert m.operation == "ListObjectsV2"
    c, m = R.route(req("PUT", "/bkt/k", "partNumber=1&uploadId=u", {"Host": "s3.amazonaws.com"}), "s3")
    assert m.operation == "UploadPart"
    c, m = R.route(req("GET", "/2013-04-01/hostedzone/Z1/rrset", headers={"Host": "route53.amazonaws.com"}), None)
    assert (c.service_name, m.operation, m.uri_params) == ("route53", "ListResourceRecordSets", {"Id": "Z1"})
    c, m = R.route(req("GET", "/schedules/my-s", headers={"Host": "scheduler.us-east-1.amazonaws.com"}), None)
    assert (c.service_name, m.operation) == ("scheduler", "GetSchedule")
    c, m = R.route(req("GET", "/v1/brokers/b-1"), "mq")
    assert (c.service_name, m.operation, m.uri_params) == ("mq", "DescribeBroker", {"broker-id": "b-1"})


def test_rest_host_prefix_and_scope():
    # MWAA operations carry hostPrefix "api." / "env."
    c, m = R.route(req("GET", "/environments", headers={"Host": "api.airflow.us-east-1.amazonaws.com"}), None)
    assert (c.service_name, m.operation) == ("mwaa", "ListEnvironments")
    c, m = R.route(req("GET", "/environments"), "airflow")
    assert c.service_name == "mwaa"
    assert R._host_services(req(headers={"Host": "sync-states.us-east-1.amazonaws.com"})) == {"stepfunctions"}
    # sesv2 (rest-json) vs ses (query) share signing name "ses"
    c, m = R.route(req("GET", "/v2/email/templates"), "ses")
    assert c.service_name == "sesv2"
    c, m = R.route(form("Action=SendEmail&Source=a"), "ses")
    assert (c.service_name, m.protocol) == ("ses", "query")


def test_nothing_matches():
    with pytest.raises(OperationNotFound):
        R.route(req("PATCH", "/definitely/not/a/route"), "scheduler")


def test_form_that_is_not_utf8_is_rejected_in_the_protocol_shape():
    """MessageBody=%FF%FE is never stored as U+FFFD: a 400 in query XML, from the router."""
    for body in ("Action=SendMessage&QueueUrl=u&MessageBody=%FF%FE", None):
        r = form(body) if body else form("x")
        if body is None:
            r.body = b"Action=SendMessage&MessageBody=\xff\xfe"
        with pytest.raises(OperationNotFound) as ei:
            R.route(r, "sqs")
        resp = ei.value.encode("rid")
        parsed = create_parser("query").parse({"status_code": resp.status, "headers": dict(resp.headers),
                                               "body": resp.body}, None)
        assert resp.status == 400 and parsed["Error"]["Code"] == "MalformedQueryString"


def test_shipped_routing_index_matches_the_installed_models():
    """The precomputed routing facts equal what botocore's models say (regenerate
    with tools/gen_routing_index.py after a botocore upgrade; until then the
    gateway computes them itself, so routing never disagrees with the models)."""
    import json

    from protocols.http.codec._index import INDEX_PATH, botocore_version, build_index
    from services.registry import KNOWN_SERVICES
    shipped = json.loads(INDEX_PATH.read_text())
    if shipped["botocore"] != botocore_version():
        pytest.skip(f"index is for botocore {shipped['botocore']}, installed {botocore_version()}")
    assert shipped == build_index(KNOWN_SERVICES)


def test_router_loads_a_service_model_only_when_routed_to():
    import subprocess
    import sys
    code = (
        "from protocols.http.codec import _get\n"
        "from protocols.http.codec._types import HttpRequest\n"
        "from protocols.http.router import ServiceRouter\n"
        "from services.registry import KNOWN_SERVICES\n"
        "r = ServiceRouter(KNOWN_SERVICES)\n"
        "assert _get.cache_info().currsize == 0, _get.cache_info()\n"
        "req = HttpRequest('POST', '/', '', {'x-amz-target': 'AmazonSQS.ListQueues',"
        " 'content-type': 'application/x-amz-json-1.0'}, b'{}')\n"
        "codec, match = r.route(req, 'sqs')\n"
        "assert codec.service_name == 'sqs' and match.operation == 'ListQueues'\n"
        "assert _get.cache_info().currsize == 1\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "ok", out.stderr
