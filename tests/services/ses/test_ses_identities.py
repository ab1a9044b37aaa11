"""SES v1 identities with boto3: verification, DKIM, MAIL FROM, notification
attributes and policies, with AWS's errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.services.ses._helpers import error_of

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["ses:SendEmail"],
    "Resource": "*"}]})


def test_email_and_domain_identities(ses, domain):
    ses.verify_email_identity(EmailAddress=f"a@{domain}")
    ses.verify_email_identity(EmailAddress=f"a@{domain}")        # idempotent
    token = ses.verify_domain_identity(Domain=domain.upper())["VerificationToken"]
    assert len(token) == 44
    mine = [i for i in ses.list_identities()["Identities"] if domain in i]
    assert sorted(mine) == sorted([f"a@{domain}", domain])     # domains are case-insensitive
    assert [i for i in ses.list_identities(IdentityType="Domain")["Identities"] if domain in i] == [domain]
    attrs = ses.get_identity_verification_attributes(
        Identities=[f"a@{domain}", domain, f"nobody@{domain}"])["VerificationAttributes"]
    assert attrs == {f"a@{domain}": {"VerificationStatus": "Success"},
                     domain: {"VerificationStatus": "Success", "VerificationToken": token}}
    ses.delete_identity(Identity=f"a@{domain}")
    ses.delete_identity(Identity=f"a@{domain}")                # no error when gone
    assert [i for i in ses.list_identities()["Identities"] if domain in i] == [domain]


def test_legacy_verified_email_addresses(ses, domain):
    ses.verify_email_address(EmailAddress=f"old@{domain}")
    assert f"old@{domain}" in ses.list_verified_email_addresses()["VerifiedEmailAddresses"]
    ses.delete_verified_email_address(EmailAddress=f"old@{domain}")
    assert f"old@{domain}" not in ses.list_verified_email_addresses()["VerifiedEmailAddresses"]


def test_list_identities_pages(ses, domain):
    for i in range(5):
        ses.verify_email_identity(EmailAddress=f"p{i}@{domain}")
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ses.list_identities(IdentityType="EmailAddress", MaxItems=2, **kw)
        assert len(page["Identities"]) <= 2
        seen += page["Identities"]
        token = page.get("NextToken")
        if not token:
            break
    assert [s for s in seen if domain in s] == [f"p{i}@{domain}" for i in range(5)]


def test_dkim(ses, domain):
    tokens = ses.verify_domain_dkim(Domain=domain)["DkimTokens"]
    assert len(tokens) == 3 and all(len(t) == 32 for t in tokens)
    assert domain in ses.list_identities(IdentityType="Domain")["Identities"]
    ses.verify_email_identity(EmailAddress=f"x@{domain}")
    attrs = ses.get_identity_dkim_attributes(Identities=[domain, f"x@{domain}"])["DkimAttributes"]
    assert attrs[domain] == {"DkimEnabled": True, "DkimVerificationStatus": "Success", "DkimTokens": tokens}
    assert attrs[f"x@{domain}"] == {"DkimEnabled": False, "DkimVerificationStatus": "NotStarted"}
    ses.set_identity_dkim_enabled(Identity=domain, DkimEnabled=False)
    assert ses.get_identity_dkim_attributes(Identities=[domain])["DkimAttributes"][domain]["DkimEnabled"] is False


def test_mail_from_domain(ses, domain):
    with pytest.raises(ClientError) as e:
        ses.set_identity_mail_from_domain(Identity=domain)
    assert error_of(e) == ("InvalidParameterValue", f"Identity '{domain}' does not exist.")
    ses.verify_domain_identity(Domain=domain)
    with pytest.raises(ClientError) as e:
        ses.set_identity_mail_from_domain(Identity=domain, MailFromDomain="lorem.ipsum.com")
    assert error_of(e) == ("InvalidParameterValue", f"Provided MAIL-FROM domain 'lorem.ipsum.com' is not "
                                                    f"subdomain of the domain of the identity '{domain}'.")
    ses.set_identity_mail_from_domain(Identity=domain, MailFromDomain=f"bounce.{domain}",
                                      BehaviorOnMXFailure="RejectMessage")
    attrs = ses.get_identity_mail_from_domain_attributes(Identities=[domain])["MailFromDomainAttributes"]
    assert attrs[domain] == {"MailFromDomain": f"bounce.{domain}", "MailFromDomainStatus": "Success",
                             "BehaviorOnMXFailure": "RejectMessage"}
    ses.set_identity_mail_from_domain(Identity=domain)
    attrs = ses.get_identity_mail_from_domain_attributes(Identities=[domain])["MailFromDomainAttributes"]
    assert attrs[domain] == {"BehaviorOnMXFailure": "UseDefaultValue"}


@pytest.mark.parametrize("kind", ["Bounce", "Complaint", "Delivery"])
def test_headers_in_notifications(ses, sender, kind):
    for enabled in (True, True, False):                      # idempotent either way
        ses.set_identity_headers_in_notifications_enabled(Identity=sender, NotificationType=kind, Enabled=enabled)
    attrs = ses.get_identity_notification_attributes(Identities=[sender])["NotificationAttributes"][sender]
    assert attrs[f"HeadersIn{kind}NotificationsEnabled"] is False
    ses.set_identity_headers_in_notifications_enabled(Identity=sender, NotificationType=kind, Enabled=True)
    attrs = ses.get_identity_notification_attributes(Identities=[sender])["NotificationAttributes"][sender]
    assert attrs[f"HeadersIn{kind}NotificationsEnabled"] is True


def test_headers_in_notifications_errors(ses, sender, domain):
    with pytest.raises(ClientError) as e:
        ses.set_identity_headers_in_notifications_enabled(Identity=sender, NotificationType="InvalidType",
                                                          Enabled=True)
    assert error_of(e) == ("InvalidParameterValue", "Invalid notification type: InvalidType. Valid values are: "
                                                    "Bounce, Complaint, Delivery.")
    with pytest.raises(ClientError) as e:
        ses.set_identity_headers_in_notifications_enabled(Identity=f"unknown@{domain}", NotificationType="Bounce",
                                                          Enabled=True)
    assert error_of(e) == ("MessageRejected", f"Identity unknown@{domain} is not verified or does not exist.")


def test_notification_topics_and_forwarding(ses, sender):
    attrs = ses.get_identity_notification_attributes(Identities=[sender])["NotificationAttributes"][sender]
    assert attrs == {"ForwardingEnabled": True, "HeadersInBounceNotificationsEnabled": False,
                     "HeadersInComplaintNotificationsEnabled": False, "HeadersInDeliveryNotificationsEnabled": False}
    with pytest.raises(ClientError) as e:
        ses.set_identity_feedback_forwarding_enabled(Identity=sender, ForwardingEnabled=False)
    assert error_of(e)[0] == "InvalidParameterValue"
    bounce = "arn:aws:sns:us-east-1:000000000000:bounces"
    complaint = "arn:aws:sns:us-east-1:000000000000:complaints"
    ses.set_identity_notification_topic(Identity=sender, NotificationType="Bounce", SnsTopic=bounce)
    ses.set_identity_notification_topic(Identity=sender, NotificationType="Complaint", SnsTopic=complaint)
    ses.set_identity_feedback_forwarding_enabled(Identity=sender, ForwardingEnabled=False)
    attrs = ses.get_identity_notification_attributes(Identities=[sender])["NotificationAttributes"][sender]
    assert attrs["BounceTopic"] == bounce and attrs["ComplaintTopic"] == complaint
    assert attrs["ForwardingEnabled"] is False and "DeliveryTopic" not in attrs
    ses.set_identity_notification_topic(Identity=sender, NotificationType="Bounce")     # clears it
    attrs = ses.get_identity_notification_attributes(Identities=[sender])["NotificationAttributes"][sender]
    assert "BounceTopic" not in attrs and attrs["ForwardingEnabled"] is True


def test_identity_policies(ses, sender):
    assert ses.list_identity_policies(Identity=sender)["PolicyNames"] == []
    ses.put_identity_policy(Identity=sender, PolicyName="p1", Policy=POLICY)
    ses.put_identity_policy(Identity=sender, PolicyName="p2", Policy=POLICY)
    assert ses.list_identity_policies(Identity=sender)["PolicyNames"] == ["p1", "p2"]
    got = ses.get_identity_policies(Identity=sender, PolicyNames=["p1", "missing"])["Policies"]
    assert list(got) == ["p1"] and json.loads(got["p1"]) == json.loads(POLICY)
    with pytest.raises(ClientError) as e:
        ses.put_identity_policy(Identity=sender, PolicyName="bad", Policy="{not json")
    assert error_of(e)[0] == "InvalidPolicy"
    ses.delete_identity_policy(Identity=sender, PolicyName="p1")
    assert ses.list_identity_policies(Identity=sender)["PolicyNames"] == ["p2"]


def test_identities_are_per_region(server, ses, domain):
    ses.verify_email_identity(EmailAddress=f"r@{domain}")
    west = server.client("ses", region_name="us-west-2")
    assert not [i for i in west.list_identities()["Identities"] if domain in i]
