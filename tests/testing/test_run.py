"""`broker run [serve flags] -- CMD`: a server for the length of one command, with
aws-sdk-js v3 (Node) and the AWS CLI (a shell script) configured by its environment alone."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testing._helpers import refused

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
SCRIPT = Path(__file__).resolve().parent / "scripts" / "cli_smoke.sh"
BROKER = [sys.executable, "-m", "broker"]


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BROKER_"))}
    # `broker` and `aws` of this Python first on PATH (CI activates the venv; a bare run may not)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def _broker_run(*args, env=None, cwd=None, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([*BROKER, "run", *args], env=env or _env(), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)




def test_node_sdk_v3_configured_by_the_environment_alone():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-sqs").is_dir():
        pytest.skip("tests/node/node_modules missing: run `npm install` in tests/node")
    p = _broker_run("--", node, "broker_run_env.mjs", cwd=NODE_DIR, env=_env(EXIT_CODE="0"))
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["bodies"] == ["hello from node"]
    assert out["account"] == "000000000000"
    assert out["queueUrl"].startswith(out["endpoint"] + "/queue/us-east-1/000000000000/node-run-")
    assert out["amqp"].startswith("amqp://guest:guest@127.0.0.1:")
    assert refused(out["endpoint"])            # the server went with the command


def test_node_exit_code_is_the_exit_code():
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-sqs").is_dir():
        pytest.skip("node or tests/node/node_modules missing")
    p = _broker_run("--", node, "broker_run_env.mjs", cwd=NODE_DIR, env=_env(EXIT_CODE="7"))
    assert p.returncode == 7, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["bodies"] == ["hello from node"]


@pytest.mark.skipif(shutil.which("aws", path=_env()["PATH"]) is None, reason="no AWS CLI installed")
def test_shell_script_with_the_aws_cli_and_its_exit_code():
    p = _broker_run("--durability", "memory", "--", "bash", str(SCRIPT), env=_env(EXIT_CODE="3"))
    assert p.returncode == 3, p.stderr + p.stdout
    out = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    assert out["account"] == "000000000000"
    assert out["body"] == "hello from the cli"
    assert "/000000000000/cli-run-" in out["queue"]
    data_dir = Path(out["data_dir"])
    assert data_dir.name.startswith("broker-run-")
    assert not data_dir.exists()                 # the temporary data directory is gone
    assert refused(out["queue"].split("/queue/")[0])


def test_keep_and_a_given_data_dir(tmp_path):
    given = tmp_path / "data"
    p = _broker_run("--data-dir", str(given), "--", sys.executable, "-c",
                    "import os, sys; print(os.environ['BROKER_SERVER_DATA_DIR']); sys.exit(1)")
    assert p.returncode == 1
    assert p.stdout.strip() == str(given)
    assert (given / "broker.log").exists() and not (given / "endpoints.json").exists()   # stopped, kept
    p = _broker_run("--keep", "--", sys.executable, "-c",
                    "import os, sys; print(os.environ['BROKER_SERVER_DATA_DIR']); sys.exit(2)")
    assert p.returncode == 2
    kept = Path(p.stdout.strip())
    try:
        assert kept.is_dir() and "data directory kept" in p.stderr
    finally:
        shutil.rmtree(kept, ignore_errors=True)


def test_a_listener_that_cannot_bind_is_named_and_the_command_not_run(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        marker = tmp_path / "ran"
        p = _broker_run("--data-dir", str(tmp_path / "d"), "--http-port", str(port), "--", sys.executable, "-c",
                        f"open({str(marker)!r}, 'w').close()", timeout=120)
    assert p.returncode == 1
    assert "the command was not run" in p.stderr
    assert f"listener http (listeners.http_port) could not bind 127.0.0.1:{port}" in p.stderr
    assert not marker.exists()


def test_usage_errors():
    p = _broker_run()
    assert p.returncode == 2 and "no command given" in p.stderr
    p = _broker_run("--", "/nonexistent/command-xyz")
    assert p.returncode == 127 and "command not found" in p.stderr
