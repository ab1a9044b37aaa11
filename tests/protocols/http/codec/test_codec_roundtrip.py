"""Round trips through botocore's own client serializers and parsers."""
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import make_client  # noqa: E402
from protocols.http.codec import get_service_codec
from protocols.http.router import ServiceRouter
from services.errors import ServiceError

UTC = timezone.utc
ROUTER = ServiceRouter(["sqs", "sns", "sts", "kms", "events", "scheduler", "mq", "cloudwatch",
                        "route53", "s3", "ses", "sesv2"])


class Server:
    """Routes, decodes, records params and answers with a canned result or error."""

    def __init__(self, result=None, error=None, scope=None):
        self.result, self.error, self.scope = result or {}, error, scope
        self.params = self.match = self.codec = None

    def __call__(self, req):
        codec, match = ROUTER.route(req, self.scope)
        self.codec, self.match = codec, match
        self.params = codec.decode(match, req)
        if self.error is not None:
            return codec.encode_error(match, self.error, "req-1")
        return codec.encode_result(match, self.result, "req-1")


def strip_meta(d):
    d = dict(d)
    d.pop("ResponseMetadata", None)
    return d


# ---------------------------------------------------------------- SQS (json)
SQS_RECEIVE = {"Messages": [{
    "MessageId": "m-1", "ReceiptHandle": "rh", "MD5OfBody": "x", "Body": "a <b> & \r\n c ]]>",
    "Attributes": {"SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1"},
    "MD5OfMessageAttributes": "y",
    "MessageAttributes": {"s": {"StringValue": "v", "DataType": "String"},
                          "b": {"BinaryValue": b"\x00\x01\xff", "DataType": "Binary"}}}]}


