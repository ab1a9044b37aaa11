"""MQTT with the rest of the product: AMQP both ways on one routing core, TLS and
WebSocket transports, an ActiveMQ broker made with CreateBroker, and edge
routing between two gateways."""

from __future__ import annotations

import json

import pika
import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.protocols.mqtt._helpers import Paho, port_of

PASSWORD = "correct-horse-9"


def _amqp(server):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port_of(server, "amqp"), heartbeat=0))


def test_mqtt_publish_reaches_amqp_queue_bound_to_amq_topic(server, paho_client, unique_name):
    conn = _amqp(server)
    try:
        ch = conn.channel()
        q = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(q, "amq.topic", routing_key=f"{unique_name}.sensors.*")
        pub = paho_client()
        pub.connect()
        pub.publish(f"{unique_name}/sensors/t1", b"21.5", qos=1)       # PUBACK after the AMQP queue committed
        method, props, body = ch.basic_get(q, auto_ack=True)
        assert body == b"21.5" and method.routing_key == f"{unique_name}.sensors.t1"
        assert method.exchange == "amq.topic"
        assert props.headers["x-mqtt-publish-qos"] == 1 and props.delivery_mode == 2
        pub.publish(f"{unique_name}/sensors/t2", b"q0", qos=0)
        got = wait_for(lambda: ch.basic_get(q, auto_ack=True)[2], 10)
        assert got == b"q0"
    finally:
        conn.close()


def test_amqp_publish_with_confirms_reaches_mqtt_subscribers(server, paho_client, unique_name):
    sub = paho_client()
    sub.connect()
    sub.subscribe((f"{unique_name}/#", 2))
    conn = _amqp(server)
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("amq.topic", f"{unique_name}.a.b", b"persistent",
                         pika.BasicProperties(delivery_mode=2))
        ch.basic_publish("amq.topic", f"{unique_name}.a.c", b"transient")
        ch.basic_publish("amq.topic", f"{unique_name}.q2", b"named",
                         pika.BasicProperties(headers={"x-mqtt-publish-qos": 2}))
        got = {(m.topic, m.payload, m.qos) for m in (sub.get(), sub.get(), sub.get())}
        assert got == {(f"{unique_name}/a/b", b"persistent", 1), (f"{unique_name}/a/c", b"transient", 0),
                       (f"{unique_name}/q2", b"named", 2)}
    finally:
        conn.close()


def test_tls_and_websocket_transports(server, paho_client, unique_name):
    ca = server.ca_cert
    subs = [paho_client(listener="mqtts", tls_ca=ca), paho_client(listener="mqtt_ws", transport="websockets"),
            paho_client(listener="mqtt_wss", transport="websockets", tls_ca=ca)]
    for s in subs:
        assert s.connect() == (False, 0)
        assert s.subscribe((f"{unique_name}/t", 1)) == [1]
    pub = paho_client(listener="mqtt_ws", transport="websockets")
    pub.connect()
    big = bytes(range(256)) * 300          # spans WebSocket frames
    pub.publish(f"{unique_name}/t", big, qos=1)
    for s in subs:
        m = s.get()
        assert (m.payload, m.qos) == (big, 1)


def test_activemq_broker_from_createbroker_has_its_own_mqtt_listeners_and_users(server, unique_name):
    mq = server.client("mq")
    bid = mq.create_broker(BrokerName=unique_name[:40] + "-mqtt", EngineType="ACTIVEMQ",
                           HostInstanceType="mq.m5.large", DeploymentMode="SINGLE_INSTANCE",
                           PubliclyAccessible=False, Users=[{"Username": "admin", "Password": PASSWORD}])["BrokerId"]
    try:
        d = wait_for(lambda: (d := mq.describe_broker(BrokerId=bid))["BrokerState"] == "RUNNING" and d, 20)
        eps = d["BrokerInstances"][0]["Endpoints"]
        assert [e.split("://")[0] for e in eps] == ["mqtt+ssl", "wss"]
        tls_port = int(eps[0].rsplit(":", 1)[1])
        wss_port = int(eps[1].rsplit(":", 1)[1])
        bad = Paho(tls_port, tls_ca=server.ca_cert, username="admin", password="wrong-password-1")
        assert bad.connect()[1] == 134          # paho's reason code for CONNACK 4, bad user name or password
        bad.close()
        anon = Paho(tls_port, tls_ca=server.ca_cert)
        assert anon.connect()[1] == 135         # CONNACK 5, not authorized: no anonymous CreateBroker access
        anon.close()
        sub = Paho(wss_port, transport="websockets", tls_ca=server.ca_cert, username="admin", password=PASSWORD)
        pub = Paho(tls_port, tls_ca=server.ca_cert, username="admin", password=PASSWORD)
        try:
            assert sub.connect() == (False, 0) and pub.connect() == (False, 0)
            sub.subscribe(("orders/#", 1))
            pub.publish("orders/1", b"own namespace", qos=1)
            assert sub.get().payload == b"own namespace"
            mq.create_user(BrokerId=bid, Username="app-2", Password="another-pass-77")
            late = Paho(tls_port, tls_ca=server.ca_cert, username="app-2", password="another-pass-77")
            wait_for(lambda: late.connect()[1] == 0 or late.c.loop_stop(), 10)
            late.close()
        finally:
            sub.close()
            pub.close()
        # the default broker's "orders/#" is another namespace
        d2 = Paho(port_of(server))
        d2.connect()
        d2.subscribe(("orders/#", 1))
        pub2 = Paho(tls_port, tls_ca=server.ca_cert, username="admin", password=PASSWORD)
        pub2.connect()
        pub2.publish("orders/2", b"not for the default broker", qos=1)
        d2.none(0.5)
        pub2.close()
        d2.close()
    finally:
        mq.delete_broker(BrokerId=bid)


