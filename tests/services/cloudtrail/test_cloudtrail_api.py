"""CloudTrail on a server with two access keys: what each caller did, as LookupEvents
and the trail's log files show it; data events only when selected; EventBridge."""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import REGION, BrokerProcess, wait_for

ACCOUNT = "111122223333"
ALICE = ("AKIAALICEALICEALICE1", "alice-secret")
BOB = ("AKIABOBBOBBOBBOBBOB2", "bob-secret")


@pytest.fixture(scope="module")
def trail_server(tmp_path_factory):
    creds = [{"access_key": k, "secret_key": s, "account_id": ACCOUNT, "user_name": u}
             for (k, s), u in ((ALICE, "alice"), (BOB, "bob"))]
    b = BrokerProcess(tmp_path_factory.mktemp("cloudtrail"), "--workers", "1", "--shards", "2",
                      env={"BROKER_AWS_CREDENTIALS": json.dumps(creds), "BROKER_CLOUDTRAIL_DELIVERY_INTERVAL": "1"})
    try:
        yield b
    finally:
        b.close()


def client(b, service, who):
    return b.client(service, aws_access_key_id=who[0], aws_secret_access_key=who[1])


def _lookup(ct, **kw):
    return ct.lookup_events(**kw)["Events"]


def test_lookup_events_by_caller(trail_server):
    qa = f"alice-{uuid.uuid4().hex[:6]}"
    qb = f"bob-{uuid.uuid4().hex[:6]}"
    resp = client(trail_server, "sqs", ALICE).create_queue(QueueName=qa)
    rid_alice = resp["ResponseMetadata"]["RequestId"]
    client(trail_server, "sqs", BOB).create_queue(QueueName=qb, Attributes={"DelaySeconds": "5"})
    ct = client(trail_server, "cloudtrail", ALICE)

    def mine(user):
        return [e for e in _lookup(ct, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": user}])
                if e["EventName"] == "CreateQueue"]
    ev_a = wait_for(lambda: mine("alice"), 10, what="alice's CreateQueue")
    ev_b = wait_for(lambda: mine("bob"), 10, what="bob's CreateQueue")
    assert all(e["Username"] == "alice" and e["AccessKeyId"] == ALICE[0] for e in ev_a)
    assert all(e["Username"] == "bob" and e["AccessKeyId"] == BOB[0] for e in ev_b)
    rec = json.loads(next(e for e in ev_a if qa in e["CloudTrailEvent"])["CloudTrailEvent"])
    assert rec["eventVersion"] == "1.09" and rec["eventSource"] == "sqs.amazonaws.com"
    assert rec["eventName"] == "CreateQueue" and rec["awsRegion"] == REGION and rec["readOnly"] is False
    assert rec["userIdentity"]["type"] == "IAMUser" and rec["userIdentity"]["userName"] == "alice"
    assert rec["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert rec["userIdentity"]["accountId"] == ACCOUNT and rec["userIdentity"]["accessKeyId"] == ALICE[0]
    assert rec["requestParameters"] == {"queueName": qa}
    assert rec["responseElements"]["queueUrl"].endswith(f"/{ACCOUNT}/{qa}")
    assert rec["requestID"] == rid_alice and re.fullmatch(r"[0-9a-f-]{36}", rec["eventID"])
    assert rec["sourceIPAddress"] == "127.0.0.1" and rec["userAgent"].startswith("Boto3/")
    assert rec["recipientAccountId"] == ACCOUNT and rec["eventCategory"] == "Management"
    by_key = _lookup(ct, LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": BOB[0]}])
    assert by_key and {e["Username"] for e in by_key} == {"bob"}
    by_resource = _lookup(ct, LookupAttributes=[{"AttributeKey": "ResourceName",
                                                 "AttributeValue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{qb}"}])
    assert [e["EventName"] for e in by_resource] == ["CreateQueue"]
    assert by_resource[0]["Resources"] == [{"ResourceType": "AWS::SQS::Queue",
                                            "ResourceName": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{qb}"}]


def test_lookup_time_range_paging_and_errors(trail_server):
    ct = client(trail_server, "cloudtrail", BOB)
    sqs = client(trail_server, "sqs", BOB)
    for i in range(3):
        sqs.create_queue(QueueName=f"page-{uuid.uuid4().hex[:6]}")
    wait_for(lambda: len(_lookup(ct, LookupAttributes=[{"AttributeKey": "EventName",
                                                        "AttributeValue": "CreateQueue"}])) >= 3, 10)
    first = ct.lookup_events(MaxResults=2)
    assert len(first["Events"]) == 2 and first["NextToken"]
    times = [e["EventTime"] for e in first["Events"]]
    assert times == sorted(times, reverse=True)
    second = ct.lookup_events(MaxResults=2, NextToken=first["NextToken"])
    assert not {e["EventId"] for e in second["Events"]} & {e["EventId"] for e in first["Events"]}
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert ct.lookup_events(StartTime=future, EndTime=future + timedelta(hours=1))["Events"] == []
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ct.lookup_events(StartTime=future, EndTime=future - timedelta(hours=2))
    assert ei.value.response["Error"]["Code"] == "InvalidTimeRangeException"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "a"},
                                           {"AttributeKey": "EventName", "AttributeValue": "b"}])
    assert ei.value.response["Error"]["Code"] == "InvalidLookupAttributesException"


def test_secrets_redacted_and_errors_recorded(trail_server):
    kms = client(trail_server, "kms", ALICE)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"top secret plaintext")
    sqs = client(trail_server, "sqs", ALICE)
    with pytest.raises(botocore.exceptions.ClientError):
        sqs.get_queue_url(QueueName="no-such-queue-here")
    ct = client(trail_server, "cloudtrail", ALICE)
    enc = wait_for(lambda: _lookup(ct, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}]),
                   10, what="the Encrypt event")
    rec = json.loads(enc[0]["CloudTrailEvent"])
    assert rec["requestParameters"]["keyId"] == key and "plaintext" not in rec["requestParameters"]
    assert rec["responseElements"] is None and rec["readOnly"] is True
    assert "top secret" not in enc[0]["CloudTrailEvent"]
    failed = wait_for(lambda: _lookup(ct, LookupAttributes=[{"AttributeKey": "EventName",
                                                             "AttributeValue": "GetQueueUrl"}]), 10)
    rec = json.loads(failed[0]["CloudTrailEvent"])
    assert rec["errorCode"] == "AWS.SimpleQueueService.NonExistentQueue" and rec["errorMessage"]


