"""IAM enforced at the gateway, with boto3, two accounts, users and roles: a
cross-account queue denied then allowed by its policy, a Deny beating an
Allow, a boundary capping a user, a key working at once on every gateway and
dying with its deletion, SNS -> SQS only when the queue policy names the topic."""

from __future__ import annotations

import json
import uuid

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import wait_for
from tests.services.iam.conftest import A, B, allow, error, new_user


def _queue(sqs, name=None):
    name = name or f"q-{uuid.uuid4().hex[:10]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{url.rstrip('/').split('/')[-2]}:{name}"


def test_cross_account_queue_denied_then_allowed_by_queue_policy(clients):
    sqs_a, sqs_b = clients.a("sqs"), clients.b("sqs")
    url, arn = _queue(sqs_a)
    for call in (lambda: sqs_b.send_message(QueueUrl=url, MessageBody="x"),
                 lambda: sqs_b.receive_message(QueueUrl=url),
                 lambda: sqs_b.purge_queue(QueueUrl=url),
                 lambda: sqs_b.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call()
        code, msg, status = error(ei)
        assert (code, status) == ("AccessDenied", 403)
        assert msg.startswith(f"User: arn:aws:iam::{B}:root is not authorized to perform: sqs:")
        assert f"on resource: {arn} because no resource-based policy allows the sqs:" in msg
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "sqs:SendMessage",
         "Resource": arn}]}
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    sqs_b.send_message(QueueUrl=url, MessageBody="from b")          # allowed now, on every gateway
    with pytest.raises(botocore.exceptions.ClientError) as ei:      # only what the policy names
        sqs_b.receive_message(QueueUrl=url)
    assert error(ei)[0] == "AccessDenied"
    msgs = sqs_a.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in msgs] == ["from b"]
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    with pytest.raises(botocore.exceptions.ClientError):
        sqs_b.send_message(QueueUrl=url, MessageBody="x")


def test_user_needs_an_identity_policy_and_deny_beats_allow(clients):
    iam, sqs_a = clients.a("iam"), clients.a("sqs")
    url, arn = _queue(sqs_a)
    nobody = clients.of(new_user(iam), "sqs")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        nobody.send_message(QueueUrl=url, MessageBody="x")
    code, msg, _ = error(ei)
    assert code == "AccessDenied" and msg.endswith("because no identity-based policy allows the sqs:sendmessage action")
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:PurgeQueue", "Resource": arn}]}
    user = clients.of(new_user(iam, policy=doc), "sqs")
    user.send_message(QueueUrl=url, MessageBody="ok")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        user.purge_queue(QueueUrl=url)
    code, msg, _ = error(ei)
    assert code == "AccessDenied" and msg.endswith("with an explicit deny in an identity-based policy")


def test_boundary_caps_a_user(clients):
    iam, sqs_a = clients.a("iam"), clients.a("sqs")
    url, _ = _queue(sqs_a)
    boundary = iam.create_policy(PolicyName=f"b-{uuid.uuid4().hex[:8]}",
                                 PolicyDocument=json.dumps(allow(["sqs:SendMessage", "sqs:GetQueueUrl"])))
    key = new_user(iam, policy=allow("sqs:*"), boundary=boundary["Policy"]["Arn"])
    user = clients.of(key, "sqs")
    user.send_message(QueueUrl=url, MessageBody="inside the boundary")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        user.receive_message(QueueUrl=url)
    assert error(ei)[1].endswith("because no permissions boundary allows the sqs:receivemessage action")


def test_access_key_signs_at_once_and_stops_when_deleted(clients, secured):
    iam = clients.a("iam")
    name = f"u-{uuid.uuid4().hex[:8]}"
    key = new_user(iam, name=name, policy=allow("sts:GetCallerIdentity"))
    # several requests: the two gateways share the port, each must know the key
    for _ in range(6):
        me = clients.of(key, "sts").get_caller_identity()
        assert me["Arn"] == f"arn:aws:iam::{A}:user/{name}" and me["Account"] == A
        assert me["UserId"].startswith("AIDA")
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    for _ in range(6):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            clients.of(key, "sts").get_caller_identity()
        assert error(ei)[0] == "InvalidClientTokenId"
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    clients.of(key, "sts").get_caller_identity()
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.of(key, "sts").get_caller_identity()
    assert error(ei)[0] == "InvalidClientTokenId"


