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
from functools import lru_cache

# botocore service name -> IAM action prefix
PREFIXES = {"stepfunctions": "states", "sesv2": "ses", "mwaa": "airflow", "cloudwatch": "cloudwatch",
            "lambda": "lambda"}

_MODULES = {"sqs": "sqs", "sns": "sns", "kms": "kms", "events": "events", "sts": "sts", "iam": "iam",
            "lambda": "awslambda"}


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
