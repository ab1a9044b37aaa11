"""Process hook of the monitoring services: wires telemetry in every worker.

- Everywhere: `telemetry.enabled` from config; metric batches go, once a
  second, to the partition of each namespace (account + region) they carry:
  one IPC call per namespace per process per second, never one per message.
- Gateways: the request observer (request metrics, CloudTrail, X-Ray) and,
  with several gateways, the Prometheus relay.
- Shards: the queue gauge sampler.
"""

from __future__ import annotations

import asyncio

from broker.runtime import telemetry
from services.cloudwatch.api import namespace_key


def install(host) -> None:
    config = host.run.config
    enabled = bool(config.get("telemetry.enabled", True))
    telemetry.TELEMETRY.enabled = enabled
    if not enabled:
        return
    cluster = host.cluster

    async def ship(points: list) -> None:
        by_ns: dict[tuple, list] = {}
        for p in points:
            by_ns.setdefault((p[0], p[1]), []).append(p)
        await asyncio.gather(*(cluster.call(namespace_key(a, r), "cloudwatch.Ingest", {"points": batch})
                               for (a, r), batch in by_ns.items()))
    telemetry.set_metric_sink(ship)
    if hasattr(host, "http_app"):
        from services.cloudwatch import prometheus
        from services.cloudwatch.observe import make_observer
        host.http_app.observer = make_observer(host)
        prometheus.start_relay(host)
    elif hasattr(host, "partitions"):
        from services.cloudwatch.gauges import GaugeSampler
        GaugeSampler(host, float(config.get("cloudwatch.gauge_interval", 60.0))).start()
