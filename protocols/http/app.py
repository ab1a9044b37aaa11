"""The AWS gateway: one HTTP endpoint for every AWS API.

Per request: admin paths first; else resolve (service, operation) from the
model-driven router, authenticate with SigV4, decode and validate from the
model, hand the params to the service's gateway half, and encode the result
or error in the protocol's exact shape.
"""

from __future__ import annotations

import asyncio
import logging
import time

from broker.core.ids import uuid4
from broker.runtime.ipc import RemoteError
from protocols.http.admin import AdminApi
from protocols.http.codec import HttpResponse, OperationNotFound, get_service_codec
from protocols.http.router import ServiceRouter
from protocols.http.sigv4 import AuthError, Credential, SigV4Verifier, scope_of
from services.context import RequestContext
from services.errors import InternalError, NotImplementedOperation, ServiceError
from services.registry import KNOWN_SERVICES, gateway_apis

_perf = time.perf_counter
log = logging.getLogger("broker.aws")


_request_id = uuid4

# Operations AWS serves without a signature: the SubscribeURL and UnsubscribeURL
# links SNS puts in its messages are plain GETs.
UNSIGNED_OPERATIONS = frozenset({("sns", "ConfirmSubscription"), ("sns", "Unsubscribe"),
                                 ("sts", "AssumeRoleWithWebIdentity"), ("sts", "AssumeRoleWithSAML")})
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"


def _credentials(config: dict) -> dict[str, Credential]:
    out = {}
    default_account = config.get("aws.default_account", "000000000000")
    for c in config.get("aws.credentials", []) or []:
        out[c["access_key"]] = Credential(c["access_key"], c["secret_key"],
                                          str(c.get("account_id", default_account)),
                                          c.get("user_name", "root"))
    return out


_UNROUTED = (None,) * 7


class RequestRecord:
    """What an observer sees of one AWS request (filled in as the request goes).

    No __slots__ and no __init__: the class attributes are the defaults, so making
    one costs about half of setting nine slots (it is made for every request)."""
    started = elapsed = 0.0
    service = match = principal = ctx = params = result = error = None


