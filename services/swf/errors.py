"""SWF faults with the codes and messages the service returns.

Every modeled fault is HTTP 400 (the codec puts SWF's
``com.amazonaws.swf.base.model#`` namespace on ``__type``); input that breaks
a constraint is Coral's ``ValidationException`` in its usual
"1 validation error detected: ..." wording.
"""

from __future__ import annotations

from services.errors import ServiceError, ValidationError


def fault(code: str, message: str) -> ServiceError:
    return ServiceError(message, code=code, status=400)


def type_ref(kind: str, name: str, version: str) -> str:
    """``WorkflowType=[name=n, version=v]`` / ``ActivityType=[...]`` as SWF prints types."""
    return f"{kind}Type=[name={name}, version={version}]"


def unknown_domain(name: str) -> ServiceError:
    return fault("UnknownResourceFault", f"Unknown domain: {name}")


def unknown_type(kind: str, name: str, version: str) -> ServiceError:
    return fault("UnknownResourceFault", f"Unknown type: {type_ref(kind, name, version)}")


def unknown_execution(workflow_id: str, run_id: str | None = None) -> ServiceError:
    if not run_id:
        return fault("UnknownResourceFault", f"Unknown execution, workflowId = {workflow_id}")
    return fault("UnknownResourceFault",
                 f"Unknown execution: WorkflowExecution=[workflowId={workflow_id}, runId={run_id}]")


def unknown_decision_task(scheduled_event_id: int) -> ServiceError:
    return fault("UnknownResourceFault", f"Unknown decision task, scheduledEventId = {scheduled_event_id}")


def unknown_activity(scheduled_event_id: int) -> ServiceError:
    return fault("UnknownResourceFault", f"Unknown activity, scheduledEventId = {scheduled_event_id}")


def unknown_resource(arn: str) -> ServiceError:
    return fault("UnknownResourceFault", f"Unknown resource: {arn}")


def violations(items: list[tuple[object, str, str]]) -> ValidationError:
    """[(value, path, constraint)] -> one ValidationException listing every violation."""
    parts = []
    for value, path, constraint in items:
        shown = "null" if value is None else f"'{value}'"
        parts.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")
    head = "1 validation error detected: " if len(parts) == 1 else f"{len(parts)} validation errors detected: "
    return ValidationError(head + "; ".join(parts))


def invalid(value, path: str, constraint: str) -> ValidationError:
    return violations([(value, path, constraint)])


def validation(message: str) -> ValidationError:
    return ValidationError(message)


def invalid_token() -> ValidationError:
    return ValidationError("Invalid token")
