"""The supervisor checks (and issues) its TLS material in a short-lived child of its
own, so it never holds the X.509 code's pages: a bad configuration is still
reported as it was, and a new name still re-issues the certificate served."""

from __future__ import annotations

import ssl
import subprocess

from tests.helpers.brokerproc import BrokerProcess, broker_cmd, server_env


def test_unusable_configured_tls_files_are_reported_and_the_server_exits(tmp_path):
    env = server_env({"BROKER_TLS_CERT_FILE": str(tmp_path / "missing.pem"),
                      "BROKER_TLS_KEY_FILE": str(tmp_path / "missing-key.pem")})
    out = subprocess.run(broker_cmd("serve", "--data-dir", str(tmp_path / "data"), "--free-ports"),
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "broker: " in out.stderr and "missing.pem" in out.stderr and "does not exist" in out.stderr


def _served_names(url: str, ca: str) -> set[str]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca)
    import socket
    with socket.create_connection((host.strip("[]"), int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            cert = tls.getpeercert()
    return {v for k, v in cert.get("subjectAltName", ()) if k == "DNS"}


def test_a_new_name_reissues_the_certificate_the_gateway_serves(tmp_path):
    data = tmp_path / "data"
    with BrokerProcess(data, "--workers", "1", "--shards", "1") as b:
        assert "extra.example" not in _served_names(b.https_url, b.ca_cert)
    with BrokerProcess(data, "--workers", "1", "--shards", "1",
                       env={"BROKER_TLS_NAMES": "extra.example"}) as b:
        assert "extra.example" in _served_names(b.https_url, b.ca_cert)
