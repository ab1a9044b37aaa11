"""aws-sdk-js v3 (tests/node/package.json; CI runs `npm install` there) against the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def node():
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed")
    if not (HERE / "node_modules" / "@aws-sdk" / "client-sqs").is_dir():
        pytest.skip("tests/node/node_modules missing: run `npm install` in tests/node")
    return exe


def test_sqs_smoke_js_sdk_v3(server, node):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["BROKER_ENDPOINT"] = server.url
    p = subprocess.run([node, str(HERE / "sqs_smoke.mjs")], cwd=HERE, env=env, capture_output=True, text=True,
                       timeout=90)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for kind in ("standard", "fifo"):
        r = out[kind]
        assert r["url"].startswith(server.url + "/queue/us-east-1/000000000000/node-")   # region in the URL
        assert sorted(r["bodies"]) == sorted([r["url"].rsplit("/", 1)[1].join(["hello ", ""]), "batch one",
                                              "batch two"]), r
        assert r["batchOk"] == 2 and r["batchFailed"] == 0
        assert r["attrs"]["kind"] == "smoke" and r["attrs"]["blob"] == [1, 2, 3]
        assert r["md5"] and r["md5Attrs"]
        assert r["remaining"] == "0/0"
    assert out["standard"]["sequenceNumber"] is None
    assert out["fifo"]["sequenceNumber"] and out["fifo"]["attrs"]["group"] == "g1"
    assert out["fifo"]["bodies"][0].startswith("hello")          # order within the group
    assert out["missing"]["name"] == "QueueDoesNotExist"
    assert out["missing"]["code"] in (None, "AWS.SimpleQueueService.NonExistentQueue")
    assert out["account"] == "000000000000"
