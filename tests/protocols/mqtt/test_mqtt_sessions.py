"""Persistent sessions and QoS 2 across a client reconnect and a full server restart."""

from __future__ import annotations

import struct

import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.protocols.mqtt._helpers import (
    PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, Paho, Raw, ack_packet, port_of, publish_packet, session_consumers,
)


def _pid(body: bytes) -> int:
    return struct.unpack(">H", body[:2])[0]


def test_persistent_session_queues_offline_and_redelivers_unacked_with_dup_in_order(server, raw, paho_client,
                                                                                   unique_name):
    t = unique_name
    r = raw()
    assert r.connect(t, clean=False) == (0, 0)
    assert r.subscribe(1, [(f"{t}/x", 1)]) == [1]
    pub = paho_client()
    pub.connect()
    for i in range(3):
        pub.publish(f"{t}/x", f"m{i}".encode(), qos=1)
    first = [r.publish_in() for _ in range(3)]
    assert [(m[1], m[5]) for m in first] == [(b"m0", False), (b"m1", False), (b"m2", False)]
    r.send(ack_packet(PUBACK, first[0][3]))       # m0 acknowledged, m1 and m2 not
    r.send(b"\xc0\x00")
    assert r.packet()[0] == 13                    # the PUBACK was read before the socket goes
    r.close()
    wait_for(lambda: session_consumers(server, t) == 0, what="the session to be offline")
    for i in range(3, 5):                          # offline: queued durably
        pub.publish(f"{t}/x", f"m{i}".encode(), qos=1)
    pub.publish(f"{t}/x", b"q0-offline", qos=0)    # offline: QoS 0 is not queued (Mosquitto's default)
    pub.publish(f"{t}/x", b"m5", qos=1)            # ... after it was handled
    r2 = raw()
    assert r2.connect(t, clean=False) == (1, 0)    # session present
    got = [r2.publish_in() for _ in range(5)]
    assert [(m[1], m[5]) for m in got[:2]] == [(b"m1", True), (b"m2", True)]
    assert [m[1] for m in got[2:]] == [b"m3", b"m4", b"m5"]
    pub.publish(f"{t}/x", b"q0-online", qos=0)
    m = r2.publish_in()
    assert (m[1], m[2], m[5]) == (b"q0-online", 0, False)
    for m in got:
        r2.send(ack_packet(PUBACK, m[3]))
    # a clean session discards it all
    r2.close()
    r3 = raw()
    assert r3.connect(t, clean=True) == (0, 0)
    r3.close()
    r4 = raw()
    assert r4.connect(t, clean=False) == (0, 0)
    pub.publish(f"{t}/x", b"after", qos=1)
    try:
        m = r4.publish_in(timeout=0.5)
    except TimeoutError:
        m = None
    assert m is None                                # no subscription survived


def test_inbound_qos2_is_exactly_once_across_a_reconnect(raw, paho_client, unique_name):
    t = unique_name
    sub = paho_client()
    sub.connect()
    sub.subscribe((f"{t}/e", 2))
    p = raw()
    assert p.connect(t + "-p", clean=False)[1] == 0
    p.send(publish_packet(f"{t}/e", b"once", qos=2, pid=9))
    rec = p.packet()
    assert rec[0] == PUBREC and _pid(rec[2]) == 9
    sub.none(0.3)                                    # held until PUBREL
    p.close()                                        # the PUBREL never went out
    p2 = raw()
    assert p2.connect(t + "-p", clean=False) == (1, 0)
    p2.send(publish_packet(f"{t}/e", b"once", qos=2, pid=9, dup=True))   # re-sent
    assert p2.packet()[0] == PUBREC
    p2.send(ack_packet(PUBREL, 9))
    comp = p2.packet()
    assert comp[0] == PUBCOMP and _pid(comp[2]) == 9
    p2.send(ack_packet(PUBREL, 9))                   # a re-sent PUBREL: PUBCOMP again, nothing published
    assert p2.packet()[0] == PUBCOMP
    m = sub.get()
    assert (m.payload, m.qos) == (b"once", 2)
    sub.none(0.5)


