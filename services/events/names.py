"""EventBridge names, ARNs, entity keys and AWS's error answers.

Two kinds of entity, each owned by the shard of its key:

- an event bus (``events/<account>/<region>/bus/<name>``) with its rules,
  targets, permissions and tags: publishing commits there once;
- a namespace (``events/<account>/<region>``) holding what is looked up by
  name across buses: archives (and their events), replays, connections,
  API destinations, endpoints and partner event sources.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from services.errors import ServiceError

DEFAULT_BUS = "default"


def bus_key(account: str, region: str, name: str) -> str:
    return f"events/{account}/{region}/bus/{name}"


def ns_key(account: str, region: str) -> str:
    return f"events/{account}/{region}"


def bus_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rule_arn(account: str, region: str, bus: str, name: str) -> str:
    if bus == DEFAULT_BUS:
        return f"arn:aws:events:{region}:{account}:rule/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{bus}/{name}"


def arn(account: str, region: str, kind: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:{kind}/{name}"


_ARN = re.compile(r"^arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$")


def parse_arn(text: str) -> tuple[str, str, str, str] | None:
    """(service, region, account, resource) of an ARN, or None."""
    m = _ARN.match(text or "")
    if not m:
        return None
    return m.group(1), m.group(2), m.group(3) or "", m.group(4)


def resolve_bus(ctx, name_or_arn: str | None) -> tuple[str, str, str]:
    """(account, region, name) of an EventBusName parameter (a name or an ARN)."""
    if not name_or_arn:
        return ctx.account_id, ctx.region, DEFAULT_BUS
    if name_or_arn.startswith("arn:"):
        p = parse_arn(name_or_arn)
        if p and p[0] == "events" and p[3].startswith("event-bus/"):
            return p[2] or ctx.account_id, p[1] or ctx.region, p[3][len("event-bus/"):]
    return ctx.account_id, ctx.region, name_or_arn


def iso(ms: int) -> str:
    """EventBridge's event time: seconds precision, Z."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ts(ms: int | None):
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc)


# -- errors ---------------------------------------------------------------------

def err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def validation(message: str) -> ServiceError:
    return err("ValidationException", message)


def not_found(message: str) -> ServiceError:
    return err("ResourceNotFoundException", message)


def exists(message: str) -> ServiceError:
    return err("ResourceAlreadyExistsException", message)


def limit_exceeded() -> ServiceError:
    return err("LimitExceededException", "The requested resource exceeds the maximum number allowed.")


def bus_not_found(name: str) -> ServiceError:
    return not_found(f"Event bus {name} does not exist.")


def rule_not_found(rule: str, bus: str) -> ServiceError:
    return not_found(f"Rule {rule} does not exist on EventBus {bus}.")


def invalid_pattern(reason: str) -> ServiceError:
    return err("InvalidEventPatternException", f"Event pattern is not valid. Reason: {reason}")


def paginate(items: list, token: str | None, limit: int | None, default: int = 100) -> tuple[list, str | None]:
    """A page of `items` and the next token (an opaque offset), EventBridge-style."""
    import base64
    start = 0
    if token:
        try:
            start = int(base64.b64decode(token.encode()).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise validation("The NextToken provided is invalid.") from None
    n = limit or default
    page = items[start:start + n]
    nxt = None
    if start + n < len(items):
        nxt = base64.b64encode(f"o:{start + n}".encode()).decode()
    return page, nxt


def paged(items: list, p: dict, member: str, view=None, limit: str = "Limit") -> dict:
    """A List* answer: one page of `items` (through `view`) under `member`, and NextToken."""
    page, nxt = paginate(items, p.get("NextToken"), p.get(limit))
    out: dict = {member: [view(x) for x in page] if view else page}
    if nxt:
        out["NextToken"] = nxt
    return out


def lookup(table: dict, name: str, message: str) -> dict:
    """`table[name]`, or ResourceNotFoundException with `message`."""
    item = table.get(name)
    if item is None:
        raise not_found(message)
    return item
