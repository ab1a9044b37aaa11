"""Process hook of CloudTrail: audit batches go, once a second, to the CloudTrail
partition of each account they concern (one IPC call per account)."""

from __future__ import annotations

import asyncio

from broker.runtime import telemetry
from services.cloudtrail.api import account_key


def install(host) -> None:
    if not telemetry.TELEMETRY.enabled or not host.run.config.get("telemetry.enabled", True):
        return
    cluster = host.cluster

    async def ship(events: list) -> None:
        by_account: dict[str, list] = {}
        for e in events:
            by_account.setdefault(e.get("recipientAccountId", ""), []).append(e)
        await asyncio.gather(*(cluster.call(account_key(a), "cloudtrail.Record", {"events": batch})
                               for a, batch in by_account.items()))
    telemetry.set_audit_sink(ship)
