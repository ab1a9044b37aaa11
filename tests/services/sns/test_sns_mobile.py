"""Mobile push, SMS and email: what the APIs store and what deliveries are
recorded, read back through the admin paths (ours and LocalStack's)."""

from __future__ import annotations

import json
import random
import re
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for
from tests.services.sns.conftest import error_of, uid

ACCOUNT = "000000000000"


def _delete(server, path: str) -> int:
    req = urllib.request.Request(server.url + path, method="DELETE")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


@pytest.fixture
def make_app(sns):
    made = []

    def make(platform: str = "ADM", **attrs) -> str:
        attrs = attrs or {"PlatformCredential": "credential", "PlatformPrincipal": "principal"}
        arn = sns.create_platform_application(Name=uid("app"), Platform=platform, Attributes=attrs)[
            "PlatformApplicationArn"]
        made.append(arn)
        return arn
    yield make
    for arn in made:
        sns.delete_platform_application(PlatformApplicationArn=arn)


def test_platform_applications(sns, sns_raw, make_app):
    arn = make_app("ADM", PlatformCredential="secret", PlatformPrincipal="who")
    assert re.fullmatch(rf"arn:aws:sns:us-east-1:{ACCOUNT}:app/ADM/app-[0-9a-f]+", arn)
    assert sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"] == {"Enabled": "true"}
    sns.set_platform_application_attributes(PlatformApplicationArn=arn,
                                            Attributes={"SuccessFeedbackSampleRate": "50"})
    assert sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"] == {
        "Enabled": "true", "SuccessFeedbackSampleRate": "50"}
    listed = [a for p in sns.get_paginator("list_platform_applications").paginate()
              for a in p["PlatformApplications"]]
    assert {"PlatformApplicationArn": arn, "Attributes": {"Enabled": "true", "SuccessFeedbackSampleRate": "50"}} in \
        listed
    ok = {"PlatformCredential": "c", "PlatformPrincipal": "p"}
    cases = [
        (dict(Name="", Platform="ADM", Attributes=ok), "Invalid parameter:  Reason: cannot be empty"),
        (dict(Name="a" * 257, Platform="ADM", Attributes=ok),
         f"Invalid parameter: {'a' * 257} Reason: must be at most 256 characters long"),
        (dict(Name="@name", Platform="ADM", Attributes=ok), "Invalid parameter: @name Reason: must contain only "
                                                           "characters 'a'-'z', 'A'-'Z', '0'-'9', '_', '-', and '.'"),
        (dict(Name="n", Platform="AAA", Attributes=ok), "Invalid parameter: Platform Reason: AAA is not supported"),
        (dict(Name="n", Platform="ADM", Attributes={"PlatformPrincipal": "x"}),
         "Invalid parameter: Attributes Reason: PlatformPrincipal attribute provided without PlatformCredential"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ClientError) as e:
            sns_raw.create_platform_application(**kwargs)
        assert error_of(e) == ("InvalidParameter", message)
    with pytest.raises(ClientError) as e:
        sns_raw.create_platform_application(Name="n", Platform="ADM")
    assert error_of(e) == ("ValidationError", "1 validation error detected: Value null at 'attributes' failed to "
                                              "satisfy constraint: Member must not be null")
    with pytest.raises(ClientError) as e:
        sns.get_platform_application_attributes(PlatformApplicationArn="test")
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: PlatformApplicationArn Reason: An ARN must have at "
                                               "least 6 elements, not 1")
    for call in (lambda: sns.get_platform_application_attributes(PlatformApplicationArn=arn + "x"),
                 lambda: sns.set_platform_application_attributes(PlatformApplicationArn=arn + "x",
                                                                 Attributes={"a": "b"})):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("NotFound", "PlatformApplication does not exist")