def _records(b, bucket):
    files = sorted((b.data_dir / "s3" / bucket).rglob("*.json.gz"))
    return files, [r for f in files for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]]


def test_trail_files_and_data_events(trail_server):
    ct = client(trail_server, "cloudtrail", ALICE)
    sqs = client(trail_server, "sqs", ALICE)
    bucket = f"trail-bucket-{uuid.uuid4().hex[:6]}"
    name = f"trail-{uuid.uuid4().hex[:6]}"
    out = ct.create_trail(Name=name, S3BucketName=bucket, S3KeyPrefix="logs")
    assert out["TrailARN"] == f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{name}"
    assert ct.get_trail_status(Name=name)["IsLogging"] is False
    ct.start_logging(Name=name)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ct.create_trail(Name=name, S3BucketName=bucket)
    assert ei.value.response["Error"]["Code"] == "TrailAlreadyExistsException"
    url = sqs.create_queue(QueueName=f"selected-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not selected yet")
    ct.put_event_selectors(TrailName=name, AdvancedEventSelectors=[
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "sqs data", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                                {"Field": "resources.type", "Equals": ["AWS::SQS::Queue"]}]}])
    assert ct.get_event_selectors(TrailName=name)["AdvancedEventSelectors"][1]["Name"] == "sqs data"

    def selected_send():
        sqs.send_message(QueueUrl=url, MessageBody="card 4111111111111111")
        return any(r["eventName"] == "SendMessage" for r in _records(trail_server, bucket)[1])
    wait_for(selected_send, 20, interval=0.5, what="a selected SendMessage in the trail's files")
    files, records = _records(trail_server, bucket)
    pattern = (rf"{ACCOUNT}_CloudTrail_{REGION}_\d{{8}}T\d{{4}}Z_[A-Za-z0-9]{{16}}\.json\.gz")
    for f in files:
        rel = f.relative_to(trail_server.data_dir / "s3" / bucket).parts
        assert rel[:5] == ("logs", "AWSLogs", ACCOUNT, "CloudTrail", REGION)
        assert re.fullmatch(r"\d{4}", rel[5]) and re.fullmatch(r"\d{2}", rel[6]) and re.fullmatch(r"\d{2}", rel[7])
        assert re.fullmatch(pattern, rel[8]), rel[8]
    sends = [r for r in records if r["eventName"] == "SendMessage"]
    assert all(r["eventCategory"] == "Data" and r["managementEvent"] is False for r in sends)
    assert all(r["requestParameters"]["messageBody"] == "HIDDEN_DUE_TO_SECURITY_REASONS" for r in sends)
    assert all(r["resources"][0]["type"] == "AWS::SQS::Queue" for r in sends)
    assert not any("4111111111111111" in json.dumps(r) for r in records)
    assert any(r["eventName"] == "PutEventSelectors" for r in records)
    # data events are never in LookupEvents
    assert not _lookup(ct, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "SendMessage"}])
    status = ct.get_trail_status(Name=name)
    assert status["IsLogging"] is True and status["LatestDeliveryTime"] and status["StartLoggingTime"]
    [described] = ct.describe_trails(trailNameList=[name])["trailList"]
    assert described["HomeRegion"] == REGION and described["HasCustomEventSelectors"] is True
    assert described["S3KeyPrefix"] == "logs" and described["IsMultiRegionTrail"] is False
    assert name in [t["Name"] for t in ct.list_trails()["Trails"]]
    ct.add_tags(ResourceId=out["TrailARN"], TagsList=[{"Key": "k", "Value": "v"}])
    assert ct.list_tags(ResourceIdList=[out["TrailARN"]])["ResourceTagList"][0]["TagsList"] == [
        {"Key": "k", "Value": "v"}]
    ct.stop_logging(Name=name)
    assert ct.get_trail_status(Name=name)["IsLogging"] is False
    ct.delete_trail(Name=name)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ct.get_trail(Name=name)
    assert ei.value.response["Error"]["Code"] == "TrailNotFoundException"
    assert ei.value.response["Error"]["Message"] == (
        f"Unknown trail: arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{name} for the user: {ACCOUNT}")


