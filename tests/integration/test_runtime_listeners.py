"""Listeners opened and closed at runtime: on every gateway, durable across
worker and server restarts (same port), listed in endpoints.json and
/_broker/info, freed on close."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for


def _health_on(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_broker/health", timeout=5) as r:
        return r.status


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


@pytest.fixture
def broker(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "2", "--shards", "1") as b:
        yield b


def test_open_serve_restart_close(broker):
    rec = broker.control_call("listener.open", {"name": "extra-http", "protocol": "aws-http", "tls": "never",
                                                "scheme": "http", "owner": "test"})
    port = rec["port"]
    assert rec["url"].endswith(f":{port}")
    # served at once by every gateway (several new connections spread across them)
    for _ in range(6):
        assert _health_on(port) == 200
    assert broker.read_endpoints()["extra-http"] == rec["url"]
    info = broker.info()
    assert info["endpoints"]["extra-http"] == rec["url"]
    assert [r["name"] for r in info["listeners"]] == ["extra-http"]
    # opening the same name again is idempotent
    assert broker.control_call("listener.open", {"name": "extra-http", "protocol": "aws-http"})["port"] == port

    # a killed gateway comes back serving it
    broker.kill_worker("gateway", 0)
    broker.kill_worker("gateway", 1)
    wait_for(lambda: _health_on(port) == 200, 10, what="runtime listener after gateway restarts")

    # a whole-server restart reopens it on the same port
    broker.restart()
    wait_for(lambda: _health_on(port) == 200, 10, what="runtime listener after server restart")
    assert broker.read_endpoints()["extra-http"].endswith(f":{port}")

    # closing stops it everywhere and frees the port
    broker.control_call("listener.close", {"name": "extra-http"})
    assert _refused(port)
    assert "extra-http" not in broker.read_endpoints()
    broker.restart()
    assert _refused(port)
    assert json.loads((broker.data_dir / "listeners.json").read_text()) == []


def test_ports_come_from_the_configured_range(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    lo = 20000 + base % 20000
    env = {"BROKER_LISTENERS_PORT_RANGE": f"{lo}-{lo + 20}"}
    # not --free-ports (which would put runtime listeners on free ports too): an explicit free HTTP port
    with socket.socket() as s1:
        s1.bind(("127.0.0.1", 0))
        http = s1.getsockname()[1]
    with BrokerProcess(tmp_path / "data2", "--workers", "1", "--shards", "1", "--http-port", str(http),
                       free_ports=False, env=env) as b:
        a = b.control_call("listener.open", {"name": "a", "protocol": "aws-http"})
        c = b.control_call("listener.open", {"name": "c", "protocol": "aws-http"})
        assert lo <= a["port"] <= lo + 20 and lo <= c["port"] <= lo + 20 and a["port"] != c["port"]
        assert _health_on(c["port"]) == 200
