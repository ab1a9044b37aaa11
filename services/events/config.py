"""EventBridge configuration keys (README table and deploy/broker.toml list them)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("events", "max_rules_per_bus", int, 300,
        "Rules per event bus (AWS's default quota, LimitExceededException beyond it; raise it as you would "
        "request a quota increase)."),
)