def test_platform_endpoints(sns, make_app):
    app = make_app()
    ep = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token_1")["EndpointArn"]
    assert ep.startswith(app.replace(":app/", ":endpoint/") + "/")
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token_1")["EndpointArn"] == ep
    with pytest.raises(ClientError) as e:
        sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token_1", CustomUserData="different")
    assert error_of(e) == ("InvalidParameter", f"Invalid parameter: Token Reason: Endpoint {ep} already exists with "
                                               f"the same Token, but different attributes.")
    assert sns.get_endpoint_attributes(EndpointArn=ep)["Attributes"] == {"Enabled": "true", "Token": "token_1"}
    sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Enabled": "false"})
    assert sns.get_endpoint_attributes(EndpointArn=ep)["Attributes"] == {"Enabled": "false", "Token": "token_1"}
    with_data = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token_2", CustomUserData="foo")[
        "EndpointArn"]
    assert sns.get_endpoint_attributes(EndpointArn=with_data)["Attributes"]["CustomUserData"] == "foo"
    listed = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)["Endpoints"]
    assert sorted(e["EndpointArn"] for e in listed) == sorted([ep, with_data])
    for attrs, message in (({"PlatformPrincipal": "x"}, "Invalid attribute name: PlatformPrincipal"),
                           ({"InvalidKey": "x"}, "Invalid attribute name: InvalidKey"),
                           ({"CustomUserData": "x" * 2049}, "Invalid value for attribute: CustomUserData: must be at "
                                                            "most 2048 bytes long in UTF-8 encoding")):
        for call in (lambda: sns.set_endpoint_attributes(EndpointArn=ep, Attributes=attrs),
                     lambda: sns.create_platform_endpoint(PlatformApplicationArn=app, Token="t3", Attributes=attrs)):
            with pytest.raises(ClientError) as e:
                call()
            assert error_of(e) == ("InvalidParameter", f"Invalid parameter: Attributes Reason: {message}")
    with pytest.raises(ClientError) as e:
        sns.get_endpoint_attributes(EndpointArn=ep + "x")
    assert error_of(e) == ("NotFound", "Endpoint does not exist")
    with pytest.raises(ClientError) as e:
        sns.set_endpoint_attributes(EndpointArn=app, Attributes={"Enabled": "true"})
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: EndpointArn Reason: Wrong number of slashes in "
                                               "relative portion of the ARN.")
    with pytest.raises(ClientError) as e:
        sns.create_platform_endpoint(PlatformApplicationArn=app + "x", Token="t")
    assert error_of(e) == ("NotFound", "PlatformApplication does not exist")
    sns.delete_endpoint(EndpointArn=ep)
    sns.delete_endpoint(EndpointArn=ep)
    assert [e["EndpointArn"] for e in sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)[
        "Endpoints"]] == [with_data]
    sns.delete_platform_application(PlatformApplicationArn=app)
    with pytest.raises(ClientError) as e:
        sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)
    assert error_of(e) == ("NotFound", "PlatformApplication does not exist")


