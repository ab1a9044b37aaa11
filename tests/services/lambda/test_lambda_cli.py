"""The AWS CLI (awscli v1 from the venv): create, invoke with a log tail, alias, delete."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION

AWS = Path(sys.executable).with_name("aws")


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    exe = str(AWS) if AWS.exists() else shutil.which("aws")
    if not exe:
        pytest.skip("aws CLI not installed")
    home = tmp_path_factory.mktemp("awshome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=DUMMY_KEY, AWS_SECRET_ACCESS_KEY=DUMMY_SECRET, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=str(home / "config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "creds"),
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="")

    def run(*args: str) -> dict:
        p = subprocess.run([exe, "lambda", *args, "--endpoint-url", server.url, "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"aws lambda {' '.join(args)} failed: {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else {}
    return run


def test_cli_create_invoke_alias_delete(aws, tmp_path, unique_name, zip_of):
    z = tmp_path / "fn.zip"
    z.write_bytes(zip_of({"handler.py": "def handler(event, context):\n    print('cli', event['v'])\n"
                                        "    return {'twice': event['v'] * 2}\n"}))
    out = aws("create-function", "--function-name", unique_name, "--runtime", "python3.12", "--handler",
              "handler.handler", "--role", "arn:aws:iam::000000000000:role/r", "--zip-file", f"fileb://{z}")
    assert out["FunctionName"] == unique_name and out["Runtime"] == "python3.12"
    res = tmp_path / "out.json"
    meta = aws("invoke", "--function-name", unique_name, "--payload", '{"v": 21}', "--log-type", "Tail", str(res))
    assert meta["StatusCode"] == 200 and json.loads(res.read_text()) == {"twice": 42}
    assert "cli 21" in base64.b64decode(meta["LogResult"]).decode()
    assert aws("publish-version", "--function-name", unique_name)["Version"] == "1"
    assert aws("create-alias", "--function-name", unique_name, "--name", "prod", "--function-version", "1")["Name"] == "prod"
    assert [a["Name"] for a in aws("list-aliases", "--function-name", unique_name)["Aliases"]] == ["prod"]
    aws("delete-function", "--function-name", unique_name)
