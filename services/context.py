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
    gateway: Any              # broker.runtime.gateway.Gateway (config, draining, services)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"
