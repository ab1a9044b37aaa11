"""Routing and error shapes through the real server, one protocol family at a time:
json (KMS, SQS), query (STS), rest-json (scheduler, mq), rest-xml (route53),
smithy-rpc-v2-cbor (cloudwatch). botocore must parse each error's code and message."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import botocore.exceptions
import cbor2
import pytest


def _err(exc_info) -> tuple[str, str, int, dict]:
    r = exc_info.value.response
    return (r["Error"].get("Code"), r["Error"].get("Message"), r["ResponseMetadata"]["HTTPStatusCode"],
            r["ResponseMetadata"]["HTTPHeaders"])


def _raw(server, method, path, body=b"", headers=None):
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# -- json --------------------------------------------------------------------

def test_json_kms_error_shape(server):
    kms = server.client("kms")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.describe_key(KeyId="alias/does-not-exist-anywhere")
    code, msg, status, headers = _err(ei)
    assert code == "NotFoundException" and status == 400
    assert "does-not-exist-anywhere" in msg
    assert headers["content-type"].startswith("application/x-amz-json-1.1")
    assert headers.get("x-amzn-requestid")


def test_json_validation_error_is_aws_shaped(server):
    kms = server.client("kms")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.create_key(KeyUsage="NOT_A_USAGE")
    code, msg, status, _ = _err(ei)
    assert code == "ValidationException" and status == 400
    assert msg.startswith("1 validation error detected: Value 'NOT_A_USAGE' at 'keyUsage' failed to satisfy "
                          "constraint: Member must satisfy enum value set")


def test_json_raw_wire_shape(server):
    status, headers, body = _raw(server, "POST", "/", json.dumps({"KeyId": "nope"}).encode(), {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.DescribeKey"})
    doc = json.loads(body)
    assert status == 400
    assert doc["__type"].rsplit("#", 1)[-1] == "NotFoundException"
    assert doc.get("message") or doc.get("Message")


def test_json_unknown_operation(server):
    status, _, body = _raw(server, "POST", "/", b"{}", {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.NoSuchOperation"})
    assert status == 400
    assert json.loads(body)["__type"].endswith("UnknownOperationException")


def test_json_malformed_body(server):
    status, _, body = _raw(server, "POST", "/", b"{not json", {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    assert 400 <= status < 500
    assert "__type" in json.loads(body)


def test_sqs_json_error_has_query_error_header(server):
    sqs = server.client("sqs")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sqs.get_queue_url(QueueName="no-such-queue-gateway-test")
    code, msg, status, headers = _err(ei)
    # New SDKs read x-amzn-query-error and surface the legacy query code.
    assert code == "AWS.SimpleQueueService.NonExistentQueue"
    assert ei.value.response["Error"].get("QueryErrorCode") == "QueueDoesNotExist"
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert msg == "The specified queue does not exist."
    assert status == 400
    # Old SDKs (no query-compatible support) read __type from the body.
    st, hdrs, body = _raw(server, "POST", "/", b'{"QueueName": "no-such-queue-gateway-test"}', {
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.GetQueueUrl"})
    assert st == 400
    assert json.loads(body)["__type"].endswith("QueueDoesNotExist")
    assert hdrs["x-amzn-query-error"].split(";") == ["AWS.SimpleQueueService.NonExistentQueue", "Sender"]


# -- query -------------------------------------------------------------------

def test_query_sts_routes_by_action(server):
    out = server.client("sts").get_caller_identity()
    assert out["Arn"] == "arn:aws:iam::000000000000:root"
    # Action in the URL query of a GET works too.
    status, headers, body = _raw(server, "GET", "/?Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 200 and b"<GetCallerIdentityResult>" in body
    assert headers["content-type"].startswith("text/xml")


def test_query_unimplemented_operation_error_shape(server):
    sts = server.client("sts")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sts.decode_authorization_message(EncodedMessage="x")
    code, msg, status, _ = _err(ei)
    assert code == "NotImplemented" and status == 501
    assert "DecodeAuthorizationMessage" in msg


def test_query_invalid_action(server):
    status, _, body = _raw(server, "POST", "/", b"Action=NoSuchActionAnywhere&Version=2011-06-15", {
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body and b"<ErrorResponse" in body


# -- rest-json ---------------------------------------------------------------

# REST-JSON services this broker will not implement (routed by their SigV4 scope)
@pytest.mark.parametrize("service,call,kwargs,operation", [
    ("appconfig", "list_applications", {}, "ListApplications"),
    ("appconfig", "get_application", {"ApplicationId": "abc1234"}, "GetApplication"),
    ("apigateway", "get_rest_apis", {}, "GetRestApis"),
    ("apigateway", "get_rest_api", {"restApiId": "a1b2c3"}, "GetRestApi"),
])
def test_rest_json_routed_and_error_shape(server, service, call, kwargs, operation):
    client = server.client(service)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        getattr(client, call)(**kwargs)
    code, msg, status, headers = _err(ei)
    assert code == "NotImplemented" and status == 501
    assert f"operation {operation})" in msg
    assert headers.get("x-amzn-errortype") == "NotImplemented"
    assert headers["content-type"] == "application/json"


def test_rest_json_validation_error(server):
    sched = server.client("scheduler")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sched.get_schedule(Name="bad name with spaces")
    code, msg, status, _ = _err(ei)
    assert code == "ValidationException" and status == 400
    assert "at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern" in msg


def test_rest_json_unknown_path(server):
    status, headers, body = _raw(server, "GET", "/v1/no-such-resource-anywhere", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/mq/aws4_request, "
                         "SignedHeaders=host, Signature=00"})
    assert status == 400 or status == 404
    assert headers["content-type"] == "application/json"
    json.loads(body)


# -- rest-xml ----------------------------------------------------------------

@pytest.mark.parametrize("call,kwargs,operation", [
    ("list_hosted_zones", {}, "ListHostedZones"),
    ("get_hosted_zone", {"Id": "Z123"}, "GetHostedZone"),
    ("list_resource_record_sets", {"HostedZoneId": "Z123"}, "ListResourceRecordSets"),
])
def test_rest_xml_route53_routed_and_error_shape(server, call, kwargs, operation):
    r53 = server.client("route53")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        getattr(r53, call)(**kwargs)
    code, msg, status, headers = _err(ei)
    assert code == "NotImplemented" and status == 501
    assert f"operation {operation})" in msg
    assert headers["content-type"] in ("text/xml", "application/xml")


def test_rest_xml_validation_error(server):
    r53 = server.client("route53")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        r53.get_hosted_zone(Id="Z" * 40)  # Id: max length 32
    code, _, status, _ = _err(ei)
    assert status == 400 and code in ("ValidationException", "InvalidInput", "SerializationException")


# -- smithy-rpc-v2-cbor --------------------------------------------------------

@pytest.fixture(scope="module")
def cbor_cloudwatch(server, tmp_path_factory):
    """boto3 picks json for cloudwatch when both are offered; a session whose
    cloudwatch model lists only smithy-rpc-v2-cbor makes the same client speak CBOR."""
    import boto3
    import botocore.session

    base = botocore.session.get_session()
    loader = base.get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    version = model["metadata"]["apiVersion"]
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
    root = tmp_path_factory.mktemp("models")
    d = root / "cloudwatch" / version
    d.mkdir(parents=True)
    (d / "service-2.json").write_text(json.dumps(model))
    bc = botocore.session.get_session()
    bc.get_component("data_loader").search_paths.insert(0, str(root))
    session = boto3.session.Session(botocore_session=bc)
    client = server.client("cloudwatch")
    return session.client("cloudwatch", region_name="us-east-1", endpoint_url=server.url,
                          aws_access_key_id="AKIDTESTTESTTESTTEST", aws_secret_access_key="x",
                          config=client.meta.config)


@pytest.mark.parametrize("call,kwargs,operation", [   # CloudWatch operations the broker does not implement
    ("list_metric_streams", {}, "ListMetricStreams"),
    ("describe_anomaly_detectors", {}, "DescribeAnomalyDetectors"),
    ("put_anomaly_detector", {"SingleMetricAnomalyDetector": {"Namespace": "ns", "MetricName": "m", "Stat": "Sum"}},
     "PutAnomalyDetector"),
])
def test_cbor_cloudwatch_routed_and_error_shape(cbor_cloudwatch, call, kwargs, operation):
    cw = cbor_cloudwatch
    assert cw.meta.service_model.protocol == "smithy-rpc-v2-cbor"
    sent = []
    cw.meta.events.register("before-send", lambda request, **kw: sent.append(request))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        getattr(cw, call)(**kwargs)
    assert sent[0].url.endswith(f"/operation/{operation}")
    code, msg, status, headers = _err(ei)
    assert code == "NotImplemented" and status == 501
    assert f"operation {operation})" in msg
    assert headers["content-type"] == "application/cbor"
    assert headers["smithy-protocol"] == "rpc-v2-cbor"


def test_cbor_cloudwatch_validation_error(cbor_cloudwatch):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cbor_cloudwatch.list_metrics(Namespace="x" * 300)  # max length 255
    code, msg, status, _ = _err(ei)
    # awsQueryCompatible: botocore surfaces the query code from x-amzn-query-error
    assert code == "ValidationError", (code, msg)
    assert "at 'namespace' failed to satisfy constraint" in msg
    assert status == 400


def test_json_cloudwatch_query_compatible_default_client(server):
    cw = server.client("cloudwatch")  # boto3's default protocol pick for cloudwatch
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cw.list_metric_streams()
    code, msg, status, headers = _err(ei)
    assert code == "NotImplemented" and status == 501 and "ListMetricStreams" in msg
    assert headers["x-amzn-query-error"] == "NotImplemented;Receiver"


def test_cbor_raw_wire_shape(server):
    status, headers, body = _raw(server, "POST", "/service/GraniteServiceVersion20100801/operation/ListMetricStreams",
                                 cbor2.dumps({}), {"Content-Type": "application/cbor",
                                                   "smithy-protocol": "rpc-v2-cbor", "Accept": "application/cbor"})
    doc = cbor2.loads(body)
    assert status == 501
    assert doc["__type"].rsplit("#", 1)[-1] == "NotImplemented"
    assert "ListMetricStreams" in doc["message"]


def test_cbor_unknown_operation(server):
    status, _, body = _raw(server, "POST", "/service/GraniteServiceVersion20100801/operation/Nope",
                           cbor2.dumps({}), {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
    assert status == 400
    assert cbor2.loads(body)["__type"].endswith("UnknownOperationException")


# -- host prefixes and scope --------------------------------------------------

@pytest.fixture
def resolve_all_to_loopback(monkeypatch):
    """SDK-injected host prefixes (sync-, api., ...) make names that do not resolve
    here; send them to 127.0.0.1 while the request keeps its Host header."""
    real = socket.getaddrinfo

    def fake(host, *a, **kw):
        if isinstance(host, str) and (host.endswith(".amazonaws.com") or host.endswith("localhost")):
            host = "127.0.0.1"
        return real(host, *a, **kw)
    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize("service,endpoint_host,call,kwargs,operation,prefix", [
    ("stepfunctions", "states.us-east-1.amazonaws.com", "start_sync_execution",
     {"stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:sm"}, "StartSyncExecution", "sync-"),
    ("mwaa", "airflow.us-east-1.amazonaws.com", "get_environment", {"Name": "no-such-env"}, "GetEnvironment", "api."),
    ("mwaa", "localhost", "get_environment", {"Name": "my-env"}, "GetEnvironment", "api."),
    ("logs", "logs.us-east-1.amazonaws.com", "start_live_tail",
     {"logGroupIdentifiers": ["arn:aws:logs:us-east-1:000000000000:log-group:g"]}, "StartLiveTail", "stream-"),
])
def test_sdk_host_prefix_reaches_operation(server, resolve_all_to_loopback, service, endpoint_host, call, kwargs,
                                           operation, prefix):
    port = urlsplit(server.url).port
    client = server.client(service, endpoint_url=f"http://{endpoint_host}:{port}")
    hosts = []
    client.meta.events.register("before-send", lambda request, **kw: hosts.append(urlsplit(request.url).hostname))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        getattr(client, call)(**kwargs)
    assert hosts and hosts[0].startswith(prefix), hosts
    code, msg, status, _ = _err(ei)
    if service == "stepfunctions":      # implemented: the operation itself answers (no such state machine)
        assert code == "StateMachineDoesNotExist" and status == 400, (code, msg)
        return
    if service == "mwaa":               # implemented: the operation itself answers (no such environment)
        assert code == "ResourceNotFoundException" and status == 404, (code, msg)
        return
    assert code == "NotImplemented" and status == 501, (code, msg)
    assert f"operation {operation})" in msg


def test_unsigned_unknown_request_is_protocol_error_not_crash(server):
    status, _, body = _raw(server, "GET", "/definitely/not/an/aws/path")
    assert 400 <= status < 500
    assert body


# -- SigV4 scope disambiguates the same action/target across services ----------------

def _scoped_auth(service: str) -> dict:
    return {"X-Amz-Date": "20240501T120000Z",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIDTEST/20240501/us-east-1/{service}/aws4_request, "
                             f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"}


@pytest.mark.parametrize("scope,service", [("sns", "sns"), ("monitoring", "cloudwatch"), ("sqs", "sqs")])
def test_query_action_shared_by_services_routed_by_scope(server, scope, service):
    arn = b"arn:aws:sns:us-east-1:000000000000:t"
    body = b"Action=ListTagsForResource&Version=2010-03-31&ResourceArn=" + arn + b"&ResourceARN=" + arn
    if service == "sqs":
        body = b"Action=ListQueueTags&Version=2012-11-05&QueueUrl=http://localhost/000000000000/nope-q"
    status, headers, data = _raw(server, "POST", "/", body, {
        "Content-Type": "application/x-www-form-urlencoded", **_scoped_auth(scope)})
    assert headers["content-type"].startswith("text/xml"), data
    if service == "sqs":
        assert b"NonExistentQueue" in data or b"QueueDoesNotExist" in data, data
    elif service in ("cloudwatch", "sns"):  # implemented: the service itself answers (no such alarm/topic)
        assert status == 404 and b"<Code>ResourceNotFound" in data, data
    else:
        assert status == 501 and f"The {service} service is not implemented".encode() in data, data
        assert b"<Code>NotImplemented</Code>" in data


def test_query_validation_error_shape(server):
    sts = server.client("sts")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/" + "r" * 2100, RoleSessionName="ok-name")
    code, msg, status, headers = _err(ei)
    assert status == 400 and code in ("ValidationError", "ValidationException"), (code, msg)
    assert "at 'roleArn' failed to satisfy constraint: Member must have length less than or equal to 2048" in msg
    assert headers["content-type"].startswith("text/xml")
