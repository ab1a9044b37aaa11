"""Admin paths of Step Functions on the HTTP listener.

``GET /_broker/stepfunctions/express-executions[?executionArn=ARN]``: the
histories of Express executions (recent ones, per partition), as the log
records Step Functions writes to CloudWatch Logs for them (``id``,
``type``, ``details``, ``previous_event_id``, ``event_timestamp``,
``execution_arn``, ``redrive_count``), until a CloudWatch Logs service lands.
"""

from __future__ import annotations

import json

PREFIX = "/_broker/stepfunctions/"


def log_record(arn: str, rec_status: str, ev: dict) -> dict:
    details = None
    for k, v in ev.items():
        if k.endswith("EventDetails"):
            details = v
    return {"id": str(ev["id"]), "type": ev["type"], "details": details or {},
            "previous_event_id": str(ev["previousEventId"]), "event_timestamp": str(ev["timestamp"]),
            "execution_arn": arn, "redrive_count": "0"}


async def handle(gateway, method, path, query, headers, body):
    if not path.startswith(PREFIX):
        return None
    rest = path[len(PREFIX):].strip("/")
    if rest != "express-executions" or method not in ("GET", "HEAD"):
        return 404, "application/json", json.dumps({"error": f"no admin endpoint {method} {path}"}).encode()
    arn = query.get("executionArn")
    results = await gateway.cluster.call_all("sfn.ExpressHistory", {"arn": arn})
    out = []
    for _p, items in results:
        for item in items:
            out.append({"executionArn": item["executionArn"], "status": item["status"],
                        "events": [log_record(item["executionArn"], item["status"], e) for e in item["events"]]})
    return 200, "application/json", json.dumps({"executions": out}).encode()
