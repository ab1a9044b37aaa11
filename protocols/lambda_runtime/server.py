"""The Lambda Runtime API (``/2018-06-01/runtime/...``) over HTTP/1.1.

One small server per execution environment, on 127.0.0.1 and a free port
(``AWS_LAMBDA_RUNTIME_API``): the runtime's requests carry nothing that says
which environment they come from, so the port does. Requests are parsed by
the gateway's HTTP protocol (protocols/http/server.py); this module maps
the four endpoints onto the environment's calls and their answers back.
"""

from __future__ import annotations

import asyncio
import json

from protocols.http.codec import HttpResponse
from protocols.http.server import HttpProtocol

PREFIX = "/2018-06-01/runtime/"
_JSON = [("Content-Type", "application/json")]


def _answer(status: int, doc: dict) -> HttpResponse:
    return HttpResponse(status, list(_JSON), json.dumps(doc).encode())


class RuntimeApiApp:
    __slots__ = ("env",)

    def __init__(self, env):
        self.env = env

    async def handle(self, req, conn) -> HttpResponse:
        path = req.path
        if not path.startswith(PREFIX):
            return _answer(404, {"errorMessage": "not found", "errorType": "InvalidRequest"})
        rest = path[len(PREFIX):].split("/")
        env = self.env
        if req.method == "GET" and rest == ["invocation", "next"]:
            try:
                headers, body = await env.api_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                return _answer(500, {"errorMessage": "environment is shutting down", "errorType": "Runtime.Exit"})
            return HttpResponse(200, [("Content-Type", "application/json"), *headers], body)
        if req.method != "POST":
            return _answer(405, {"errorMessage": "method not allowed", "errorType": "InvalidRequest"})
        etype = req.headers.get("lambda-runtime-function-error-type")
        if len(rest) == 3 and rest[0] == "invocation" and rest[2] == "response":
            return _answer(*env.api_response(rest[1], req.body))
        if len(rest) == 3 and rest[0] == "invocation" and rest[2] == "error":
            return _answer(*env.api_error(rest[1], req.body, etype))
        if rest == ["init", "error"]:
            return _answer(*env.api_init_error(req.body, etype))
        return _answer(404, {"errorMessage": "not found", "errorType": "InvalidRequest"})


async def serve(env):
    """Open the environment's Runtime API on a free loopback port: (server, port)."""
    app = RuntimeApiApp(env)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(app), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]
