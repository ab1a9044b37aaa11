"""Services acting through an IAM role: Step Functions as a state machine's
``roleArn``, EventBridge Scheduler as a schedule's ``Target.RoleArn``,
EventBridge as a rule target's ``RoleArn``.

As at AWS, the service first assumes the role (its trust policy must let the
service principal, global or regional, perform ``sts:AssumeRole``, with
``aws:SourceArn``/``aws:SourceAccount`` naming the acting resource); the call
is then an assumed-role session (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/
SESSION``) with the role's identity policies and permissions boundary, and
it is evaluated like any signed request (the target's resource policy with
the cross-account rule). Roles are read once from their account's IAM
partition and cached with their policies compiled; every IAM change of that
account drops them (``iam.invalidate``). Only processes that enforce IAM
build this: dev mode makes no lookups at all.
"""

from __future__ import annotations

import hashlib

from services.errors import ServiceError
from services.iam.ids import assumed_role_arn, iam_key
from services.iam.policy import Caller, Context, evaluate, parse

# acting service (the source ARN's service) -> the principal that assumes the role
ROLE_PRINCIPALS = {"states": "states.amazonaws.com", "scheduler": "scheduler.amazonaws.com",
                   "events": "events.amazonaws.com"}
# what each service says when it cannot assume the role (Step Functions' and Scheduler's own words)
_NOT_ASSUMABLE = {
    "states.amazonaws.com": "Neither the global service principal states.amazonaws.com, nor the regional one is "
                            "authorized to assume the provided role.",
    "scheduler.amazonaws.com": "The execution role you provide must allow AWS EventBridge Scheduler to assume the "
                               "role.",
}
MAX_CACHED = 4096
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class RoleNotAssumable(ServiceError):
    """The service principal may not assume the role (no such role, or its trust policy refuses)."""

    def __init__(self, principal: str, role_arn: str):
        text = _NOT_ASSUMABLE.get(principal) or (
            f"User: {principal} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        super().__init__(text, code="AccessDenied", status=403)
        self.principal, self.role_arn = principal, role_arn


class TaskRoleNotAssumable(RoleNotAssumable):
    """A Step Functions task's ``Credentials`` role that the execution's role may not assume."""

    def __init__(self, execution_role: str, role_arn: str):
        ServiceError.__init__(self, f"The role {execution_role} is not authorized to assume the task state's role, "
                                    f"{role_arn}.", code="AccessDenied", status=403)
        self.principal, self.role_arn = execution_role, role_arn


def trust_source(source_arn: str) -> str:
    """The resource a service names when it assumes a role: a Step Functions
    execution acts for its state machine, a schedule for its schedule group."""
    p = source_arn.split(":")
    if len(p) >= 7 and p[2] == "states" and p[5] in ("execution", "express"):
        return ":".join(p[:5] + ["stateMachine", p[6].split("/", 1)[0]])
    if len(p) == 6 and p[2] == "scheduler" and p[5].startswith("schedule/"):
        group = p[5].split("/")[1]
        return ":".join(p[:5] + [f"schedule-group/{group}"])
    return source_arn


def session_name(principal: str, role_arn: str, source: str) -> str:
    """A stable session name per role and acting resource: Step Functions' are 32
    letters; the others 32 hex digits."""
    digest = hashlib.sha256(f"{principal}|{role_arn}|{source}".encode()).digest()
    if principal == "states.amazonaws.com":
        return "".join(_LETTERS[b % 52] for b in digest[:32])
    return digest.hex()[:32]


class _Role:
    __slots__ = ("rec", "trust", "identity", "boundary")

    def __init__(self, rec: dict):
        self.rec = rec
        self.trust = parse(rec["trust"]) if rec.get("trust") else None
        self.identity = [parse(d) for d in rec.get("identity") or ()]
        self.boundary = parse(rec["boundary"]) if rec.get("boundary") else None


class RoleSessions:
    """Role records and the sessions built on them, for one process's Authorizer."""

    def __init__(self, cluster, entry_type):
        self.cluster = cluster
        self.entry_type = entry_type
        self.roles: dict[str, _Role | None] = {}
        self.sessions: dict[tuple, object] = {}       # (role, principal, source) -> Entry | None

    def drop(self, accounts=None) -> None:
        if accounts is None:
            self.roles.clear()
            self.sessions.clear()
            return
        marks = tuple(f":{a}:" for a in accounts)
        for arn in [r for r in self.roles if r.startswith("arn:") and any(m in r for m in marks)]:
            del self.roles[arn]
        # a chained session (Step Functions task Credentials) also depends on the session that assumed it
        for key in [k for k in self.sessions if any(m in k[0] or m in k[1] for m in marks)]:
            del self.sessions[key]

    async def _role(self, once, role_arn: str) -> _Role | None:
        if role_arn in self.roles:
            return self.roles[role_arn]
        p = role_arn.split(":", 5)
        if len(p) != 6 or p[2] != "iam" or not p[5].startswith("role/") or not p[4]:
            return None
        account, name = p[4], p[5].rsplit("/", 1)[-1]

        async def fetch():
            rec = await self.cluster.call(iam_key(account), "iam.ServiceRole", {"a": account, "role": name})
            role = _Role(rec) if rec and rec["arn"] == role_arn else None
            if len(self.roles) >= MAX_CACHED:
                self.roles.clear()
            self.roles[role_arn] = role
            return role
        return await once("role " + role_arn, fetch)

    async def session(self, once, role_arn: str, principal: str, source_arn: str, region: str):
        """The Entry the service acts as, or RoleNotAssumable."""
        source = trust_source(source_arn)
        key = (role_arn, principal, source)
        entry = self.sessions.get(key, False)
        if entry is False:
            role = await self._role(once, role_arn)
            entry = self._assume(role, role_arn, principal, source, region)
            if len(self.sessions) >= MAX_CACHED:
                self.sessions.clear()
            self.sessions[key] = entry
        if entry is None:
            raise RoleNotAssumable(principal, role_arn)
        return entry

    async def chained(self, once, via, role_arn: str, region: str):
        """The Entry of `role_arn` assumed by the session `via` (a Step Functions task's
        ``Credentials``: the execution's role assumes the task's role). As sts:AssumeRole
        from that session: the target's trust policy and, across accounts or where the
        trust names only the account, the session's own policies; or TaskRoleNotAssumable."""
        key = (role_arn, via.caller.arn, "")
        entry = self.sessions.get(key, False)
        if entry is False:
            role = await self._role(once, role_arn)
            entry = None
            if role is not None and role.trust is not None:
                account = role_arn.split(":")[4]
                c = Context(via.base)
                c.set("aws:RequestedRegion", region)
                d = evaluate("sts:AssumeRole", role_arn, account, via.caller, c, via.identity, role.trust,
                             via.boundary, via.session, require_resource=True)
                if d.allowed:
                    name = session_name(via.caller.arn, role_arn, "")
                    entry = self._session_entry(role, role_arn, account, name)
            if len(self.sessions) >= MAX_CACHED:
                self.sessions.clear()
            self.sessions[key] = entry
        if entry is None:
            raise TaskRoleNotAssumable(via.caller.role_arn or via.caller.arn, role_arn)
        return entry

    def _session_entry(self, role: _Role, role_arn: str, account: str, name: str):
        rec = role.rec
        caller = Caller(arn=assumed_role_arn(account, rec["name"], name), account=account, kind="assumed-role",
                        role_arn=role_arn, unique_id=f"{rec['id']}:{name}", tags=dict(rec.get("tags") or {}))
        entry = self.entry_type(caller)
        entry.identity, entry.boundary = role.identity, role.boundary
        entry.clocked = any(x.clocked for x in [*role.identity, role.boundary] if x)
        return entry

    def _assume(self, role: _Role | None, role_arn: str, principal: str, source: str, region: str):
        if role is None or role.trust is None:
            return None
        p = source.split(":")
        c = Context()
        c.set("aws:SourceArn", source)
        c.set("aws:SourceAccount", p[4] if len(p) > 4 else "")
        c.set("aws:PrincipalIsAWSService", True)
        account = role_arn.split(":")[4]
        allowed = False
        for svc in (principal, principal.replace(".amazonaws.com", f".{region}.amazonaws.com")):
            c.set("aws:PrincipalServiceName", svc)
            caller = Caller(arn=svc, account=account, kind="service", service=svc)
            if evaluate("sts:AssumeRole", role_arn, account, caller, c, (), role.trust,
                        require_resource=True).allowed:
                allowed = True
                break
        if not allowed:
            return None
        return self._session_entry(role, role_arn, account, session_name(principal, role_arn, source))
