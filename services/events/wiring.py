"""Process hook: "AWS API Call via CloudTrail" events on each account's default bus.

At AWS, every management call that changes something (not read-only calls,
not data events) is also delivered to the default event bus of the account
as an ``AWS API Call via CloudTrail`` event from ``aws.<service>``. The
gateway's CloudTrail records reach CloudTrail through the telemetry audit
sink; this hook wraps that sink (CloudTrail's hook runs first, the registry
lists it earlier) and forwards the qualifying records, one commit per
account+region and flush, through services/events/emit.py.
"""

from __future__ import annotations

import logging

from broker.runtime import telemetry

from .emit import put_service_events, service_event

log = logging.getLogger("broker.events")

# Delivered as events themselves, not as API calls about them.
NOT_FORWARDED = {"PutEvents", "PutPartnerEvents"}
DETAIL_TYPE = "AWS API Call via CloudTrail"


def to_event(record: dict) -> tuple[str, str, dict] | None:
    """(account, region, event) for a CloudTrail record that AWS puts on the default bus."""
    if record.get("readOnly") or record.get("eventCategory", "Management") != "Management":
        return None
    if record.get("eventName") in NOT_FORWARDED:
        return None
    account = record.get("recipientAccountId")
    region = record.get("awsRegion")
    source = (record.get("eventSource") or "").split(".", 1)[0]
    if not account or not region or not source:
        return None
    ev = service_event(account, region, f"aws.{source}", DETAIL_TYPE, record)
    if record.get("eventTime"):
        ev["time"] = record["eventTime"]
    return account, region, ev


def install(host) -> None:
    previous = telemetry.TELEMETRY.audit_sink

    async def sink(records: list) -> None:
        if previous is not None:
            try:
                await previous(records)
            except Exception as exc:       # CloudTrail's own trouble must not stop the events
                log.info("event=audit_sink_failed records=%d error=%s", len(records), exc)
        by_ns: dict[tuple[str, str], list] = {}
        for r in records:
            out = to_event(r)
            if out is not None:
                by_ns.setdefault(out[:2], []).append(out[2])
        for (account, region), evs in by_ns.items():
            try:
                await put_service_events(host, account, region, evs)
            except Exception as exc:
                log.info("event=cloudtrail_events_not_forwarded account=%s count=%d error=%s", account, len(evs), exc)

    telemetry.set_audit_sink(sink)
