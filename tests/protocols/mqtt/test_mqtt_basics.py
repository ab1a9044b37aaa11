"""MQTT 3.1.1 against the real server with paho and raw sockets: QoS, retained
messages, wildcards and $-topics, SUBACK failures, client ids, takeover,
wills, keepalive, malformed packets."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap

from tests.protocols.mqtt._helpers import (
    PUBACK, PUBLISH, Raw, ack_packet, connect_packet, port_of, publish_packet,
)


def test_qos_0_1_2_round_trip_and_delivered_qos_is_the_minimum(paho_client, unique_name):
    sub = paho_client(unique_name + "-s")
    sub.connect()
    t = unique_name
    assert sub.subscribe((f"{t}/q0", 0), (f"{t}/q1", 1), (f"{t}/q2", 2)) == [0, 1, 2]
    pub = paho_client(unique_name + "-p")
    pub.connect()
    for topic, sub_q in (("q0", 0), ("q1", 1), ("q2", 2)):
        for pub_q in (0, 1, 2):
            pub.publish(f"{t}/{topic}", f"{pub_q}".encode(), qos=pub_q)
            m = sub.get()
            assert (m.topic, m.payload, m.qos, m.retain) == (f"{t}/{topic}", f"{pub_q}".encode(),
                                                             min(pub_q, sub_q), False)


def test_overlapping_subscriptions_get_one_copy_each(paho_client, unique_name):
    sub = paho_client(unique_name + "-s")
    sub.connect()
    t = unique_name
    assert sub.subscribe((f"{t}/+/c", 1), (f"{t}/#", 0), (f"{t}/b/c", 2)) == [1, 0, 2]
    pub = paho_client()
    pub.connect()
    pub.publish(f"{t}/b/c", b"x", qos=2)
    got = sorted(sub.get().qos for _ in range(3))
    assert got == [0, 1, 2]
    sub.none(0.3)


def test_wildcards_and_dollar_topics(paho_client, unique_name):
    t = unique_name
    sub = paho_client()
    sub.connect()
    assert sub.subscribe(("#", 1), (f"${t}/sys/+", 1)) == [1, 1]
    pub = paho_client()
    pub.connect()
    pub.publish(f"${t}/sys/load", b"dollar", qos=1)      # not matched by '#' [MQTT-4.7.2-1]
    m = sub.get()
    assert (m.topic, m.payload) == (f"${t}/sys/load", b"dollar")
    pub.publish(f"{t}/x/y", b"plain", qos=1)
    m = sub.get()
    assert (m.topic, m.payload) == (f"{t}/x/y", b"plain")
    sub.none(0.3)
    # '#' matches the parent level; '+' matches an empty level
    s2 = paho_client()
    s2.connect()
    assert s2.subscribe((f"{t}/p/#", 1), (f"{t}/+/q", 1)) == [1, 1]
    pub.publish(f"{t}/p", b"parent", qos=1)
    pub.publish(f"{t}//q", b"empty level", qos=1)
    pub.publish(f"{t}/p.x", b"dot stays one level", qos=1)
    assert [s2.get().payload for _ in range(2)] == [b"parent", b"empty level"]
    s2.none(0.3)


def test_invalid_or_forbidden_filters_get_0x80(paho_client, raw, unique_name):
    r = raw()
    assert r.connect(unique_name)[1] == 0
    t = unique_name
    codes = r.subscribe(7, [(f"{t}/#/x", 1), (f"{t}/a+", 0), ("", 1), (f"{t}/ok/#", 2), (f"{t}/#x", 0)])
    assert codes == [0x80, 0x80, 0x80, 2, 0x80]


def test_retained_messages_delivered_on_subscribe_and_cleared_by_empty_payload(paho_client, unique_name):
    t = unique_name
    pub = paho_client()
    pub.connect()
    pub.publish(f"{t}/r/1", b"one", qos=1, retain=True)
    pub.publish(f"{t}/r/2", b"two", qos=0, retain=True)
    pub.publish(f"{t}/r/2", b"two-b", qos=1, retain=True)      # replaces
    sub = paho_client()
    sub.connect()
    sub.subscribe((f"{t}/r/+", 1))
    got = sorted((m.topic, m.payload, m.qos, m.retain) for m in (sub.get(), sub.get()))
    assert got == [(f"{t}/r/1", b"one", 1, True), (f"{t}/r/2", b"two-b", 1, True)]
    # a live subscriber gets new retained publishes with RETAIN 0 [MQTT-3.3.1-9]
    pub.publish(f"{t}/r/1", b"", qos=1, retain=True)          # clears
    m = sub.get()
    assert (m.payload, m.retain) == (b"", False)
    s2 = paho_client()
    s2.connect()
    s2.subscribe((f"{t}/#", 2))
    m = s2.get()
    assert (m.topic, m.payload, m.retain) == (f"{t}/r/2", b"two-b", True)
    s2.none(0.3)


def test_zero_length_client_id(raw):
    r = raw()
    assert r.connect("", clean=True) == (0, 0)
    r2 = raw()
    assert r2.connect("", clean=False) == (0, 0x02)      # identifier rejected [MQTT-3.1.3-8]
    assert r2.eof()


def test_bad_password_and_unknown_protocol_level(raw):
    r = raw()
    assert r.connect("x", username="guest", password="wrong") == (0, 4)
    assert r.eof()
    r = raw()
    r.send(connect_packet("x", level=5))
    p = r.packet()
    assert p[0] == 2 and p[2][1] == 0x01
    assert r.eof()


def test_client_id_takeover_closes_the_first(raw, paho_client, unique_name):
    first = raw()
    assert first.connect(unique_name)[1] == 0
    second = raw()
    assert second.connect(unique_name)[1] == 0
    assert first.eof()
    second.send(b"\xc0\x00")                      # the new one is alive: PINGREQ -> PINGRESP
    assert second.packet()[0] == 13


def test_malformed_packets_close_only_that_connection(raw, paho_client, unique_name):
    good = paho_client()
    good.connect()
    good.subscribe((f"{unique_name}/#", 1))
    cases = [
        b"\x30\xff\xff\xff\xff\x7f",                             # remaining length of five bytes
        b"\x36\x05\x00\x01a\x00\x01",                             # QoS 3
        b"\x62\x02\x00\x01",                                      # PUBREL with flags 0b0010 is fine ...
        publish_packet("a/+", b"x"),                               # wildcard in a topic name
        b"\x82\x06\x00\x01\x00\x01\xff\x01",                      # filter not UTF-8
        b"\x80\x06\x00\x01\x00\x01a\x01",                         # SUBSCRIBE with flags 0
        b"\xf0\x00",                                               # reserved packet type
        connect_packet("again"),                                   # a second CONNECT
    ]
    for i, bad in enumerate(cases):
        r = raw()
        assert r.connect(f"{unique_name}-bad{i}")[1] == 0
        r.send(bad)
        if i == 2:                                                 # PUBREL is answered with PUBCOMP
            assert r.packet()[0] == 7
            continue
        assert r.eof(), bad
    first = raw()
    first.send(b"\x20\x02\x00\x00")                                # CONNACK from a client, first
    assert first.eof()
    p = paho_client()
    p.connect()
    p.publish(f"{unique_name}/still", b"alive", qos=1)
    assert good.get().payload == b"alive"


_KILLED = textwrap.dedent("""
    import sys, time
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=sys.argv[2], protocol=mqtt.MQTTv311)
    c.will_set(sys.argv[3], b"gone", qos=1, retain=True)
    c.connect("127.0.0.1", int(sys.argv[1]), keepalive=60)
    c.loop_start()
    time.sleep(0.3)
    print("up", flush=True)
    time.sleep(120)
