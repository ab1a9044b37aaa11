"""HTTP(S) subscriptions against a real endpoint started by the test: the
SubscriptionConfirmation (signed, confirmed through ConfirmSubscription or a
plain GET on SubscribeURL), notifications with AWS's headers and verifiable
signatures, raw delivery, UnsubscribeURL, retries per the delivery policy,
dead-lettering and pacing."""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers.brokerproc import wait_for
from tests.services.sns import _sigverify
from tests.services.sns.conftest import receive


class Endpoint:
    """A subscriber: records every POST; answers `status` (a list is consumed per request)."""

    def __init__(self, status=200):
        self.requests: queue.Queue = queue.Queue()
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.put((time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body))
                status = outer.status.pop(0) if isinstance(outer.status, list) and outer.status else outer.status
                self.send_response(status if isinstance(status, int) else 200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sns-endpoint"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 10.0) -> tuple[float, dict, bytes]:
        return self.requests.get(timeout=timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    ep = Endpoint()
    yield ep
    ep.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _subscribe(sns, topic, endpoint, **attrs):
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True,
                        Attributes=attrs)["SubscriptionArn"]
    _t, headers, body = endpoint.next()
    return arn, headers, json.loads(body)


@pytest.mark.parametrize("version", ["1", "2"])
def test_confirmation_notification_and_unsubscribe(server, sns, make_topic, endpoint, version):
    topic = make_topic(SignatureVersion=version)
    arn, headers, conf = _subscribe(sns, topic, endpoint)
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-message-id"] == conf["MessageId"] and headers["x-amz-sns-topic-arn"] == topic
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert "x-amz-sns-subscription-arn" not in headers
    assert conf["Type"] == "SubscriptionConfirmation" and conf["TopicArn"] == topic
    assert conf["Message"] == (f"You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, "
                               f"visit the SubscribeURL included in this message.")
    token = conf["Token"]
    assert conf["SubscribeURL"] == f"{server.url}/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}"
    assert conf["SignatureVersion"] == version
    _sigverify.verify(conf)
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "true"

    base = server.url
    status, body = _get(f"{base}/?Action=ConfirmSubscription&TopicArn=not-an-arn&Token={token}")
    assert status == 400 and "<Message>Invalid parameter: Topic</Message>" in body
    status, body = _get(f"{base}/?Action=ConfirmSubscription&TopicArn={topic}&Token=abc123")
    assert status == 400 and "<Message>Invalid parameter: Token</Message>" in body
    other_region = topic.replace("us-east-1", "eu-central-1")
    status, body = _get(f"{base}/?Action=ConfirmSubscription&TopicArn={other_region}&Token={token}")
    assert status == 400 and "<Message>Invalid parameter: Topic</Message>" in body
    status, body = _get(f"{base}/?Action=ConfirmSubscription&TopicArn={topic[:-1] + 'z'}&Token={token}")
    assert status == 200 and f"<SubscriptionArn>{arn}</SubscriptionArn>" in body   # as AWS: the token decides
    status, body = _get(conf["SubscribeURL"])
    assert status == 200 and "<ConfirmSubscriptionResponse" in body and arn in body
    attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attrs["PendingConfirmation"] == "false" and attrs["ConfirmationWasAuthenticated"] == "false"

    msg_id = sns.publish(TopicArn=topic, Message="test_external_http_endpoint")["MessageId"]
    _t, headers, body = endpoint.next()
    note = json.loads(body)
    assert headers["x-amz-sns-message-type"] == "Notification" and headers["x-amz-sns-message-id"] == msg_id
    assert headers["x-amz-sns-subscription-arn"] == arn and headers["x-amz-sns-topic-arn"] == topic
    assert list(note) == ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
                          "SigningCertURL", "UnsubscribeURL"]
    assert note["UnsubscribeURL"] == f"{base}/?Action=Unsubscribe&SubscriptionArn={arn}"
    _sigverify.verify(note)

    status, body = _get(note["UnsubscribeURL"])
    assert status == 200 and "<UnsubscribeResponse" in body
    _t, headers, body = endpoint.next()
    unsub = json.loads(body)
    assert headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    assert headers["x-amz-sns-subscription-arn"] == arn
    assert unsub["Message"].startswith(f"You have chosen to deactivate subscription {arn}.")
    assert unsub["SubscribeURL"] == f"{base}/?Action=ConfirmSubscription&TopicArn={topic}&Token={unsub['Token']}"
    _sigverify.verify(unsub)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    # the link in the UnsubscribeConfirmation restores the subscription
    status, body = _get(unsub["SubscribeURL"])
    assert status == 200 and arn in body
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == [arn]


def test_confirm_with_api_and_raw_delivery_with_content_type(sns, make_topic, endpoint):
    topic = make_topic()
    arn, _h, conf = _subscribe(sns, topic, endpoint, RawMessageDelivery="true", DeliveryPolicy=json.dumps(
        {"requestPolicy": {"headerContentType": "text/csv"}}))
    attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert json.loads(attrs["DeliveryPolicy"]) == {"healthyRetryPolicy": None, "sicklyRetryPolicy": None,
                                                   "throttlePolicy": None,
                                                   "requestPolicy": {"headerContentType": "text/csv"},
                                                   "guaranteed": False}
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["requestPolicy"] == {"headerContentType": "text/csv"}
    assert sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])["SubscriptionArn"] == arn
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["ConfirmationWasAuthenticated"] == \
        "true"
    assert sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])["SubscriptionArn"] == arn
    sns.publish(TopicArn=topic, Message="raw body", Subject="s")
    _t, headers, body = endpoint.next()
    assert body == b"raw body"
    assert headers["x-amz-sns-rawdelivery"] == "true" and headers["content-type"] == "text/csv"


