"""The AWS CLI (awscli v1 from the venv): create, invoke with a log tail, alias, delete."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers.clients import aws_cli


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    cli = aws_cli(server.url, tmp_path_factory.mktemp("awshome"), "lambda", timeout=120)

    def run(*args: str) -> dict:
        p = cli(*args)
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
