"""SES v1 configuration sets: lifecycle, event destinations, tracking,
delivery and reputation options, with AWS's errors."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.services.ses._helpers import error_of

CW = {"DimensionConfigurations": [{"DimensionName": "campaign", "DimensionValueSource": "messageTag",
                                   "DefaultDimensionValue": "none"}]}


@pytest.fixture
def cs(ses):
    name = f"cs-{uuid.uuid4().hex[:10]}"
    ses.create_configuration_set(ConfigurationSet={"Name": name})
    return name


def test_lifecycle_and_errors(ses):
    name = f"cs-{uuid.uuid4().hex[:10]}"
    with pytest.raises(ClientError) as e:
        ses.delete_configuration_set(ConfigurationSetName=name)
    assert error_of(e) == ("ConfigurationSetDoesNotExist", f"Configuration set <{name}> does not exist.")
    ses.create_configuration_set(ConfigurationSet={"Name": name})
    with pytest.raises(ClientError) as e:
        ses.create_configuration_set(ConfigurationSet={"Name": name})
    assert error_of(e) == ("ConfigurationSetAlreadyExists", f"Configuration set <{name}> already exists.")
    with pytest.raises(ClientError) as e:
        ses.create_configuration_set(ConfigurationSet={"Name": "bad name!"})
    assert error_of(e)[0] == "InvalidConfigurationSet"
    assert {"Name": name} in ses.list_configuration_sets(MaxItems=1000)["ConfigurationSets"]
    assert ses.describe_configuration_set(ConfigurationSetName=name)["ConfigurationSet"] == {"Name": name}
    ses.delete_configuration_set(ConfigurationSetName=name)
    assert {"Name": name} not in ses.list_configuration_sets(MaxItems=1000)["ConfigurationSets"]


def test_event_destination_errors(ses, cs):
    missing = f"cs-{uuid.uuid4().hex[:10]}"
    with pytest.raises(ClientError) as e:
        ses.create_configuration_set_event_destination(ConfigurationSetName=missing, EventDestination={
            "Name": "d", "Enabled": True, "MatchingEventTypes": ["send"], "CloudWatchDestination": CW})
    assert error_of(e) == ("ConfigurationSetDoesNotExist", f"Configuration set <{missing}> does not exist.")
    with pytest.raises(ClientError) as e:
        ses.delete_configuration_set_event_destination(ConfigurationSetName=missing, EventDestinationName="d")
    assert error_of(e) == ("ConfigurationSetDoesNotExist", f"Configuration set <{missing}> does not exist.")
    with pytest.raises(ClientError) as e:
        ses.delete_configuration_set_event_destination(ConfigurationSetName=cs, EventDestinationName="nope")
    assert error_of(e) == ("EventDestinationDoesNotExist", f"No EventDestination found for {cs}")


def test_event_destinations_described(ses, cs):
    ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "metrics", "Enabled": True, "MatchingEventTypes": ["send", "open", "bounce", "delivery", "click"],
        "CloudWatchDestination": CW})
    with pytest.raises(ClientError) as e:
        ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
            "Name": "metrics", "Enabled": True, "MatchingEventTypes": ["send"], "CloudWatchDestination": CW})
    assert error_of(e)[0] == "EventDestinationAlreadyExists"
    got = ses.describe_configuration_set(ConfigurationSetName=cs, ConfigurationSetAttributeNames=[
        "eventDestinations"])
    assert got["ConfigurationSet"] == {"Name": cs}
    assert got["EventDestinations"] == [{"Name": "metrics", "Enabled": True,
                                         "MatchingEventTypes": ["bounce", "click", "delivery", "open", "send"],
                                         "CloudWatchDestination": CW}]
    ses.update_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "metrics", "Enabled": False, "MatchingEventTypes": ["renderingFailure"], "CloudWatchDestination": CW})
    (d,) = ses.describe_configuration_set(ConfigurationSetName=cs, ConfigurationSetAttributeNames=[
        "eventDestinations"])["EventDestinations"]
    assert d["Enabled"] is False and d["MatchingEventTypes"] == ["renderingFailure"]
    ses.delete_configuration_set_event_destination(ConfigurationSetName=cs, EventDestinationName="metrics")
    assert ses.describe_configuration_set(ConfigurationSetName=cs, ConfigurationSetAttributeNames=[
        "eventDestinations"])["EventDestinations"] == []


def test_tracking_delivery_reputation(ses, cs):
    with pytest.raises(ClientError) as e:
        ses.update_configuration_set_tracking_options(ConfigurationSetName=cs,
                                                      TrackingOptions={"CustomRedirectDomain": "t.example.com"})
    assert error_of(e)[0] == "TrackingOptionsDoesNotExistException"
    ses.create_configuration_set_tracking_options(ConfigurationSetName=cs,
                                                  TrackingOptions={"CustomRedirectDomain": "t.example.com"})
    with pytest.raises(ClientError) as e:
        ses.create_configuration_set_tracking_options(ConfigurationSetName=cs,
                                                      TrackingOptions={"CustomRedirectDomain": "u.example.com"})
    assert error_of(e)[0] == "TrackingOptionsAlreadyExistsException"
    ses.put_configuration_set_delivery_options(ConfigurationSetName=cs, DeliveryOptions={"TlsPolicy": "Require"})
    ses.update_configuration_set_reputation_metrics_enabled(ConfigurationSetName=cs, Enabled=True)
    got = ses.describe_configuration_set(ConfigurationSetName=cs, ConfigurationSetAttributeNames=[
        "trackingOptions", "deliveryOptions", "reputationOptions"])
    assert got["TrackingOptions"] == {"CustomRedirectDomain": "t.example.com"}
    assert got["DeliveryOptions"] == {"TlsPolicy": "Require"}
    assert got["ReputationOptions"] == {"SendingEnabled": True, "ReputationMetricsEnabled": True}
    ses.delete_configuration_set_tracking_options(ConfigurationSetName=cs)
    got = ses.describe_configuration_set(ConfigurationSetName=cs, ConfigurationSetAttributeNames=["trackingOptions"])
    assert "TrackingOptions" not in got


def test_sending_paused_for_configuration_set(ses, cs, sender, domain):
    ses.update_configuration_set_sending_enabled(ConfigurationSetName=cs, Enabled=False)
    kw = dict(Source=sender, Destination={"ToAddresses": [f"r@{domain}"]},
              Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}, ConfigurationSetName=cs)
    with pytest.raises(ClientError) as e:
        ses.send_email(**kw)
    assert error_of(e)[0] == "ConfigurationSetSendingPausedException"
    ses.update_configuration_set_sending_enabled(ConfigurationSetName=cs, Enabled=True)
    assert ses.send_email(**kw)["MessageId"]
    with pytest.raises(ClientError) as e:
        ses.send_email(**{**kw, "ConfigurationSetName": cs + "-missing"})
    assert error_of(e) == ("ConfigurationSetDoesNotExist", f"Configuration set <{cs}-missing> does not exist.")
