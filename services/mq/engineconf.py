"""Broker configurations: RabbitMQ cuttlefish (``key = value``) and ActiveMQ XML.

RabbitMQ: the settings Amazon MQ lets you change are accepted; the ones this
broker honours are turned into broker settings (``settings``); anything else
is refused with a BadRequestException naming the key. ActiveMQ: the XML is
stored after a well-formedness check (its listeners arrive with the MQTT
issue, so nothing of it is applied yet).
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET

from services.mq.catalog import bad_request

RABBITMQ_DEFAULT = ("# Default RabbitMQ delivery acknowledgement timeout is 30 minutes in milliseconds\n"
                    "consumer_timeout = 1800000\n")
ACTIVEMQ_DEFAULT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<broker xmlns="http://activemq.apache.org/schema/core">\n'
                    '  <destinationPolicy>\n    <policyMap>\n      <policyEntries>\n'
                    '        <policyEntry topic="&gt;">\n          <pendingMessageLimitStrategy>\n'
                    '            <constantPendingMessageLimitStrategy limit="3000"/>\n'
                    '          </pendingMessageLimitStrategy>\n        </policyEntry>\n'
                    '      </policyEntries>\n    </policyMap>\n  </destinationPolicy>\n'
                    '  <plugins>\n  </plugins>\n</broker>\n')

# Amazon MQ's configurable RabbitMQ keys -> parser (None: accepted, not used here)
_INT = int


def _bool(v: str) -> bool:
    if v not in ("true", "false"):
        raise ValueError(v)
    return v == "true"


def _queue_type(v: str) -> str:
    if v not in ("classic", "quorum"):
        raise ValueError(v)
    return v


RABBITMQ_KEYS = {
    "consumer_timeout": ("consumer_timeout", _INT),
    "default_queue_type": ("default_queue_type", _queue_type),
    "heartbeat": ("heartbeat", _INT),
    "channel_max": ("channel_max", _INT),
    "management.restrictions.operator_policy_changes.disabled": (None, _bool),
    "quorum_queue.property_equivalence.relaxed_checks_on_redeclaration": ("relaxed_redeclare", _bool),
    "secure.management.http.headers.enabled": (None, _bool),
}


def default_data(engine: str) -> str:
    text = RABBITMQ_DEFAULT if engine == "RABBITMQ" else ACTIVEMQ_DEFAULT
    return base64.b64encode(text.encode()).decode()


def decode_data(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_request("data", "The configuration data must be base64 encoded.") from None


def parse_rabbitmq(text: str) -> dict:
    """Cuttlefish lines ``key = value`` (comments with #) -> broker settings."""
    settings: dict = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise bad_request("data", f"Invalid configuration at line {n}: expected 'key = value'.")
        spec = RABBITMQ_KEYS.get(key)
        if spec is None:
            raise bad_request("data", f"Configuration key [{key}] is not supported. Supported keys are: "
                              f"[{', '.join(sorted(RABBITMQ_KEYS))}]")
        name, conv = spec
        try:
            parsed = conv(value)
        except ValueError:
            raise bad_request("data", f"Invalid value [{value}] for configuration key [{key}].") from None
        if name is not None:
            settings[name] = parsed
    return settings


def validate_activemq(text: str) -> None:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise bad_request("data", f"The configuration is not well-formed XML: {exc}.") from None
    if root.tag.rsplit("}", 1)[-1] != "broker":
        raise bad_request("data", "The configuration's root element must be <broker>.")


def settings_of(engine: str, data_b64: str) -> dict:
    text = decode_data(data_b64)
    if engine == "RABBITMQ":
        return parse_rabbitmq(text)
    validate_activemq(text)
    return {}
