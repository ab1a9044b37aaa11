"""EventBridge admin paths (``/_broker/events/...``).

    POST /_broker/events/service-events   {"account", "region", "source", "detail-type", "detail",
                                           "resources"?, "bus"?}
        -> {"EventId": ...}: an event as an AWS service would put it on the
           default bus (``aws.*`` sources allowed), for harnesses that simulate
           service events; the same path the broker's own services use
           (services/events/emit.py).
"""

from __future__ import annotations

import json

from .emit import put_service_event
from .names import DEFAULT_BUS

_JSON = "application/json"


def _json(status: int, doc) -> tuple:
    return status, _JSON, json.dumps(doc).encode()


async def handle(gateway, method: str, path: str, query: dict, headers: dict, body: bytes):
    if path.rstrip("/") != "/_broker/events/service-events":
        return None
    if method != "POST":
        return _json(405, {"error": "use POST"})
    try:
        doc = json.loads(body or b"{}")
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        config = getattr(gateway, "config", None)
        account = str(doc.get("account") or (config.get("aws.default_account") if config else "000000000000"))
        region = str(doc.get("region") or (config.get("aws.default_region") if config else "us-east-1"))
        source, detail_type = doc["source"], doc["detail-type"]
        detail = doc.get("detail", {})
        resources = doc.get("resources") or []
        if not isinstance(source, str) or not isinstance(detail_type, str) or not isinstance(detail, dict) \
                or not isinstance(resources, list):
            raise ValueError("source and detail-type are strings, detail an object, resources a list")
    except (ValueError, KeyError) as exc:
        return _json(400, {"error": f"bad request: {exc}"})
    eid = await put_service_event(gateway, account, region, source, detail_type, detail, resources,
                                  bus=str(doc.get("bus") or DEFAULT_BUS))
    return _json(200, {"EventId": eid})
