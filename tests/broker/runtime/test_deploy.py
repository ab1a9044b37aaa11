"""deploy/: the example config matches the schema; the systemd unit verifies."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from broker.cli import schema
from broker.runtime.config import load

SCHEMA = schema()

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_example_config_lists_exactly_the_schema_keys_with_defaults():
    doc = tomllib.loads((DEPLOY / "broker.toml").read_text())
    listed = {f"{section}.{name}": value for section, table in doc.items() for name, value in table.items()}
    schema = {k.dotted: k.default for k in SCHEMA}
    assert set(listed) == set(schema), (
        f"missing: {sorted(set(schema) - set(listed))}, unknown: {sorted(set(listed) - set(schema))}")
    for key, default in schema.items():
        assert listed[key] == default and type(listed[key]) is type(default), \
            f"{key}: example says {listed[key]!r}, default is {default!r}"


def test_example_config_documents_every_key():
    text = (DEPLOY / "broker.toml").read_text()
    for k in SCHEMA:
        assert k.env in text, f"{k.env} not mentioned"
        assert k.help.split()[0] in text


def test_example_config_loads():
    cfg = load(str(DEPLOY / "broker.toml"), env={}, schema=SCHEMA)
    assert cfg.to_dict() == load(None, env={}, schema=SCHEMA).to_dict()


def test_unit_has_the_required_settings():
    text = (DEPLOY / "broker.service").read_text()
    lines = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    for want in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30", "StateDirectory=broker",
                 "ConfigurationDirectory=broker", "DynamicUser=yes", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes", "PrivateDevices=yes",
                 "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RestrictNamespaces=yes",
                 "LockPersonality=yes", "SystemCallArchitectures=native", "CapabilityBoundingSet=",
                 "KillSignal=SIGTERM", "TimeoutStopSec=15", "Restart=on-failure",
                 "LoadCredential=master-key:/etc/broker/master.key"):
        assert want in lines, want
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    assert exec_start.startswith("ExecStart=/usr/local/bin/broker serve --config ")


def test_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    # verify checks that ExecStart's binary exists: point it at this venv's entry point
    broker = Path(sys.executable).with_name("broker")
    if not broker.exists():
        pytest.skip(f"no broker entry point next to {sys.executable}")
    unit = tmp_path / "broker.service"
    unit.write_text((DEPLOY / "broker.service").read_text().replace("/usr/local/bin/broker", str(broker)))
    r = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    problems = [line for line in out.splitlines() if "broker.service" in line]
    assert not problems, out