class AwsApp:
    def __init__(self, gateway):
        self.gateway = gateway
        config = gateway.config
        self.default_region = config.get("aws.default_region", "us-east-1")
        self.router = ServiceRouter(KNOWN_SERVICES)
        self.verifier = SigV4Verifier(_credentials(config) or None,
                                      default_account=config.get("aws.default_account", "000000000000"))
        self.apis = gateway_apis(gateway)
        gateway.services = self.apis
        self.admin = AdminApi(gateway, self)
        # after every AWS request, observer.count(record, resp) counts it and says whether
        # it needs more (CloudTrail, X-Ray, usage metrics): then observer.later(
        # [(record, req, conn, resp), ...]) does that for a loop iteration's requests
        # at once; set by a process hook (services/cloudwatch/observe.py)
        self.observer = None
        self._observed: list[tuple] = []      # requests answered, not observed yet
        self._seen: tuple = _UNROUTED          # what the last _handle saw (see there)
        # IAM authorization step (services/iam/authorizer.py), set by a process hook when
        # credentials are configured; None in dev mode (everything open)
        self.authorizer = None

    async def handle(self, req, conn) -> HttpResponse:
        path = req.path
        if path.startswith("/_") or path.startswith("/moto-api"):
            resp = await self.admin.handle(req)
            if resp is not None:
                return resp
        observer = self.observer
        if observer is None:
            return await self._handle(req, conn, False)
        started = _perf()
        resp = await self._handle(req, conn, True)
        elapsed = _perf() - started
        # what _handle saw, left in _seen as it returned: nothing else ran in between
        seen = self._seen
        # Counted at once (cheap; the request's objects are freed as soon as it is
        # answered); what needs more (CloudTrail, X-Ray) is done once the response
        # is on its way, for a whole loop iteration's requests in one callback.
        try:
            more = observer.count(seen, elapsed, resp.status)
        except Exception:
            log.exception("event=request_observer_failed")
            more = False
        if more:
            rec = RequestRecord()
            rec.started, rec.elapsed = started, elapsed
            (rec.service, rec.match, rec.principal, rec.ctx, rec.params, rec.result, rec.error) = seen
            pending = self._observed
            pending.append((rec, req, conn, resp))
            if len(pending) == 1:
                asyncio.get_running_loop().call_soon(self._observe)
        return resp

    def _observe(self) -> None:
        pending, self._observed = self._observed, []
        observer = self.observer
        if observer is None:
            return
        try:
            observer.later(pending)
        except Exception:
            log.exception("event=request_observer_failed")

    async def _handle(self, req, conn, observed: bool) -> HttpResponse:
        """Answer one AWS request. `observed`: leave (service, match, principal, ctx, params,
        result, error) in self._seen as it returns (one tuple, not a record per request)."""
        path = req.path
        request_id = _request_id()
        headers = req.headers
        scope = scope_of(req.query, headers)
        try:
            codec, match = self.router.route(req, scope[2] if scope else None)
        except OperationNotFound as exc:
            routed = self._route_unrouted(req, exc, scope[2] if scope else None)
            if routed is None or isinstance(routed, OperationNotFound):
                if observed:
                    self._seen = _UNROUTED
                return self._not_found(req, exc if routed is None else routed, request_id)
            codec, match = routed
        authorizer = self.authorizer
        try:
            if authorizer is not None and await authorizer.prepare(req.query, headers):
                raise AuthError("ExpiredToken", MSG_EXPIRED_TOKEN)
            principal = self.verifier.authenticate(req.method, path, req.query, headers, req.body)
        except AuthError as exc:
            unsigned = (codec.service_name, match.operation) in UNSIGNED_OPERATIONS
            if not (unsigned and exc.code == "MissingAuthenticationToken"):
                err = ServiceError(exc.message, code=exc.code_for(match.protocol), status=exc.status_for(match.protocol))
                if observed:
                    self._seen = (codec.service_name, match, None, None, None, None, None)
                return codec.encode_error(match, err, request_id)
            principal = self.verifier._anonymous
        ctx = params = None
        try:
            params = codec.decode(match, req)
            api = self.apis.get(codec.service_name)
            if api is None:
                raise NotImplementedOperation(
                    f"The {codec.service_name} service is not implemented by this broker yet "
                    f"(operation {match.operation}).")
            ctx = RequestContext(
                request_id=request_id, account_id=principal.account_id,
                region=principal.region or self.default_region, principal_arn=principal.arn,
                access_key=principal.access_key, user_name=principal.user_name,
                service=codec.service_name, operation=match.operation, protocol=match.protocol,
                host=headers.get("host", "localhost"), scheme=conn.scheme, path=path,
                cluster=self.gateway.cluster, gateway=self.gateway,
                trace_header=headers.get("x-amzn-trace-id"))
            if authorizer is not None:
                await authorizer.authorize(ctx, params, principal, conn.peer, conn.scheme == "https")
            result = await api.handle(ctx, match.operation, params)
            if authorizer is not None:
                await authorizer.changed(ctx, params, result)
            if observed:
                self._seen = (codec.service_name, match, principal, ctx, params, result, None)
            return codec.encode_result(match, result or {}, request_id)
        except ServiceError as exc:
            if observed:
                self._seen = (codec.service_name, match, principal, ctx, params, None, exc)
            return codec.encode_error(match, exc, request_id)
        except RemoteError as exc:
            err = ServiceError(exc.message, code=exc.code, status=exc.status, sender_fault=exc.sender_fault,
                               **(exc.fields or {}))
            if observed:
                self._seen = (codec.service_name, match, principal, ctx, params, None, err)
            return codec.encode_error(match, err, request_id)
        except Exception:
            log.exception("event=operation_failed service=%s operation=%s", codec.service_name, match.operation)
            if observed:
                self._seen = (codec.service_name, match, principal, ctx, params, None, None)
            return codec.encode_error(match, InternalError("We encountered an internal error. Please try again."),
                                      request_id)

    def _route_unrouted(self, req, exc: OperationNotFound, scope_service: str | None):
        """A request for an AWS service the router does not know (e.g. route53, s3),
        named by its SigV4 scope: route it with that service's own botocore model so
        the client gets NotImplemented (or UnknownOperation / a validation error) in
        its protocol's exact error shape instead of a body it cannot parse.

        Returns (codec, match), an OperationNotFound to encode, or None (no such
        service in botocore: the generic answer stands). The set of models that
        can be loaded is botocore's, so the cache stays bounded.
        """
        if exc.codec is not None or not scope_service or scope_service in self.router.by_scope:
            return None
        if not scope_service.replace("-", "").isalnum() or len(scope_service) > 64:
            return None
        try:
            codec = get_service_codec(scope_service)
        except Exception:  # botocore.exceptions.UnknownServiceError and friends
            return None
        protocol = codec.rest_protocol or codec.protocols[0]
        try:
            match = codec.match(req)
        except OperationNotFound as nf:
            return nf
        if match is None:
            return OperationNotFound(f"No operation matches {req.method} {req.path}", protocol=protocol,
                                     codec=codec)
        return codec, match

    def _not_found(self, req, exc, request_id) -> HttpResponse:
        encode = getattr(exc, "encode", None)
        if encode is not None:
            return encode(request_id)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
                f'<Code>InvalidAction</Code><Message>Could not route {req.method} {req.path}'
                f'</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>').encode()
        return HttpResponse(400 if req.path != "/" or req.method != "GET" else 404,
                            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body)
