"""HTTP edges: 414/431 limits decided while bytes arrive, a header-read timeout
(slowloris), and 100 Continue never ahead of earlier pipelined responses."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from protocols.http import server as http_server
from protocols.http.codec import HttpResponse


def _hostport(url):
    u = urlsplit(url)
    return u.hostname, u.port


def _read_until_closed_or(sock, predicate, timeout=10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while not predicate(data) and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def test_oversized_url_is_414_without_reading_it_all(server):
    host, port = _hostport(server.url)
    with socket.create_connection((host, port)) as s:
        s.sendall(b"GET /?" + b"a" * (http_server.MAX_URL + 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        data = _read_until_closed_or(s, lambda d: b"\r\n\r\n" in d)
        assert _status(data) == 414
    # a 16 MiB URL: answered and closed long before the client could finish sending it
    with socket.create_connection((host, port)) as s:
        s.sendall(b"GET /?")
        s.settimeout(10)
        sent, answered = 0, b""
        chunk = b"a" * 65536
        try:
            while sent < 16 * 1024 * 1024:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        try:
            answered = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            answered = b""
        assert sent < 16 * 1024 * 1024 or answered.startswith(b"HTTP/1.1 414")
    assert server.health()["status"] == "ok"


def test_oversized_headers_are_431(server):
    host, port = _hostport(server.url)
    with socket.create_connection((host, port)) as s:
        big = b"X-Big: " + b"v" * (http_server.MAX_HEADERS_BYTES + 10) + b"\r\n"
        s.sendall(b"GET /_broker/health HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        data = _read_until_closed_or(s, lambda d: b"\r\n\r\n" in d)
        assert _status(data) == 431
    with socket.create_connection((host, port)) as s:   # many small headers add up too
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(800))
        s.sendall(b"GET /_broker/health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        data = _read_until_closed_or(s, lambda d: b"\r\n\r\n" in d)
        assert _status(data) == 431
    assert server.health()["status"] == "ok"


def test_100_continue_waits_for_earlier_pipelined_response(server, unique_name):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    host, port = _hostport(server.url)
    poll = json.dumps({"QueueUrl": url, "WaitTimeSeconds": 1}).encode()
    send = json.dumps({"QueueUrl": url, "MessageBody": "after continue"}).encode()

    def head(target, body_len, extra=b""):
        return (b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.0\r\n"
                b"X-Amz-Target: AmazonSQS.%s\r\nContent-Length: %d\r\n%s\r\n"
                % (host.encode(), target, body_len, extra))
    with socket.create_connection((host, port)) as s:
        # a 1 s long poll, then (pipelined) a request that waits for 100 Continue
        s.sendall(head(b"ReceiveMessage", len(poll)) + poll + head(b"SendMessage", len(send), b"Expect: 100-continue\r\n"))
        first = _read_until_closed_or(s, lambda d: b"100 Continue" in d, timeout=15)
        assert first.startswith(b"HTTP/1.1 200 OK"), first[:80]
        assert first.index(b"100 Continue") > first.index(b"\r\n\r\n"), "interim response overtook the poll's"
        s.sendall(send)
        rest = _read_until_closed_or(s, lambda d: b"MessageId" in d, timeout=15)
        assert b"HTTP/1.1 200 OK" in rest and b"MessageId" in rest
    sqs.delete_queue(QueueUrl=url)


class _App:
    async def handle(self, req, conn):
        return HttpResponse(200, [("Content-Type", "text/plain")], b"ok")


async def _serve():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: http_server.HttpProtocol(_App()), "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


def test_slow_headers_get_408_and_close(monkeypatch):
    """A client trickling its headers (slowloris) is cut off after HEADER_TIMEOUT."""
    monkeypatch.setattr(http_server, "HEADER_TIMEOUT", 0.3)

    async def scenario():
        srv, port = await _serve()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            answered = b""
            deadline = asyncio.get_running_loop().time() + 5
            while not reader.at_eof() and asyncio.get_running_loop().time() < deadline:
                try:
                    writer.write(b"X")          # one more byte of a header that never ends
                    await writer.drain()
                except ConnectionError:
                    pass
                try:
                    answered += await asyncio.wait_for(reader.read(4096), 0.05)
                except asyncio.TimeoutError:
                    pass
            writer.close()
            # a well-behaved client on a fresh connection is still served
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            ok = await asyncio.wait_for(r2.readuntil(b"ok"), 5)
            w2.close()
            return answered, ok
        finally:
            srv.close()
    answered, ok = asyncio.run(scenario())
    assert answered.startswith(b"HTTP/1.1 408"), answered[:60]
    assert ok.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("split", [1, 7, 1000])
def test_request_split_in_pieces_is_served(split):
    """Limits count bytes per head, not per read: a request fed in small pieces still works."""
    async def scenario():
        srv, port = await _serve()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            raw = b"GET /" + b"p" * 3000 + b" HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"
            for i in range(0, len(raw), split):
                writer.write(raw[i:i + split])
                await writer.drain()
            got = await asyncio.wait_for(reader.readuntil(b"ok"), 5)
            writer.close()
            return got
        finally:
            srv.close()
    assert asyncio.run(scenario()).startswith(b"HTTP/1.1 200")
