"""TLS material: configured certificates, or a local CA generated at first start.

ARCHITECTURE.md ("Front-ends"): listeners use configured certificates, or a
local CA generated at first start whose certificate clients can trust.

Generated layout, under ``<data_dir>/tls/`` (directory mode 0700)::

    ca.pem           local CA certificate (what clients trust; `broker ca-cert`)
    ca-key.pem       CA private key (0600)
    server.pem       server certificate followed by the CA certificate (chain)
    server-key.pem   server private key (0600)

The CA is created once and kept. The server certificate is re-issued from
the same CA when the configured names are not all among its SANs, when it
expires within 30 days, or when it or its key is missing, unreadable or no
longer matches; clients that trust ``ca.pem`` keep working.

Every file is written atomically (temp file with its final mode, fsync,
rename), so a crash never leaves a half-written key. Generation is guarded
by a file lock so concurrent starts against one data directory do not race.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import ipaddress
import logging
import os
import secrets
import ssl
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def _import_crypto() -> None:
    """cryptography's X.509 and key code (68 modules, about 4 MB) for the functions below
    ``ensure_tls_material``, imported by it: only the supervisor's short-lived TLS-check
    child runs them, and this module is preloaded into every process (a listener's
    context needs only ``ssl``)."""
    global x509, InvalidSignature, UnsupportedAlgorithm, hashes, serialization, ec, rsa
    global ExtendedKeyUsageOID, NameOID
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"
_LOCK = ".lock"

CA_VALIDITY = _dt.timedelta(days=3650)
SERVER_VALIDITY = _dt.timedelta(days=825)
RENEW_BEFORE = _dt.timedelta(days=30)
_BACKDATE = _dt.timedelta(hours=1)  # tolerate small clock skew between hosts

# Always present in a generated server certificate.
DEFAULT_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


class TlsConfigError(ValueError):
    """Configured or stored TLS material is unusable; the message says why and what to do."""


@dataclass(frozen=True)
class TlsMaterial:
    """PEM files a listener needs. ``cert`` may hold a chain (leaf first)."""

    ca_cert: Path
    cert: Path
    key: Path


# --------------------------------------------------------------------------- public API


def ensure_tls_material(
    data_dir: Path,
    names: Iterable[str] = (),
    cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> TlsMaterial:
    """Return the TLS material to serve with, generating or renewing it if needed.

    With ``cert_file`` and ``key_file`` (configured), they are used as they
    are after checking that they exist and load together; ``ca_cert`` is then
    ``cert_file``. Otherwise a local CA and a server certificate live under
    ``<data_dir>/tls/`` (see the module docstring). ``names`` are extra host
    names / IP addresses the server certificate must cover.
    """
    if cert_file is not None or key_file is not None:
        return _configured_material(cert_file, key_file)

    _import_crypto()
    wanted = _parse_names([*DEFAULT_NAMES, *names])
    tls_dir = Path(data_dir) / TLS_DIR
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    material = TlsMaterial(
        ca_cert=tls_dir / CA_CERT, cert=tls_dir / SERVER_CERT, key=tls_dir / SERVER_KEY
    )
    with _locked(tls_dir / _LOCK):
        ca_cert, ca_key = _ensure_ca(tls_dir)
        reason = _server_needs_issue(material, ca_cert, wanted)
        if reason is not None:
            _issue_server(tls_dir, ca_cert, ca_key, wanted)
            log.info(
                "event=tls_server_cert_issued reason=%s dir=%s sans=%s",
                reason, tls_dir, ",".join(_san_text(n) for n in wanted),
            )
    return material


def server_ssl_context(material: TlsMaterial, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A server-side context (TLS 1.2+) presenting ``material``'s certificate chain."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(certfile=str(material.cert), keyfile=str(material.key))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def ca_pem(data_dir: Path) -> str:
    """The generated CA certificate (PEM text), for ``broker ca-cert``."""
    path = Path(data_dir) / TLS_DIR / CA_CERT
    try:
        return path.read_text("ascii")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no local CA certificate at {path}: it is generated the first time "
            f"the broker starts with data directory {data_dir} and no configured "
            "TLS certificate (run `broker serve` once), or this server uses "
            "configured certificates, whose CA you already have"
        ) from None


# --------------------------------------------------------------------------- configured


def _configured_material(cert_file, key_file) -> TlsMaterial:
    if cert_file is None or key_file is None:
        raise TlsConfigError(
            "TLS certificate and key must be configured together "
            f"(cert_file={cert_file!r}, key_file={key_file!r})"
        )
    cert, key = Path(cert_file), Path(key_file)
    for what, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise TlsConfigError(f"configured TLS {what} file {path} does not exist or is not a file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(
            f"configured TLS certificate {cert} and key {key} do not load together: {exc}"
        ) from None
    return TlsMaterial(ca_cert=cert, cert=cert, key=key)


# --------------------------------------------------------------------------- names


def _parse_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses as SAN entries, de-duplicated, order kept."""
    out: list[x509.GeneralName] = []
    seen: set[tuple[str, str]] = set()
    for raw in names:
        if not isinstance(raw, str):
            raise TlsConfigError(f"TLS name {raw!r} is not a string")
        text = raw.strip()
        if text.startswith("[") and text.endswith("]"):  # bracketed IPv6
            text = text[1:-1]
        if not text:
            continue
        try:
            gn: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(text))
        except ValueError:
            text = text.rstrip(".").lower()
            try:
                text.encode("ascii")
            except UnicodeEncodeError:
                text = text.encode("idna").decode("ascii")
            gn = x509.DNSName(text)
        k = _san_key(gn)
        if k not in seen:
            seen.add(k)
            out.append(gn)
    return out


