"""Lambda's wire front-ends: the Runtime API server every execution environment
talks to, and the listeners of function URLs (protocol ``lambda-url``, opened
at runtime by CreateFunctionUrlConfig on every gateway)."""

from __future__ import annotations

from protocols.http.delegated import delegated
from services.awslambda import hooks


async def _runtime_api(env):
    # imported on first use: the supervisor reads this module for its listeners only
    from protocols.lambda_runtime import server
    return await server.serve(env)


hooks.RUNTIME_API = _runtime_api


PROTOCOLS = {"lambda-url": delegated("services.awslambda.urls:serve")}


def listeners() -> list:
    return []


def gateway_setup(gateway) -> None:
    pass
