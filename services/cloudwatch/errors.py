"""CloudWatch's errors by model shape name (the codec writes the query code, e.g.
``InvalidParameterValue``, and the x-amzn-query-error header for JSON/CBOR)."""

from __future__ import annotations

from services.errors import ServiceError


def _e(code: str, message: str, status: int = 400, **fields) -> ServiceError:
    return ServiceError(message, code=code, status=status, sender_fault=True, **fields)


def invalid_value(message: str) -> ServiceError:
    return _e("InvalidParameterValueException", message)


def invalid_combination(message: str) -> ServiceError:
    return _e("InvalidParameterCombinationException", message)


def missing(name: str) -> ServiceError:
    return _e("MissingRequiredParameterException", f"The parameter {name} is required.")


def invalid_next_token() -> ServiceError:
    return _e("InvalidNextToken", "The service returned an error with Error Code InvalidNextToken and HTTP Status "
              "Code 400.")


def not_found(message: str) -> ServiceError:
    return _e("ResourceNotFound", message, 404)


def resource_not_found(rtype: str, rid: str, message: str) -> ServiceError:
    return _e("ResourceNotFoundException", message, 404, ResourceType=rtype, ResourceId=rid)


def limit_exceeded(message: str) -> ServiceError:
    return _e("LimitExceededFault", message)


def dashboard_invalid(message: str, messages: list | None = None) -> ServiceError:
    return _e("DashboardInvalidInputError", message, dashboardValidationMessages=messages or [])


def dashboard_not_found(message: str) -> ServiceError:
    return _e("DashboardNotFoundError", message, 404)


def validation(message: str) -> ServiceError:
    return _e("ValidationException", message)
