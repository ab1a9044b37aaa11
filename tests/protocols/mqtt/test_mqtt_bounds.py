"""Wills that outlive the gateway process holding their connection, and Mosquitto's
bounds (max_inflight_messages, max_queued_messages, queue_qos0_messages), on a
server of two gateways with small bounds."""

from __future__ import annotations

import psutil
import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.protocols.mqtt._helpers import (
    PUBACK, PUBCOMP, PUBREC, PUBREL, Raw, ack_packet, parse_publish, port_of, publish_packet, session_queue,
)

INFLIGHT, QUEUED = 3, 5


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("mqtt-bounds"), "--workers", "2", "--shards", "2",
                      env={"BROKER_MQTT_MAX_INFLIGHT_MESSAGES": str(INFLIGHT),
                           "BROKER_MQTT_MAX_QUEUED_MESSAGES": str(QUEUED),
                           "BROKER_MQTT_QUEUE_QOS0_MESSAGES": "true"})
    yield b
    b.close()


def _gateway_of(b, client: Raw) -> int:
    """Index of the gateway process holding this client's connection."""
    local = client.s.getsockname()[1]
    for i, pid in enumerate(b.pids("gateway")):
        if any(c.raddr and c.raddr.port == local for c in psutil.Process(pid).net_connections("tcp")):
            return i
    raise AssertionError("no gateway holds the connection")


def _next_publish(b, watcher: Raw, client_id: str):
    """The watcher's next PUBLISH; if its gateway was the one killed, it reconnects to its session."""
    p = watcher.packet(timeout=20)
    if p is None:
        watcher.close()
        watcher = Raw(port_of(b))
        assert watcher.connect(client_id, clean=False) == (1, 0)
        p = watcher.packet(timeout=20)
    assert p is not None and p[0] == 3, p
    m = parse_publish(p)
    if m[2]:
        watcher.send(ack_packet(PUBACK, m[3]))
    return watcher, m


def test_wills_are_published_when_the_gateway_holding_the_connections_is_killed(bounded):
    b = bounded
    port = port_of(b)
    watcher = Raw(port)
    assert watcher.connect("will-watcher", clean=False)[1] == 0
    assert watcher.subscribe(1, [("lastwill/+", 1)]) == [1]
    clients = []
    # clean and persistent sessions, spread over both gateways; no more than QUEUED of them,
    # since when the watcher shares the victim's gateway its wills wait in its offline
    # session's queue, which keeps QUEUED messages and drops the rest (as Mosquitto does)
    for i in range(QUEUED):
        c = Raw(port)
        assert c.connect(f"will-{i}", clean=i % 2 == 0, will=(f"lastwill/{i}", f"gone-{i}".encode(), 1, False))[1] == 0
        clients.append(c)
    where = [_gateway_of(b, c) for c in clients]
    victim = where[0]
    b.kill_worker("gateway", victim)
    expected = {f"gone-{i}".encode() for i, g in enumerate(where) if g == victim}
    got = set()
    while len(got) < len(expected):
        watcher, m = _next_publish(b, watcher, "will-watcher")
        got.add(m[1])
    assert got == expected
    # the clients on the other gateway are still connected: no will for them, and none on DISCONNECT
    for c, g in zip(clients, where):
        if g != victim:
            c.send(b"\xc0\x00")
            assert c.packet()[0] == 13
            c.send(b"\xe0\x00")
            assert c.eof()
    for i in range(QUEUED):             # their sessions are free again: a new connection is not refused
        r = Raw(port)
        assert r.connect(f"will-{i}", clean=True)[1] == 0
        r.send(b"\xe0\x00")
    marker = Raw(port)
    assert marker.connect("will-marker")[1] == 0
    marker.send(publish_packet("lastwill/marker", b"marker", qos=1, pid=1))
    assert marker.packet()[0] == PUBACK
    watcher, m = _next_publish(b, watcher, "will-watcher")
    assert m[1] == b"marker"                         # the next message is the marker: no other will came