""")


def test_will_of_a_killed_client(server, paho_client, unique_name):
    topic = f"{unique_name}/status"
    watcher = paho_client()
    watcher.connect()
    watcher.subscribe((topic, 1))
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(port_of(server)), unique_name, topic],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"up"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    m = watcher.get()
    assert (m.topic, m.payload, m.qos) == (topic, b"gone", 1)
    late = paho_client()                     # the will was retained
    late.connect()
    late.subscribe((topic, 1))
    assert late.get().retain


def test_will_on_keepalive_expiry_not_on_disconnect(raw, paho_client, unique_name):
    watcher = paho_client()
    watcher.connect()
    watcher.subscribe((f"{unique_name}/+", 1))
    quiet = raw()
    assert quiet.connect(unique_name + "-q", keepalive=1, will=(f"{unique_name}/q", b"expired", 1, False))[1] == 0
    assert quiet.eof(timeout=5)                 # closed at 1.5 x keepalive
    m = watcher.get()
    assert (m.topic, m.payload) == (f"{unique_name}/q", b"expired")
    polite = raw()
    assert polite.connect(unique_name + "-p", will=(f"{unique_name}/p", b"never", 1, False))[1] == 0
    polite.send(b"\xe0\x00")                      # DISCONNECT discards the will
    assert polite.eof()
    watcher.none(0.5)


def test_max_inflight_holds_messages_for_a_client_that_does_not_ack(server, raw, paho_client, unique_name):
    r = raw()
    assert r.connect(unique_name)[1] == 0
    assert r.subscribe(1, [(f"{unique_name}/t", 1)]) == [1]
    pub = paho_client()
    pub.connect()
    for i in range(50):
        pub.c.publish(f"{unique_name}/t", str(i).encode(), qos=1)
    got = [r.publish_in() for _ in range(20)]           # mqtt.max_inflight_messages (20) without a PUBACK
    assert [g[1] for g in got] == [str(i).encode() for i in range(20)]
    try:
        extra = r.publish_in(timeout=0.5)
    except TimeoutError:
        extra = None
    assert extra is None
    for g in got[:10]:
        r.send(ack_packet(PUBACK, g[3]))
    more = [r.publish_in() for _ in range(10)]
    assert [m[1] for m in more] == [str(i).encode() for i in range(20, 30)]