def test_unconfirmed_subscription_gets_nothing(server, sns, make_topic, endpoint):
    topic = make_topic()
    arn, _h, conf = _subscribe(sns, topic, endpoint)
    sns.publish(TopicArn=topic, Message="too early")
    status, doc = server.get(f"/_aws/sns/subscription-tokens/{arn}")
    assert status == 200 and doc == {"subscription_token": conf["Token"], "subscription_arn": arn}
    sns.confirm_subscription(TopicArn=topic, Token=doc["subscription_token"])
    sns.publish(TopicArn=topic, Message="after confirmation")
    _t, _h, body = endpoint.next()
    assert json.loads(body)["Message"] == "after confirmation"
    assert server.get(f"/_aws/sns/subscription-tokens/{arn.replace('us-east-1', 'il-central-1')}") == (
        404, {"error": "The provided SubscriptionARN is not found",
              "subscription_arn": arn.replace("us-east-1", "il-central-1")})
    assert server.get("/_aws/sns/subscription-tokens/randomarnhere") == (
        400, {"error": "The provided SubscriptionARN is invalid", "subscription_arn": "randomarnhere"})


def _confirmed(sns, topic, endpoint, **attrs):
    arn, _h, conf = _subscribe(sns, topic, endpoint, **attrs)
    sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])
    return arn


def test_retries_follow_delivery_policy_then_dlq(sns, sqs, make_topic, make_queue, endpoint):
    topic = make_topic()
    dlq_url, dlq_arn = make_queue()
    arn = _confirmed(sns, topic, endpoint, DeliveryPolicy=json.dumps({"healthyRetryPolicy": {
        "minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 2}}),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}))
    endpoint.status = 500
    sns.publish(TopicArn=topic, Message="fails")
    attempts = [endpoint.next(15) for _ in range(3)]
    assert all(json.loads(b)["Message"] == "fails" for _t, _h, b in attempts)
    (m,) = receive(sqs, dlq_url, 1, timeout=15)
    body = json.loads(m["Body"])
    assert body["Message"] == "fails" and body["UnsubscribeURL"].endswith(arn)
    with pytest.raises(queue.Empty):
        endpoint.next(0.3)


def test_client_errors_are_not_retried(sns, sqs, make_topic, make_queue, endpoint):
    topic = make_topic()
    dlq_url, dlq_arn = make_queue()
    _confirmed(sns, topic, endpoint, RawMessageDelivery="true",
               RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}))
    endpoint.status = 404
    sns.publish(TopicArn=topic, Message="gone", MessageAttributes={"a": {"DataType": "String", "StringValue": "v"}})
    endpoint.next()
    (m,) = receive(sqs, dlq_url, 1, timeout=15, MessageAttributeNames=["All"])
    assert m["Body"] == "gone" and m["MessageAttributes"] == {"a": {"DataType": "String", "StringValue": "v"}}
    with pytest.raises(queue.Empty):
        endpoint.next(0.3)


def test_throttle_policy_paces_deliveries(sns, make_topic, endpoint):
    topic = make_topic()
    _confirmed(sns, topic, endpoint, DeliveryPolicy=json.dumps({"throttlePolicy": {"maxReceivesPerSecond": 2}}))
    for i in range(6):
        sns.publish(TopicArn=topic, Message=f"m{i}")
    arrivals = sorted(endpoint.next(15)[0] for _ in range(6))
    # a token bucket of 2/s: never more than 2 (+1 at a window edge) inside any one second
    for i, t in enumerate(arrivals):
        assert sum(1 for u in arrivals[i:] if u - t < 1.0) <= 3


def test_unsigned_confirm_and_unsubscribe_with_credentials(tmp_path):
    from tests.helpers.brokerproc import BrokerProcess
    creds = json.dumps([{"access_key": "AKIDSNSTESTKEY000001", "secret_key": "s3cr3t", "account_id": "123456789012"}])
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1", "--durability", "memory",
                       env={"BROKER_AWS_CREDENTIALS": creds}) as b:
        sns = b.client("sns", aws_access_key_id="AKIDSNSTESTKEY000001", aws_secret_access_key="s3cr3t")
        ep = Endpoint()
        try:
            topic = sns.create_topic(Name="signed-only")["TopicArn"]
            arn, _h, conf = _subscribe(sns, topic, ep)
            assert _get(f"{b.url}/?Action=ListTopics")[0] == 403
            status, body = _get(conf["SubscribeURL"])
            assert status == 200 and arn in body
            sns.publish(TopicArn=topic, Message="hi")
            note = json.loads(ep.next()[2])
            status, body = _get(note["UnsubscribeURL"])
            assert status == 200
            wait_for(lambda: sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == [], 5)
        finally:
            ep.close()
