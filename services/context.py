"""What a service's gateway half sees of one request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class RequestContext:
    request_id: str
    account_id: str
    region: str
    principal_arn: str
    access_key: str
    user_name: str
    service: str
    operation: str
    protocol: str
    host: str                 # Host header as sent (for URLs we hand back)
    scheme: str               # http | https
    path: str                 # request path (SQS query requests may carry the queue URL here)
    cluster: Any              # broker.runtime.cluster.Cluster: call(key, op, args) etc.
    gateway: Any              # broker.runtime.gateway.Gateway (config, draining, services), or the
                              # shard for service-to-service calls (services/internal.py)
    source_arn: str | None = None     # service-to-service calls: the resource acting (aws:SourceArn)
    trace_header: str | None = None   # X-Amzn-Trace-Id carried along (X-Ray)
    internal: bool = False            # called by another service, not over the wire

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"
