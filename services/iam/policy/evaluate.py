"""AWS's policy evaluation logic, for one request in one (or two) accounts.

1. An explicit Deny in any applicable policy (identity, resource, permissions
   boundary, session) denies.
2. Across accounts, both sides must allow: the resource's policy must name
   the caller (or its account), and the caller's own identity policies must
   allow (capped by its boundary and session policies).
3. Within an account, an allow from the identity policies (capped by the
   boundary and the session policies), or from a resource policy that names
   the caller itself, allows. A resource policy that names only the account
   delegates to the identity policies. A user named by a resource policy is
   not capped by its boundary; a role session is unless the session itself is
   named.
4. Otherwise the request is implicitly denied.

Root (and the administrator keys of the configuration) have every identity
permission in their own account; service principals (``sns.amazonaws.com``)
have only what resource policies grant them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.iam.policy.document import Policy

# denial reasons, with AWS's wording (the action goes in {a})
EXPLICIT_IDENTITY = "with an explicit deny in an identity-based policy"
EXPLICIT_RESOURCE = "with an explicit deny in a resource-based policy"
EXPLICIT_BOUNDARY = "with an explicit deny in a permissions boundary"
EXPLICIT_SESSION = "with an explicit deny in a session policy"
NO_IDENTITY = "because no identity-based policy allows the {a} action"
NO_RESOURCE = "because no resource-based policy allows the {a} action"
NO_BOUNDARY = "because no permissions boundary allows the {a} action"
NO_SESSION = "because no session policy allows the {a} action"

DENY, ALLOW, NONE = -1, 1, 0


class Context(dict):
    """Request context keys, looked up case-insensitively (stored lower-case)."""

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)

    def set(self, key: str, value) -> None:
        self[key.lower()] = value


@dataclass(slots=True)
class Caller:
    arn: str                       # as it appears in error messages and aws:PrincipalArn
    account: str
    kind: str                      # root | user | assumed-role | federated-user | service
    admin: bool = False            # root, or a key of the configuration: all identity rights
    role_arn: str | None = None    # assumed-role sessions: the role
    unique_id: str | None = None   # AIDA.../AROA...
    service: str | None = None     # service principals: "sns.amazonaws.com"
    federated_provider: tuple = ()   # web identities: the provider's names (host, oidc-provider ARN)
    name: str | None = None        # aws:username (users)
    tags: dict = field(default_factory=dict)


@dataclass(slots=True)
class Decision:
    allowed: bool
    reason: str | None = None       # one of the texts above (denials)

    def message(self, caller_arn: str, action: str, resource: str) -> str:
        text = f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource}"
        if self.reason:
            text += " " + self.reason.format(a=action)
        return text


ALLOWED = Decision(True)


def statements_effect(policy: Policy, action: str, folded: str, resource: str, context, caller=None) -> tuple[int, int]:
    """(effect, principal match) of one policy: DENY if any matching statement
    denies, else ALLOW if one allows (with the best principal match), else NONE."""
    allow, best = False, 0
    for s in policy.statements:
        if not s.action_matches(action, folded):
            continue
        if not s.resource_matches(resource, context):
            continue
        pm = 2
        if caller is not None:
            pm = s.principal_match(caller)
            if not pm:
                continue
        if s.conditions and not s.conditions_hold(context):
            continue
        if s.conditions is None:
            continue
        if not s.allow:
            return DENY, pm
        allow = True
        best = max(best, pm)
    return (ALLOW, best) if allow else (NONE, 0)


def _any(policies, action, folded, resource, context) -> int:
    out = NONE
    for p in policies:
        e, _ = statements_effect(p, action, folded, resource, context)
        if e == DENY:
            return DENY
        if e == ALLOW:
            out = ALLOW
    return out


def evaluate(action: str, resource: str, resource_account: str | None, caller: Caller, context,
             identity: list[Policy] = (), resource_policy: Policy | None = None,
             boundary: Policy | None = None, session: list[Policy] | None = None,
             require_resource: bool = False) -> Decision:
    """`require_resource`: the resource policy must allow even within its account
    (KMS key policies, role trust policies), when the resource has one."""
    folded = action.lower()
    if caller.kind == "service":
        if resource_policy is None:
            return Decision(False, NO_RESOURCE)
        e, _ = statements_effect(resource_policy, action, folded, resource, context, caller)
        if e == DENY:
            return Decision(False, EXPLICIT_RESOURCE)
        return ALLOWED if e == ALLOW else Decision(False, NO_RESOURCE)

    ident = ALLOW if caller.admin else _any(identity, action, folded, resource, context)
    if ident == DENY:
        return Decision(False, EXPLICIT_IDENTITY)
    res, pm = NONE, 0
    if resource_policy is not None:
        res, pm = statements_effect(resource_policy, action, folded, resource, context, caller)
        if res == DENY:
            return Decision(False, EXPLICIT_RESOURCE)
    bnd = ALLOW
    if boundary is not None and not caller.admin:
        bnd, _ = statements_effect(boundary, action, folded, resource, context)
        if bnd == DENY:
            return Decision(False, EXPLICIT_BOUNDARY)
    ses = ALLOW
    if session is not None:
        ses = _any(session, action, folded, resource, context)
        if ses == DENY:
            return Decision(False, EXPLICIT_SESSION)

    if require_resource and resource_policy is not None and res != ALLOW:
        return Decision(False, NO_RESOURCE)
    cross = bool(resource_account) and resource_account != caller.account
    if cross:
        if res != ALLOW:
            return Decision(False, NO_RESOURCE)
        # the caller's account must allow it too (its identity side)
        if ident != ALLOW:
            return Decision(False, NO_IDENTITY)
        if bnd != ALLOW:
            return Decision(False, NO_BOUNDARY)
        if ses != ALLOW:
            return Decision(False, NO_SESSION)
        return ALLOWED
    if res == ALLOW and pm == 2:
        # named directly by the resource policy
        if caller.kind in ("user", "root") or (caller.role_arn is None and caller.kind != "assumed-role"):
            return ALLOWED
        if caller.kind == "assumed-role" and ses == ALLOW and bnd == ALLOW:
            return ALLOWED
    if ident != ALLOW:
        return Decision(False, NO_IDENTITY)
    if bnd != ALLOW:
        return Decision(False, NO_BOUNDARY)
    if ses != ALLOW:
        return Decision(False, NO_SESSION)
    return ALLOWED