def test_policy_change_applies_on_every_gateway_at_once(clients):
    iam, sqs_a = clients.a("iam"), clients.a("sqs")
    url, _ = _queue(sqs_a)
    name = f"u-{uuid.uuid4().hex[:8]}"
    user = clients.of(new_user(iam, name=name, policy=allow("sqs:SendMessage")), "sqs")
    for _ in range(4):
        user.send_message(QueueUrl=url, MessageBody="x")
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(allow("sqs:ReceiveMessage")))
    for _ in range(4):
        with pytest.raises(botocore.exceptions.ClientError):
            user.send_message(QueueUrl=url, MessageBody="x")
        user.receive_message(QueueUrl=url)


def test_group_and_managed_policy_grant(clients):
    iam, sqs_a = clients.a("iam"), clients.a("sqs")
    url, _ = _queue(sqs_a)
    g = f"g-{uuid.uuid4().hex[:8]}"
    iam.create_group(GroupName=g)
    iam.attach_group_policy(GroupName=g, PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    name = f"u-{uuid.uuid4().hex[:8]}"
    user = clients.of(new_user(iam, name=name), "sqs")
    with pytest.raises(botocore.exceptions.ClientError):
        user.send_message(QueueUrl=url, MessageBody="x")
    iam.add_user_to_group(GroupName=g, UserName=name)
    user.send_message(QueueUrl=url, MessageBody="x")


def test_policy_variables_scope_a_user_to_its_queues(clients):
    iam, sqs_a = clients.a("iam"), clients.a("sqs")
    name = f"u{uuid.uuid4().hex[:8]}"
    mine, _ = _queue(sqs_a, f"{name}-jobs")
    other, _ = _queue(sqs_a)
    doc = allow("sqs:SendMessage", f"arn:aws:sqs:*:{A}:${{aws:username}}-*")
    user = clients.of(new_user(iam, name=name, policy=doc), "sqs")
    user.send_message(QueueUrl=mine, MessageBody="x")
    with pytest.raises(botocore.exceptions.ClientError):
        user.send_message(QueueUrl=other, MessageBody="x")


def test_sns_to_sqs_only_when_queue_policy_names_the_topic(clients):
    sns, sqs = clients.a("sns"), clients.a("sqs")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    other = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    url, arn = _queue(sqs)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
         "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    for t in (topic, other):
        sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=other, Message="from the other topic")
    sns.publish(TopicArn=topic, Message="from the named topic")
    got = wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"), 15,
                   what="the named topic's message")
    assert [m["Body"] for m in got] == ["from the named topic"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages")


def test_cross_account_topic_publish_needs_topic_policy(clients):
    sns_a, sns_b = clients.a("sns"), clients.b("sns")
    topic = sns_a.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sns_b.publish(TopicArn=topic, Message="x")
    code, msg, status = error(ei)
    assert (code, status) == ("AuthorizationError", 403)
    assert f"is not authorized to perform: SNS:Publish on resource: {topic}" in msg
    sns_a.add_permission(TopicArn=topic, Label="b", AWSAccountId=[B], ActionName=["Publish"])
    sns_b.publish(TopicArn=topic, Message="x")


def test_cross_account_kms_and_events_denied(clients):
    key = clients.a("kms").create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.b("kms").encrypt(KeyId=key, Plaintext=b"x")
    code, msg, _ = error(ei)
    assert code == "AccessDeniedException" and f"kms:Encrypt on resource: {key}" in msg
    bus = clients.a("events").create_event_bus(Name=f"b-{uuid.uuid4().hex[:8]}")["EventBusArn"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.b("events").put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}",
                                                 "EventBusName": bus}])
    assert error(ei)[0] == "AccessDeniedException"
    clients.a("events").put_permission(EventBusName=bus.rsplit("/", 1)[-1], Action="events:PutEvents",
                                       Principal=B, StatementId="b")
    out = clients.b("events").put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}",
                                                   "EventBusName": bus}])
    assert out["FailedEntryCount"] == 0
