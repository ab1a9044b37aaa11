"""Service-to-service calls: one operation of a service this broker hosts,
invoked from inside the broker rather than over the wire.

SNS delivering to SQS, EventBridge and Scheduler targets, Step Functions
integrations, SES event destinations and Lambda event sources all call
another service the way AWS does: as that service's API, on behalf of an
account, with the calling resource as ``source_arn``. Going through the
service's gateway half keeps one implementation of every rule (validation,
MD5s, limits, errors); the gateway half then talks to the owning shard over
IPC exactly as for a client request.

``host`` is whatever process the caller runs in: a gateway, or a shard (both
have ``cluster``, ``run`` and ``index``). Params are what the model-driven
codec would have produced (blobs as bytes, timestamps as datetimes).
"""

from __future__ import annotations

import time

from broker.core.ids import uuid4
from services.context import RequestContext
from services.errors import NotImplementedOperation

# hook(ctx, params, started, error) after every traced call (X-Ray: services/xray/record.py)
TRACED_CALL_OBSERVERS: list = []


class ServiceCaller:
    def __init__(self, host):
        from services.registry import GatewayApis
        self.host = host
        self.apis = GatewayApis(host)
        run = getattr(host, "run", None)
        port = (run.ports.get("http") if run is not None else None) or 4566
        self.netloc = f"localhost:{port}"

    async def call(self, service: str, operation: str, params: dict, *, account: str, region: str,
                   principal_arn: str | None = None, source_arn: str | None = None,
                   trace_header: str | None = None, role_arn: str | None = None,
                   task_role: str | None = None) -> dict:
        """Run `operation`; returns its output dict or raises ServiceError (AWS code and message).

        With credentials configured, a call made for a resource (`source_arn`) is
        authorized as AWS does (services/iam/authorizer.py): the acting service's
        principal against the target's resource policy, with aws:SourceArn and
        aws:SourceAccount (e.g. SNS delivering to a queue whose policy must name the
        topic); where the service acts through a role (`role_arn`: Step Functions, Scheduler,
        EventBridge targets that take one), the call is a session of that role, evaluated with
        the role's policies after its trust policy lets the service assume it; `task_role`
        (a Step Functions task's Credentials): as a session of that role, assumed by `role_arn`'s."""
        api = self.apis.get(service)
        if api is None:
            raise NotImplementedOperation(f"The {service} service is not implemented by this broker yet "
                                          f"(operation {operation}).")
        ctx = self._context(service, operation, account, region, principal_arn, source_arn, trace_header)
        authorizer = getattr(self.host, "iam_authorizer", None)
        if authorizer is not None and source_arn:
            await authorizer.authorize_internal(ctx, params, role_arn, task_role)
        if not (trace_header and TRACED_CALL_OBSERVERS):
            return await api.handle(ctx, operation, params) or {}
        started, error = time.time(), None
        try:
            return await api.handle(ctx, operation, params) or {}
        except Exception as exc:
            error = exc
            raise
        finally:
            for hook in TRACED_CALL_OBSERVERS:
                try:
                    hook(ctx, params, started, error)
                except Exception:   # observing never changes the call's outcome
                    pass

    def _context(self, service, operation, account, region, principal_arn, source_arn, trace_header):
        return RequestContext(
            request_id=uuid4(), account_id=account, region=region,
            principal_arn=principal_arn or f"arn:aws:iam::{account}:root", access_key="", user_name="root",
            service=service, operation=operation, protocol="internal", host=self.netloc, scheme="http", path="/",
            cluster=self.host.cluster, gateway=self.host, source_arn=source_arn, trace_header=trace_header,
            internal=True)

    async def authorize(self, service: str, operation: str, params: dict, *, account: str, region: str,
                        source_arn: str, role_arn: str | None = None, task_role: str | None = None) -> None:
        """Only the authorization step of `call` (for a hand-off that does not go through
        the service's API, e.g. EventBridge forwarding to another bus); raises the
        service's AccessDenied. Nothing to do when IAM is not enforced."""
        authorizer = getattr(self.host, "iam_authorizer", None)
        if authorizer is None:
            return
        ctx = self._context(service, operation, account, region, None, source_arn, None)
        await authorizer.authorize_internal(ctx, params, role_arn, task_role)


def caller(host) -> ServiceCaller:
    """The host's one ServiceCaller (built on first use)."""
    c = getattr(host, "_service_caller", None)
    if c is None:
        c = ServiceCaller(host)
        host._service_caller = c
    return c
