"""TLS material: generated local CA + server certificate, or configured files."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.runtime.tls import TlsConfigError, TlsMaterial, ca_pem, ensure_tls_material, server_ssl_context


# --------------------------------------------------------------------------- helpers


def _leaf(material: TlsMaterial) -> x509.Certificate:
    return x509.load_pem_x509_certificates(material.cert.read_bytes())[0]


def _ca(material: TlsMaterial) -> x509.Certificate:
    return x509.load_pem_x509_certificate(material.ca_cert.read_bytes())


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(ext.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)},
    )


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str,
               family: int = socket.AF_INET, host: str = "127.0.0.1") -> tuple[bytes, str | None]:
    """Real TLS handshake over loopback; returns (bytes echoed back, negotiated ALPN)."""
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(1)
    listener.settimeout(10)
    server_error: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                with server_ctx.wrap_socket(conn, server_side=True) as tconn:
                    tconn.sendall(tconn.recv(64)[::-1])
        except BaseException as exc:  # reported to the test below if it matters
            server_error.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname()[:2], timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tconn:
                tconn.sendall(b"ping")
                got = tconn.recv(64)
                alpn = tconn.selected_alpn_protocol()
    finally:
        thread.join(10)
        listener.close()
    return got, alpn


def _client_ctx(material: TlsMaterial) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(material.ca_cert))
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


# --------------------------------------------------------------------------- generated CA


def test_generated_ca_verifies_server_over_real_handshake(tmp_path):
    material = ensure_tls_material(tmp_path)
    server_ctx = server_ssl_context(material)
    for hostname in ("localhost", "127.0.0.1"):
        assert _handshake(server_ctx, _client_ctx(material), hostname) == (b"gnip", None)


def test_handshake_over_ipv6_loopback(tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    material = ensure_tls_material(tmp_path)
    got, _ = _handshake(server_ssl_context(material), _client_ctx(material), "::1",
                        family=socket.AF_INET6, host="::1")
    assert got == b"gnip"


def test_wrong_hostname_and_untrusted_ca_are_rejected(tmp_path):
    material = ensure_tls_material(tmp_path / "a")
    other = ensure_tls_material(tmp_path / "b")
    server_ctx = server_ssl_context(material)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server_ctx, _client_ctx(material), "not-configured.example")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server_ctx, _client_ctx(other), "localhost")


def test_alpn_and_minimum_version(tmp_path):
    material = ensure_tls_material(tmp_path)
    server_ctx = server_ssl_context(material, alpn=["amqp", "http/1.1"])
    assert server_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    client = _client_ctx(material)
    client.set_alpn_protocols(["http/1.1"])
    assert _handshake(server_ctx, client, "localhost") == (b"gnip", "http/1.1")

    tls12 = _client_ctx(material)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _handshake(server_ctx, tls12, "localhost")[0] == b"gnip"


def test_certificate_contents(tmp_path):
    material = ensure_tls_material(tmp_path, names=["broker.internal", "10.0.0.7", "[fd00::5]", "Mixed.Example."])
    ca, leaf = _ca(material), _leaf(material)

    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn.startswith("Broker Local CA ") and len(cn) > len("Broker Local CA ")
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(days=3650)

    leaf.verify_directly_issued_by(ca)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    dns, ips = _sans(leaf)
    assert dns == {"localhost", "broker.internal", "mixed.example"}
    assert ips == {"127.0.0.1", "::1", "10.0.0.7", "fd00::5"}
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert dt.timedelta(days=824) < lifetime <= dt.timedelta(days=826)

    # server.pem is the chain: server certificate, then the CA.
    chain = x509.load_pem_x509_certificates(material.cert.read_bytes())
    assert [c.subject for c in chain] == [leaf.subject, ca.subject]


def test_configured_names_work_in_handshake(tmp_path):
    material = ensure_tls_material(tmp_path, names=["broker.internal"])
    assert _handshake(server_ssl_context(material), _client_ctx(material), "broker.internal")[0] == b"gnip"


def test_file_modes(tmp_path):
    material = ensure_tls_material(tmp_path)
    tls_dir = tmp_path / "tls"
    assert _mode(tls_dir) == 0o700
    assert _mode(tls_dir / "ca-key.pem") == 0o600
    assert _mode(material.key) == 0o600
    assert material == TlsMaterial(tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server-key.pem")
    # no temp files left behind
    assert sorted(p.name for p in tls_dir.iterdir() if not p.name.startswith(".lock")) == [
        "ca-key.pem", "ca.pem", "server-key.pem", "server.pem"]
    # a loosened directory mode is tightened again on the next start
    os.chmod(tls_dir, 0o755)
    ensure_tls_material(tmp_path)
    assert _mode(tls_dir) == 0o700


def test_second_start_reuses_everything(tmp_path):
    first = ensure_tls_material(tmp_path, names=["a.example"])
    before = {p: p.read_bytes() for p in (first.ca_cert, first.cert, first.key, tmp_path / "tls" / "ca-key.pem")}
    second = ensure_tls_material(tmp_path, names=["a.example"])
    assert second == first
    assert {p: p.read_bytes() for p in before} == before
    # a subset of the names already covered also reuses
    ensure_tls_material(tmp_path)
    assert {p: p.read_bytes() for p in before} == before


def test_new_name_reissues_server_cert_from_same_ca(tmp_path):
    first = ensure_tls_material(tmp_path, names=["a.example"])
    ca_before = first.ca_cert.read_bytes()
    ca_key_before = (tmp_path / "tls" / "ca-key.pem").read_bytes()
    leaf_before = _leaf(first)

    second = ensure_tls_material(tmp_path, names=["a.example", "b.example", "192.0.2.1"])
    assert second.ca_cert.read_bytes() == ca_before
    assert (tmp_path / "tls" / "ca-key.pem").read_bytes() == ca_key_before
    leaf = _leaf(second)
    assert leaf.serial_number != leaf_before.serial_number
    dns, ips = _sans(leaf)
    assert {"a.example", "b.example", "localhost"} <= dns and "192.0.2.1" in ips
    assert _mode(second.key) == 0o600
    # a client that trusted the CA from the first start still connects
    client = ssl.create_default_context(cadata=ca_before.decode())
    assert _handshake(server_ssl_context(second), client, "b.example")[0] == b"gnip"


def test_expiring_server_cert_is_reissued(tmp_path):
    material = ensure_tls_material(tmp_path)
    ca = _ca(material)
    ca_key = serialization.load_pem_private_key((tmp_path / "tls" / "ca-key.pem").read_bytes(), None)
    key = serialization.load_pem_private_key(material.key.read_bytes(), None)
    old = _leaf(material)
    now = dt.datetime.now(dt.timezone.utc)
    # Replace the server cert with one (same key, same SANs) that expires in 10 days.
    builder = (
        x509.CertificateBuilder().subject_name(old.subject).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=800)).not_valid_after(now + dt.timedelta(days=10))
    )
    for ext in old.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    short = builder.sign(ca_key, hashes.SHA256())
    material.cert.write_bytes(short.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))

    again = ensure_tls_material(tmp_path)
    leaf = _leaf(again)
    assert leaf.serial_number != short.serial_number
    assert leaf.not_valid_after_utc - now > dt.timedelta(days=800)
    assert again.ca_cert.read_bytes() == ca.public_bytes(serialization.Encoding.PEM)


def test_mismatched_or_missing_server_files_are_repaired(tmp_path):
    material = ensure_tls_material(tmp_path)
    ca_before = material.ca_cert.read_bytes()
    # key no longer matches the certificate (e.g. crash between writes)
    material.key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    again = ensure_tls_material(tmp_path)
    assert _handshake(server_ssl_context(again), _client_ctx(again), "localhost")[0] == b"gnip"
    material.cert.unlink()
    again = ensure_tls_material(tmp_path)
    assert again.cert.exists() and again.ca_cert.read_bytes() == ca_before


def test_missing_ca_key_is_reported_not_silently_replaced(tmp_path):
    material = ensure_tls_material(tmp_path)
    (tmp_path / "tls" / "ca-key.pem").unlink()
    with pytest.raises(TlsConfigError, match="ca-key.pem"):
        ensure_tls_material(tmp_path)
    assert material.ca_cert.exists()


def test_ca_pem(tmp_path):
    with pytest.raises(FileNotFoundError, match="generated the first time"):
        ca_pem(tmp_path)
    material = ensure_tls_material(tmp_path)
    text = ca_pem(tmp_path)
    assert text.startswith("-----BEGIN CERTIFICATE-----")
    assert text == material.ca_cert.read_text()


def test_concurrent_first_starts_agree(tmp_path):
    results: list[TlsMaterial] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(ensure_tls_material(tmp_path, names=["x.example"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 4
    material = results[0]
    _leaf(material).verify_directly_issued_by(_ca(material))
    assert _handshake(server_ssl_context(material), _client_ctx(material), "x.example")[0] == b"gnip"


# --------------------------------------------------------------------------- configured files


def _self_signed(tmp_path, name="configured.example"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "my.crt", tmp_path / "my.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def test_configured_cert_and_key_are_used_as_is(tmp_path):
    data_dir = tmp_path / "data"
    cert_path, key_path = _self_signed(tmp_path)
    material = ensure_tls_material(data_dir, names=["ignored.example"], cert_file=str(cert_path), key_file=key_path)
    assert material == TlsMaterial(ca_cert=cert_path, cert=cert_path, key=key_path)
    assert not (data_dir / "tls").exists()  # nothing generated
    got, _ = _handshake(server_ssl_context(material), _client_ctx(material), "configured.example")
    assert got == b"gnip"


def test_configured_files_are_validated(tmp_path):
    cert_path, key_path = _self_signed(tmp_path)
    with pytest.raises(TlsConfigError, match="together"):
        ensure_tls_material(tmp_path, cert_file=cert_path)
    with pytest.raises(TlsConfigError, match="does not exist"):
        ensure_tls_material(tmp_path, cert_file=cert_path, key_file=tmp_path / "nope.key")
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(TlsConfigError, match="do not load together"):
        ensure_tls_material(tmp_path, cert_file=cert_path, key_file=wrong_key)
