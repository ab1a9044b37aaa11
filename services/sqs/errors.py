"""SQS errors with AWS's codes and messages.

Codes are the JSON shape names (the codec adds the legacy query code, e.g.
``AWS.SimpleQueueService.NonExistentQueue``, from the model); codes SQS
returns without a modeled shape (MissingParameter, InvalidParameterValue)
are the query codes, which the codec renames in JSON's ``__type``
(``...#MissingRequiredParameterException``, ``...#InvalidParameterValueException``).
"""

from __future__ import annotations

from services.errors import ServiceError


def err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def queue_does_not_exist() -> ServiceError:
    return err("QueueDoesNotExist", "The specified queue does not exist.")


def missing_parameter(name: str) -> ServiceError:
    return err("MissingParameter", f"The request must contain the parameter {name}.")


def invalid_parameter(message: str) -> ServiceError:
    return err("InvalidParameterValue", message)


def invalid_value(value, name: str, reason: str) -> ServiceError:
    end = "" if reason.endswith(".") else "."
    return err("InvalidParameterValue", f"Value {value} for parameter {name} is invalid. Reason: {reason}{end}")


def invalid_attribute_name(name: str) -> ServiceError:
    return err("InvalidAttributeName", f"Unknown Attribute {name}.")


def invalid_attribute_value(name: str, detail: str = "") -> ServiceError:
    msg = f"Invalid value for the parameter {name}."
    if detail:
        msg += f" Reason: {detail}"
    return err("InvalidAttributeValue", msg)


def receipt_handle_invalid(handle: str) -> ServiceError:
    return err("ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.')


def receipt_handle_expired(handle: str) -> ServiceError:
    return invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")


def message_not_available(handle: str) -> ServiceError:
    return invalid_value(handle, "ReceiptHandle", "Message does not exist or is not available for visibility "
                         "timeout change.")


def invalid_action(action: str) -> ServiceError:
    return err("InvalidAction", f"The action {action} is not valid for this endpoint.")
