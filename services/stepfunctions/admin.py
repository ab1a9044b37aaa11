"""Admin paths of Step Functions on the HTTP listener.

``GET /_broker/stepfunctions/express-executions[?executionArn=ARN]``: the
histories of Express executions (recent ones, per partition), as the log
records Step Functions writes to CloudWatch Logs for them (logdelivery.py), with
their data, whatever the machine's logging configuration: a look at Express
executions without configuring a log group.
"""

from __future__ import annotations

import json

from services.stepfunctions.logdelivery import log_record

PREFIX = "/_broker/stepfunctions/"


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
                        "events": [log_record(item["executionArn"], e) for e in item["events"]]})
    return 200, "application/json", json.dumps({"executions": out}).encode()
