"""Out-of-process clients the tests drive: the AWS CLI (v1, from the venv) and the
Node scripts in tests/node (aws-sdk-js v3, mqtt.js, ...; CI runs `npm ci` there).
A test skips, saying why, only when the client itself is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
_AWS = Path(sys.executable).with_name("aws")


def without_aws_env(**extra: str) -> dict:
    """This process's environment minus every AWS_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


def aws_cli(url: str, home: Path, *prefix: str, timeout: float = 60):
    """`run(*args, check=True) -> CompletedProcess` running `aws *prefix *args` against
    `url` with the dummy keys, JSON output and a config of its own under `home`."""
    exe = str(_AWS) if _AWS.exists() else shutil.which("aws")
    if not exe:
        pytest.skip("aws CLI not installed")
    env = without_aws_env(AWS_ACCESS_KEY_ID=DUMMY_KEY, AWS_SECRET_ACCESS_KEY=DUMMY_SECRET,
                          AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(home / "config"),
                          AWS_SHARED_CREDENTIALS_FILE=str(home / "creds"), AWS_MAX_ATTEMPTS="1", AWS_PAGER="")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run([exe, *prefix, *args, "--endpoint-url", url, "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"aws {' '.join((*prefix, *args))} failed: {p.stderr}")
        return p
    return run


def node_exe(*packages: str) -> str:
    """The node executable, once each of `packages` (under node_modules) is installed."""
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed")
    for pkg in packages:
        if not (NODE_DIR / "node_modules" / pkg).is_dir():
            pytest.skip("tests/node/node_modules missing: run `npm ci` in tests/node")
    return exe


def run_node(script: str, env: dict, *packages: str, timeout: float = 120) -> dict:
    """Run tests/node/`script` (which prints what it saw as JSON on its last line)."""
    p = subprocess.run([node_exe(*packages), str(NODE_DIR / script)], cwd=NODE_DIR, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr + p.stdout
    return json.loads(p.stdout.strip().splitlines()[-1])
