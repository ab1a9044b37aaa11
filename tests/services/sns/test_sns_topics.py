"""Topics with boto3: create (standard, FIFO, idempotency), attributes, delivery
policies, tags, permissions, data-protection policies, listing and errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.services.sns.conftest import error_of, uid

ACCOUNT = "000000000000"
DEFAULT_EFFECTIVE = {"http": {"defaultHealthyRetryPolicy": {
    "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0, "numNoDelayRetries": 0,
    "numMinDelayRetries": 0, "backoffFunction": "linear"}, "disableSubscriptionOverrides": False,
    "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}}


def test_standard_topic_attributes(sns, make_topic):
    arn = make_topic()
    assert arn.startswith(f"arn:aws:sns:us-east-1:{ACCOUNT}:topic-")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert set(attrs) == {"DisplayName", "EffectiveDeliveryPolicy", "Owner", "Policy", "SubscriptionsConfirmed",
                          "SubscriptionsDeleted", "SubscriptionsPending", "TopicArn"}
    assert attrs["DisplayName"] == "" and attrs["Owner"] == ACCOUNT and attrs["TopicArn"] == arn
    assert json.loads(attrs["EffectiveDeliveryPolicy"]) == DEFAULT_EFFECTIVE
    policy = json.loads(attrs["Policy"])
    assert policy["Id"] == "__default_policy_ID" and policy["Statement"][0]["Resource"] == arn
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
    assert attrs["SubscriptionsConfirmed"] == attrs["SubscriptionsPending"] == attrs["SubscriptionsDeleted"] == "0"


def test_fifo_topic_attributes_and_errors(sns, make_topic):
    arn = make_topic(fifo=True, DisplayName="TestTopic", SignatureVersion="2")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert attrs["SignatureVersion"] == "2" and attrs["DisplayName"] == "TestTopic"
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=arn[:-8] + "nope")
    assert error_of(e) == ("NotFound", "Topic does not exist")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn="test-topic")
    assert error_of(e) == ("InvalidParameter",
                           "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1")
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="FifoTopic", AttributeValue="false")
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: AttributeName")


@pytest.mark.parametrize("name,attrs", [
    ("", {}), ("x" * 257, {}), (uid("t") + ".fifo", {}), (uid("t"), {"FifoTopic": "true"}),
    ("bad name", {}), ("bad/name", {}), ("bad.name", {}), ("ü", {}),
])
def test_topic_name_constraints(sns_raw, name, attrs):
    with pytest.raises(ClientError) as e:
        sns_raw.create_topic(Name=name, Attributes=attrs)
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Topic Name")


def test_topic_name_max_length(sns, make_topic):
    arn = make_topic(name="x" * 256)
    assert arn.endswith(":" + "x" * 256)
    assert make_topic(name="y" * 251 + ".fifo", fifo=True).endswith(".fifo")


def test_create_is_idempotent_only_with_same_attributes_and_tags(sns, make_topic):
    name = uid("idem")
    arn = make_topic(name=name, DisplayName="Value1")
    assert sns.create_topic(Name=name)["TopicArn"] == arn
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Value1"})["TopicArn"] == arn
    for attrs in ({"DisplayName": "Value2"}, {"SignatureVersion": "2"}, {"DisplayName": "Value1",
                                                                          "SignatureVersion": "2"}):
        with pytest.raises(ClientError) as e:
            sns.create_topic(Name=name, Attributes=attrs)
        assert error_of(e) == ("InvalidParameter",
                               "Invalid parameter: Attributes Reason: Topic already exists with different attributes")
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name, Attributes={"FifoTopic": "true"})
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Topic Name")
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name, Tags=[{"Key": "k", "Value": "v"}])
    assert error_of(e) == ("InvalidParameter",
                           "Invalid parameter: Tags Reason: Topic already exists with different tags")
    tagged = uid("tagged")
    t2 = sns.create_topic(Name=tagged, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])["TopicArn"]
    try:
        for tags in ([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}], [{"Key": "a", "Value": "1"}], []):
            assert sns.create_topic(Name=tagged, Tags=tags)["TopicArn"] == t2
    finally:
        sns.delete_topic(TopicArn=t2)


def test_delete_is_idempotent_and_forgets_tags(sns):
    name = uid("del")
    arn = sns.create_topic(Name=name, Tags=[{"Key": "k1", "Value": "v1"}])["TopicArn"]
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=arn)
    assert error_of(e)[0] == "NotFound"
    arn = sns.create_topic(Name=name)["TopicArn"]
    try:
        assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == []
    finally:
        sns.delete_topic(TopicArn=arn)


def test_tags(sns, make_topic):
    arn = make_topic()
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k1", "Value": "v1"}, {"Key": "k1", "Value": "v2"}])
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Duplicated keys are not allowed.")
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}])
    assert sorted(sns.list_tags_for_resource(ResourceArn=arn)["Tags"], key=lambda t: t["Key"]) == [
        {"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}]
    sns.untag_resource(ResourceArn=arn, TagKeys=["k1"])
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k2", "Value": "v2b"}])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k2", "Value": "v2b"}]
    with pytest.raises(ClientError) as e:
        sns.list_tags_for_resource(ResourceArn=arn + "-gone")
    assert error_of(e) == ("ResourceNotFound", "Resource does not exist")


def test_delivery_policy_crud(sns, make_topic):
    arn = make_topic(fifo=True, DeliveryPolicy=json.dumps({"http": {"defaultRequestPolicy": {
        "headerContentType": "application/json"}}}))
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert json.loads(attrs["DeliveryPolicy"]) == {"http": {"disableSubscriptionOverrides": False,
                                                            "defaultRequestPolicy": {"headerContentType":
                                                                                     "application/json"}}}
    eff = json.loads(attrs["EffectiveDeliveryPolicy"])["http"]
    assert eff["defaultRequestPolicy"] == {"headerContentType": "application/json"}
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 6, "numRetries": 1}}}))
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert json.loads(attrs["DeliveryPolicy"]) == {"http": {"defaultHealthyRetryPolicy": {
        "minDelayTarget": 5, "maxDelayTarget": 6, "numRetries": 1}, "disableSubscriptionOverrides": False}}
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"] == {
        "minDelayTarget": 5, "maxDelayTarget": 6, "numRetries": 1, "numMaxDelayRetries": 0, "numNoDelayRetries": 0,
        "numMinDelayRetries": 0, "backoffFunction": "linear"}
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue="")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert "DeliveryPolicy" not in attrs and json.loads(attrs["EffectiveDeliveryPolicy"]) == DEFAULT_EFFECTIVE


def test_topic_attribute_values(sns, make_topic, sns_raw):
    arn = make_topic()
    fifo = make_topic(fifo=True)
    for name, value in (("DisplayName", "shown"), ("KmsMasterKeyId", "alias/aws/sns"), ("TracingConfig", "Active"),
                        ("MaximumMessageSize", "1048576"), ("LambdaSuccessFeedbackSampleRate", "100")):
        sns.set_topic_attributes(TopicArn=arn, AttributeName=name, AttributeValue=value)
        assert sns.get_topic_attributes(TopicArn=arn)["Attributes"][name] == value
    for name, value in (("ContentBasedDeduplication", "true"), ("FifoThroughputScope", "MessageGroup"),
                        ("ArchivePolicy", '{"MessageRetentionPeriod":"30"}')):
        sns.set_topic_attributes(TopicArn=fifo, AttributeName=name, AttributeValue=value)
        assert sns.get_topic_attributes(TopicArn=fifo)["Attributes"][name] == value
    assert "BeginningArchiveTime" in sns.get_topic_attributes(TopicArn=fifo)["Attributes"]
    for topic, name, value in ((arn, "Unknown", "x"), (arn, "ContentBasedDeduplication", "true")):
        with pytest.raises(ClientError) as e:
            sns.set_topic_attributes(TopicArn=topic, AttributeName=name, AttributeValue=value)
        assert error_of(e) == ("InvalidParameter", "Invalid parameter: AttributeName")
    for name, value in (("SignatureVersion", "3"), ("MaximumMessageSize", "100"), ("TracingConfig", "On"),
                        ("DeliveryPolicy", "{nope")):
        with pytest.raises(ClientError) as e:
            sns.set_topic_attributes(TopicArn=arn, AttributeName=name, AttributeValue=value)
        assert error_of(e)[0] == "InvalidParameter" and name in error_of(e)[1]


def test_cross_region_access_is_refused(server, make_topic):
    arn = make_topic()
    other = server.client("sns", region_name="eu-west-1")
    for call in (lambda: other.get_topic_attributes(TopicArn=arn),
                 lambda: other.publish(TopicArn=arn, Message="m"),
                 lambda: other.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}]),
                 lambda: other.subscribe(TopicArn=arn, Protocol="sms", Endpoint="+123123123"),
                 lambda: other.delete_topic(TopicArn=arn)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("InvalidParameter", "Invalid parameter: TopicArn")


def test_list_topics_per_region_with_pages(server, sns):
    region = "ap-south-1"
    client = server.client("sns", region_name=region)
    arns = [client.create_topic(Name=uid("list"))["TopicArn"] for _ in range(3)]
    try:
        listed = [t["TopicArn"] for t in client.list_topics()["Topics"]]
        assert sorted(arns) == sorted(a for a in listed if a in arns)
        assert not set(arns) & {t["TopicArn"] for t in sns.list_topics()["Topics"]}
        pages = list(client.get_paginator("list_topics").paginate())
        assert sum(len(p["Topics"]) for p in pages) == len(listed)
    finally:
        for a in arns:
            client.delete_topic(TopicArn=a)


def test_permissions(sns, make_topic):
    arn = make_topic()
    sns.add_permission(TopicArn=arn, Label="test", AWSAccountId=[ACCOUNT], ActionName=["Publish"])
    sns.add_permission(TopicArn=arn, Label="multi", AWSAccountId=[ACCOUNT, "111122223333"],
                       ActionName=["Publish", "Subscribe"])
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"]
    assert statements[1] == {"Sid": "test", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                             "Action": "SNS:Publish", "Resource": arn}
    assert statements[2]["Action"] == ["SNS:Publish", "SNS:Subscribe"]
    assert statements[2]["Principal"]["AWS"] == [f"arn:aws:iam::{ACCOUNT}:root", "arn:aws:iam::111122223333:root"]
    with pytest.raises(ClientError) as e:
        sns.add_permission(TopicArn=arn, Label="test", AWSAccountId=[ACCOUNT], ActionName=["Publish"])
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Statement already exists")
    with pytest.raises(ClientError) as e:
        sns.add_permission(TopicArn=arn, Label="bad", AWSAccountId=[ACCOUNT], ActionName=["Dance"])
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Policy statement action out of service scope!")
    sns.remove_permission(TopicArn=arn, Label="test")
    sns.remove_permission(TopicArn=arn, Label="multi")
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["__default_statement_ID"]
    with pytest.raises(ClientError) as e:
        sns.remove_permission(TopicArn=arn + "x", Label="test")
    assert error_of(e) == ("NotFound", "Topic does not exist")


def test_data_protection_policy(sns, make_topic):
    arn = make_topic()
    before = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    policy = json.dumps({"Name": "data_protection_policy", "Description": "Test Policy", "Version": "2021-06-01",
                         "Statement": [{"Sid": "s", "DataDirection": "Inbound", "Principal": ["*"],
                                        "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
                                        "Operation": {"Deny": {}}}]})
    sns.put_data_protection_policy(ResourceArn=arn, DataProtectionPolicy=policy)
    assert sns.get_data_protection_policy(ResourceArn=arn)["DataProtectionPolicy"] == policy
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"] == before
