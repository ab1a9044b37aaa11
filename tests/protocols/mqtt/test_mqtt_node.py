"""mqtt.js (Node, tests/node/package.json; CI runs `npm ci` there) against the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.protocols.mqtt._helpers import port_of

NODE_DIR = Path(__file__).resolve().parents[2] / "node"


def test_node_mqtt_js(server):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "mqtt").is_dir():
        pytest.skip("tests/node/node_modules missing: run `npm install` in tests/node")
    env = dict(os.environ, BROKER_MQTT_URL=f"mqtt://127.0.0.1:{port_of(server)}",
               BROKER_MQTT_WS_URL=f"ws://127.0.0.1:{port_of(server, 'mqtt_ws')}")
    p = subprocess.run([node, str(NODE_DIR / "mqtt_smoke.mjs")], cwd=NODE_DIR, env=env, capture_output=True,
                       text=True, timeout=90)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["granted"] == [2]
    first, *rest = out["got"]
    assert (first["payload"], first["retain"], first["qos"]) == ("kept", True, 1)
    assert sorted((m["payload"], m["qos"], m["retain"]) for m in rest) == [("m0", 0, False), ("m1", 1, False),
                                                                             ("m2", 2, False)]
    assert out["sessionPresent"] is True and out["away"] == "while away"
    assert out["will"] == "bye"