def test_push_is_recorded_per_platform(server, sns, make_app, make_topic):
    topic = make_topic()
    endpoints = {}
    for platform in ("APNS", "GCM"):
        app = make_app(platform, PlatformCredential="c", PlatformPrincipal="p")
        endpoints[platform] = sns.create_platform_endpoint(PlatformApplicationArn=app, Token=uid("tok"))["EndpointArn"]
        sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=endpoints[platform])
    message = {"default": "default text", "APNS": '{"aps": {"alert": "deals"}}', "GCM": '{"data": {"m": "deals"}}'}
    attrs = {"AWS.SNS.MOBILE.APNS.PRIORITY": {"DataType": "String", "StringValue": "5"}}
    sns.publish(TopicArn=topic, Message=json.dumps(message), MessageStructure="json", MessageAttributes=attrs)
    direct = sns.publish(TargetArn=endpoints["APNS"], MessageStructure="json",
                         Message=json.dumps({"APNS": '{"aps": {"content-available": 1}}'}))["MessageId"]

    def recorded():
        _s, doc = server.get("/_aws/sns/platform-endpoint-messages")
        msgs = doc["platform_endpoint_messages"]
        return msgs if len(msgs.get(endpoints["APNS"], [])) == 2 and msgs.get(endpoints["GCM"]) else None
    msgs = wait_for(recorded, 10, what="push records")
    assert [m["Message"] for m in msgs[endpoints["GCM"]]] == [message["GCM"]]
    # the topic's fan-out and the direct publish race: no order between them
    apns = sorted(msgs[endpoints["APNS"]], key=lambda m: m["MessageId"] == direct)
    assert apns[0]["Message"] == message["APNS"] and apns[0]["MessageAttributes"] == attrs
    assert apns[1]["Message"] == '{"aps": {"content-available": 1}}' and apns[1]["MessageId"] == direct
    _s, only = server.get(f"/_aws/sns/platform-endpoint-messages?endpointArn={endpoints['GCM']}")
    assert list(only["platform_endpoint_messages"]) == [endpoints["GCM"]] and only["region"] == "us-east-1"
    assert _delete(server, f"/_aws/sns/platform-endpoint-messages?endpointArn={endpoints['GCM']}") == 204
    _s, after = server.get(f"/_broker/sns/platform-endpoint-messages?endpointArn={endpoints['GCM']}")
    assert after["platform_endpoint_messages"] == {endpoints["GCM"]: []}
    sns.set_endpoint_attributes(EndpointArn=endpoints["GCM"], Attributes={"Enabled": "false"})
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=endpoints["GCM"], Message="x")
    assert error_of(e) == ("EndpointDisabled", "Endpoint is disabled")
    _s, other_region = server.get("/_aws/sns/platform-endpoint-messages?region=eu-west-1")
    assert other_region == {"platform_endpoint_messages": {}, "region": "eu-west-1"}


def test_sms_publish_subscriptions_and_admin(server, sns, make_topic):
    numbers = [f"+1555{random.randrange(10 ** 7):07d}" for _ in range(3)]
    topic = make_topic()
    for n in numbers:
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint=n)
    sns.publish(TopicArn=topic, Message="Good news everyone!")
    sns.publish(PhoneNumber=numbers[0], Message="direct")
    for number, message in (("+1a234", "Invalid parameter: PhoneNumber Reason: +1a234 is not valid to publish to"),
                            ("NAA+15551234567", "Invalid parameter: PhoneNumber Reason: NAA+15551234567 is not valid "
                                                "to publish to")):
        with pytest.raises(ClientError) as e:
            sns.publish(PhoneNumber=number, Message="x")
        assert error_of(e) == ("InvalidParameter", message)

    def recorded():
        _s, doc = server.get(f"/_aws/sns/sms-messages?accountId={ACCOUNT}&region=us-east-1")
        sms = doc["sms_messages"]
        return sms if all(n in sms for n in numbers) and len(sms[numbers[0]]) == 2 else None
    sms = wait_for(recorded, 10, what="sms records")
    first = sorted(sms[numbers[0]], key=lambda m: m["Message"] == "direct")     # the two race
    assert [m["Message"] for m in first] == ["Good news everyone!", "direct"]
    assert first[0]["TopicArn"] == topic and first[0]["SubscriptionArn"].startswith(topic + ":")
    assert first[1]["TopicArn"] is None and set(first[1]) == {
        "PhoneNumber", "TopicArn", "SubscriptionArn", "MessageId", "Message", "MessageAttributes", "MessageStructure",
        "Subject"}
    number = urllib.parse.quote(numbers[0])
    assert _delete(server, f"/_aws/sns/sms-messages?phoneNumber={number}") == 204
    _s, doc = server.get(f"/_aws/sns/sms-messages?phoneNumber={number}")
    assert doc["sms_messages"] == {numbers[0]: []}