def test_sqs_json_send_receive():
    srv = Server({"MessageId": "abc", "MD5OfMessageBody": "d41d"})
    c = make_client("sqs", srv, endpoint_url="https://sqs.us-east-1.amazonaws.com")
    params = dict(QueueUrl="https://sqs.us-east-1.amazonaws.com/000000000000/q", MessageBody="hi <&>",
                  DelaySeconds=5, MessageAttributes={"a": {"DataType": "Binary", "BinaryValue": b"\x00z"}})
    r = c.send_message(**params)
    assert srv.match.protocol == "json" and srv.codec.service_name == "sqs"
    assert srv.params == params
    assert strip_meta(r) == {"MessageId": "abc", "MD5OfMessageBody": "d41d"}
    srv.result = SQS_RECEIVE
    r = c.receive_message(QueueUrl=params["QueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=0,
                          MessageAttributeNames=["All"], AttributeNames=["All"])
    assert strip_meta(r) == SQS_RECEIVE
    assert srv.params["MessageAttributeNames"] == ["All"]


def test_sqs_json_errors_query_compatible():
    srv = Server(error=ServiceError("The specified queue does not exist.", code="QueueDoesNotExist"))
    c = make_client("sqs", srv, endpoint_url="https://sqs.us-east-1.amazonaws.com")
    with pytest.raises(c.exceptions.QueueDoesNotExist) as ei:
        c.get_queue_url(QueueName="nope")
    err = ei.value.response["Error"]
    # What AWS gives new SDKs: the legacy query code, with the shape name kept aside.
    assert err["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert err["QueryErrorCode"] == "QueueDoesNotExist"
    assert err["Message"] == "The specified queue does not exist."
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_sqs_json_batch_and_validation():
    srv = Server({"Successful": [{"Id": "1", "MessageId": "m", "MD5OfMessageBody": "x"}], "Failed": []})
    c = make_client("sqs", srv, endpoint_url="https://sqs.us-east-1.amazonaws.com")
    entries = [{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b", "DelaySeconds": 1}]
    r = c.send_message_batch(QueueUrl="u", Entries=entries)
    assert srv.params == {"QueueUrl": "u", "Entries": entries}
    assert strip_meta(r) == srv.result


# ---------------------------------------------------------------- SQS (query, old SDK)
def test_sqs_query_old_sdk(old_sqs_session):
    srv = Server({"MessageId": "abc", "MD5OfMessageBody": "d41d", "MD5OfMessageAttributes": "e"})
    c = make_client("sqs", srv, session=old_sqs_session, endpoint_url="https://sqs.us-east-1.amazonaws.com")
    params = dict(QueueUrl="https://sqs.us-east-1.amazonaws.com/000000000000/q", MessageBody="x & y\r\n",
                  MessageAttributes={"a": {"DataType": "String", "StringValue": "v"},
                                     "b": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}})
    r = c.send_message(**params)
    assert srv.match.protocol == "query"
    assert srv.params == params
    assert strip_meta(r) == srv.result

    srv.result = SQS_RECEIVE
    r = c.receive_message(QueueUrl=params["QueueUrl"], AttributeNames=["All"], MessageAttributeNames=["s", "b"])
    assert srv.params["AttributeNames"] == ["All"] and srv.params["MessageAttributeNames"] == ["s", "b"]
    assert strip_meta(r) == SQS_RECEIVE

    srv.result = {"QueueUrls": ["https://q/1", "https://q/2"]}
    assert strip_meta(c.list_queues(QueueNamePrefix="q")) == srv.result

    srv.result = {"Attributes": {"VisibilityTimeout": "30", "DelaySeconds": "0"}}
    assert strip_meta(c.get_queue_attributes(QueueUrl="u", AttributeNames=["All"])) == srv.result

    srv.result = {"QueueUrl": "https://q/new"}
    r = c.create_queue(QueueName="new", Attributes={"DelaySeconds": "5"}, tags={"k": "v"})
    assert srv.params == {"QueueName": "new", "Attributes": {"DelaySeconds": "5"}, "tags": {"k": "v"}}

    srv.result = {"Successful": [{"Id": "1", "MessageId": "m", "MD5OfMessageBody": "x"}],
                  "Failed": [{"Id": "2", "SenderFault": True, "Code": "C", "Message": "bad"}]}
    entries = [{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b", "DelaySeconds": 1}]
    r = c.send_message_batch(QueueUrl="u", Entries=entries)
    assert srv.params["Entries"] == entries
    assert strip_meta(r) == srv.result

    srv.error = ServiceError("The specified queue does not exist.", code="QueueDoesNotExist")
    with pytest.raises(c.exceptions.QueueDoesNotExist) as ei:
        c.get_queue_url(QueueName="nope")
    assert ei.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert ei.value.response["Error"]["Type"] == "Sender"
    assert ei.value.response["ResponseMetadata"]["RequestId"] == "req-1"


def test_sqs_query_posted_to_queue_url(old_sqs_session):
    srv = Server({"MessageId": "abc", "MD5OfMessageBody": "d"})
    c = make_client("sqs", srv, session=old_sqs_session,
                    endpoint_url="http://localhost:4566/000000000000/my-queue")
    c.send_message(QueueUrl="http://localhost:4566/000000000000/my-queue", MessageBody="x")
    assert srv.match.uri_params == {"__path__": "/000000000000/my-queue"}


# ---------------------------------------------------------------- SNS / STS (query)
def test_sns_query():
    srv = Server({"MessageId": "mid"})
    c = make_client("sns", srv)
    params = dict(TopicArn="arn:aws:sns:us-east-1:000000000000:t", Message="hello",
                  MessageAttributes={"k": {"DataType": "Number", "StringValue": "1"},
                                     "b": {"DataType": "Binary", "BinaryValue": b"\xff"}})
    r = c.publish(**params)
    assert srv.params == params and strip_meta(r) == {"MessageId": "mid"}
    srv.result = {"Topics": [{"TopicArn": "a"}, {"TopicArn": "b"}], "NextToken": "n"}
    assert strip_meta(c.list_topics()) == srv.result
    srv.result = {"Attributes": {"Policy": "{\"a\": \"<&>\"}", "Owner": "1"}}
    assert strip_meta(c.get_topic_attributes(TopicArn="a")) == srv.result
    srv.result = {"TopicArn": "arn"}
    c.create_topic(Name="t", Attributes={"FifoTopic": "true"}, Tags=[{"Key": "k", "Value": "v"}])
    assert srv.params == {"Name": "t", "Attributes": {"FifoTopic": "true"}, "Tags": [{"Key": "k", "Value": "v"}]}
    srv.error = ServiceError("Topic does not exist", code="NotFound", status=404)
    with pytest.raises(c.exceptions.NotFoundException) as ei:
        c.get_topic_attributes(TopicArn="a")
    assert ei.value.response["Error"]["Code"] == "NotFound"
    # the shape name is accepted too
    srv.error = ServiceError("Topic does not exist", code="NotFoundException", status=404)
    with pytest.raises(c.exceptions.NotFoundException):
        c.get_topic_attributes(TopicArn="a")


def test_sts_query_timestamps():
    exp = datetime(2030, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    srv = Server({"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T", "Expiration": exp},
                  "AssumedRoleUser": {"AssumedRoleId": "id", "Arn": "arn:aws:sts::1:assumed-role/r/s"},
                  "PackedPolicySize": 5})
    c = make_client("sts", srv)
    r = c.assume_role(RoleArn="arn:aws:iam::000000000000:role/r", RoleSessionName="sess", DurationSeconds=900)
    assert srv.params == {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "sess", "DurationSeconds": 900}
    assert strip_meta(r) == srv.result


# ---------------------------------------------------------------- KMS (json 1.1)
def test_kms_json11_blobs_and_errors():
    srv = Server({"CiphertextBlob": b"\x00\x01ct", "KeyId": "arn:k", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    c = make_client("kms", srv)
    r = c.encrypt(KeyId="alias/a", Plaintext=b"\x00secret\xff", EncryptionContext={"a": "b"})
    assert srv.match.protocol == "json"
    assert srv.params == {"KeyId": "alias/a", "Plaintext": b"\x00secret\xff", "EncryptionContext": {"a": "b"}}
    assert strip_meta(r) == srv.result
    srv.result = {"KeyMetadata": {"KeyId": "k", "CreationDate": datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=UTC),
                                  "Enabled": True, "KeyState": "Enabled"}}
    assert strip_meta(c.describe_key(KeyId="k")) == srv.result
    srv.error = ServiceError("Key 'k' does not exist", code="NotFoundException")
    with pytest.raises(c.exceptions.NotFoundException) as ei:
        c.describe_key(KeyId="k")
    assert ei.value.response["Error"] == {"Code": "NotFoundException", "Message": "Key 'k' does not exist"}


# ---------------------------------------------------------------- rest-json
def test_scheduler_rest_json():
    start = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    srv = Server({"ScheduleArn": "arn:s"})
    c = make_client("scheduler", srv)
    params = dict(Name="my.sched-1", GroupName="g", ScheduleExpression="rate(1 minute)", StartDate=start,
                  FlexibleTimeWindow={"Mode": "OFF"},
                  Target={"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": "arn:aws:iam::000000000000:role/r",
                          "Input": "{}"}, ClientToken="tok")
    r = c.create_schedule(**params)
    assert srv.match.protocol == "rest-json" and srv.match.operation == "CreateSchedule"
    assert srv.params == params
    assert strip_meta(r) == srv.result
    srv.result = {"Schedules": [{"Name": "a", "CreationDate": start, "State": "ENABLED"}], "NextToken": "n"}
    r = c.list_schedules(GroupName="g", MaxResults=5, NamePrefix="a", State="ENABLED")
    assert srv.params == {"GroupName": "g", "MaxResults": 5, "NamePrefix": "a", "State": "ENABLED"}
    assert strip_meta(r) == srv.result
    srv.error = ServiceError("Schedule x does not exist.", code="ResourceNotFoundException", status=404)
    with pytest.raises(c.exceptions.ResourceNotFoundException) as ei:
        c.get_schedule(Name="x")
    assert ei.value.response["Error"]["Message"] == "Schedule x does not exist."
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_mq_rest_json_location_names():
    srv = Server({"BrokerId": "b-1", "BrokerName": "n", "EngineType": "RABBITMQ",
                  "Created": datetime(2024, 1, 1, tzinfo=UTC), "Users": [{"Username": "u", "PendingChange": "CREATE"}],
                  "Tags": {"k": "v"}})
    c = make_client("mq", srv)
    r = c.describe_broker(BrokerId="b-1")
    assert srv.params == {"BrokerId": "b-1"} and srv.match.uri_params == {"broker-id": "b-1"}
    assert strip_meta(r) == srv.result
    srv.result = {}
    c.create_tags(ResourceArn="arn:aws:mq:us-east-1:0:broker:x", Tags={"a": "b"})
    assert srv.params == {"ResourceArn": "arn:aws:mq:us-east-1:0:broker:x", "Tags": {"a": "b"}}


# ---------------------------------------------------------------- rest-xml
def test_route53_rest_xml():
    srv = Server({"HostedZone": {"Id": "/hostedzone/Z1", "Name": "example.com.", "CallerReference": "r",
                                 "Config": {"PrivateZone": False}, "ResourceRecordSetCount": 2},
                  "ChangeInfo": {"Id": "c", "Status": "PENDING", "SubmittedAt": datetime(2024, 1, 1, tzinfo=UTC)},
                  "DelegationSet": {"NameServers": ["ns1", "ns2"]}, "Location": "https://x/hostedzone/Z1"})
    c = make_client("route53", srv)
    r = c.create_hosted_zone(Name="example.com.", CallerReference="r", HostedZoneConfig={"Comment": "c & d",
                                                                                     "PrivateZone": False})
    assert srv.params == {"Name": "example.com.", "CallerReference": "r",
                          "HostedZoneConfig": {"Comment": "c & d", "PrivateZone": False}}
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert strip_meta(r) == srv.result
    srv.result = {"ResourceRecordSets": [{"Name": "a.", "Type": "A", "TTL": 60,
                                          "ResourceRecords": [{"Value": "1.2.3.4"}]}],
                  "IsTruncated": False, "MaxItems": "10"}
    r = c.list_resource_record_sets(HostedZoneId="Z1", StartRecordName="a.", MaxItems="10")
    assert srv.params == {"HostedZoneId": "Z1", "StartRecordName": "a.", "MaxItems": "10"}
    assert strip_meta(r) == srv.result
    srv.error = ServiceError("No hosted zone found with ID: Z9", code="NoSuchHostedZone", status=404)
    with pytest.raises(c.exceptions.NoSuchHostedZone) as ei:
        c.get_hosted_zone(Id="Z9")
    assert ei.value.response["Error"]["Message"] == "No hosted zone found with ID: Z9"


def test_s3_rest_xml_payloads_and_greedy_labels():
    srv = Server({"ETag": '"e"', "VersionId": "v1"})
    c = make_client("s3", srv, s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
    r = c.put_object(Bucket="bkt", Key="a/b c/d+e.txt", Body=b"\x00data", Metadata={"x": "1"},
                     ContentType="text/plain")
    assert srv.match.operation == "PutObject"
    assert srv.params["Bucket"] == "bkt" and srv.params["Key"] == "a/b c/d+e.txt"
    assert srv.params["Body"] == b"\x00data" and srv.params["Metadata"] == {"x": "1"}
    assert strip_meta(r) == srv.result
    srv.result = {"Contents": [{"Key": "a", "Size": 3, "LastModified": datetime(2024, 1, 1, tzinfo=UTC)}],
                  "IsTruncated": False, "KeyCount": 1, "Name": "bkt", "Prefix": "a"}
    r = c.list_objects_v2(Bucket="bkt", Prefix="a")
    assert srv.match.operation == "ListObjectsV2"
    assert strip_meta(r) == srv.result
    srv.result = {"TagSet": [{"Key": "k", "Value": "v"}]}
    r = c.get_bucket_tagging(Bucket="bkt")
    assert srv.match.operation == "GetBucketTagging" and strip_meta(r) == srv.result


# ---------------------------------------------------------------- CloudWatch (rpc-v2 cbor)
@pytest.fixture
def force_protocol(monkeypatch):
    """Make botocore pick `protocol` for multi-protocol services (CloudWatch)."""
    import botocore.model

    def force(protocol):
        monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS",
                            (protocol,) + tuple(p for p in botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
                                                if p != protocol))
    return force


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "json", "query"])
def test_cloudwatch_all_protocols(force_protocol, protocol):
    force_protocol(protocol)
    ts = datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
    srv = Server({})
    c = make_client("cloudwatch", srv)
    params = dict(Namespace="App", MetricData=[{"MetricName": "m", "Timestamp": ts, "Value": 1.5, "Unit": "Count",
                                                "Dimensions": [{"Name": "d", "Value": "v"}],
                                                "Values": [1.0, 2.5], "Counts": [1.0, 2.0]}])
    c.put_metric_data(**params)
    assert srv.match.protocol == protocol
    assert srv.params == params
    srv.result = {"MetricDataResults": [{"Id": "q", "Label": "l", "Timestamps": [ts], "Values": [3.25],
                                         "StatusCode": "Complete"}], "Messages": []}
    r = c.get_metric_data(MetricDataQueries=[{"Id": "q", "Expression": "SUM(m)"}], StartTime=ts, EndTime=ts)
    assert srv.params["StartTime"] == ts
    assert strip_meta(r) == srv.result
    srv.error = ServiceError("The named resource does not exist.", code="ResourceNotFound", status=404)
    with pytest.raises(ClientError) as ei:
        c.get_dashboard(DashboardName="x")
    assert ei.value.response["Error"]["Code"] == "ResourceNotFound"
    assert ei.value.response["Error"]["Message"] == "The named resource does not exist."
