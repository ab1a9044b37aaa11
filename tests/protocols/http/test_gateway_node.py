"""aws-sdk-js v3 (npm) against the real server. Skips only if node or
tests/node/node_modules is missing (CI runs `npm ci`/`npm install` in tests/node)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-kms").is_dir()
    or not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-sts").is_dir(),
    reason="node or tests/node/node_modules missing (run npm install in tests/node)")


def _run(server, https: bool, account: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=server.https_url if https else server.url, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="x",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    if https:
        env["NODE_EXTRA_CA_CERTS"] = server.ca_cert
    p = subprocess.run([NODE, "gateway_smoke.mjs"], cwd=NODE_DIR, capture_output=True, text=True, env=env,
                       timeout=90)
    assert p.returncode == 0, p.stderr + p.stdout
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("https", [False, True])
def test_aws_sdk_js_v3_sts_and_kms(server, https):
    account = "246813579024" if https else "864213579135"
    out = _run(server, https, account)
    assert out["account"] == account
    assert out["arn"] == f"arn:aws:iam::{account}:root"
    assert out["keyArn"].startswith(f"arn:aws:kms:us-east-1:{account}:key/")
    assert out["plaintext"] == "hello from node"
    assert out["decryptKeyId"] == out["keyArn"]
    assert out["error"]["name"] == "NotFoundException" and out["error"]["status"] == 400
    assert "node-missing-alias" in out["error"]["message"]
    assert out["ctxError"] == "InvalidCiphertextException"
