"""The declaration every service gets unless it has its own: one check,
``<prefix>:<Operation>`` on the resource the request names (its first
``...Arn`` parameter), else ``*``; no resource policies (a request for another
account's resource is then denied, as at AWS for resources without one)."""

from __future__ import annotations

from functools import lru_cache

from services.errors import ServiceError

JSON_FAMILY = frozenset({"json", "rest-json", "smithy-rpc-v2-cbor", "rpc-v2-cbor"})


def resource_of(params: dict) -> str:
    for k, v in params.items():
        if isinstance(v, str) and v.startswith("arn:") and (k.endswith("Arn") or k.endswith("arn")
                                                            or k.endswith("ARN")):
            return v
    return "*"


def checks(ctx, operation: str, params: dict) -> list:
    from services.iam.declare import prefix_of
    return [(f"{prefix_of(ctx.service)}:{operation}", resource_of(params), None)]


@lru_cache(maxsize=64)
def _wire_protocol(service: str) -> str:
    """The protocol a service's clients speak (botocore's model), for service-to-service calls."""
    import botocore.session
    try:
        return botocore.session.get_session().get_service_model(service).metadata.get("protocol", "query")
    except Exception:
        return "query"


def denied(ctx, message: str) -> ServiceError:
    """AWS's AccessDenied for the request's protocol (a service-to-service call: as the
    target service's own clients would get it)."""
    protocol = _wire_protocol(ctx.service) if ctx.protocol == "internal" else ctx.protocol
    if protocol in JSON_FAMILY:
        return ServiceError(message, code="AccessDeniedException", status=403 if protocol == "rest-json" else 400)
    return ServiceError(message, code="AccessDenied", status=403)


def action_text(action: str) -> str:
    """The action as the service's error message spells it."""
    return action


policy = None              # async (host, resource ARN) -> policy text | None (no resource policies)
require_resource = False   # the resource policy must allow even within its account (KMS, role trust)


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    """Resource ARNs whose policy this (successful) operation may have changed."""
    return []


async def read(host, service: str, operation: str, params: dict, account: str, region: str) -> dict | None:
    """A read-only call to the owning service (as its account); None when it answers an
    error (no such resource)."""
    from services.internal import caller
    try:
        return await caller(host).call(service, operation, params, account=account, region=region)
    except Exception as exc:      # ServiceError from the gateway half, RemoteError from its shard
        if getattr(exc, "code", None):
            return None
        raise
