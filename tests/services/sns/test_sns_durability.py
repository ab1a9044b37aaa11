"""kill -9 during fan-out: every acknowledged publish reaches every
subscription after the restart (at least once), FIFO groups stay in order,
and configuration survives."""

from __future__ import annotations

import json

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.sns.conftest import receive
from tests.services.sns.test_sns_http import Endpoint

QUEUES = 12
MESSAGES = 40


def _setup(b: BrokerProcess, fifo: bool):
    sns, sqs = b.client("sns"), b.client("sqs")
    suffix = ".fifo" if fifo else ""
    attrs = {"FifoTopic": "true", "ContentBasedDeduplication": "true"} if fifo else {}
    topic = sns.create_topic(Name="durable" + suffix, Attributes=attrs)["TopicArn"]
    urls = []
    for i in range(QUEUES):
        qattrs = {"FifoQueue": "true"} if fifo else {}
        url = sqs.create_queue(QueueName=f"durable-{i}{suffix}", Attributes=qattrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        urls.append(url)
    return sns, topic, urls


def test_kill_during_fan_out_loses_nothing(tmp_path):
    endpoint = Endpoint()
    try:
        with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--durability", "process") as b:
            sns, topic, urls = _setup(b, fifo=False)
            # a paced HTTP subscriber keeps the fan-out busy for seconds: the kill lands mid-way
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url, Attributes={
                "RawMessageDelivery": "true",
                "DeliveryPolicy": json.dumps({"throttlePolicy": {"maxReceivesPerSecond": 10}})})
            token = json.loads(endpoint.next()[2])["Token"]
            sns.confirm_subscription(TopicArn=topic, Token=token)
            _publish(sns, topic, MESSAGES)
            b.kill_all()
            assert endpoint.requests.qsize() < MESSAGES     # the kill interrupted the fan-out
            b.restart()
            expected = _all_arrive(b.client("sqs"), urls, MESSAGES)
            posted = set()
            wait_for(lambda: posted.update(_drain(endpoint)) or posted >= expected, 30, what="paced deliveries")
            subs = b.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
            assert len(subs) == QUEUES + 1
    finally:
        endpoint.close()


def _publish(sns, topic: str, n: int) -> None:
    for start in range(0, n, 10):
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": f"m{i:03d}"} for i in range(start, start + 10)])


def _all_arrive(sqs, urls: list[str], n: int, hide: bool = False) -> set:
    """Every queue receives every message m000.. (at least once); -> their bodies.
    `hide`: received messages stay invisible instead of being deleted (fewer calls)."""
    expected = {f"m{i:03d}" for i in range(n)}

    def more(url):
        if hide:
            return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600,
                                       WaitTimeSeconds=1).get("Messages", [])
        return receive(sqs, url, 10, timeout=1)
    for url in urls:
        got: set = set()
        wait_for(lambda: got.update(m["Body"] for m in more(url)) or got >= expected, 60,
                 what=f"every message in {url}")
        assert got == expected, url
    return expected


def _drain(endpoint) -> set:
    out = set()
    while not endpoint.requests.empty():
        out.add(endpoint.requests.get()[2].decode())
    return out


def test_kill_during_fifo_fan_out_keeps_group_order(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--durability", "process") as b:
        sns, topic, urls = _setup(b, fifo=True)
        for i in range(MESSAGES):
            sns.publish(TopicArn=topic, Message=json.dumps({"g": i % 2, "n": i}), MessageGroupId=f"g{i % 2}")
        b.kill_all()
        b.restart()
        sqs = b.client("sqs")
        for url in urls:
            got = [json.loads(m["Body"]) for m in receive(sqs, url, MESSAGES, timeout=60)]
            assert len(got) == MESSAGES, url       # SQS FIFO deduplicates any re-sent copy
            for g in (0, 1):
                seq = [m["n"] for m in got if m["g"] == g]
                assert seq == sorted(seq) and len(seq) == MESSAGES // 2


def test_kill_during_direct_sqs_fan_out_loses_nothing(tmp_path):
    """SQS subscriptions of a standard topic are sent straight from the message record
    (its pending list, no sink record per delivery): a kill -9 half-way through a
    large fan-out, then every queue still gets every message."""
    queues, messages = 20, 50
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--durability", "process") as b:
        sns, sqs = b.client("sns"), b.client("sqs")
        topic = sns.create_topic(Name="direct")["TopicArn"]
        urls = []
        for i in range(queues):
            url = sqs.create_queue(QueueName=f"direct-{i}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
            urls.append(url)
        _publish(sns, topic, messages)
        b.kill_all()
        b.restart()
        assert "event=sns_fanout_resumed" in b.log_text(200_000)     # the kill landed mid-way
        _all_arrive(b.client("sqs"), urls, messages, hide=True)