def test_outbound_qos2_keeps_packet_ids_and_never_republishes_after_pubrel(raw, paho_client, unique_name):
    t = unique_name
    s = raw()
    assert s.connect(t, clean=False)[1] == 0
    assert s.subscribe(1, [(f"{t}/o", 2)]) == [2]
    pub = paho_client()
    pub.connect()
    pub.publish(f"{t}/o", b"a", qos=2)
    pub.publish(f"{t}/o", b"b", qos=2)
    a, b = s.publish_in(), s.publish_in()
    assert (a[1], a[2], b[1], b[2]) == (b"a", 2, b"b", 2)
    s.send(ack_packet(PUBREC, a[3]))                 # a: released; b: not acknowledged at all
    rel = s.packet()
    assert rel[0] == PUBREL and _pid(rel[2]) == a[3]
    s.close()
    s2 = raw()
    assert s2.connect(t, clean=False) == (1, 0)
    rel = s2.packet()                                 # PUBREL for a again, never its PUBLISH
    assert rel[0] == PUBREL and _pid(rel[2]) == a[3]
    again = s2.publish_in()
    assert (again[1], again[3], again[5]) == (b"b", b[3], True)     # same id, DUP
    s2.send(ack_packet(PUBCOMP, a[3]))
    s2.send(ack_packet(PUBREC, b[3]))
    assert s2.packet()[0] == PUBREL
    s2.send(ack_packet(PUBCOMP, b[3]))
    s2.send(b"\xc0\x00")
    assert s2.packet()[0] == 13
    s2.close()
    s3 = raw()
    assert s3.connect(t, clean=False) == (1, 0)
    s3.send(b"\xc0\x00")
    assert s3.packet()[0] == 13                        # nothing left to resend


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("mqtt-restart"), "--workers", "1", "--shards", "2",
                      "--durability", "process")
    yield b
    b.close()


def test_sessions_retained_and_qos2_survive_a_full_restart(own_server):
    b = own_server
    port = port_of(b)
    s = Raw(port)
    assert s.connect("keeper", clean=False)[1] == 0
    assert s.subscribe(1, [("keep/#", 2)]) == [2]
    p = Paho(port, "restart-pub")
    p.connect()
    p.publish("keep/r", b"retained", qos=2, retain=True)
    first = s.publish_in()
    assert first[1] == b"retained"
    s.send(ack_packet(PUBREC, first[3]))
    assert s.packet()[0] == PUBREL                  # released, PUBCOMP never sent
    s.close()
    p.publish("keep/1", b"offline-1", qos=2)
    p.publish("keep/2", b"offline-2", qos=1)
    q2 = Raw(port)
    assert q2.connect("half-done", clean=False)[1] == 0
    q2.send(publish_packet("keep/3", b"held", qos=2, pid=77))
    assert q2.packet()[0] == PUBREC
    q2.close()
    p.close()
    b.stop()
    b._start()
    b.wait_ready()
    port = port_of(b)
    s2 = Raw(port)
    assert s2.connect("keeper", clean=False) == (1, 0)
    rel = s2.packet()
    assert rel[0] == PUBREL and _pid(rel[2]) == first[3]
    s2.send(ack_packet(PUBCOMP, first[3]))
    # two topics: no order between them [MQTT-4.6.0-6] (the QoS 2 one takes a durable hop at PUBREL)
    got = sorted([s2.publish_in(), s2.publish_in()])
    assert [(g[0], g[1]) for g in got] == [("keep/1", b"offline-1"), ("keep/2", b"offline-2")]
    assert got[0][2] == 2 and got[1][2] == 1
    q3 = Raw(port)
    assert q3.connect("half-done", clean=False) == (1, 0)
    q3.send(ack_packet(PUBREL, 77))
    assert q3.packet()[0] == PUBCOMP
    held = s2.publish_in()
    assert (held[0], held[1]) == ("keep/3", b"held")
    late = Raw(port)
    assert late.connect("late")[1] == 0
    assert late.subscribe(1, [("keep/r", 1)]) == [1]
    m = late.publish_in()
    assert (m[1], m[4]) == (b"retained", True)
