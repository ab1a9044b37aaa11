"""AMQP 0-9-1 errors with RabbitMQ's reply codes and texts.

A soft error (``ChannelError``) closes the channel with channel.close; a hard
one (``ConnectionError_``) closes the connection with connection.close. The
reply text always starts with the code's name, as RabbitMQ writes it
(``NOT_FOUND - no queue 'x' in vhost '/'``).
"""

from __future__ import annotations

CONTENT_TOO_LARGE = 311
NO_ROUTE = 312
CONNECTION_FORCED = 320
INVALID_PATH = 402
ACCESS_REFUSED = 403
NOT_FOUND = 404
RESOURCE_LOCKED = 405
PRECONDITION_FAILED = 406
FRAME_ERROR = 501
SYNTAX_ERROR = 502
COMMAND_INVALID = 503
CHANNEL_ERROR = 504
UNEXPECTED_FRAME = 505
RESOURCE_ERROR = 506
NOT_ALLOWED = 530
NOT_IMPLEMENTED = 540
INTERNAL_ERROR = 541

NAMES = {
    CONTENT_TOO_LARGE: "CONTENT_TOO_LARGE", NO_ROUTE: "NO_ROUTE", CONNECTION_FORCED: "CONNECTION_FORCED",
    INVALID_PATH: "INVALID_PATH", ACCESS_REFUSED: "ACCESS_REFUSED", NOT_FOUND: "NOT_FOUND",
    RESOURCE_LOCKED: "RESOURCE_LOCKED", PRECONDITION_FAILED: "PRECONDITION_FAILED", FRAME_ERROR: "FRAME_ERROR",
    SYNTAX_ERROR: "SYNTAX_ERROR", COMMAND_INVALID: "COMMAND_INVALID", CHANNEL_ERROR: "CHANNEL_ERROR",
    UNEXPECTED_FRAME: "UNEXPECTED_FRAME", RESOURCE_ERROR: "RESOURCE_ERROR", NOT_ALLOWED: "NOT_ALLOWED",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED", INTERNAL_ERROR: "INTERNAL_ERROR",
}
HARD = {CONNECTION_FORCED, INVALID_PATH, FRAME_ERROR, SYNTAX_ERROR, COMMAND_INVALID, CHANNEL_ERROR,
        UNEXPECTED_FRAME, RESOURCE_ERROR, NOT_ALLOWED, NOT_IMPLEMENTED, INTERNAL_ERROR}


class AmqpError(Exception):
    """An error to report to the peer: ``code``, full reply ``text``, and the
    class/method id of the method that caused it (0, 0 if none)."""

    def __init__(self, code: int, detail: str, class_id: int = 0, method_id: int = 0):
        self.code = code
        self.text = detail if detail.startswith(NAMES[code] + " - ") else f"{NAMES[code]} - {detail}"
        self.class_id, self.method_id = class_id, method_id
        super().__init__(self.text)

    @property
    def hard(self) -> bool:
        return self.code in HARD


def where(kind: str, name: str, vhost: str) -> str:
    return f"{kind} '{name}' in vhost '{vhost}'"


def no_queue(name: str, vhost: str) -> AmqpError:
    return AmqpError(NOT_FOUND, f"no {where('queue', name, vhost)}")


def no_exchange(name: str, vhost: str) -> AmqpError:
    return AmqpError(NOT_FOUND, f"no {where('exchange', name, vhost)}")


def locked(name: str, vhost: str) -> AmqpError:
    return AmqpError(RESOURCE_LOCKED, f"cannot obtain exclusive access to locked {where('queue', name, vhost)}. "
                     "It could be originally declared on another connection or the exclusive property value "
                     "does not match that of the original declaration.")


def refused(kind: str, name: str, vhost: str, user: str) -> AmqpError:
    return AmqpError(ACCESS_REFUSED, f"access to {where(kind, name, vhost)} refused for user '{user}'")


def default_exchange_refused() -> AmqpError:
    return AmqpError(ACCESS_REFUSED, "operation not permitted on the default exchange")