@pytest.mark.parametrize("name,fragment", [("ab", "too short"), ("-abc", "starts with a letter or number"),
                                           ("a!bc", "can only contain")])
def test_trail_name_rules(trail_server, name, fragment):
    ct = client(trail_server, "cloudtrail", ALICE)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ct.create_trail(Name=name, S3BucketName="bucket-ok")
    assert ei.value.response["Error"]["Code"] == "InvalidTrailNameException"
    assert fragment in ei.value.response["Error"]["Message"]


def test_management_events_reach_the_default_event_bus(trail_server):
    events, sqs = client(trail_server, "events", ALICE), client(trail_server, "sqs", ALICE)
    target = sqs.create_queue(QueueName=f"api-calls-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=target, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    marker = f"watched-{uuid.uuid4().hex[:6]}"
    rule = f"api-{uuid.uuid4().hex[:6]}"
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.sqs"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": ["CreateQueue"], "requestParameters": {"queueName": [marker]}}}))["RuleArn"]
    # IAM is enforced here: as at AWS, the queue must let EventBridge in for this rule
    sqs.set_queue_attributes(QueueUrl=target, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    time.sleep(0)   # the rule is committed before put_targets returns
    sqs.create_queue(QueueName=marker)

    def delivered():
        msgs = sqs.receive_message(QueueUrl=target, WaitTimeSeconds=1).get("Messages", [])
        return msgs and json.loads(msgs[0]["Body"])
    ev = wait_for(delivered, 20, what="the API call event on the default bus")
    assert ev["detail-type"] == "AWS API Call via CloudTrail" and ev["source"] == "aws.sqs"
    assert ev["detail"]["eventName"] == "CreateQueue" and ev["detail"]["userIdentity"]["userName"] == "alice"
    assert ev["account"] == ACCOUNT and ev["region"] == REGION
