"""Admin API under /_broker/ (health, info, reset, OpenAPI), plus the reset and
health paths that existing emulator-based test fixtures call (moto's
``/moto-api/reset``, LocalStack's ``/_localstack/health`` and
``/_localstack/state/reset``), so those fixtures work unchanged."""

from __future__ import annotations

import json
import os

from broker import __version__
from protocols.http.codec import HttpResponse

_JSON = [("Content-Type", "application/json")]


def _json(status: int, doc) -> HttpResponse:
    return HttpResponse(status, list(_JSON), json.dumps(doc, indent=1, default=str).encode())


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "broker admin API", "version": __version__,
             "description": "Operational endpoints of the broker's HTTP listener."},
    "paths": {
        "/_broker/health": {"get": {
            "summary": "Health of every process (supervisor, gateways, shards)",
            "responses": {"200": {"description": "all processes running",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                          "503": {"description": "some process is not running or unreachable",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}},
        "/_broker/info": {"get": {
            "summary": "Version, processes, endpoints and store settings",
            "responses": {"200": {"description": "server information",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Info"}}}}}}},
        "/_broker/reset": {"post": {
            "summary": "Wipe all state (every entity and message of every service); for test harnesses",
            "responses": {"200": {"description": "state wiped",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reset"}}}}}}},
        "/_broker/openapi.json": {"get": {
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3 document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    },
    "components": {"schemas": {
        "Process": {"type": "object", "required": ["role", "index", "state"], "properties": {
            "role": {"type": "string", "enum": ["supervisor", "gateway", "shard"]},
            "index": {"type": "integer"}, "pid": {"type": "integer", "nullable": True},
            "state": {"type": "string", "enum": ["starting", "running", "restarting", "stopped"]},
            "restarts": {"type": "integer"}, "uptime": {"type": "number"}}},
        "Health": {"type": "object", "required": ["status", "processes"], "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "processes": {"type": "array", "items": {"$ref": "#/components/schemas/Process"}},
            "shards": {"type": "array", "items": {"type": "object"}},
            "gateway": {"type": "object"}}},
        "Info": {"type": "object", "required": ["version", "processes", "endpoints"], "properties": {
            "version": {"type": "string"},
            "processes": {"type": "array", "items": {"$ref": "#/components/schemas/Process"}},
            "endpoints": {"type": "object", "additionalProperties": {"type": "string"}},
            "partitions": {"type": "integer"}, "shards": {"type": "integer"}, "workers": {"type": "integer"},
            "durability": {"type": "string"}, "data_dir": {"type": "string"}}},
        "Reset": {"type": "object", "required": ["reset"], "properties": {
            "reset": {"type": "boolean"}, "partitions": {"type": "integer"}}},
    }},
}


def _query_pairs(query: str):
    from urllib.parse import parse_qsl
    return parse_qsl(query or "", keep_blank_values=True)


class AdminApi:
    def __init__(self, gateway, app):
        self.gateway = gateway
        self.app = app
        from services.registry import admin_routes
        self.routes = admin_routes()          # service-owned admin paths
        self._handlers: dict[str, object] = {}

    async def _service_route(self, req) -> HttpResponse | None:
        for prefix, ref in self.routes:
            if req.path.startswith(prefix) or req.path.rstrip("/") == prefix.rstrip("/"):
                fn = self._handlers.get(ref)
                if fn is None:
                    from services.registry import load_ref
                    fn = self._handlers[ref] = load_ref(ref)
                out = await fn(self.gateway, req.method, req.path, dict(_query_pairs(req.query)),
                               dict(req.headers), req.body)
                if out is None:
                    continue
                status, ctype, body = out[:3]
                headers = [("Content-Type", ctype)] + list(out[3] if len(out) > 3 else [])
                return HttpResponse(status, headers, body)
        return None

    # Paths anyone may call: liveness for monitors, the API description, and
    # public material such as the SNS signing certificate (clients fetch it unsigned).
    _OPEN = ("/_broker/health", "/_localstack/health", "/_broker/openapi.json")

    def _authorized(self, req) -> bool:
        """With credentials configured, admin calls need the admin token or a SigV4
        signature by a configured key; dev mode (no credentials) stays open."""
        verifier = self.app.verifier
        if verifier.dev_mode:
            return True
        path = req.path.rstrip("/") or "/"
        if path in self._OPEN or path.endswith(".pem"):
            return True
        token = self.gateway.config.get("security.admin_token", "")
        if token:
            import hmac
            given = req.headers.get("x-broker-admin-token", "")
            auth = req.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:].strip()
            if given and hmac.compare_digest(given.encode(), token.encode()):
                return True
        if "authorization" in req.headers or "x-amz-signature" in req.query.lower():
            try:
                verifier.authenticate(req.method, req.path, req.query, req.headers, req.body)
                return True
            except Exception:
                return False
        return False

    async def handle(self, req) -> HttpResponse | None:
        if req.path.startswith(("/_broker", "/_localstack", "/_aws", "/moto-api")) and not self._authorized(req):
            return _json(403, {"error": "AccessDenied",
                               "message": "Admin requests need the admin token or a SigV4 signature by a "
                                          "configured access key."})
        if self.routes:
            resp = await self._service_route(req)
            if resp is not None:
                return resp
        path, method = req.path.rstrip("/") or "/", req.method
        if path in ("/_broker/health", "/_localstack/health") and method in ("GET", "HEAD"):
            doc = await self.gateway.health()
            if path == "/_localstack/health":
                doc = {"services": {name: "running" for name in self.gateway.services.names()}, **doc}
            return _json(200 if doc["status"] == "ok" else 503, doc)
        if path == "/_broker/info" and method == "GET":
            run = self.gateway.run
            return _json(200, {
                "version": __version__, "processes": await self.gateway.control.call("processes"),
                "endpoints": await self.gateway.control.call("endpoints"), "partitions": run.partitions, "shards": run.shards,
                "workers": run.workers, "durability": run.durability, "data_dir": run.data_dir,
                "listeners": await self.gateway.control.call("listeners"),
                "gateway_pid": os.getpid(), "services": self.gateway.services.names()})
        if path in ("/_broker/reset", "/moto-api/reset", "/_localstack/state/reset") and method == "POST":
            results = await self.gateway.cluster.call_all("shard.reset", {})
            return _json(200, {"reset": True, "partitions": len(results)})
        if path == "/_broker/openapi.json" and method == "GET":
            return _json(200, OPENAPI)
        if path.startswith("/_broker"):
            return _json(404, {"error": f"no admin endpoint {method} {path}"})
        return None
