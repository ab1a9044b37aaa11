"""Amazon MQ management API with boto3: brokers and their lifecycle, users,
configurations with revisions, tags, engine types and instance options; a
RabbitMQ broker made with CreateBroker serves AMQPS with its own users,
namespace and configuration."""

from __future__ import annotations

import base64
import ssl
import time

import pika
import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for

PASSWORD = "correct-horse-9"


@pytest.fixture(scope="module")
def mq(server):
    return server.client("mq")


def _create(mq, name, engine="RABBITMQ", **kw):
    kw.setdefault("Users", [{"Username": "admin", "Password": PASSWORD}])
    return mq.create_broker(BrokerName=name, EngineType=engine, HostInstanceType="mq.m5.large",
                            DeploymentMode="SINGLE_INSTANCE", PubliclyAccessible=False, **kw)["BrokerId"]


def _running(mq, broker_id):
    return wait_for(lambda: (d := mq.describe_broker(BrokerId=broker_id))["BrokerState"] == "RUNNING" and d,
                    20, what="broker RUNNING")


def _amqps(server, endpoint: str, user: str, password: str) -> pika.BlockingConnection:
    assert endpoint.startswith("amqps://")
    host, port = endpoint[len("amqps://"):].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=server.ca_cert)
    return pika.BlockingConnection(pika.ConnectionParameters(
        host, int(port), credentials=pika.PlainCredentials(user, password), heartbeat=0,
        ssl_options=pika.SSLOptions(ctx, host)))


def _error(exc) -> tuple:
    err = exc.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err.get("ErrorAttribute")


