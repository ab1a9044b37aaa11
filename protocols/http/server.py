"""HTTP/1.1 server protocol (httptools parser), keep-alive and chunked bodies.

One `HttpProtocol` per connection. Requests are parsed in `data_received`
and handled strictly in order (pipelining-safe); each response is written
with a single `transport.write`. Reading pauses while a request is being
handled and more than a high-water mark of pipelined input is queued.

Limits at the edge: a request line over MAX_URL bytes gets 414 and the header
block over MAX_HEADERS_BYTES 431, both decided while the bytes arrive (a
16 MiB URL is never parsed whole); the headers must be complete within
HEADER_TIMEOUT of a request's first byte (slowloris), else 408 and close. An
``Expect: 100-continue`` is answered only once every earlier pipelined
response is written, so the interim response never overtakes them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from email.utils import formatdate
from time import time as _time

import httptools

from protocols.http.codec import HttpRequest, HttpResponse

log = logging.getLogger("broker.http")

MAX_BODY = 10 * 1024 * 1024          # AWS front ends cap request payloads at 10 MB (413 above)
MAX_URL = 16 * 1024                  # request-target bytes (414 above), as AWS's load balancers
MAX_HEADERS_BYTES = 64 * 1024        # header block bytes (431 above)
HEADER_TIMEOUT = 20.0                # seconds from a request's first byte to the end of its headers
HIGH_WATER = 8                       # queued pipelined requests before pausing reads
KEEPALIVE_TIMEOUT = 75.0

_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 307: "Temporary Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 411: "Length Required",
    413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}

_date_cache = [0, b""]


def _http_date() -> bytes:
    now = int(_time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True).encode()
    return _date_cache[1]


def render_response(resp: HttpResponse, keep_alive: bool, head: bool = False) -> bytes:
    status = resp.status
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, "Unknown").encode())]
    has_len = False
    for name, value in resp.headers:
        if name.lower() == "content-length":
            has_len = True
        parts.append(b"%s: %s\r\n" % (name.encode(), value.encode("latin-1", "replace")))
    if not has_len:
        parts.append(b"Content-Length: %d\r\n" % len(resp.body))
    parts.append(b"Date: %s\r\n" % _http_date())
    parts.append(b"Server: broker\r\n")
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(resp.body)
    return b"".join(parts)


class HttpProtocol(asyncio.Protocol):
    """Connection adapter: bytes <-> HttpRequest/HttpResponse; `app.handle` decides."""

    __slots__ = ("app", "gateway", "transport", "parser", "_url", "_headers", "_body", "_body_len",
                 "_queue", "_busy", "_closing", "_paused", "_too_large", "_keepalive_handle",
                 "scheme", "peer", "_draining", "_header_bytes", "_tls", "_reject_after", "_task",
                 "_in_head", "_head_bytes", "_limit_status", "_header_timer", "_continue_pending",
                 "_chunk")

    def __init__(self, app, gateway=None):
        self.app = app
        self.gateway = gateway
        self.transport = None
        self._task = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_len = 0
        self._queue: list[tuple[HttpRequest, bool]] = []
        self._busy = False
        self._closing = False
        self._paused = False
        self._too_large = False
        self._keepalive_handle = None
        self._draining = False
        self._header_bytes = 0
        self._reject_after: bytes | None = None
        self._in_head = False            # between a request's first byte and the end of its headers
        self._head_bytes = 0             # bytes received while in the head (bounds parser buffering)
        self._limit_status = 0           # 414 / 431 when a parser callback hit a limit
        self._header_timer = None
        self._continue_pending = False   # a 100 Continue waits behind earlier responses
        self._chunk = 0                  # length of the data being fed
        self.scheme = "http"
        self.peer = None

    # -- asyncio ----------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        self._tls = transport.get_extra_info("sslcontext") is not None
        self.scheme = "https" if self._tls else "http"
        self.peer = transport.get_extra_info("peername")
        if self.gateway is not None:
            self.gateway.connections.add(self)
        self._arm_keepalive()

    def connection_lost(self, exc):
        self._closing = True
        if self._task is not None and not self._task.done():
            # the client is gone: stop waiting for it (e.g. a long poll), so the
            # shard drops its waiter instead of leasing messages to nobody
            self._task.cancel()
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
        self._cancel_header_timer()
        if self.gateway is not None:
            self.gateway.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        if self._reject_after is not None or self._closing:
            return  # a rejection is pending behind earlier responses: ignore the rest
        try:
            self._chunk = len(data)
            self.parser.feed_data(data)
            if self._in_head:
                # a head split over reads: time it (slowloris), and bound what httptools buffers
                if self._header_timer is None:
                    self._header_timer = asyncio.get_event_loop().call_later(HEADER_TIMEOUT, self._header_timeout)
                self._head_bytes += len(data)
                if self._head_bytes > MAX_URL + MAX_HEADERS_BYTES:
                    self._limit_status = 431 if self._headers or len(self._url) <= MAX_URL else 414
                    raise httptools.HttpParserError("request head too large")
        except httptools.HttpParserUpgrade:
            self._reject(400, b"upgrade not supported")
        except httptools.HttpParserError as exc:
            self._in_head = False
            self._cancel_header_timer()
            if self._limit_status == 414:
                self._reject(414, b"request URI too long")
            elif self._limit_status == 431:
                self._reject(431, b"request header fields too large")
            elif self._too_large:
                self._reject(413, b"request body too large")
            else:
                self._reject(400, f"malformed HTTP request: {exc}".encode())

    # -- httptools callbacks ----------------------------------------------
    def on_message_begin(self):
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_len = 0
        self._header_bytes = 0
        self._in_head = True
        self._head_bytes = -self._chunk   # count whole chunks after this one (on_url bounds this one)

    def on_url(self, url: bytes):
        self._url += url
        if len(self._url) > MAX_URL:
            self._limit_status = 414
            raise httptools.HttpParserError("request URI too long")

    def on_header(self, name: bytes, value: bytes):
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADERS_BYTES:
            self._limit_status = 431
            raise httptools.HttpParserError("headers too large")
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        if key in self._headers:
            self._headers[key] += "," + val
        else:
            self._headers[key] = val

    def on_headers_complete(self):
        self._in_head = False
        self._cancel_header_timer()
        cl = self._headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) > MAX_BODY:
            self._too_large = True
            raise httptools.HttpParserError("body too large")
        if self._headers.get("expect", "").lower() == "100-continue":
            if self._busy or self._queue:
                self._continue_pending = True   # after the earlier responses (_run writes it)
            else:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes):
        self._body_len += len(body)
        if self._body_len > MAX_BODY:
            self._too_large = True
            raise httptools.HttpParserError("body too large")
        self._body.append(body)

    def on_message_complete(self):
        url = self._url
        q = url.find(b"?")
        if q >= 0:
            path, query = url[:q].decode("latin-1"), url[q + 1:].decode("latin-1")
        else:
            path, query = url.decode("latin-1"), ""
        if path.startswith("http://") or path.startswith("https://"):  # absolute-form
            rest = path.split("://", 1)[1]
            slash = rest.find("/")
            path = rest[slash:] if slash >= 0 else "/"
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        req = HttpRequest(self.parser.get_method().decode(), path, query, self._headers, body)
        keep_alive = self.parser.should_keep_alive()
        self._queue.append((req, keep_alive))
        if len(self._queue) > HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        if not self._busy:
            self._busy = True
            self._task = asyncio.get_event_loop().create_task(self._run())

    # -- handling ---------------------------------------------------------
    async def _run(self) -> None:
        try:
            while self._queue and not self._closing:
                req, keep_alive = self._queue.pop(0)
                if self._paused and self._reject_after is None and len(self._queue) <= HIGH_WATER // 2:
                    self._paused = False
                    self.transport.resume_reading()
                try:
                    resp = await self.app.handle(req, self)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("event=handler_crashed method=%s path=%s", req.method, req.path)
                    resp = HttpResponse(500, [("Content-Type", "text/plain")], b"internal error")
                if self._closing:
                    return
                keep_alive = keep_alive and not self._draining
                self.transport.write(render_response(resp, keep_alive, req.method == "HEAD"))
                if not keep_alive:
                    self._closing = True
                    self.transport.close()
                    return
                if self._continue_pending and not self._queue:
                    # the request being received now is next: let its client send the body
                    self._continue_pending = False
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        finally:
            self._busy = False
        if self._reject_after is not None and not self._closing:
            self._closing = True
            self.transport.write(self._reject_after)
            self.transport.close()
            return
        if not self._closing:
            self._arm_keepalive()

    def _reject(self, status: int, message: bytes) -> None:
        resp = HttpResponse(status, [("Content-Type", "text/plain")], message)
        data = render_response(resp, keep_alive=False)
        if self._busy or self._queue:
            # Earlier pipelined requests are still being answered: their responses
            # go first, then this one, then the connection closes.
            self._reject_after = data
            if not self._paused:
                self._paused = True
                self.transport.pause_reading()
            return
        self.transport.write(data)
        self._closing = True
        self.transport.close()

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        """The headers did not arrive in time (a client trickling bytes): 408, then close."""
        self._header_timer = None
        if self._paused and self._in_head and not self._closing:   # we stopped reading, not the client
            self._header_timer = asyncio.get_event_loop().call_later(HEADER_TIMEOUT, self._header_timeout)
            return
        if self._in_head and not self._closing and self._reject_after is None:
            self._in_head = False
            self._reject(408, b"request header timeout")

    def _arm_keepalive(self) -> None:
        if self._keepalive_handle is None and not self._closing:
            loop = asyncio.get_event_loop()
            self._keepalive_handle = loop.call_later(KEEPALIVE_TIMEOUT, self._idle_close)

    def _idle_close(self) -> None:
        self._keepalive_handle = None
        if not self._busy and not self._queue and not self._closing:
            self._closing = True
            self.transport.close()

    # -- gateway drain ----------------------------------------------------
    def drain(self) -> None:
        """Finish what is in flight, then close (SIGTERM)."""
        self._draining = True
        if not self._busy and not self._queue:
            self._closing = True
            self.transport.close()

    def abort(self) -> None:
        self._closing = True
        self.transport.abort()
