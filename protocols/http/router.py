"""Pick the service and operation an AWS HTTP request is for.

Tables are built once from each service's routing facts (codec/_index.py):
JSON target prefixes, rpc-v2 CBOR service names, query actions; a service's
codec, with its REST matchers, is loaded on its first request. Ambiguity
between services is resolved by the SigV4 scope service, then by the Host
header (with SDK host prefixes such as ``sync-``/``api.`` ignored), then by
the order of ``service_names``.
"""
from __future__ import annotations

import re

from .codec import (
    HttpRequest, MalformedInput, Match, OperationNotFound, RejectedRequest, ServiceCodec, UnknownOperationXml,
    _CBOR_PATH, _is_form, get_service_codec, query_params_of, wants_json,
)
from .codec._index import ServiceInfo, service_info
from .codec._shapes import build_query_tree


# A path that addresses an SQS queue: /<account>/<name> or /queue/<region>/<account>/<name>.
# Query requests may be sent to the queue URL itself, so the path names the service.
_QUEUE_PATH = re.compile(r"^/(?:queue/[a-z0-9-]+/)?\d{12}/[^/]+/?$")


class ServiceRouter:
    """Routing tables from each service's routing facts (codec/_index.py); a
    service's full codec is loaded only when a request is routed to it."""

    # service names -> this router's tables, built once per process: the supervisor
    # builds them before forking, so every gateway shares them (read-only after this)
    _built: dict[tuple, dict] = {}

    def __init__(self, service_names: list[str]):
        built = self._built.get(tuple(service_names))
        if built is not None:
            self.__dict__.update(built)
            return
        self.infos: list[ServiceInfo] = []
        seen = set()
        for n in service_names:
            i = service_info(n)
            if i.service_name not in seen:
                seen.add(i.service_name)
                self.infos.append(i)
        self._order = {i.service_name: k for k, i in enumerate(self.infos)}
        self.by_target: dict[str, ServiceInfo] = {}
        self.by_cbor: dict[str, ServiceInfo] = {}
        self.by_action: dict[str, list[ServiceInfo]] = {}
        self.rest: list[ServiceInfo] = []
        self.by_scope: dict[str, list[ServiceInfo]] = {}
        self.by_host: dict[str, list[ServiceInfo]] = {}
        self.host_prefixes: set[str] = set()
        for c in self.infos:
            if c.target_prefix and "json" in c.protocols:
                self.by_target[c.target_prefix] = c
            if "smithy-rpc-v2-cbor" in c.protocols:
                for k in (c.target_prefix, c.service_id, c.service_name):
                    if k:
                        self.by_cbor.setdefault(k, c)
            if "query" in c.protocols:
                for op in c.operation_names:
                    self.by_action.setdefault(op, []).append(c)
            if c.rest_protocol:
                self.rest.append(c)
            for k in {c.signing_name, c.endpoint_prefix, c.service_name}:
                self.by_scope.setdefault(k, []).append(c)
                self.by_host.setdefault(k, []).append(c)
            self.host_prefixes |= c.host_prefixes
        self._label_prefixes = tuple(sorted({p for p in self.host_prefixes if not p.endswith(".")}, key=len,
                                            reverse=True))
        self._query_infos = [c for c in self.infos if "query" in c.protocols]
        self._built[tuple(service_names)] = dict(self.__dict__)

    @staticmethod
    def codec(info: ServiceInfo | None) -> ServiceCodec | None:
        return None if info is None else get_service_codec(info.service_name)

    # ------------------------------------------------------------------
    def _host_services(self, request: HttpRequest) -> set[str]:
        host = request.headers.get("host", "")
        if not host:
            return set()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        out: set[str] = set()
        for label in host.lower().split(".")[:4]:
            cands = self.by_host.get(label)
            if cands is None:
                for p in self._label_prefixes:
                    if label.startswith(p):
                        cands = self.by_host.get(label[len(p):])
                        if cands:
                            break
            if cands:
                out.update(c.service_name for c in cands)
                break
        return out

    def _narrow(self, cands: list[ServiceInfo], request: HttpRequest, scope: str | None) -> list[ServiceInfo]:
        if len(cands) > 1 and not scope and _QUEUE_PATH.match(request.path):
            scope = "sqs"
        if len(cands) > 1 and scope:
            s = {c.service_name for c in self.by_scope.get(scope, ())}
            hit = [c for c in cands if c.service_name in s]
            if hit:
                cands = hit
        if len(cands) > 1:
            h = self._host_services(request)
            hit = [c for c in cands if c.service_name in h]
            if hit:
                cands = hit
        return cands

    def route(self, request: HttpRequest, scope_service: str | None) -> tuple[ServiceCodec, Match]:
        h = request.headers
        target = h.get("x-amz-target")
        if target:
            prefix, _, op = target.rpartition(".")
            c = self.by_target.get(prefix)
            if c is None:
                raise OperationNotFound(f"Unknown target {target}", protocol="json", operation=op)
            if op not in c.operation_names:
                raise OperationNotFound(protocol="json", operation=op, codec=self.codec(c))
            return self.codec(c), Match(op, "json")

        if request.path.startswith("/service/") and h.get("smithy-protocol") == "rpc-v2-cbor":
            m = _CBOR_PATH.fullmatch(request.path)
            c = self.by_cbor.get(m.group(1)) if m else None
            if c is None:
                raise OperationNotFound(f"Unknown service path {request.path}", protocol="smithy-rpc-v2-cbor")
            op = m.group(2)
            if op not in c.operation_names:
                raise OperationNotFound(protocol="smithy-rpc-v2-cbor", operation=op, codec=self.codec(c))
            return self.codec(c), Match(op, "smithy-rpc-v2-cbor")

        if "Action=" in request.query or (request.method == "POST" and request.body and _is_form(request)):
            try:
                pairs = query_params_of(request)
            except MalformedInput as exc:
                svc = self._narrow(self._query_infos, request, scope_service)
                raise RejectedRequest(exc, "query", self.codec(svc[0]) if len(svc) == 1 else None) from None
            tree = build_query_tree(pairs)
            action = tree.get("Action")
            if isinstance(action, str):
                cands = self.by_action.get(action)
                if not cands:
                    # Known service by scope/host but unknown action -> InvalidAction from it.
                    svc = self._narrow(self._query_infos, request, scope_service)
                    raise OperationNotFound(protocol="query", operation=action,
                                            codec=self.codec(svc[0]) if len(svc) == 1 else None)
                cands = self._narrow(cands, request, scope_service)
                c = self.codec(cands[0])
                uri = {"__path__": request.path} if request.path not in ("", "/") else {}
                return c, Match(action, "query", uri, tree, wants_json(request))

        if (request.method == "GET" and scope_service in (None, "sqs") and "sqs" in self.by_scope
                and _QUEUE_PATH.match(request.path)):
            raise UnknownOperationXml()   # a queue URL fetched without an Action

        if self.rest:
            cands = [self.codec(i) for i in self._narrow(self.rest, request, scope_service)]
            best = None
            for c in cands:
                r = c.match_rest(request)
                if r is not None and (best is None or r[1] > best[2]):
                    best = (c, r[0], r[1])
            if best is not None:
                return best[0], best[1]
            if len(cands) == 1 and len(self.rest) > 1:
                c = cands[0]
                raise OperationNotFound(f"No operation matches {request.method} {request.path}",
                                        protocol=c.rest_protocol, codec=c)
        raise OperationNotFound(f"No service/operation matches {request.method} {request.path}",
                                protocol="json")
