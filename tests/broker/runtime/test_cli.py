"""The `broker` command line: version, help, config errors (exit 2, key named), ca-cert."""

from __future__ import annotations

import subprocess

import pytest

from broker import __version__
from broker.cli import SERVE_FLAGS
from broker.cli import schema

SCHEMA = schema()
from tests.helpers.brokerproc import BrokerProcess, broker_cmd, server_env


def run(*args: str, env: dict | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(broker_cmd(*args), capture_output=True, text=True, env=server_env(env),
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"broker {__version__}"


def test_serve_help_documents_every_flag_and_key():
    r = run("serve", "--help")
    assert r.returncode == 0, r.stderr
    for flag, _key, _typ, _help in SERVE_FLAGS:
        assert flag in r.stdout, f"{flag} missing from serve --help"
    for flag in ("--config", "--free-ports"):
        assert flag in r.stdout
    for key in SCHEMA:
        assert key.dotted in r.stdout, f"config key {key.dotted} missing from serve --help"
        assert key.env in r.stdout, f"env var {key.env} missing from serve --help"


@pytest.mark.parametrize("toml,needle", [
    ("[server]\nworkerz = 2\n", "server.workerz"),
    ("[nosuch]\nthing = 1\n", "nosuch.thing"),
    ("[server]\nworkers = \"two\"\n", "server.workers"),
    ("[store]\ndurability = \"sometimes\"\n", "store.durability"),
    ("[listeners]\nfree_ports = 3\n", "listeners.free_ports"),
    ("[aws]\ncredentials = [{access_key = \"a\", secret_key = \"b\", colour = \"red\"}]\n", "colour"),
])
def test_bad_config_file_exits_2_naming_the_key(tmp_path, toml, needle):
    cfg = tmp_path / "broker.toml"
    cfg.write_text(toml)
    r = run("serve", "--data-dir", str(tmp_path / "d"), "--free-ports", "--config", str(cfg))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists(), "a config error must fail before touching the data dir"


@pytest.mark.parametrize("env,needle", [
    ({"BROKER_SERVER_WORKERZ": "2"}, "BROKER_SERVER_WORKERZ"),
    ({"BROKER_SERVER_WORKERS": "many"}, "server.workers"),
    ({"BROKER_STORE_DURABILITY": "eventually"}, "store.durability"),
])
def test_bad_environment_exits_2_naming_the_key(tmp_path, env, needle):
    r = run("serve", "--data-dir", str(tmp_path / "d"), "--free-ports", env=env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["--no-such-flag"], "--no-such-flag"),
    (["--workers", "two"], "--workers"),
    (["--durability", "maybe"], "store.durability"),
])
def test_bad_flag_exits_2_naming_it(tmp_path, args, needle):
    r = run("serve", "--data-dir", str(tmp_path / "d"), "--free-ports", *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_config_file_exits_2(tmp_path):
    r = run("serve", "--data-dir", str(tmp_path / "d"), "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2
    assert "nope.toml" in r.stderr


def test_ca_cert_prints_pem_of_the_data_dir(tmp_path):
    data = tmp_path / "d"
    r = run("ca-cert", "--data-dir", str(data))
    assert r.returncode == 1 and "Traceback" not in r.stderr, "no CA yet: clear error, exit 1"
    with BrokerProcess(data, "--workers", "1", "--shards", "1") as b:
        r = run("ca-cert", "--data-dir", str(data))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("-----BEGIN CERTIFICATE-----")
        assert r.stdout.strip().endswith("-----END CERTIFICATE-----")
        assert r.stdout == (data / "tls" / "ca.pem").read_text()
        from cryptography import x509
        cert = x509.load_pem_x509_certificate(r.stdout.encode())
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert b.stop()[0] == 0
