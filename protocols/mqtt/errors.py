"""MQTT 3.1.1 errors: who is to blame, and the spec clause that was broken.

MQTT 3.1.1 has no error packet: a malformed packet or a protocol violation
closes the network connection [MQTT-4.8.0-1]; only CONNECT problems are
answered first, with a CONNACK return code (3.2.2.3).
"""

from __future__ import annotations

# CONNACK return codes (3.2.2.3)
ACCEPTED = 0x00
UNACCEPTABLE_PROTOCOL_VERSION = 0x01
IDENTIFIER_REJECTED = 0x02
SERVER_UNAVAILABLE = 0x03
BAD_USERNAME_OR_PASSWORD = 0x04
NOT_AUTHORIZED = 0x05

# SUBACK return code for a refused subscription (3.9.3)
SUBACK_FAILURE = 0x80


class MqttError(Exception):
    """The peer broke the protocol: the connection is closed (after a CONNACK
    with ``connack`` when one is due). The text cites the spec clause."""

    def __init__(self, text: str, connack: int | None = None):
        super().__init__(text)
        self.text = text
        self.connack = connack
