"""Entity keys and records of the Amazon MQ service."""

from __future__ import annotations


def broker_key(broker_id: str) -> str:
    return f"mq/broker/{broker_id}"


def configuration_key(config_id: str) -> str:
    return f"mq/config/{config_id}"
