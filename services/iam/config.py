"""IAM configuration keys (README table and deploy/broker.toml list them)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("iam", "enforce", bool, True,
        "With aws.credentials configured, evaluate IAM policies on every request (identity, resource, "
        "boundary and session policies). false: signatures are still verified, but every signed request is "
        "allowed (as before IAM existed). Dev mode (no credentials) never enforces."),
)
