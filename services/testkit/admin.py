"""Admin paths for people who test with the broker.

    GET        /_broker/wait?for=...               wait for a condition (waits.py)
    ANY        /_capture/<name>[/...][?status=N]   an HTTP endpoint that records what it gets
    GET|DELETE /_broker/capture/<name>[?text=&method=]   the requests captured there
    GET        /_localstack/info, /_localstack/init[/<stage>]   LocalStack's shapes, for
               fixtures that check them before a suite starts

``/_capture/`` is outside ``/_broker/`` on purpose: SNS, EventBridge and Step
Functions deliver to it without the admin token, as they would to any
endpoint; reading what it captured is an admin call.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from urllib.parse import unquote

from broker import __version__
from services.testkit import waits
from services.testkit.capture import MAX_NAME, capture_key

CAPTURE = "/_capture/"
CAPTURED = "/_broker/capture/"
STAGES = ("BOOT", "START", "READY", "SHUTDOWN")
_SESSION = uuid.uuid4().hex
_STARTED = time.time()


def _json(status: int, doc) -> tuple:
    return status, "application/json", json.dumps(doc, default=str).encode()


def _name(rest: str) -> str | None:
    name = unquote(rest.split("/", 1)[0])
    return name if name and len(name) <= MAX_NAME else None


async def handle(gateway, method: str, path: str, query: dict, headers: dict, body: bytes):
    if path.rstrip("/") == "/_broker/wait":
        if method not in ("GET", "POST"):
            return _json(405, {"error": f"{method} not allowed on /_broker/wait"})
        return await waits.handle(gateway, query)
    if path.startswith(CAPTURE):
        return await _capture(gateway, method, path, query, headers, body)
    if path.startswith(CAPTURED):
        name = _name(path[len(CAPTURED):])
        if name is None or method not in ("GET", "DELETE"):
            return _json(404, {"error": f"no admin endpoint {method} {path}"})
        q = {"text": query.get("text"), "method": query.get("method")}
        reqs = await gateway.cluster.call(capture_key(name), "testkit.Captured",
                                          {"name": name, "q": q, "delete": method == "DELETE"})
        if method == "DELETE":
            return _json(200, {"deleted": len(reqs)})
        return _json(200, {"name": name, "requests": reqs})
    if path.rstrip("/") == "/_localstack/info" and method == "GET":
        return _json(200, {"version": f"broker-{__version__}", "edition": "community", "is_license_activated": False,
                           "session_id": _SESSION, "machine_id": f"broker_{os.uname().nodename}",
                           "system": os.uname().sysname.lower(), "is_docker": False,
                           "server_time_utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                           "uptime": int(time.time() - _STARTED)})
    if path.rstrip("/").startswith("/_localstack/init") and method == "GET":
        stage = path.rstrip("/")[len("/_localstack/init"):].strip("/")
        if not stage:
            return _json(200, {"completed": {s: s != "SHUTDOWN" for s in STAGES}, "scripts": []})
        if stage.upper() not in STAGES:
            return _json(404, {"error": f"no such stage {stage}"})
        return _json(200, {"completed": stage.upper() != "SHUTDOWN", "scripts": []})
    return None


async def _capture(gateway, method, path, query: dict, headers: dict, body: bytes):
    rest = path[len(CAPTURE):]
    name = _name(rest)
    if name is None:
        return _json(400, {"error": f"a capture name of 1 to {MAX_NAME} characters is required: /_capture/<name>"})
    try:
        status = int(query.get("status") or 200)
    except ValueError:
        status = 0
    if not 200 <= status <= 599:
        return _json(400, {"error": "status: an HTTP status from 200 to 599"})
    from urllib.parse import urlencode
    r = await gateway.cluster.call(capture_key(name), "testkit.Capture", {
        "name": name, "method": method, "path": path, "query": urlencode(query),
        "headers": [[k, v] for k, v in headers.items()], "body": body or b""})
    return _json(status, {"captured": r["id"], "name": name, "count": r["count"]})
