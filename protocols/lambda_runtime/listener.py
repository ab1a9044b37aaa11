"""Lambda's wire front-ends: the Runtime API server every execution environment
talks to, and the listeners of function URLs (protocol ``lambda-url``, opened
at runtime by CreateFunctionUrlConfig on every gateway)."""

from __future__ import annotations

from services.awslambda import hooks


async def _runtime_api(env):
    # imported on first use: the supervisor reads this module for its listeners only
    from protocols.lambda_runtime import server
    return await server.serve(env)


hooks.RUNTIME_API = _runtime_api


class FunctionUrlApp:
    """HTTP requests of one function URL, handed to the Lambda service (services/awslambda/urls.py)."""
    __slots__ = ("gateway", "args")

    def __init__(self, gateway, args: dict):
        self.gateway, self.args = gateway, args

    async def handle(self, req, conn):
        from protocols.http.codec import HttpResponse
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