def _san_key(gn: x509.GeneralName) -> tuple[str, str]:
    if isinstance(gn, x509.IPAddress):
        return ("ip", str(gn.value))
    if isinstance(gn, x509.DNSName):
        return ("dns", gn.value.lower())
    return ("other", repr(gn))


def _san_text(gn: x509.GeneralName) -> str:
    kind, value = _san_key(gn)
    return f"{kind.upper()}:{value}"


# --------------------------------------------------------------------------- CA


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _ensure_ca(tls_dir: Path):
    cert_path, key_path = tls_dir / CA_CERT, tls_dir / CA_KEY
    if not cert_path.exists() and not key_path.exists():
        return _generate_ca(tls_dir)
    if not cert_path.exists() or not key_path.exists():
        missing = cert_path if not cert_path.exists() else key_path
        raise TlsConfigError(
            f"incomplete local CA in {tls_dir}: {missing} is missing. Restore it, or "
            f"remove {tls_dir} to generate a new CA (clients must then trust the new ca.pem)"
        )
    try:
        ca_cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TlsConfigError(
            f"unreadable local CA in {tls_dir} ({exc}). Remove {tls_dir} to generate a new CA"
        ) from None
    if not _same_public_key(ca_cert, ca_key):
        raise TlsConfigError(
            f"{cert_path} and {key_path} do not belong together. Remove {tls_dir} to generate a new CA"
        )
    if ca_cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        log.warning(
            "event=tls_ca_expiring dir=%s not_after=%s action=generate_new_ca "
            "note=clients_must_trust_the_new_ca.pem",
            tls_dir, ca_cert.not_valid_after_utc.isoformat(),
        )
        return _generate_ca(tls_dir)
    return ca_cert, ca_key


def _generate_ca(tls_dir: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"Broker Local CA {secrets.token_hex(4)}"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Broker"),
    ])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    # Key first: a crash in between leaves "key without cert", which is reported
    # rather than silently replaced, never a cert whose key is lost.
    _atomic_write(tls_dir / CA_KEY, _key_pem(key), 0o600)
    _atomic_write(tls_dir / CA_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info(
        "event=tls_ca_generated dir=%s subject=%s not_after=%s",
        tls_dir, cert.subject.rfc4514_string(), cert.not_valid_after_utc.isoformat(),
    )
    return cert, key


# --------------------------------------------------------------------------- server cert


def _server_needs_issue(material: TlsMaterial, ca_cert: x509.Certificate, wanted) -> str | None:
    """Why the server certificate must be (re)issued, or None if it is fine."""
    if not material.cert.exists() or not material.key.exists():
        return "missing"
    try:
        chain = x509.load_pem_x509_certificates(material.cert.read_bytes())
        key = serialization.load_pem_private_key(material.key.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "unreadable"
    leaf = chain[0]
    if not _same_public_key(leaf, key):
        return "key_mismatch"
    try:
        leaf.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "other_issuer"
    if leaf.not_valid_after_utc - _now() < RENEW_BEFORE:
        return "expiring"
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "names"
    have = {_san_key(gn) for gn in sans}
    if any(_san_key(gn) not in have for gn in wanted):
        return "names"
    return None


def _issue_server(tls_dir: Path, ca_cert: x509.Certificate, ca_key, wanted) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + SERVER_VALIDITY, ca_cert.not_valid_after_utc)
    first_dns = next((gn.value for gn in wanted if isinstance(gn, x509.DNSName)), "localhost")
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, first_dns[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Broker"),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=is_rsa,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(list(wanted)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    # Key then cert. A crash in between leaves a mismatched pair, which the
    # next start detects ("key_mismatch") and repairs by issuing again.
    _atomic_write(tls_dir / SERVER_KEY, _key_pem(key), 0o600)
    _atomic_write(tls_dir / SERVER_CERT, chain, 0o644)


# --------------------------------------------------------------------------- files


def _same_public_key(cert: x509.Certificate, key) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` via a temp file that has ``mode`` from creation on."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # mkstemp creates 0600; widen only for public files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _locked(path: Path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
