"""endpoints.json, TLS on the sniffed port, and the admin API, on the shared server."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import urllib.parse

from cryptography import x509

from broker import __version__


def test_endpoints_json_lists_http_and_https_on_one_port(server):
    eps = json.loads((server.data_dir / "endpoints.json").read_text())
    assert eps == server.endpoints
    assert {"http", "https"} <= set(eps)
    http, https = urllib.parse.urlsplit(eps["http"]), urllib.parse.urlsplit(eps["https"])
    assert http.scheme == "http" and https.scheme == "https"
    assert http.hostname == https.hostname == "127.0.0.1"
    assert http.port == https.port, "TLS is sniffed on the HTTP port"
    for name, url in eps.items():
        assert urllib.parse.urlsplit(url).port, f"{name}: {url} has no port"


def test_every_endpoint_answers(server):
    for name, url in server.endpoints.items():
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme in ("http", "https"):
            status, doc = server.get("/_broker/health", https=(scheme == "https"))
            assert status == 200 and doc["status"] == "ok", (name, doc)
        else:  # other listeners (amqp, mqtt, smtp, ...) as they appear: at least accept TCP
            u = urllib.parse.urlsplit(url)
            socket.create_connection((u.hostname, u.port), timeout=5).close()


def test_https_verifies_with_the_ca_and_names_localhost(server):
    port = urllib.parse.urlsplit(server.https_url).port
    ctx = ssl.create_default_context(cafile=server.ca_cert)
    for host in ("localhost", "127.0.0.1"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:   # hostname checked
                der = tls.getpeercert(binary_form=True)
                tls.sendall(b"GET /_broker/info HTTP/1.1\r\nHost: " + host.encode() +
                            b"\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)


def test_https_rejects_an_untrusted_client_view(server):
    """Without the CA the certificate does not verify (it is not a public one)."""
    port = urllib.parse.urlsplit(server.https_url).port
    ctx = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            ctx.wrap_socket(raw, server_hostname="localhost")
        except ssl.SSLCertVerificationError:
            pass
        else:  # pragma: no cover
            raise AssertionError("server certificate verified without the broker CA")


def test_boto3_over_http_and_https(server, unique_name):
    for https in (False, True):
        sts = server.client("sts", https=https)
        ident = sts.get_caller_identity()
        assert ident["Account"] == "000000000000"
        kms = server.client("kms", https=https)
        key = kms.create_key(Description=f"{unique_name}-{https}")["KeyMetadata"]
        assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Description"] == f"{unique_name}-{https}"


def test_health_lists_every_process_running(server):
    status, doc = server.get("/_broker/health")
    assert status == 200 and doc["status"] == "ok"
    procs = doc["processes"]
    roles = sorted((p["role"], p["index"]) for p in procs)
    assert roles == [("gateway", 0), ("shard", 0), ("shard", 1), ("supervisor", 0)]
    for p in procs:
        assert p["state"] == "running", p
        assert isinstance(p["pid"], int) and p["pid"] > 0
    assert [s["status"] for s in doc["shards"]] == ["ok", "ok"]
    owned = sorted(p for s in doc["shards"] for p in s["partitions"])
    assert owned == list(range(16)), "every partition owned by exactly one shard"
    for s in doc["shards"]:
        assert all(p % 2 == s["index"] for p in s["partitions"])
    assert doc["gateway"]["pid"] in server.pids("gateway")
    assert server.pids("supervisor") == [server.pid]


def test_info(server):
    info = server.info()
    assert info["version"] == __version__
    assert info["endpoints"] == server.endpoints
    assert info["partitions"] == 16 and info["shards"] == 2 and info["workers"] == 1
    assert info["durability"] == "process"
    assert info["data_dir"] == str(server.data_dir.resolve())
    assert {"kms", "sts"} <= set(info["services"])


def test_unknown_admin_path_is_404_json(server):
    status, doc = server.get("/_broker/nope")
    assert status == 404 and "error" in doc


def _resolve(doc, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _walk_refs(doc, node, path="$"):
    if isinstance(node, dict):
        if "$ref" in node:
            _resolve(doc, node["$ref"])   # KeyError if dangling
        for k, v in node.items():
            _walk_refs(doc, v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk_refs(doc, v, f"{path}[{i}]")


def test_openapi_document_is_valid_openapi_3(server):
    status, doc = server.get("/_broker/openapi.json")
    assert status == 200
    try:  # full validation when the validator is installed; structural check always
        from openapi_spec_validator import validate
    except ImportError:
        validate = None
    if validate is not None:
        validate(doc)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"] == __version__
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    for path in ("/_broker/health", "/_broker/info", "/_broker/reset", "/_broker/openapi.json"):
        assert path in doc["paths"], path
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        assert item and set(item) <= methods | {"summary", "description", "parameters"}, path
        for method, op in item.items():
            if method not in methods:
                continue
            assert op["responses"], f"{method} {path}: no responses"
            for code, resp in op["responses"].items():
                assert code == "default" or (code.isdigit() and len(code) == 3), code
                assert "description" in resp, f"{method} {path} {code}: description is required"
    _walk_refs(doc, doc)
    # the documented paths answer as documented
    assert server.get("/_broker/info")[0] == 200
    assert server.get("/_broker/health")[0] == 200


def test_optional_https_only_listener(tmp_path):
    """listeners.https_port: a TLS-only port next to the sniffed one (off by default)."""
    import http.client

    from tests.helpers.brokerproc import BrokerProcess
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", "--https-port", "1") as b:
        url = urllib.parse.urlsplit(b.endpoints["https_only"])
        assert url.scheme == "https" and url.port != urllib.parse.urlsplit(b.url).port
        ctx = ssl.create_default_context(cafile=b.ca_cert)
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=5)
        conn.request("GET", "/_broker/health")
        assert json.loads(conn.getresponse().read())["status"] == "ok"
        conn.close()
        plain = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        try:
            plain.request("GET", "/_broker/health")
            status = plain.getresponse().status
        except (http.client.HTTPException, OSError):
            status = None
        assert status is None or status >= 400     # no plain HTTP on the TLS-only port
