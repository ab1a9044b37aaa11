"""Events that AWS services put on an account's default bus.

Other services call `put_service_event` to emit what AWS emits for them
(CloudTrail's "AWS API Call via CloudTrail", an SQS/SNS/SES/Step Functions
state change, ...), so rules on the default bus match them as they would
at AWS. The event is committed at the bus owner before this returns, then
fans out like any other event. ``source`` may be an ``aws.*`` source: it is
the service speaking, not a client.

    from services.events.emit import put_service_event
    await put_service_event(host, account, region, "aws.sqs", "AWS API Call via CloudTrail",
                            {"eventSource": "sqs.amazonaws.com", "eventName": "CreateQueue", ...},
                            resources=[queue_arn])

``host`` is the caller's process object (a gateway, or a shard: anything
with ``cluster``).
"""

from __future__ import annotations

import time

from broker.core.ids import uuid4

from .names import DEFAULT_BUS, bus_key, iso


def service_event(account: str, region: str, source: str, detail_type: str, detail: dict,
                  resources: list | tuple = (), time_ms: int | None = None) -> dict:
    """The event document, in AWS's field order."""
    return {"version": "0", "id": uuid4(), "detail-type": detail_type, "source": source, "account": account,
            "time": iso(time_ms if time_ms is not None else int(time.time() * 1000)), "region": region,
            "resources": list(resources), "detail": detail}


async def put_service_event(host, account: str, region: str, source: str, detail_type: str, detail: dict,
                            resources: list | tuple = (), trace_header: str | None = None,
                            bus: str = DEFAULT_BUS) -> str:
    """Put one service event on the account's default bus; returns its event id."""
    ev = service_event(account, region, source, detail_type, detail, resources)
    key = bus_key(account, region, bus)
    await host.cluster.call(key, "events.Put", {"k": key, "ev": [ev], "trace": [trace_header]})
    return ev["id"]


async def put_service_events(host, account: str, region: str, events: list[dict], bus: str = DEFAULT_BUS) -> None:
    """Several documents built with `service_event` in one commit."""
    if events:
        key = bus_key(account, region, bus)
        await host.cluster.call(key, "events.Put", {"k": key, "ev": events})