USERS = [{"name": "guest", "password": "guest", "loopback_only": True},
         {"name": "reader", "password": "r-pass", "vhosts": {"/": {"configure": ".*", "write": "^$", "read": ".*"}}},
         {"name": "writer", "password": "w-pass", "vhosts": {"/": {"configure": ".*", "write": ".*", "read": "^$"}}}]


@pytest.fixture(scope="module")
def two_gateways(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("mqtt-2gw"), "--workers", "2", "--shards", "2",
                      env={"BROKER_MQ_USERS": json.dumps(USERS)})
    yield b
    b.close()


def test_permissions_of_mq_users(two_gateways):
    """RabbitMQ's permissions on amq.topic: no read, SUBACK 0x80; no write, publishes dropped."""
    port = port_of(two_gateways)
    writer = Paho(port, "perm-w", username="writer", password="w-pass")
    reader = Paho(port, "perm-r", username="reader", password="r-pass")
    try:
        assert writer.connect()[1] == 0 and reader.connect()[1] == 0
        assert writer.subscribe(("perm/#", 1)) == [0x80]
        assert reader.subscribe(("perm/#", 1)) == [1]
        reader.publish("perm/from-reader", b"dropped", qos=1)     # acknowledged, not delivered
        writer.publish("perm/from-writer", b"delivered", qos=1)
        assert reader.get().payload == b"delivered"
        reader.none(0.3)
    finally:
        writer.close()
        reader.close()


def test_edge_routing_between_gateways(two_gateways):
    """Subscribers and publishers spread by the kernel over two gateways: every
    subscriber gets every message whichever gateway published it."""
    port = port_of(two_gateways)
    subs = [Paho(port, f"s{i}") for i in range(6)]
    pubs = [Paho(port, f"p{i}") for i in range(4)]
    try:
        for s in subs:
            s.connect()
            s.subscribe(("edge/+", 1))
        for i, p in enumerate(pubs):
            p.connect()
            p.publish(f"edge/{i}", str(i).encode(), qos=1)
        for s in subs:
            assert sorted(s.get().payload for _ in pubs) == [b"0", b"1", b"2", b"3"]
    finally:
        for c in subs + pubs:
            c.close()


def test_a_subscriber_that_does_not_read_is_not_buffered_without_bound(server, raw, paho_client, unique_name):
    """QoS 0 copies are settled as they are written; once the client's socket is full the
    gateway blocks the consumer at the shard, so the backlog stays in the session's queue
    (seen from AMQP: the same queue, the same namespace), which holds mqtt.max_queued_messages
    (1000) at most: the rest are dropped for this session, as Mosquitto drops them."""
    r = raw()
    assert r.connect(unique_name)[1] == 0
    assert r.subscribe(1, [(f"{unique_name}/flood", 0)]) == [0]
    pub = paho_client()
    pub.c.max_inflight_messages_set(200)
    pub.connect()
    n = 10000                          # 20 MB: more than the kernel's socket buffers hold
    infos = [pub.c.publish(f"{unique_name}/flood", b"%05d" % i + b"x" * 2043, qos=1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(30)
    conn = _amqp(server)
    try:
        ch = conn.channel()
        left = ch.queue_declare(f"mqtt-subscription-{unique_name}", passive=True).method.message_count
    finally:
        conn.close()
    assert left == 1000               # the backlog waits in the queue, not in the gateway
    seqs = []
    while True:
        try:
            p = r.publish_in(timeout=2 if seqs else 20)
        except TimeoutError:
            break
        assert len(p[1]) == 2048 and p[2] == 0
        seqs.append(int(p[1][:5]))
    assert seqs == sorted(seqs) and seqs[0] == 0       # in order, from the first
    assert 1000 < len(seqs) < n                        # the queued ones and those written before; not all