def test_max_queued_messages_for_an_offline_session_count_qos0_when_queued(bounded):
    b = bounded
    port = port_of(b)
    s = Raw(port)
    assert s.connect("queued-sub", clean=False)[1] == 0
    assert s.subscribe(1, [("queued/t", 1)]) == [1]
    s.close()
    wait_for(lambda: session_queue(b, "queued-sub")[1] == 0, what="the session to be offline")
    p = Raw(port)
    assert p.connect("queued-pub")[1] == 0
    p.send(publish_packet("queued/t", b"q0-first", qos=0))          # queue_qos0_messages: queued, counted
    for i in range(QUEUED + 3):
        p.send(publish_packet("queued/t", f"m{i}".encode(), qos=1, pid=i + 1))
        assert p.packet()[0] == PUBACK               # acknowledged even when dropped for the session
    assert session_queue(b, "queued-sub")[0] == QUEUED
    s2 = Raw(port)
    assert s2.connect("queued-sub", clean=False) == (1, 0)
    got = []
    for _ in range(QUEUED):
        m = s2.publish_in()
        got.append(m[1])
        if m[2]:
            s2.send(ack_packet(PUBACK, m[3]))
    assert got == [b"q0-first"] + [f"m{i}".encode() for i in range(QUEUED - 1)]
    p.send(publish_packet("queued/t", b"live", qos=1, pid=100))
    assert p.packet()[0] == PUBACK
    assert s2.publish_in()[1] == b"live"             # the next one: the overflow was dropped


def test_max_inflight_messages_holds_deliveries_until_acknowledged(bounded):
    port = port_of(bounded)
    s = Raw(port)
    assert s.connect("inflight-sub")[1] == 0
    assert s.subscribe(1, [("inflight/t", 2)]) == [2]
    p = Raw(port)
    assert p.connect("inflight-pub")[1] == 0
    for i in range(INFLIGHT + 2):
        p.send(publish_packet("inflight/t", f"m{i}".encode(), qos=1, pid=i + 1))
        assert p.packet()[0] == PUBACK
    first = [s.publish_in() for _ in range(INFLIGHT)]
    assert [m[1] for m in first] == [f"m{i}".encode() for i in range(INFLIGHT)]
    with pytest.raises(TimeoutError):
        s.publish_in(timeout=0.5)                   # the window is full
    s.send(ack_packet(PUBACK, first[0][3]))
    assert s.publish_in()[1] == f"m{INFLIGHT}".encode()


def test_unreleased_inbound_qos2_beyond_max_inflight_is_acknowledged_and_dropped(bounded):
    """A client that never sends PUBREL holds at most max_inflight_messages QoS 2
    messages at the broker; a new one beyond gets PUBREC and is dropped (Mosquitto)."""
    port = port_of(bounded)
    sub = Raw(port)
    assert sub.connect("qos2-quota-sub")[1] == 0
    assert sub.subscribe(1, [("quota/+", 0)]) == [0]
    c = Raw(port)
    assert c.connect("qos2-quota-pub")[1] == 0
    for pid in range(1, INFLIGHT + 3):
        c.send(publish_packet(f"quota/{pid}", f"m{pid}".encode(), qos=2, pid=pid))
        p = c.packet()
        assert p[0] == PUBREC and int.from_bytes(p[2], "big") == pid
    for pid in range(1, INFLIGHT + 3):
        c.send(ack_packet(PUBREL, pid))
        p = c.packet()
        assert p[0] == PUBCOMP and int.from_bytes(p[2], "big") == pid
    c.send(publish_packet("quota/again", b"again", qos=2, pid=1))   # the quota is free again
    assert c.packet()[0] == PUBREC
    c.send(ack_packet(PUBREL, 1))
    assert c.packet()[0] == PUBCOMP
    got = set()
    while b"again" not in got:
        got.add(sub.publish_in()[1])
    got |= {m[1] for m in _drain(sub)}
    assert got == {f"m{pid}".encode() for pid in range(1, INFLIGHT + 1)} | {b"again"}


def _drain(r: Raw, wait: float = 0.5) -> list:
    """PUBLISHes still arriving within `wait` (a negative check after the positive ones)."""
    out = []
    while True:
        try:
            out.append(r.publish_in(timeout=wait))
        except TimeoutError:
            return out


def test_a_changed_max_queued_messages_applies_to_existing_sessions(bounded):
    """Restarted with a smaller bound, a session made before takes it when it connects
    (runs last: the module's server keeps the new setting)."""
    b = bounded
    s = Raw(port_of(b))
    assert s.connect("rebound-sub", clean=False)[1] == 0
    assert s.subscribe(1, [("rebound/t", 1)]) == [1]
    s.close()
    b.stop()
    b.env["BROKER_MQTT_MAX_QUEUED_MESSAGES"] = "2"
    b._start()
    b.wait_ready()
    port = port_of(b)
    s = Raw(port)
    assert s.connect("rebound-sub", clean=False) == (1, 0)
    s.close()
    wait_for(lambda: session_queue(b, "rebound-sub")[1] == 0, what="the session to be offline")
    p = Raw(port)
    assert p.connect("rebound-pub")[1] == 0
    for i in range(4):
        p.send(publish_packet("rebound/t", f"m{i}".encode(), qos=1, pid=i + 1))
        assert p.packet()[0] == PUBACK
    assert session_queue(b, "rebound-sub")[0] == 2
