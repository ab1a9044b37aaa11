"""Lambda's wire front-ends: the Runtime API server every execution environment
talks to, and the listeners of function URLs (protocol ``lambda-url``, opened
at runtime by CreateFunctionUrlConfig on every gateway)."""

from __future__ import annotations

from protocols.http.codec import HttpResponse
from protocols.lambda_runtime import server
from services.awslambda import hooks

hooks.RUNTIME_API = server.serve


class FunctionUrlApp:
    """HTTP requests of one function URL, handed to the Lambda service (services/awslambda/urls.py)."""
    __slots__ = ("gateway", "args")

    def __init__(self, gateway, args: dict):
        self.gateway, self.args = gateway, args

    async def handle(self, req, conn) -> HttpResponse:
        from services.awslambda.urls import serve
        status, headers, body = await serve(self.gateway, self.args, req.method, req.path, req.query,
                                            req.headers, req.body, getattr(conn, "peer", None))
        return HttpResponse(status, headers, body)


def _url_factory(gateway, ssl_ctx, args):
    from protocols.http.server import HttpProtocol
    app = FunctionUrlApp(gateway, args)

    def make():
        return HttpProtocol(app, gateway)
    return make


PROTOCOLS = {"lambda-url": _url_factory}


def listeners() -> list:
    return []


def gateway_setup(gateway) -> None:
    pass