def test_rabbitmq_broker_lifecycle_and_amqps_with_its_own_user(server, mq, unique_name):
    bid = _create(mq, unique_name[:50])
    first = mq.describe_broker(BrokerId=bid)
    assert first["BrokerState"] in ("CREATION_IN_PROGRESS", "RUNNING")
    d = _running(mq, bid)
    assert d["BrokerArn"] == f"arn:aws:mq:us-east-1:000000000000:broker:{unique_name[:50]}:{bid}"
    assert d["EngineType"] == "RABBITMQ" and d["EngineVersion"] == "3.13"
    assert d["Users"] == [{"Username": "admin"}]
    inst = d["BrokerInstances"][0]
    amqps = inst["Endpoints"][0]
    assert amqps.startswith("amqps://127.0.0.1:")
    assert inst["ConsoleURL"].endswith(f"/_broker/mq/brokers/{bid}")
    status, doc = server.get(inst["ConsoleURL"].split("127.0.0.1:", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert status == 200 and doc["BrokerState"] == "RUNNING"
    conn = _amqps(server, amqps, "admin", PASSWORD)
    ch = conn.channel()
    ch.queue_declare("jobs", durable=True)
    ch.confirm_delivery()
    ch.basic_publish("", "jobs", b"kept", pika.BasicProperties(delivery_mode=2))
    conn.close()
    # the default broker's guest cannot log in there, and its namespace is separate
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        _amqps(server, amqps, "guest", "guest")
    port = int(server.endpoints["amqp"].rsplit(":", 1)[1])
    default = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        default.channel().queue_declare("jobs", passive=True)
    default.close()
    # users: created, usable at once, updated, deleted
    mq.create_user(BrokerId=bid, Username="app-1", Password="another-pass-77")
    assert [u["Username"] for u in mq.list_users(BrokerId=bid)["Users"]] == ["admin", "app-1"]
    _amqps(server, amqps, "app-1", "another-pass-77").close()
    mq.update_user(BrokerId=bid, Username="app-1", Password="changed-pass-88")
    wait_for(lambda: _amqps(server, amqps, "app-1", "changed-pass-88").close() or True, 10)
    mq.delete_user(BrokerId=bid, Username="app-1")
    with pytest.raises(ClientError) as exc:
        mq.describe_user(BrokerId=bid, Username="app-1")
    assert _error(exc) == ("NotFoundException", "Can't find requested user [app-1]. Make sure your user exists.",
                           "username")
    # reboot keeps durable messages and the endpoint
    mq.reboot_broker(BrokerId=bid)
    d = _running(mq, bid)
    assert d["BrokerInstances"][0]["Endpoints"][0] == amqps
    conn = wait_for(lambda: _amqps(server, amqps, "admin", PASSWORD), 10)
    assert conn.channel().basic_get("jobs", auto_ack=True)[2] == b"kept"
    conn.close()
    # delete: stops the listeners, then the broker is gone
    mq.delete_broker(BrokerId=bid)
    assert mq.describe_broker(BrokerId=bid)["BrokerState"] in ("DELETION_IN_PROGRESS",)

    def gone():
        try:
            mq.describe_broker(BrokerId=bid)
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "NotFoundException"
    wait_for(gone, 20)
    with pytest.raises(Exception):
        _amqps(server, amqps, "admin", PASSWORD)


def test_errors_and_validation(mq, unique_name):
    with pytest.raises(ClientError) as exc:
        mq.describe_broker(BrokerId="b-00000000-0000-0000-0000-000000000000")
    assert _error(exc) == ("NotFoundException", "Can't find requested broker [b-00000000-0000-0000-0000-000000000000]."
                           " Make sure your broker exists.", "broker-id")
    with pytest.raises(ClientError) as exc:
        _create(mq, unique_name[:40] + "-pw", Users=[{"Username": "admin", "Password": "short"}])
    assert _error(exc)[0] == "BadRequestException" and _error(exc)[2] == "password"
    with pytest.raises(ClientError) as exc:
        _create(mq, unique_name[:40] + "-gu", Users=[{"Username": "guest", "Password": PASSWORD}])
    assert _error(exc)[2] == "username"
    with pytest.raises(ClientError) as exc:
        _create(mq, "bad name!")
    assert _error(exc)[2] == "brokerName"
    with pytest.raises(ClientError) as exc:
        mq.describe_configuration(ConfigurationId="c-nope")
    assert _error(exc) == ("NotFoundException", "Can't find requested configuration [c-nope]. Make sure your "
                           "configuration exists.", "configuration-id")


def test_configurations_revisions_and_honoured_settings(server, mq, unique_name):
    c = mq.create_configuration(EngineType="RABBITMQ", EngineVersion="3.13", Name=unique_name)
    assert c["LatestRevision"]["Revision"] == 1
    rev1 = mq.describe_configuration_revision(ConfigurationId=c["Id"], ConfigurationRevision="1")
    assert "consumer_timeout" in base64.b64decode(rev1["Data"]).decode()
    data = base64.b64encode(b"# short acks\nconsumer_timeout = 600\ndefault_queue_type = quorum\n").decode()
    up = mq.update_configuration(ConfigurationId=c["Id"], Data=data, Description="fast")
    assert up["LatestRevision"]["Revision"] == 2
    revs = mq.list_configuration_revisions(ConfigurationId=c["Id"])["Revisions"]
    assert [r["Revision"] for r in revs] == [1, 2]
    with pytest.raises(ClientError) as exc:
        mq.update_configuration(ConfigurationId=c["Id"], Data=base64.b64encode(b"vm_memory = 1\n").decode())
    code, message, attr = _error(exc)
    assert code == "BadRequestException" and attr == "data" and "[vm_memory]" in message
    assert any(x["Id"] == c["Id"] for x in mq.list_configurations()["Configurations"])
    bid = _create(mq, unique_name[:40] + "-cf", Configuration={"Id": c["Id"], "Revision": 2})
    d = _running(mq, bid)
    assert d["Configurations"]["Current"] == {"Id": c["Id"], "Revision": 2}
    conn = _amqps(server, d["BrokerInstances"][0]["Endpoints"][0], "admin", PASSWORD)
    ch = conn.channel()
    ch.queue_declare("work", durable=True)            # default type quorum: a non-durable one is refused
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e2:
        ch2 = conn.channel()
        ch2.queue_declare("work", durable=True, arguments={"x-queue-type": "classic"})
    assert "inequivalent arg 'x-queue-type'" in e2.value.reply_text
    ch3 = conn.channel()
    ch3.basic_publish("", "work", b"slow")
    ch3.basic_consume("work", lambda *a: None)       # never acks: consumer_timeout closes the channel
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        ch3.start_consuming()
    assert closed.value.reply_code == 406
    assert closed.value.reply_text == (f"PRECONDITION_FAILED - delivery acknowledgement on channel "
                                       f"{ch3.channel_number} timed out. "
                                       "Timeout value used: 600 ms. This timeout value can be configured, see "
                                       "consumers doc guide to learn more")
    conn.close()
    with pytest.raises(ClientError) as exc:
        mq.delete_configuration(ConfigurationId=c["Id"])
    assert _error(exc)[0] == "ConflictException"
    mq.delete_broker(BrokerId=bid)


def test_activemq_broker_is_described_and_tags_work(mq, unique_name):
    bid = _create(mq, unique_name[:40] + "-amq", engine="ACTIVEMQ",
                  Users=[{"Username": "ops~1", "Password": PASSWORD, "ConsoleAccess": True, "Groups": ["g"]}],
                  Tags={"team": "a"})
    d = _running(mq, bid)
    assert d["EngineType"] == "ACTIVEMQ" and d["EngineVersion"] == "5.18"
    u = mq.describe_user(BrokerId=bid, Username="ops~1")
    assert (u["ConsoleAccess"], u["Groups"]) == (True, ["g"])
    arn = d["BrokerArn"]
    mq.create_tags(ResourceArn=arn, Tags={"env": "dev"})
    assert mq.list_tags(ResourceArn=arn)["Tags"] == {"team": "a", "env": "dev"}
    mq.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert mq.list_tags(ResourceArn=arn)["Tags"] == {"env": "dev"}
    assert any(b["BrokerId"] == bid for b in mq.list_brokers(MaxResults=100)["BrokerSummaries"])
    mq.delete_broker(BrokerId=bid)


def test_engine_types_and_instance_options(mq):
    types = mq.describe_broker_engine_types()["BrokerEngineTypes"]
    assert {t["EngineType"] for t in types} == {"ACTIVEMQ", "RABBITMQ"}
    rabbit = mq.describe_broker_engine_types(EngineType="RABBITMQ")["BrokerEngineTypes"][0]
    assert rabbit["EngineVersions"][0] == {"Name": "3.13"}
    opts = mq.describe_broker_instance_options(EngineType="RABBITMQ", HostInstanceType="mq.m5.large")
    opt = opts["BrokerInstanceOptions"][0]
    assert opt["StorageType"] == "EBS" and "CLUSTER_MULTI_AZ" in opt["SupportedDeploymentModes"]


def test_amazonmq_metrics_reach_cloudwatch(server):
    """AWS/AmazonMQ metrics of the default broker (Broker=default), as CloudWatch serves them."""
    import datetime
    port = int(server.endpoints["amqp"].rsplit(":", 1)[1])
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.confirm_delivery()
    for _ in range(5):
        ch.basic_publish("", q, b"m")
    cw = server.client("cloudwatch")

    def published():
        end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
        st = cw.get_metric_statistics(Namespace="AWS/AmazonMQ", MetricName="PublishRate",
                                      Dimensions=[{"Name": "Broker", "Value": "default"}],
                                      StartTime=end - datetime.timedelta(minutes=10), EndTime=end, Period=60,
                                      Statistics=["Sum"])
        return sum(p["Sum"] for p in st["Datapoints"]) >= 5
    try:
        wait_for(published, 20, what="PublishRate in CloudWatch")
        names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/AmazonMQ")["Metrics"]}
        assert {"ConnectionCount", "PublishRate", "ConfirmRate"} <= names
    finally:
        conn.close()


def test_activemq_configuration_xml_is_validated_and_stored(mq, unique_name):
    c = mq.create_configuration(EngineType="ACTIVEMQ", EngineVersion="5.18", Name=unique_name)
    xml = ('<?xml version="1.0" encoding="UTF-8"?><broker xmlns="http://activemq.apache.org/schema/core">'
           '<plugins/></broker>')
    up = mq.update_configuration(ConfigurationId=c["Id"], Data=base64.b64encode(xml.encode()).decode())
    assert up["LatestRevision"]["Revision"] == 2 and up["Warnings"] == []
    rev = mq.describe_configuration_revision(ConfigurationId=c["Id"], ConfigurationRevision="2")
    assert base64.b64decode(rev["Data"]).decode() == xml
    for bad in (b"<broker><unclosed></broker>", b"<notbroker/>", b"not xml at all"):
        with pytest.raises(ClientError) as exc:
            mq.update_configuration(ConfigurationId=c["Id"], Data=base64.b64encode(bad).decode())
        assert _error(exc)[0] == "BadRequestException" and _error(exc)[2] == "data"
    with pytest.raises(ClientError) as exc:
        mq.describe_configuration_revision(ConfigurationId=c["Id"], ConfigurationRevision="9")
    assert _error(exc)[0] == "NotFoundException"
    mq.delete_configuration(ConfigurationId=c["Id"])
