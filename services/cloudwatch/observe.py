"""The gateway's request observer: after every AWS request, count it for
Prometheus, publish AWS/Usage call counts, record the CloudTrail event and,
for a traced request, the X-Ray segment. All of it goes through telemetry
(aggregated or queued in this process, shipped once a second).

It runs once per request on the hottest path there is, so everything about
an (service, operation, status) is looked up once and kept in one entry.
"""

from __future__ import annotations

import bisect
import logging
import types

from broker.runtime import telemetry
from services.cloudtrail import record as cloudtrail_record
from services.xray import record as xray_record

# services whose API calls AWS counts in AWS/Usage CallCount (dimensions Service, Type, Resource, Class)
USAGE_SERVICES = {"kms": "KMS", "cloudwatch": "CloudWatch", "logs": "Logs", "sns": "SNS",
                  "events": "EventBridge", "states": "States", "stepfunctions": "States"}
MAX_ENTRIES = 20_000
log = logging.getLogger("broker.cloudwatch")


def make_observer(gateway):
    tel = telemetry.TELEMETRY
    trail = cloudtrail_record.Recorder(gateway)
    xray = xray_record.Recorder(gateway)
    selectors = trail.selectors
    where = bisect.bisect_left
    bounds = telemetry.BUCKETS
    entries: dict[tuple, tuple] = {}
    get = entries.get

    def entry(service: str, op: str, status: int) -> tuple:
        if len(entries) > MAX_ENTRIES:
            entries.clear()
        usage = USAGE_SERVICES.get(service)
        e = entries[(service, op, status)] = (
            tel.request_stat(service, op, status),
            {"Service": usage, "Type": "API", "Resource": op, "Class": "None"} if usage else None,
            cloudtrail_record.is_data_event(service, op))
        return e

    def count(seen: tuple, dt: float, status: int) -> bool:
        """Count one answered request from what the gateway saw of it, (service, match,
        principal, ctx, params, result, error); True if it needs `later` (audit, trace,
        usage)."""
        service, match, principal, ctx, _params, _result, _error = seen
        if match is None:
            key = (service or "unknown", "unknown", status)
        else:
            key = (service, match.operation, status)
        e = get(key) or entry(*key)
        st = e[0]                                  # RequestStat.observe, inlined
        st.count += 1
        st.sum += dt
        st.buckets[where(bounds, dt)] += 1
        if principal is None or match is None:
            return False
        if ctx is not None and (e[1] is not None or ctx.trace_header):
            return True
        # a data event (SendMessage under load) is recorded only if a trail selects it
        return not e[2] or bool(selectors.accounts.get(principal.account_id))

    def later(pending: list) -> None:
        """What `count` said needs more, a loop iteration's requests at a time:
        [(record, req, conn, resp), ...]."""
        for rec, req, conn, resp in pending:
            try:
                e = get((rec.service, rec.match.operation, resp.status)) or entry(
                    rec.service, rec.match.operation, resp.status)
                ctx = rec.ctx
                if ctx is not None:
                    if e[1] is not None:
                        tel.metric("AWS/Usage", "CallCount", e[1], 1, "None",
                                   account=ctx.account_id, region=ctx.region)
                    if ctx.trace_header:
                        xray.observe(rec, req, conn, resp)
                if not e[2] or selectors.accounts.get(rec.principal.account_id):   # data events: if selected
                    trail.observe(rec, req, conn, resp)
            except Exception:
                log.exception("event=request_observer_failed")

    return types.SimpleNamespace(count=count, later=later)
