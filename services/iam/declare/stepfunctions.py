"""Step Functions: a state machine's ``roleArn`` is checked when it is given
(CreateStateMachine, UpdateStateMachine, TestState), as AWS does: the caller
needs iam:PassRole on it, and Step Functions (global or regional principal)
must be able to assume it, else AccessDeniedException "Neither the global
service principal states.amazonaws.com, nor the regional one is authorized
to assume the provided role.". A definition with ``states:startExecution.sync``
also needs the role to manage EventBridge's managed rule
(events:PutTargets/PutRule/DescribeRule on
``rule/StepFunctionsGetEventsForStepFunctionsExecutionRule``), else
"'<role>' is not authorized to create managed-rule."."""

from __future__ import annotations

import json

from services.iam.declare import RoleUse, pass_role, role_arn
from services.iam.declare.default import denied, read, resource_of

PRINCIPAL = "states.amazonaws.com"
MANAGED_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
MANAGED_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")
_GIVES_ROLE = ("CreateStateMachine", "UpdateStateMachine", "TestState")

policy = None
require_resource = False


def _machine(ctx, operation: str, params: dict) -> str:
    if operation == "CreateStateMachine":
        return f"arn:aws:states:{ctx.region}:{ctx.account_id}:stateMachine:{params.get('name', '')}"
    arn = params.get("stateMachineArn") or ""
    p = arn.split(":")
    return ":".join(p[:7]) if len(p) > 7 and p[5] == "stateMachine" else arn     # a version's machine


def checks(ctx, operation: str, params: dict) -> list:
    if operation == "CreateStateMachine":
        out = [("states:CreateStateMachine", _machine(ctx, operation, params), None)]
    else:
        out = [(f"states:{operation}", resource_of(params) if operation != "TestState" else "*", None)]
    role = role_arn(params.get("roleArn")) if operation in _GIVES_ROLE else None
    if role:
        out.append(pass_role(role, PRINCIPAL))
    return out


def _states(node):
    """Every state of a definition, inside Parallel branches and Map processors too."""
    if not isinstance(node, dict):
        return
    for st in (node.get("States") or {}).values():
        if not isinstance(st, dict):
            continue
        yield st
        for b in st.get("Branches") or ():
            yield from _states(b)
        for key in ("ItemProcessor", "Iterator"):
            yield from _states(st.get(key))


def starts_sync(definition) -> bool:
    """The definition runs nested executions with .sync (Step Functions watches them
    through EventBridge's managed rule)."""
    try:
        doc = json.loads(definition) if isinstance(definition, str) else None
    except ValueError:
        return False
    return any(isinstance(st.get("Resource"), str) and ":states:startExecution.sync" in st["Resource"]
               for st in _states(doc))


def assumes(ctx, operation: str, params: dict) -> list:
    if operation not in ("CreateStateMachine", "UpdateStateMachine"):
        return []
    role = role_arn(params.get("roleArn"))
    sync = starts_sync(params.get("definition"))
    if role is None and not (sync and params.get("roleArn") is None and operation == "UpdateStateMachine"):
        return []
    needs = ()
    if sync:
        rule = f"arn:aws:events:{ctx.region}:{ctx.account_id}:rule/{MANAGED_RULE}"
        needs = tuple((a, rule) for a in MANAGED_RULE_ACTIONS)
    # no role given (a new definition only): the machine's current role (current_role)
    return [RoleUse(role or "", PRINCIPAL, _machine(ctx, operation, params), needs,
                    "'{role}' is not authorized to create managed-rule.")]


async def current_role(host, ctx, machine: str) -> str | None:
    """The role a state machine has now (None: no such machine; its own error follows)."""
    out = await read(host, "stepfunctions", "DescribeStateMachine", {"stateMachineArn": machine},
                     ctx.account_id, ctx.region)
    return (out or {}).get("roleArn")


def not_assumable(ctx, exc):
    return denied(ctx, exc.message)


def action_text(action: str) -> str:
    return action


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    return []
