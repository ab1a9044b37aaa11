"""EventBridge: event-bus policies (PutPermission). PutEvents is checked on
every bus its entries name, with ``events:source`` and ``events:detail-type``."""

from __future__ import annotations

from services.errors import ServiceError
from services.iam.declare import pass_role, role_arn
from services.iam.declare.default import denied, read, resource_of  # noqa: F401 (denied: the default shape)

require_resource = False


def _bus(ctx, name) -> str:
    if isinstance(name, str) and name.startswith("arn:"):
        return name
    return f"arn:aws:events:{ctx.region}:{ctx.account_id}:event-bus/{name or 'default'}"


def checks(ctx, operation: str, params: dict) -> list:
    action = f"events:{operation}"
    if operation == "PutEvents":
        out, seen = [], {}
        for e in params.get("Entries") or ():
            if not isinstance(e, dict):
                continue
            bus = _bus(ctx, e.get("EventBusName"))
            keys = seen.get(bus)
            if keys is None:
                keys = seen[bus] = {"events:source": [], "events:detail-type": []}
                out.append((action, bus, keys))
            keys["events:source"].append(e.get("Source"))
            keys["events:detail-type"].append(e.get("DetailType"))
        return out or [(action, _bus(ctx, None), None)]
    if operation in ("PutRule", "DeleteRule", "DescribeRule", "EnableRule", "DisableRule", "PutTargets",
                     "RemoveTargets", "ListTargetsByRule"):
        bus = params.get("EventBusName")
        name = params.get("Name") or params.get("Rule") or ""
        bus_name = bus.rsplit("/", 1)[-1] if isinstance(bus, str) and bus.startswith("arn:") else bus
        account = bus.split(":")[4] if isinstance(bus, str) and bus.startswith("arn:") else ctx.account_id
        path = f"rule/{bus_name}/{name}" if bus_name and bus_name != "default" else f"rule/{name}"
        out = [(action, f"arn:aws:events:{ctx.region}:{account}:{path}", None)]
        if operation == "PutTargets":
            out.extend(_target_roles(params))
        return out
    if operation in ("DescribeEventBus", "DeleteEventBus", "CreateEventBus", "UpdateEventBus"):
        return [(action, _bus(ctx, params.get("Name")), None)]
    if operation in ("PutPermission", "RemovePermission"):
        return [(action, _bus(ctx, params.get("EventBusName")), None)]
    return [(action, resource_of(params), None)]


def _target_roles(params: dict) -> list:
    """PutTargets hands each target's RoleArn to EventBridge (iam:PassRole); a Step
    Functions target must name one (AWS refuses it otherwise; the role's trust is not
    checked here, AWS finds out when it invokes the target)."""
    out = []
    for t in params.get("Targets") or ():
        if not isinstance(t, dict):
            continue
        role = role_arn(t.get("RoleArn"))
        if role:
            out.append(pass_role(role, "events.amazonaws.com"))
        elif not t.get("RoleArn") and isinstance(t.get("Arn"), str) and t["Arn"].startswith("arn:aws:states:"):
            raise ServiceError(f"RoleArn is required for target {t['Arn']}.", code="ValidationException",
                               status=400)
    return out


async def policy(host, arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) != 6 or not parts[5].startswith("event-bus/"):
        return None
    out = await read(host, "events", "DescribeEventBus", {"Name": arn}, parts[4], parts[3])
    return (out or {}).get("Policy")


def changes(ctx, operation: str, params: dict, result: dict) -> list:
    if operation in ("PutPermission", "RemovePermission", "CreateEventBus", "DeleteEventBus"):
        return [checks(ctx, operation, params)[0][1]]
    return []


def action_text(action: str) -> str:
    return action
