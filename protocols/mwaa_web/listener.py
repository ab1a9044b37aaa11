"""MWAA web server listeners (protocol ``mwaa-web``): one HTTPS runtime listener per
environment, opened by CreateEnvironment on every gateway; each request is handed to the
MWAA service (services/mwaa/web.py), which serves MWAA's paths and proxies Airflow."""

from __future__ import annotations


class WebServerApp:
    __slots__ = ("gateway", "args")

    def __init__(self, gateway, args: dict):
        self.gateway, self.args = gateway, args

    async def handle(self, req, conn):
        from protocols.http.codec import HttpResponse    # not at import: the supervisor reads this module
        from services.mwaa.web import serve
        status, headers, body = await serve(self.gateway, self.args, req.method, req.path, req.query,
                                            req.headers, req.body, getattr(conn, "peer", None))
        return HttpResponse(status, headers, body)


def _factory(gateway, ssl_ctx, args):
    from protocols.http.server import HttpProtocol
    app = WebServerApp(gateway, args)

    def make():
        return HttpProtocol(app, gateway)
    return make


PROTOCOLS = {"mwaa-web": _factory}


def listeners() -> list:
    return []


def gateway_setup(gateway) -> None:
    pass
