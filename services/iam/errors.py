"""IAM's errors, with its codes, statuses and texts."""

from __future__ import annotations

from broker.core.errors import OpError


def err(code: str, message: str, status: int = 400) -> OpError:
    return OpError(message, code=code, status=status, sender_fault=True)


def no_such(message: str) -> OpError:
    return err("NoSuchEntity", message, 404)


def exists(message: str) -> OpError:
    return err("EntityAlreadyExists", message, 409)


def conflict(message: str) -> OpError:
    return err("DeleteConflict", message, 409)


def limit(message: str) -> OpError:
    return err("LimitExceeded", message, 409)


def malformed(message: str) -> OpError:
    return err("MalformedPolicyDocument", message, 400)


def invalid(message: str) -> OpError:
    return err("InvalidInput", message, 400)


def validation(message: str) -> OpError:
    return err("ValidationError", message, 400)
