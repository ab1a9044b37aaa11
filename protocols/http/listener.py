"""The HTTP listeners this protocol package offers the runtime."""

from __future__ import annotations

from broker.runtime.plugins import ListenerSpec


def _factory(gateway, ssl_ctx):
    from protocols.http.server import HttpProtocol
    app = gateway.http_app

    def make():
        return HttpProtocol(app, gateway)
    return make


def _runtime_factory(gateway, ssl_ctx, args):
    return _factory(gateway, ssl_ctx)


# Runtime listeners (broker/runtime/listeners.py) may serve the AWS gateway too.
PROTOCOLS = {"aws-http": _runtime_factory}


def listeners() -> list[ListenerSpec]:
    return [
        ListenerSpec("http", "listeners.http_port", "http", "sniff", _factory,
                     tls_name="https", tls_scheme="https"),
        ListenerSpec("https_only", "listeners.https_port", "https", "always", _factory,
                     enabled_when_port_zero=False),
    ]


def gateway_setup(gateway) -> None:
    from protocols.http.app import AwsApp
    gateway.http_app = AwsApp(gateway)
