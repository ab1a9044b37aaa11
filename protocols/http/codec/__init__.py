"""Model-driven AWS wire codec (server side).

Requests are decoded and responses encoded from botocore service models for
the ``query``, ``json`` (1.0/1.1), ``rest-json``, ``rest-xml`` and
``smithy-rpc-v2-cbor`` protocols.  Per-operation decoders/encoders are built
once from the shapes (see ``_shapes``) and cached by (protocol, operation) in
the service's codec; ``get_service_codec`` caches one codec per service.

Layout: ``_types`` (request/response records), ``_request`` (form/query
parsing), ``_model`` (model loading), ``_rpc`` (json/cbor/query compilers),
``_rest`` (REST matcher and bindings), ``_errors`` (error encoding), ``_shapes``
(shape compilers). This module assembles ``ServiceCodec`` and re-exports the
public names.
"""
from __future__ import annotations

import functools
import json as _stdjson
import re

from ._shapemodel import ServiceModel

from services.errors import ServiceError

from ._errors import (
    ErrorsMixin, OperationNotFound, RejectedRequest, UnknownOperationXml, _violation_error, encode_protocol_error,
)
from ._model import (
    _ALIASES, _OVERLAY_DIR, MISSING_PARAMETER_SERVICES, VALIDATION_ERROR_CODES, _apply_overlay, _raw_model,
)
# _CBOR_PATH, _is_form and query_params_of are also imported from here by protocols.http.router
from ._request import _CBOR_PATH, _is_form, query_params_of
from ._rest import RestMixin
from ._rpc import RpcMixin
from ._shapes import build_query_tree, compile_validator
from ._validate import SERVICE_KEY
from ._types import HttpRequest, HttpResponse, Match, _Op, wants_json
from ._values import MalformedInput, SerializationError

__all__ = [
    "HttpRequest", "HttpResponse", "Match", "ServiceCodec", "get_service_codec",
    "OperationNotFound", "RejectedRequest", "UnknownOperationXml", "MalformedInput", "encode_protocol_error", "SerializationError", "wants_json",
]


# ---------------------------------------------------------------------------
# service codec
# ---------------------------------------------------------------------------