def test_sms_attributes_and_opt_outs(server, sns):
    region_client = server.client("sns", region_name="ca-central-1")
    assert region_client.get_sms_attributes()["attributes"] == {"MonthlySpendLimit": "1"}
    region_client.set_sms_attributes(attributes={"DefaultSMSType": "Promotional", "DefaultSenderID": "LSTest",
                                                 "DeliveryStatusSuccessSamplingRate": "100"})
    assert region_client.get_sms_attributes()["attributes"] == {
        "DefaultSMSType": "Promotional", "DefaultSenderID": "LSTest", "DeliveryStatusSuccessSamplingRate": "100",
        "MonthlySpendLimit": "1"}
    assert region_client.get_sms_attributes(attributes=["DefaultSMSType", "DefaultSenderID"])["attributes"] == {
        "DefaultSMSType": "Promotional", "DefaultSenderID": "LSTest"}
    for attrs, message in (({"InvalidAttribute": "x"}, "InvalidAttribute is not a valid attribute"),
                           ({"DefaultSenderID": "x" * 12}, "DefaultSendID is not a valid attribute"),
                           ({"DefaultSenderID": "123"}, "DefaultSendID is not a valid attribute"),
                           ({"DefaultSMSType": "Junk"}, "DefaultSMSType is invalid")):
        with pytest.raises(ClientError) as e:
            region_client.set_sms_attributes(attributes=attrs)
        assert error_of(e) == ("InvalidParameter", message)
    number = "+15557654321"
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"] is False
    req = urllib.request.Request(server.url + "/_aws/sns/phone-opt-outs", method="POST",
                                 data=json.dumps({"phoneNumber": number}).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=number)["isOptedOut"] is True
    assert number in sns.list_phone_numbers_opted_out()["phoneNumbers"]
    sns.opt_in_phone_number(phoneNumber=number)
    assert number not in sns.list_phone_numbers_opted_out()["phoneNumbers"]
    with pytest.raises(ClientError) as e:
        sns.opt_in_phone_number(phoneNumber="+15--55")
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")


def test_sms_sandbox(server, sns):
    client = server.client("sns", region_name="sa-east-1")
    number = "+15551112222"
    client.create_sms_sandbox_phone_number(PhoneNumber=number, LanguageCode="en-US")
    assert client.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [{"PhoneNumber": number, "Status": "Pending"}]
    _s, doc = server.get(f"/_aws/sns/sms-messages?region=sa-east-1&phoneNumber={urllib.parse.quote(number)}")
    otp = re.search(r"(\d{6})$", doc["sms_messages"][number][-1]["Message"]).group(1)
    with pytest.raises(ClientError) as e:
        client.verify_sms_sandbox_phone_number(PhoneNumber=number, OneTimePassword="000000" if otp != "000000"
                                               else "111111")
    assert error_of(e)[0] == "VerificationException"
    client.verify_sms_sandbox_phone_number(PhoneNumber=number, OneTimePassword=otp)
    assert client.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [{"PhoneNumber": number, "Status": "Verified"}]
    client.delete_sms_sandbox_phone_number(PhoneNumber=number)
    assert client.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == []
    assert client.get_sms_sandbox_account_status()["IsInSandbox"] is False
    assert client.list_origination_numbers()["PhoneNumbers"] == []


def test_email_subscriptions_are_recorded(server, sns, make_topic):
    topic = make_topic()
    address = f"{uid('user')}@example.com"
    arn = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address, ReturnSubscriptionArn=True)[
        "SubscriptionArn"]
    json_addr = f"{uid('json')}@example.com"
    arn2 = sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=json_addr, ReturnSubscriptionArn=True)[
        "SubscriptionArn"]
    _s, doc = server.get(f"/_broker/sns/email-messages?email={urllib.parse.quote(address)}")
    (confirmation,) = doc["email_messages"][address]
    assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["SubscriptionArn"] == arn
    sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])
    _s, tok = server.get(f"/_aws/sns/subscription-tokens/{arn2}")
    sns.confirm_subscription(TopicArn=topic, Token=tok["subscription_token"])
    msg_id = sns.publish(TopicArn=topic, Message="hello mail", Subject="Greetings")["MessageId"]

    def both():
        _s, d = server.get("/_broker/sns/email-messages")
        mails = d["email_messages"]
        return mails if len(mails.get(address, [])) == 2 and len(mails.get(json_addr, [])) == 2 else None
    mails = wait_for(both, 10, what="email records")
    plain = mails[address][1]
    assert plain["Message"] == "hello mail" and plain["Subject"] == "Greetings" and plain["MessageId"] == msg_id
    assert json.loads(mails[json_addr][1]["Message"])["Message"] == "hello mail"
