"""MQTT fixtures: paho clients and raw-socket clients on the session server's default broker."""

from __future__ import annotations

import pytest

from tests.protocols.mqtt._helpers import Paho, Raw, port_of


@pytest.fixture
def paho_client(server):
    """paho_client(client_id, clean=..., listener="mqtt", ...) -> a connected-on-demand Paho (closed after)."""
    made = []

    def make(client_id="", **kw):
        name = kw.pop("listener", "mqtt")
        p = Paho(port_of(server, name), client_id, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        try:
            p.close()
        except Exception:
            pass


@pytest.fixture
def raw(server):
    made = []

    def make(name="mqtt"):
        r = Raw(port_of(server, name))
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()
