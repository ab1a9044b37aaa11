"""mqtt.js (Node, tests/node/package.json; CI runs `npm ci` there) against the server."""

from __future__ import annotations

import os


from tests.helpers.clients import run_node
from tests.protocols.mqtt._helpers import port_of


def test_node_mqtt_js(server):
    env = dict(os.environ, BROKER_MQTT_URL=f"mqtt://127.0.0.1:{port_of(server)}",
               BROKER_MQTT_WS_URL=f"ws://127.0.0.1:{port_of(server, 'mqtt_ws')}")
    out = run_node("mqtt_smoke.mjs", env, "mqtt", timeout=90)
    assert out["granted"] == [2]
    first, *rest = out["got"]
    assert (first["payload"], first["retain"], first["qos"]) == ("kept", True, 1)
    assert sorted((m["payload"], m["qos"], m["retain"]) for m in rest) == [("m0", 0, False), ("m1", 1, False),
                                                                             ("m2", 2, False)]
    assert out["sessionPresent"] is True and out["away"] == "while away"
    assert out["will"] == "bye"
