"""What each operation touches, for the gateway's one authorization step.

A service declares, per operation, the checks IAM makes: ``(action,
resource ARN, extra condition keys)``; where its resources carry policies
(SQS queues, SNS topics, KMS keys, EventBridge buses, IAM role trust), how to
read one and which operations change one. Services never evaluate policies.

A registry entry may name its own declaration module (``Service(...,
authorization="module")``); otherwise the table below applies, and failing
that `default` (action ``<prefix>:<Operation>``, resource: the first ``*Arn``
parameter, else ``*``).
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from typing import NamedTuple

# botocore service name -> IAM action prefix
PREFIXES = {"stepfunctions": "states", "sesv2": "ses", "mwaa": "airflow", "cloudwatch": "cloudwatch",
            "lambda": "lambda"}

_MODULES = {"sqs": "sqs", "sns": "sns", "kms": "kms", "events": "events", "sts": "sts", "iam": "iam",
            "lambda": "awslambda", "stepfunctions": "stepfunctions", "scheduler": "scheduler"}

_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


class RoleUse(NamedTuple):
    """A role handed to a service by a request (a declaration's optional ``assumes``):
    `principal` must be able to assume it for `source` (the resource the service
    will act for), and the role must allow each of `needs` (action, resource) up
    front, else the request fails with `needs_text` (``{role}``: the role). An
    empty `role`: the resource keeps the one it has (the declaration's
    ``current_role``)."""
    role: str
    principal: str
    source: str
    needs: tuple = ()
    needs_text: str = ""


def role_arn(value) -> str | None:
    """`value` if it is an IAM role ARN (anything else is left to the service's own validation)."""
    return value if isinstance(value, str) and _ROLE_ARN.fullmatch(value) else None


def pass_role(role: str, principal: str) -> tuple:
    """The iam:PassRole check of a request that hands `role` to the service `principal`."""
    return ("iam:PassRole", role, {"iam:PassedToService": principal})


def prefix_of(service: str) -> str:
    return PREFIXES.get(service, service)


@lru_cache(maxsize=None)
def declaration(service: str):
    """The declaration module of a service (checks, policy loader, changes, denial shape)."""
    from services.registry import SERVICES
    for s in SERVICES:
        ref = getattr(s, "authorization", None)
        if s.name == service and ref:
            return importlib.import_module(ref)
    name = _MODULES.get(service)
    if name is not None:
        return importlib.import_module(f"services.iam.declare.{name}")
    from services.iam.declare import default
    return default
