"""Request-parameter checks and the AWS-style errors KMS answers with."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from services.errors import ServiceError


def _err(code: str, message: str = "", status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def _validation(message: str) -> ServiceError:
    return _err("ValidationException", message)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _enum_error(value: Any, member: str, allowed) -> ServiceError:
    return _validation(
        f"1 validation error detected: Value '{value}' at '{_camel(member)}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")


def _range_check(params: dict, member: str, lo: int, hi: int, default: int | None = None):
    value = params.get(member)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise _validation(f"1 validation error detected: Value '{value}' at '{_camel(member)}' "
                          f"failed to satisfy constraint: Member must be an integer")
    if value < lo:
        raise _validation(f"1 validation error detected: Value '{value}' at '{_camel(member)}' "
                          f"failed to satisfy constraint: Member must have value greater than "
                          f"or equal to {lo}")
    if value > hi:
        raise _validation(f"1 validation error detected: Value '{value}' at '{_camel(member)}' "
                          f"failed to satisfy constraint: Member must have value less than or "
                          f"equal to {hi}")
    return value


def _required(params: dict, member: str):
    value = params.get(member)
    if value is None:
        raise _validation(f"1 validation error detected: Value null at '{_camel(member)}' failed "
                          f"to satisfy constraint: Member must not be null")
    return value


def _blob(params: dict, member: str, lo: int, hi: int, required: bool = True) -> bytes | None:
    value = params.get(member)
    if value is None:
        if required:
            _required(params, member)
        return None
    if isinstance(value, str):
        value = value.encode()
    if len(value) < lo:
        raise _validation(f"1 validation error detected: Value at '{_camel(member)}' failed to "
                          f"satisfy constraint: Member must have length greater than or equal "
                          f"to {lo}")
    if len(value) > hi:
        raise _validation(f"1 validation error detected: Value at '{_camel(member)}' failed to "
                          f"satisfy constraint: Member must have length less than or equal to {hi}")
    return bytes(value)


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc)


def _dry_run_error() -> ServiceError:
    return _err("DryRunOperationException",
                "The request would have succeeded, but the DryRun option is set.", 400)
