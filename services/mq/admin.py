"""Admin path of Amazon MQ: ``GET /_broker/mq/brokers/<id>`` (a broker's
"console": state, endpoints, users), the target of DescribeBroker's ConsoleURL."""

from __future__ import annotations

import json

from services.mq import lifecycle
from services.mq.model import broker_key


async def handle(gateway, method, path, query, headers, body):
    parts = path.strip("/").split("/")
    if method != "GET" or len(parts) != 4 or parts[:3] != ["_broker", "mq", "brokers"]:
        return None
    rec = await gateway.cluster.call(broker_key(parts[3]), "mq.Get", {"kind": "mq.broker", "k": broker_key(parts[3])})
    if rec is None:
        return 404, "application/json", json.dumps({"message": f"no broker {parts[3]}"}).encode()
    doc = {"BrokerId": rec["id"], "BrokerName": rec["name"], "BrokerState": rec["state"],
           "EngineType": rec["engine"], "EngineVersion": rec["version"], "Endpoints": lifecycle.endpoints(rec),
           "Users": sorted(rec.get("users") or {})}
    return 200, "application/json", json.dumps(doc).encode()
