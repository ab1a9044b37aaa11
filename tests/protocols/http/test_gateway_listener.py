"""AWS gateway listener through the real server: plain HTTP and TLS on one port,
keep-alive, chunked request bodies, pipelining, size limits."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
from urllib.parse import urlsplit

import pytest

from protocols.http.server import MAX_BODY

STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _hostport(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    return u.hostname, u.port


def _conn(server, https=False, timeout=10) -> http.client.HTTPConnection:
    host, port = _hostport(server.url)
    if https:
        ctx = ssl.create_default_context(cafile=server.ca_cert)
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def test_default_http_port_is_4566():
    from broker.runtime.config import KEYS
    assert KEYS["listeners.http_port"].default == 4566


def test_plain_and_tls_on_same_port(server):
    assert _hostport(server.url) == _hostport(server.https_url)
    plain = server.client("sts").get_caller_identity()
    tls = server.client("sts", https=True).get_caller_identity()
    assert plain["Account"] == tls["Account"] == "000000000000"
    # TLS really is TLS with the generated CA, and HTTP/1.1 inside it.
    host, port = _hostport(server.url)
    ctx = ssl.create_default_context(cafile=server.ca_cert)
    with socket.create_connection((host, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            s.sendall(b"GET /_broker/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")


def test_tls_with_untrusted_ca_fails_cleanly_and_server_stays_up(server):
    host, port = _hostport(server.url)
    ctx = ssl.create_default_context()  # system CAs: our local CA is not among them
    with socket.create_connection((host, port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert server.health()["status"] == "ok"


@pytest.mark.parametrize("https", [False, True])
def test_keep_alive_many_requests_one_connection(server, https):
    conn = _conn(server, https)
    try:
        conn.connect()
        sock = conn.sock
        for i in range(5):
            conn.request("POST", "/", body=STS_BODY, headers=FORM)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, body
            assert b"<Account>000000000000</Account>" in body
            assert r.getheader("Connection") != "close"
            assert conn.sock is sock, "server closed a keep-alive connection"
        conn.request("GET", "/_broker/health")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        assert conn.sock is sock
    finally:
        conn.close()


def test_connection_close_is_honoured(server):
    conn = _conn(server)
    conn.request("POST", "/", body=STS_BODY, headers={**FORM, "Connection": "close"})
    r = conn.getresponse()
    assert r.status == 200
    r.read()
    assert r.getheader("Connection") == "close"
    conn.close()


def test_chunked_request_body(server):
    conn = _conn(server)
    try:
        def parts():
            yield b"Action=GetCaller"
            yield b"Identity&Version="
            yield b"2011-06-15"
        conn.request("POST", "/", body=parts(), headers={**FORM, "Transfer-Encoding": "chunked"},
                     encode_chunked=True)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
        assert b"<GetCallerIdentityResult>" in body
        # and the connection is still usable after a chunked request
        conn.request("POST", "/", body=STS_BODY, headers=FORM)
        r = conn.getresponse()
        assert r.status == 200 and b"<Account>" in r.read()
    finally:
        conn.close()


def test_chunked_json_body_kms(server):
    conn = _conn(server)
    try:
        payload = json.dumps({"Limit": 5}).encode()
        conn.request("POST", "/", body=iter([payload[:3], payload[3:]]), encode_chunked=True,
                     headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys",
                              "Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
        assert "Keys" in json.loads(body)
    finally:
        conn.close()


def test_pipelined_requests_answered_in_order(server):
    host, port = _hostport(server.url)
    req = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(STS_BODY), STS_BODY))
    health = b"GET /_broker/health HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /_broker/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(req * 3 + health + last)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 5
    first_health = data.index(b'"processes"')
    assert data.rfind(b"GetCallerIdentityResponse") < first_health < data.index(b'"openapi"')


def test_oversized_body_gets_413_and_server_stays_healthy(server):
    conn = _conn(server, timeout=30)
    try:
        # Declared too large: rejected from the headers alone.
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", "application/x-amz-json-1.1")
        conn.putheader("X-Amz-Target", "TrentService.ListKeys")
        conn.putheader("Content-Length", str(MAX_BODY + 1))
        conn.endheaders()
        r = conn.getresponse()
        assert r.status == 413
        r.read()
    finally:
        conn.close()
    # Chunked past the limit: rejected while streaming.
    conn = _conn(server, timeout=30)
    block = b"x" * (1024 * 1024)
    try:
        def body():
            for _ in range(MAX_BODY // len(block) + 2):
                yield block
        try:
            conn.request("POST", "/", body=body(), encode_chunked=True,
                         headers={**FORM, "Transfer-Encoding": "chunked"})
        except (BrokenPipeError, ConnectionResetError):
            pass  # server answered and closed mid-upload; the answer is still readable
        r = conn.getresponse()
        assert r.status == 413
    finally:
        conn.close()
    assert server.health()["status"] == "ok"
    assert server.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_malformed_request_gets_400_not_a_crash(server):
    host, port = _hostport(server.url)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert server.health()["status"] == "ok"


def test_expect_100_continue(server):
    host, port = _hostport(server.url)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(STS_BODY))
        interim = s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        s.sendall(STS_BODY)
        data = b""
        while b"</GetCallerIdentityResponse>" not in data:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    assert b"HTTP/1.1 200 OK" in data


def test_bad_request_after_pipelined_good_one_is_answered_in_order(server):
    """A malformed request behind a valid one: the valid one's response comes
    first, then 400, then close (a client must never read the 400 as the answer
    to its earlier request)."""
    host, port = _hostport(server.url)
    body = b'{"Limit": 5}'
    good = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: TrentService.ListKeys\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(good + good + b"garbage that is not HTTP\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"200", b"400"], data[:500]
    assert server.health()["status"] == "ok"
