"""EventBridge Scheduler: schedules addressed by their ARN; a schedule's
``Target.RoleArn`` is checked when it is given (CreateSchedule,
UpdateSchedule), as AWS does: the caller needs iam:PassRole on it, and the
Scheduler must be able to assume it, else ValidationException "The execution
role you provide must allow AWS EventBridge Scheduler to assume the role."."""

from __future__ import annotations

from services.errors import ServiceError
from services.iam.declare import RoleUse, pass_role, role_arn
from services.iam.declare.default import denied, resource_of  # noqa: F401 (denied: the default shape)

PRINCIPAL = "scheduler.amazonaws.com"
_SCHEDULE_OPS = ("CreateSchedule", "UpdateSchedule", "GetSchedule", "DeleteSchedule")

policy = None
require_resource = False


def _schedule(ctx, params: dict) -> str:
    group = params.get("GroupName") or "default"
    return f"arn:aws:scheduler:{ctx.region}:{ctx.account_id}:schedule/{group}/{params.get('Name', '')}"


def _role(operation: str, params: dict) -> str | None:
    if operation not in ("CreateSchedule", "UpdateSchedule"):
        return None
    target = params.get("Target")
    return role_arn(target.get("RoleArn")) if isinstance(target, dict) else None


def checks(ctx, operation: str, params: dict) -> list:
    resource = _schedule(ctx, params) if operation in _SCHEDULE_OPS else resource_of(params)
    out = [(f"scheduler:{operation}", resource, None)]
    role = _role(operation, params)
    if role:
        out.append(pass_role(role, PRINCIPAL))
    return out


def assumes(ctx, operation: str, params: dict) -> list:
    role = _role(operation, params)
    return [RoleUse(role, PRINCIPAL, _schedule(ctx, params))] if role else []


def not_assumable(ctx, exc):
    return ServiceError(exc.message, code="ValidationException", status=400)


def action_text(action: str) -> str:
    return action


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    return []
