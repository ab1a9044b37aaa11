"""SES v2 (rest-json) with boto3: identities, templates, configuration sets,
sends (Simple with attachments and headers, Raw, Template), bulk sends,
account, suppression list and tags, sharing state with v1."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.services.ses._helpers import error_of


def test_identity_lifecycle(sesv2, ses, domain):
    out = sesv2.create_email_identity(EmailIdentity=domain, Tags=[{"Key": "team", "Value": "mail"}])
    assert out["IdentityType"] == "DOMAIN" and out["VerifiedForSendingStatus"] is True
    assert out["DkimAttributes"]["Status"] == "SUCCESS" and len(out["DkimAttributes"]["Tokens"]) == 3
    with pytest.raises(ClientError) as e:
        sesv2.create_email_identity(EmailIdentity=domain)
    assert error_of(e)[0] == "AlreadyExistsException"
    got = sesv2.get_email_identity(EmailIdentity=domain)
    assert got["VerificationStatus"] == "SUCCESS" and got["FeedbackForwardingStatus"] is True
    assert got["Tags"] == [{"Key": "team", "Value": "mail"}]
    assert domain in ses.list_identities(IdentityType="Domain")["Identities"]        # one state for v1 and v2
    sesv2.put_email_identity_mail_from_attributes(EmailIdentity=domain, MailFromDomain=f"m.{domain}",
                                                  BehaviorOnMxFailure="REJECT_MESSAGE")
    mf = sesv2.get_email_identity(EmailIdentity=domain)["MailFromAttributes"]
    assert mf == {"MailFromDomain": f"m.{domain}", "MailFromDomainStatus": "SUCCESS",
                  "BehaviorOnMxFailure": "REJECT_MESSAGE"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                                  "Action": "ses:SendEmail", "Resource": "*"}]})
    sesv2.create_email_identity_policy(EmailIdentity=domain, PolicyName="p", Policy=policy)
    assert list(sesv2.get_email_identity_policies(EmailIdentity=domain)["Policies"]) == ["p"]
    sesv2.delete_email_identity_policy(EmailIdentity=domain, PolicyName="p")
    listed = [i for i in sesv2.list_email_identities(PageSize=1000)["EmailIdentities"] if i["IdentityName"] == domain]
    assert listed == [{"IdentityType": "DOMAIN", "IdentityName": domain, "SendingEnabled": True,
                       "VerificationStatus": "SUCCESS"}]
    sesv2.delete_email_identity(EmailIdentity=domain)
    with pytest.raises(ClientError) as e:
        sesv2.get_email_identity(EmailIdentity=domain)
    assert error_of(e)[0] == "NotFoundException"


def test_templates_and_render(sesv2):
    name = f"t2-{uuid.uuid4().hex[:8]}"
    sesv2.create_email_template(TemplateName=name, TemplateContent={"Subject": "Hi {{name}}",
                                                                    "Html": "<p>{{#each xs}}{{this}},{{/each}}</p>"})
    got = sesv2.get_email_template(TemplateName=name)
    assert got["TemplateContent"] == {"Subject": "Hi {{name}}", "Html": "<p>{{#each xs}}{{this}},{{/each}}</p>"}
    out = sesv2.test_render_email_template(TemplateName=name, TemplateData=json.dumps({"name": "v2", "xs": [1, 2]}))
    assert "Subject: Hi v2" in out["RenderedTemplate"] and "<p>1,2,</p>" in out["RenderedTemplate"]
    assert name in [t["TemplateName"] for t in sesv2.list_email_templates(PageSize=100)["TemplatesMetadata"]]
    sesv2.delete_email_template(TemplateName=name)
    with pytest.raises(ClientError) as e:
        sesv2.delete_email_template(TemplateName=name)
    assert error_of(e)[0] == "NotFoundException"


def test_configuration_set(sesv2):
    name = f"cs2-{uuid.uuid4().hex[:8]}"
    sesv2.create_configuration_set(ConfigurationSetName=name, SendingOptions={"SendingEnabled": True},
                                   SuppressionOptions={"SuppressedReasons": ["BOUNCE"]})
    sesv2.create_configuration_set_event_destination(
        ConfigurationSetName=name, EventDestinationName="cw", EventDestination={
            "Enabled": True, "MatchingEventTypes": ["SEND", "DELIVERY"],
            "CloudWatchDestination": {"DimensionConfigurations": [
                {"DimensionName": "cs", "DimensionValueSource": "MESSAGE_TAG", "DefaultDimensionValue": "x"}]}})
    (d,) = sesv2.get_configuration_set_event_destinations(ConfigurationSetName=name)["EventDestinations"]
    assert d["Name"] == "cw" and d["MatchingEventTypes"] == ["DELIVERY", "SEND"]
    sesv2.put_configuration_set_delivery_options(ConfigurationSetName=name, TlsPolicy="REQUIRE")
    sesv2.put_configuration_set_reputation_options(ConfigurationSetName=name, ReputationMetricsEnabled=True)
    got = sesv2.get_configuration_set(ConfigurationSetName=name)
    assert got["DeliveryOptions"]["TlsPolicy"] == "REQUIRE" and got["ReputationOptions"]["ReputationMetricsEnabled"]
    assert got["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE"]}
    assert name in sesv2.list_configuration_sets(PageSize=1000)["ConfigurationSets"]
    sesv2.delete_configuration_set_event_destination(ConfigurationSetName=name, EventDestinationName="cw")
    sesv2.delete_configuration_set(ConfigurationSetName=name)
    with pytest.raises(ClientError) as e:
        sesv2.get_configuration_set(ConfigurationSetName=name)
    assert error_of(e)[0] == "NotFoundException"


def test_send_simple_raw_template(sesv2, sender, domain, mailbox):
    mid = sesv2.send_email(
        FromEmailAddress=sender, Destination={"ToAddresses": [f"a@{domain}"]},
        Content={"Simple": {"Subject": {"Data": "with attachment"}, "Body": {"Text": {"Data": "see file"}},
                            "Headers": [{"Name": "X-Custom", "Value": "yes"}],
                            "Attachments": [{"RawContent": b"col1,col2\n", "FileName": "report.csv",
                                             "ContentType": "text/csv"}]}},
        EmailTags=[{"Name": "kind", "Value": "simple"}])["MessageId"]
    doc = mailbox.get(mid)
    assert doc["operation"] == "SendEmail" and doc["tags"] == {"kind": "simple"}
    assert {"name": "X-Custom", "value": "yes"} in doc["headers"]
    (a,) = doc["attachments"]
    assert a["filename"] == "report.csv" and a["contentType"] == "text/csv"
    raw = f"From: {sender}\r\nTo: b@{domain}\r\nSubject: raw v2\r\n\r\nraw body\r\n".encode()
    rid = sesv2.send_email(Content={"Raw": {"Data": raw}})["MessageId"]
    assert mailbox.list(id=rid)[0]["destination"] == [f"b@{domain}"]
    tid = sesv2.send_email(FromEmailAddress=sender, Destination={"ToAddresses": [f"c@{domain}"]},
                           Content={"Template": {"TemplateContent": {"Subject": "Inline {{x}}", "Text": "{{x}}!"},
                                                 "TemplateData": json.dumps({"x": "tpl"})}})["MessageId"]
    assert mailbox.list(id=tid)[0]["subject"] == "Inline tpl"
    with pytest.raises(ClientError) as e:
        sesv2.send_email(FromEmailAddress=f"stranger@{domain}", Destination={"ToAddresses": [f"c@{domain}"]},
                         Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}})
    assert error_of(e)[0] == "MessageRejected"
    with pytest.raises(ClientError) as e:
        sesv2.send_email(FromEmailAddress=sender, Destination={"ToAddresses": [f"c@{domain}"]},
                         Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
                         ConfigurationSetName="does-not-exist")
    assert error_of(e)[0] == "NotFoundException"


def test_send_bulk(sesv2, sender, domain, mailbox):
    name = f"bulk-{uuid.uuid4().hex[:8]}"
    sesv2.create_email_template(TemplateName=name, TemplateContent={"Subject": "Hey {{who}}", "Text": "x"})
    out = sesv2.send_bulk_email(
        FromEmailAddress=sender, DefaultContent={"Template": {"TemplateName": name,
                                                              "TemplateData": json.dumps({"who": "all"})}},
        BulkEmailEntries=[{"Destination": {"ToAddresses": [f"one@{domain}"]},
                           "ReplacementEmailContent": {"ReplacementTemplate": {
                               "ReplacementTemplateData": json.dumps({"who": "one"})}}},
                          {"Destination": {"ToAddresses": [f"two@{domain}"]}}])["BulkEmailEntryResults"]
    assert [r["Status"] for r in out] == ["SUCCESS", "SUCCESS"]
    assert [mailbox.list(id=r["MessageId"])[0]["subject"] for r in out] == ["Hey one", "Hey all"]


def test_account_and_tags(sesv2, domain):
    acct = sesv2.get_account()
    assert acct["SendingEnabled"] is True and acct["EnforcementStatus"] == "HEALTHY"
    assert acct["SendQuota"]["Max24HourSend"] == 50000.0
    sesv2.put_account_details(MailType="TRANSACTIONAL", WebsiteURL="https://example.com",
                              UseCaseDescription="tests")
    assert sesv2.get_account()["Details"]["MailType"] == "TRANSACTIONAL"
    name = f"tagged-{uuid.uuid4().hex[:8]}"
    sesv2.create_configuration_set(ConfigurationSetName=name)
    arn = f"arn:aws:ses:us-east-1:000000000000:configuration-set/{name}"
    sesv2.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sesv2.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert sesv2.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as e:
        sesv2.list_tags_for_resource(ResourceArn=arn + "-missing")
    assert error_of(e)[0] == "NotFoundException"
    sesv2.delete_configuration_set(ConfigurationSetName=name)


def test_suppression_list_listing(sesv2, domain):
    for who, why in (("b1", "BOUNCE"), ("c1", "COMPLAINT")):
        sesv2.put_suppressed_destination(EmailAddress=f"{who}@{domain}", Reason=why)
    got = [s for s in sesv2.list_suppressed_destinations(Reasons=["COMPLAINT"], PageSize=1000)[
        "SuppressedDestinationSummaries"] if s["EmailAddress"].endswith(domain)]
    assert [s["EmailAddress"] for s in got] == [f"c1@{domain}"]
    for who in ("b1", "c1"):
        sesv2.delete_suppressed_destination(EmailAddress=f"{who}@{domain}")


def test_contact_lists_and_list_managed_send(server, sender, domain, mailbox):
    v2 = server.client("sesv2", region_name="ap-southeast-2")      # one contact list per account and region
    west = server.client("ses", region_name="ap-southeast-2")
    west.verify_domain_identity(Domain=domain)
    lst = f"news-{uuid.uuid4().hex[:6]}"
    v2.create_contact_list(ContactListName=lst, Topics=[
        {"TopicName": "weekly", "DisplayName": "Weekly", "DefaultSubscriptionStatus": "OPT_IN"},
        {"TopicName": "promo", "DisplayName": "Promotions", "DefaultSubscriptionStatus": "OPT_OUT"}])
    try:
        with pytest.raises(ClientError) as e:
            v2.create_contact_list(ContactListName=lst + "-2")
        assert error_of(e)[0] == "LimitExceededException"
        v2.create_contact(ContactListName=lst, EmailAddress=f"in@{domain}")
        v2.create_contact(ContactListName=lst, EmailAddress=f"out@{domain}", TopicPreferences=[
            {"TopicName": "weekly", "SubscriptionStatus": "OPT_OUT"}])
        v2.create_contact(ContactListName=lst, EmailAddress=f"gone@{domain}", UnsubscribeAll=True)
        got = v2.get_contact(ContactListName=lst, EmailAddress=f"out@{domain}")
        assert got["TopicPreferences"] == [{"TopicName": "weekly", "SubscriptionStatus": "OPT_OUT"}]
        assert {"TopicName": "promo", "SubscriptionStatus": "OPT_OUT"} in got["TopicDefaultPreferences"]
        opted_in = v2.list_contacts(ContactListName=lst, Filter={
            "FilteredStatus": "OPT_IN", "TopicFilter": {"TopicName": "weekly", "UseDefaultIfPreferenceUnavailable": True}})
        assert [c["EmailAddress"] for c in opted_in["Contacts"]] == [f"in@{domain}"]
        mid = v2.send_email(FromEmailAddress=sender.replace("sender@", "news@"),
                            Destination={"ToAddresses": [f"in@{domain}", f"out@{domain}", f"gone@{domain}"]},
                            Content={"Simple": {"Subject": {"Data": "weekly"}, "Body": {"Text": {"Data": "x"}}}},
                            ListManagementOptions={"ContactListName": lst, "TopicName": "weekly"})["MessageId"]
        (m,) = mailbox.list(id=mid)
        assert m["status"] == {f"in@{domain}": "Delivery", f"out@{domain}": "Unsubscribed",
                               f"gone@{domain}": "Unsubscribed"}
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in mailbox.raw(mid)
        v2.delete_contact(ContactListName=lst, EmailAddress=f"gone@{domain}")
        assert len(v2.list_contacts(ContactListName=lst)["Contacts"]) == 2
    finally:
        v2.delete_contact_list(ContactListName=lst)
    with pytest.raises(ClientError) as e:
        v2.get_contact_list(ContactListName=lst)
    assert error_of(e)[0] == "NotFoundException"


def test_not_yet_implemented_operation_says_so(sesv2):
    with pytest.raises(ClientError) as e:
        sesv2.list_dedicated_ip_pools()
    assert error_of(e)[0] == "NotImplemented"
