"""Step Functions API errors with AWS's codes and messages (word for word)."""

from __future__ import annotations

from services.errors import ServiceError


def err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def invalid_arn(detail: str) -> ServiceError:
    return err("InvalidArn", f"Invalid Arn: '{detail}'")


def invalid_name(name: str) -> ServiceError:
    return err("InvalidName", f"Invalid Name: '{name}'")


def invalid_definition(message: str) -> ServiceError:
    return err("InvalidDefinition", message)


def sm_does_not_exist(arn: str) -> ServiceError:
    return err("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def sm_already_exists(arn: str) -> ServiceError:
    return err("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")


def execution_does_not_exist(arn: str) -> ServiceError:
    return err("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")


def execution_already_exists(arn: str) -> ServiceError:
    return err("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")


def activity_does_not_exist(arn: str) -> ServiceError:
    return err("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")


def activity_already_exists(arn: str) -> ServiceError:
    return err("ActivityAlreadyExists", f"Activity Already Exists: '{arn}'")


def invalid_execution_input(detail: str) -> ServiceError:
    return err("InvalidExecutionInput", f"Invalid State Machine Execution Input: '{detail}'")


def invalid_output(detail: str) -> ServiceError:
    return err("InvalidOutput", f"Invalid Output: '{detail}'")


def invalid_token(detail: str = "Invalid token") -> ServiceError:
    return err("InvalidToken", f"Invalid Token: '{detail}'")


def task_timed_out() -> ServiceError:
    return err("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")


def type_not_supported() -> ServiceError:
    return err("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")


def resource_not_found(arn: str) -> ServiceError:
    return err("ResourceNotFound", f"Resource not found: '{arn}'")


def validation(message: str) -> ServiceError:
    return err("ValidationException", message)


def conflict(message: str) -> ServiceError:
    return err("ConflictException", message)


def too_many_tags(arn: str) -> ServiceError:
    return ServiceError(f"Too many tags: '{arn}'", code="TooManyTags", status=400, resourceName=arn)


def execution_not_redrivable(message: str) -> ServiceError:
    return err("ExecutionNotRedrivable", message)
