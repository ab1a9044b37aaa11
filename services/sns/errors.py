"""SNS errors with AWS's query codes and messages (the codec maps each code to
its modeled shape)."""

from __future__ import annotations

from services.errors import ServiceError


def err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def invalid(reason: str) -> ServiceError:
    """InvalidParameter, worded "Invalid parameter: <reason>"."""
    return err("InvalidParameter", f"Invalid parameter: {reason}")


def invalid_raw(message: str) -> ServiceError:
    """InvalidParameter whose message is not in the "Invalid parameter:" form."""
    return err("InvalidParameter", message)


def invalid_attrs(reason: str) -> ServiceError:
    """A bad entry of the Attributes map of Subscribe/CreateTopic."""
    return invalid(f"Attributes Reason: {reason}")


def value_invalid(message: str) -> ServiceError:
    return err("ParameterValueInvalid", message)


def not_found(message: str) -> ServiceError:
    return err("NotFound", message, 404)


def topic_not_found() -> ServiceError:
    return not_found("Topic does not exist")


def subscription_not_found() -> ServiceError:
    return not_found("Subscription does not exist")


def application_not_found() -> ServiceError:
    return not_found("PlatformApplication does not exist")


def endpoint_not_found() -> ServiceError:
    return not_found("Endpoint does not exist")


def resource_not_found() -> ServiceError:
    return err("ResourceNotFound", "Resource does not exist", 404)
