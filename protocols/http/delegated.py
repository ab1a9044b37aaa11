"""Runtime HTTP listeners whose requests a service answers whole (Lambda function
URLs, MWAA web servers): one app per listener, handing each request to the
service's ``serve(gateway, args, method, path, query, headers, body, peer)``.
Nothing heavy is imported here: the supervisor reads front-end modules for
their listeners only."""

from __future__ import annotations

import importlib


class DelegatedApp:
    __slots__ = ("gateway", "args", "ref", "_serve")

    def __init__(self, gateway, args: dict, ref: str):
        self.gateway, self.args, self.ref = gateway, args, ref
        self._serve = None

    async def handle(self, req, conn):
        from protocols.http.codec import HttpResponse
        serve = self._serve
        if serve is None:
            module, name = self.ref.split(":")
            serve = self._serve = getattr(importlib.import_module(module), name)
        status, headers, body = await serve(self.gateway, self.args, req.method, req.path, req.query,
                                            req.headers, req.body, getattr(conn, "peer", None))
        return HttpResponse(status, headers, body)


def delegated(ref: str):
    """A runtime-listener protocol factory whose requests `ref` ("module:function") serves."""
    def factory(gateway, ssl_ctx, args):
        from protocols.http.server import HttpProtocol
        app = DelegatedApp(gateway, args, ref)
        return lambda: HttpProtocol(app, gateway)
    return factory
