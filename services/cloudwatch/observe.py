"""The gateway's request observer: after every AWS request, count it for
Prometheus, publish AWS/Usage call counts, record the CloudTrail event and,
for a traced request, the X-Ray segment. All of it goes through telemetry
(aggregated or queued in this process, shipped once a second)."""

from __future__ import annotations

import time

from broker.runtime import telemetry
from services.cloudtrail import record as cloudtrail_record
from services.xray import record as xray_record

# services whose API calls AWS counts in AWS/Usage CallCount (dimensions Service, Type, Resource, Class)
USAGE_SERVICES = {"kms": "KMS", "cloudwatch": "CloudWatch", "logs": "Logs", "sns": "SNS",
                  "events": "EventBridge", "states": "States", "stepfunctions": "States"}


def make_observer(gateway):
    keys: dict[tuple, tuple] = {}
    tel = telemetry.TELEMETRY
    trail = cloudtrail_record.Recorder(gateway)
    xray = xray_record.Recorder(gateway)

    def observe(rec, req, conn, resp) -> None:
        if not tel.enabled:
            return
        match = rec.match
        service = rec.service or "unknown"
        op = match.operation if match is not None else "unknown"
        status = resp.status
        k = keys.get((service, op, status))
        if k is None:
            if len(keys) > 20_000:
                keys.clear()
            k = keys[(service, op, status)] = (
                tel.key("broker_requests_total", {"service": service, "operation": op, "status": str(status)}),
                tel.key("broker_request_duration_seconds", {"service": service, "operation": op}))
        tel.count_key(k[0])
        tel.observe_key(k[1], time.perf_counter() - rec.started)
        ctx = rec.ctx
        if ctx is not None:
            usage = USAGE_SERVICES.get(service)
            if usage is not None:
                tel.metric("AWS/Usage", "CallCount", {"Service": usage, "Type": "API", "Resource": op,
                                                      "Class": "None"}, 1, "None",
                           account=ctx.account_id, region=ctx.region)
        if rec.principal is not None and match is not None:
            trail.observe(rec, req, conn, resp)
            if ctx is not None and ctx.trace_header:
                xray.observe(rec, req, conn, resp)
    return observe