class ServiceCodec(RestMixin, RpcMixin, ErrorsMixin):
    def __init__(self, service_name: str):
        service_name = _ALIASES.get(service_name, service_name)
        self.service_name = service_name
        raw = _raw_model(service_name)
        self.service_model = ServiceModel(raw, service_name=service_name)
        md = self.service_model.metadata
        self.signing_name = self.service_model.signing_name
        self.endpoint_prefix = self.service_model.endpoint_prefix
        self.target_prefix = md.get("targetPrefix")
        self.protocols = list(md.get("protocols") or [md["protocol"]])
        self.query_compatible = "awsQueryCompatible" in md
        self.json_version = md.get("jsonVersion", "1.0")
        self._models = {p: self.service_model for p in self.protocols}
        overlay = _OVERLAY_DIR / f"{service_name}-query.json"
        if "query" not in self.protocols and overlay.exists():
            self._models["query"] = ServiceModel(_apply_overlay(raw, _stdjson.loads(overlay.read_text())),
                                                 service_name=service_name)
            self.protocols.append("query")
        self.xml_namespace = (self._models.get("query", self.service_model).metadata.get("xmlNamespace")
                              or f"https://{self.endpoint_prefix}.amazonaws.com/doc/{md.get('apiVersion')}/")
        self.operation_names = frozenset(self.service_model.operation_names)
        self._ops: dict[tuple[str, str], _Op] = {}
        self._caches: dict[str, dict] = {}
        self._build_errors()
        self._routes = self._build_rest_routes() if self.rest_protocol else None
        self.host_prefixes = self._collect_host_prefixes()

    # -- metadata helpers -------------------------------------------------
    @property
    def rest_protocol(self) -> str | None:
        for p in self.protocols:
            if p in ("rest-json", "rest-xml"):
                return p
        return None

    def _cache(self, kind: str) -> dict:
        c = self._caches.get(kind)
        if c is None:
            c = self._caches[kind] = {SERVICE_KEY: self.service_name} if kind == "validate" else {}
        return c

    def violation_error(self, errs) -> ServiceError:
        """The error for failed model constraints: ValidationException, or the service's own
        missing-parameter error where it has one (SQS: MissingParameter)."""
        if self.service_name in MISSING_PARAMETER_SERVICES:
            for path, constraint, v in errs:
                if constraint == "Member must not be null" and v is None:   # a missing member, not a null element
                    name = path.rsplit(".", 1)[-1]
                    return ServiceError(f"The request must contain the parameter {name[:1].upper() + name[1:]}.",
                                        code="MissingParameter")
        err = _violation_error(errs)
        code = VALIDATION_ERROR_CODES.get(self.service_name)
        if code is not None:
            err.code = code
        return err

    def _collect_host_prefixes(self) -> set[str]:
        out = set()
        for op in self.operation_names:
            ep = self.service_model.operation_model(op).endpoint
            if ep and ep.get("hostPrefix"):
                static = re.sub(r"\{[^}]*\}\.?", "", ep["hostPrefix"])
                if static:
                    out.add(static)
        return out

    # -- routing ------------------------------------------------------------
    def match(self, request: HttpRequest) -> Match | None:
        h = request.headers
        target = h.get("x-amz-target")
        if target:
            prefix, _, op = target.rpartition(".")
            if self.target_prefix and prefix == self.target_prefix and "json" in self.protocols:
                if op not in self.operation_names:
                    raise OperationNotFound(protocol="json", operation=op, codec=self)
                return Match(op, "json")
            return None
        if request.path.startswith("/service/") and "smithy-rpc-v2-cbor" in self.protocols:
            m = _CBOR_PATH.fullmatch(request.path)
            if m and m.group(1) in (self.target_prefix, self.service_model.service_id, self.service_name):
                op = m.group(2)
                if op not in self.operation_names:
                    raise OperationNotFound(protocol="smithy-rpc-v2-cbor", operation=op, codec=self)
                return Match(op, "smithy-rpc-v2-cbor")
        if "query" in self.protocols and ("Action=" in request.query or (
                request.method == "POST" and _is_form(request) and b"Action=" in request.body)):
            try:
                pairs = query_params_of(request)
            except MalformedInput as exc:
                raise RejectedRequest(exc, "query", self) from None
            return self.match_query(request, pairs)
        if self._routes is not None:
            r = self.match_rest(request)
            return r[0] if r else None
        return None

    def match_query(self, request: HttpRequest, pairs) -> Match | None:
        tree = build_query_tree(pairs)
        action = tree.get("Action")
        if not isinstance(action, str):
            return None
        if action not in self.operation_names:
            raise OperationNotFound(protocol="query", operation=action, codec=self)
        uri = {"__path__": request.path} if request.path not in ("", "/") else {}
        return Match(action, "query", uri, tree, wants_json(request))

    # -- decode / encode ----------------------------------------------------
    def operation(self, protocol: str, op: str) -> _Op:
        key = (protocol, op)
        c = self._ops.get(key)
        if c is None:
            c = self._ops[key] = self._compile(protocol, op)
        return c

    def decode(self, match: Match, request: HttpRequest) -> dict:
        return self.operation(match.protocol, match.operation).decode(match, request)

    def encode_result(self, match: Match, result: dict, request_id: str) -> HttpResponse:
        op = self.operation(match.protocol, match.operation)
        if match.json_answer and op.encode_json is not None:
            return op.encode_json(result or {}, request_id)
        return op.encode(result or {}, request_id)

    def _compile(self, protocol: str, op: str) -> _Op:
        model = self._models[protocol]
        om = model.operation_model(op)
        ins, outs = om.input_shape, om.output_shape
        vfn = compile_validator(ins, self._cache("validate")) if ins is not None else None

        def validate(params):
            if vfn is not None:
                errs = []
                vfn(params, "", errs)
                if errs:
                    raise self.violation_error(errs)
            return params

        if protocol == "json":
            return _Op(*self._compile_json(om, ins, outs, validate, vfn))
        if protocol == "query":
            return _Op(*self._compile_query(om, ins, outs, validate))
        if protocol == "smithy-rpc-v2-cbor":
            return _Op(*self._compile_cbor(om, ins, outs, validate))
        if protocol in ("rest-json", "rest-xml"):
            return _Op(*self._compile_rest(protocol, om, ins, outs, validate))
        raise ValueError(f"unsupported protocol {protocol}")


@functools.cache
def get_service_codec(service_name: str) -> ServiceCodec:
    service_name = _ALIASES.get(service_name, service_name)
    return _get(service_name)


@functools.cache
def _get(service_name: str) -> ServiceCodec:
    return ServiceCodec(service_name)
