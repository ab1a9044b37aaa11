"""The one authorization step, in every process that serves requests.

With credentials configured, every signed request (and every service-to-
service call made on behalf of a resource, ``source_arn``, as the service's
principal or as a session of the role it acts through) is evaluated here
once, after authentication and decoding and before the service runs: the
service's declaration (services/iam/declare) says what the operation touches;
the caller's policies (from the IAM partition of its account, by access key)
and the resource's policy (read from its owning service) are compiled once
and cached per principal and per resource. Every IAM change, and every
operation that changes a resource policy, invalidates the caches of every
process before it answers (``iam.invalidate`` pushed by the IAM shards).

Keys of the configuration are administrators of their account (all identity
permissions, as the account root has); keys created through IAM and STS
sessions have exactly what their policies grant.
"""

from __future__ import annotations

import asyncio
import logging
import time

from broker.core.ids import uuid4
from broker.runtime import telemetry
from services.iam.declare import declaration
from services.iam.ids import account_of_key, iam_key
from services.iam.policy import Caller, Context, evaluate, parse
from services.iam.service_roles import ROLE_PRINCIPALS, RoleSessions

log = logging.getLogger("broker.iam")

MAX_CACHED = 20_000
# where a service acts on its own behalf (resource policies name it), per source ARN service
SERVICE_PRINCIPALS = {"sns": "sns.amazonaws.com", "events": "events.amazonaws.com", "s3": "s3.amazonaws.com",
                      "cloudwatch": "cloudwatch.amazonaws.com"}
# targets whose resource policies such a service must pass (others act through a role)
SERVICE_TARGETS = {"sqs", "sns"}
_TYPES = {"root": "Account", "user": "User", "assumed-role": "AssumedRole", "federated-user": "FederatedUser"}


class Entry:
    """One access key: who it is, its policies compiled, its secret for SigV4."""
    __slots__ = ("caller", "identity", "boundary", "session", "secret", "token", "expires", "base", "decisions",
                 "clocked")

    def __init__(self, caller: Caller, identity=(), boundary=None, session=None, secret="", token=None,
                 expires=None, issued=None):
        self.caller = caller
        self.identity = [parse(d) for d in identity]
        self.boundary = parse(boundary) if boundary else None
        self.session = [parse(d) for d in session] if session is not None else None
        self.secret, self.token, self.expires = secret, token, expires
        # (action, resource, source ip, secure, region) -> Decision, for checks with no extra keys and
        # policies that do not read the clock; emptied by every invalidation
        self.decisions: dict = {}
        self.clocked = any(p.clocked for p in [*self.identity, *(self.session or ()), self.boundary] if p)
        base = Context()
        base.set("aws:PrincipalArn", caller.role_arn or caller.arn)
        base.set("aws:PrincipalAccount", caller.account)
        base.set("aws:PrincipalType", _TYPES.get(caller.kind, "User"))
        base.set("aws:PrincipalIsAWSService", False)
        base.set("aws:MultiFactorAuthPresent", False)
        if caller.unique_id:
            base.set("aws:userid", caller.unique_id)
        if caller.name and caller.kind == "user":
            base.set("aws:username", caller.name)
        if issued:
            base.set("aws:TokenIssueTime", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued)))
        for k, v in caller.tags.items():
            base.set(f"aws:PrincipalTag/{k}", v)
        self.base = base


def _configured(config: dict) -> dict[str, Entry]:
    default = config.get("aws.default_account", "000000000000")
    out = {}
    for c in config.get("aws.credentials", []) or []:
        account = str(c.get("account_id", default))
        user = c.get("user_name", "root")
        if user == "root":
            caller = Caller(arn=f"arn:aws:iam::{account}:root", account=account, kind="root", admin=True,
                            unique_id=account)
        else:
            caller = Caller(arn=f"arn:aws:iam::{account}:user/{user}", account=account, kind="user", admin=True,
                            name=user)
        out[c["access_key"]] = Entry(caller)
    return out


def _access_key(query: str, headers: dict) -> str | None:
    auth = headers.get("authorization")
    if auth:
        i = auth.find("Credential=")
        if i < 0:
            return None
        j = auth.find("/", i)
        return auth[i + 11:j] if j > 0 else None
    if query and "X-Amz-Credential=" in query:
        i = query.find("X-Amz-Credential=") + 17
        j = query.find("%2F", i)
        k = query.find("/", i)
        ends = [x for x in (j, k) if x > 0]
        return query[i:min(ends)] if ends else None
    return None


def resource_account(arn: str) -> str | None:
    if not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[4] or None if len(parts) == 6 else None


class Authorizer:
    def __init__(self, host, verifier=None):
        self.host = host
        self.cluster = host.cluster
        self.verifier = verifier
        self.configured = _configured(host.run.config)
        self.entries: dict[str, Entry | None] = {}
        self.policies: dict[str, tuple] = {}
        self._loading: dict[str, asyncio.Future] = {}
        self._second = 0
        self._now_iso = ""
        self.roles = RoleSessions(self.cluster, Entry)
        self._assumes: dict = {}       # service -> its declaration's `assumes` (roles handed to it), or None
        self.cluster.request_handlers["iam.invalidate"] = self._invalidate
        self.cluster.on_connect.append(self._subscribe)
        loop = asyncio.get_event_loop()
        for link in self.cluster.links:
            if link.conn is not None and not link.conn.closed:
                loop.create_task(self._subscribe(link))

    # -- subscription and invalidation --------------------------------------------
    async def _subscribe(self, link) -> None:
        await link.conn.call("iam.Subscribe", {"p": -1})
        self._drop_all()

    def _forget_decisions(self) -> None:
        for e in [*self.entries.values(), *self.configured.values(), *self.roles.sessions.values()]:
            if e is not None:
                e.decisions.clear()

    def _drop_all(self) -> None:
        self._forget_decisions()
        self.roles.drop()
        for ak in list(self.entries):
            self._forget(ak)
        self.entries.clear()
        self.policies.clear()

    def _forget(self, ak: str) -> None:
        if self.verifier is not None and ak not in self.configured:
            self.verifier.forget(ak)

    def _invalidate(self, conn, args) -> bool:
        if args.get("all"):
            self._drop_all()
            return True
        if args.get("accounts"):
            self.roles.drop(args["accounts"])
        for a in args.get("accounts") or ():
            for ak in [k for k, e in self.entries.items() if e is None or e.caller.account == a]:
                self.entries.pop(ak, None)
                self._forget(ak)
            marker = f":{a}:"
            for arn in [x for x in self.policies if marker in x]:
                del self.policies[arn]
        for arn in args.get("arns") or ():
            self.policies.pop(arn, None)
        self._forget_decisions()
        return True

    # -- keys -------------------------------------------------------------------------
    async def prepare(self, query: str, headers: dict) -> bool:
        """Before SigV4: make a key created at runtime known to the verifier.
        True: the key is an STS session past its expiration."""
        ak = _access_key(query, headers)
        if ak is None or ak in self.configured:
            return False
        e = self.entries.get(ak, False)
        if e is False:
            e = await self._load(ak)
        return e is not None and e.expires is not None and e.expires < time.time()

    async def _once(self, key: str, fetch):
        """One fetch per key at a time: concurrent callers share its result."""
        fut = self._loading.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = self._loading[key] = asyncio.get_event_loop().create_future()
        try:
            result = await fetch()
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()       # retrieved: only the waiters re-raise it
            raise
        finally:
            self._loading.pop(key, None)

    async def _load(self, ak: str) -> Entry | None:
        account = account_of_key(ak)
        if account is None:
            return None

        async def fetch():
            rec = await self.cluster.call(iam_key(account), "iam.Resolve", {"ak": ak})
            e = self._entry(rec) if rec and rec.get("status") == "Active" else None
            if len(self.entries) >= MAX_CACHED:
                self._drop_all()
            self.entries[ak] = e
            if e is not None and self.verifier is not None:
                self.verifier.add_credential(ak, e.secret, e.caller.account, e.caller.name or "root",
                                             e.token, e.caller.arn)
            return e
        return await self._once(ak, fetch)

    @staticmethod
    def _entry(rec: dict) -> Entry:
        kind = rec["kind"]
        caller = Caller(arn=rec["arn"], account=rec["account"], kind=kind, admin=bool(rec.get("admin")),
                        role_arn=rec.get("role_arn"), unique_id=rec.get("id"), name=rec.get("name"),
                        tags=rec.get("tags") or {})
        return Entry(caller, rec.get("identity") or (), rec.get("boundary"), rec.get("session"), rec["secret"],
                     rec.get("token"), rec.get("expires"), rec.get("issued"))

    def entry(self, access_key: str) -> Entry | None:
        return self.configured.get(access_key) or self.entries.get(access_key)

    # -- resource policies ---------------------------------------------------------------
    async def resource_policy(self, decl, arn: str) -> tuple:
        hit = self.policies.get(arn)
        if hit is not None:
            return hit

        async def fetch():
            got = await decl.policy(self.host, arn)
            text, canonical = got if isinstance(got, tuple) else (got, arn)
            if len(self.policies) >= MAX_CACHED:
                self.policies.clear()
            out = self.policies[arn] = (parse(text) if text else None, canonical)
            return out
        return await self._once("arn " + arn, fetch)

    # -- evaluation ---------------------------------------------------------------------
    def _context(self, base: Context, ctx, peer, secure: bool) -> Context:
        now = int(time.time())
        if now != self._second:
            self._second, self._now_iso = now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        c = Context(base)
        c["aws:currenttime"] = self._now_iso
        c["aws:epochtime"] = now
        c["aws:securetransport"] = secure
        c["aws:requestedregion"] = ctx.region
        if peer:
            c["aws:sourceip"] = peer
        return c

    async def _check(self, ctx, params, caller: Caller, entry: Entry | None, base: Context, peer, secure) -> None:
        decl = declaration(ctx.service)
        context = None
        for action, resource, extra in decl.checks(ctx, ctx.operation, params):
            res_policy, canonical = None, resource
            if decl.policy is not None and resource != "*":
                hit = self.policies.get(resource)       # the cached case without a coroutine
                res_policy, canonical = hit if hit is not None else await self.resource_policy(decl, resource)
            racct = resource_account(canonical)
            key = None
            if entry is not None and not extra and not entry.clocked and not (res_policy and res_policy.clocked):
                key = (action, canonical, peer, secure, ctx.region)
                d = entry.decisions.get(key)
                if d is not None:
                    if d.allowed:
                        continue
                    self._deny(ctx, decl, caller, action, canonical, d)
            if context is None:
                context = self._context(base, ctx, peer, secure)
            c = context
            if extra:
                c = Context(context)
                for k, v in extra.items():
                    if v is not None:
                        c.set(k, v)
            d = evaluate(action, canonical, racct, caller, c,
                         entry.identity if entry else (), res_policy, entry.boundary if entry else None,
                         entry.session if entry else None, require_resource=decl.require_resource)
            if key is not None:
                if len(entry.decisions) >= 1024:
                    entry.decisions.clear()
                entry.decisions[key] = d
            if not d.allowed:
                self._deny(ctx, decl, caller, action, canonical, d)

    @staticmethod
    def _deny(ctx, decl, caller: Caller, action: str, resource: str, d) -> None:
        text = decl.action_text(action)
        message = d.message(caller.arn if caller.kind != "service" else caller.service, text, resource)
        log.info("event=access_denied principal=%s action=%s resource=%s reason=%r",
                 caller.arn, action, resource, d.reason)
        telemetry.count("broker_iam_denied_total", {"service": ctx.service})
        raise decl.denied(ctx, message)

    async def authorize(self, ctx, params: dict, principal, peer, secure: bool) -> None:
        """Raise the service's AccessDenied unless the request is allowed."""
        entry = self.entry(principal.access_key)
        if entry is None:      # unsigned operations AWS serves to anyone
            return
        ctx.principal_arn = entry.caller.arn
        await self._check(ctx, params, entry.caller, entry, entry.base, peer[0] if peer else None, secure)
        assumes = self._assumes.get(ctx.service, False)
        if assumes is False:
            assumes = self._assumes[ctx.service] = getattr(declaration(ctx.service), "assumes", None)
        if assumes is not None:
            for use in assumes(ctx, ctx.operation, params):
                await self._role_given(ctx, use)

    async def _role_given(self, ctx, use) -> None:
        """A role handed to a service (CreateStateMachine's roleArn, a schedule's
        Target.RoleArn): as AWS checks it when the resource is created, the service
        principal must be able to assume it (the declaration's own error), and the role
        must hold what the service needs up front (e.g. Step Functions' managed rule
        for .sync). iam:PassRole is one of the declaration's checks."""
        decl = declaration(ctx.service)
        if not use.role:            # the resource keeps its role: the one it has now
            role = await decl.current_role(self.host, ctx, use.source)
            if not role:
                return
            use = use._replace(role=role)
        try:
            entry = await self.roles.session(self._once, use.role, use.principal, use.source, ctx.region)
        except Exception as exc:
            if getattr(exc, "role_arn", None) is None:
                raise
            log.info("event=access_denied principal=%s action=sts:AssumeRole resource=%s reason=trust",
                     use.principal, use.role)
            telemetry.count("broker_iam_denied_total", {"service": ctx.service})
            raise decl.not_assumable(ctx, exc) from None
        context = None
        for action, resource in use.needs:
            if context is None:
                context = self._context(entry.base, ctx, None, True)
            d = evaluate(action, resource, resource_account(resource), entry.caller, context, entry.identity,
                         None, entry.boundary)
            if not d.allowed:
                log.info("event=access_denied principal=%s action=%s resource=%s reason=%r",
                         entry.caller.arn, action, resource, d.reason)
                telemetry.count("broker_iam_denied_total", {"service": ctx.service})
                raise decl.denied(ctx, use.needs_text.format(role=use.role))

    async def authorize_internal(self, ctx, params: dict, role_arn: str | None = None,
                                 task_role: str | None = None) -> None:
        """A service-to-service call made for a resource (``ctx.source_arn``): as the
        service principal, as resource policies name it (``aws:SourceArn``); or, where
        the service acts through a role (Step Functions, Scheduler, EventBridge
        targets that take one), as a session of that role (services/iam/service_roles.py);
        `task_role` (a Step Functions task's Credentials): as a session of that role,
        assumed by the session of `role_arn`."""
        src = ctx.source_arn or ""
        parts = src.split(":", 5)
        svc = parts[2] if len(parts) == 6 else ""
        if role_arn is not None:
            via = ROLE_PRINCIPALS.get(svc)
            if via is None:
                return       # a role this broker does not evaluate (SWF's Lambda role)
            try:
                entry = await self.roles.session(self._once, role_arn, via, src, ctx.region)
                if task_role:
                    entry = await self.roles.chained(self._once, entry, task_role, ctx.region)
                    role_arn = task_role
            except Exception as exc:
                self._audit(ctx, exc, {"type": "AWSService", "invokedBy": via}, via, src)
                raise
            ctx.principal_arn = entry.caller.arn
            identity = {"type": "AssumedRole", "arn": entry.caller.arn, "accountId": entry.caller.account,
                        "principalId": entry.caller.unique_id, "invokedBy": via,
                        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn,
                                                             "accountId": entry.caller.account}}}
            try:
                await self._check(ctx, params, entry.caller, entry, entry.base, None, True)
            except Exception as exc:
                self._audit(ctx, exc, identity, via, src)
                raise
            return
        if svc == "events" and ctx.service == "events" and len(parts) == 6:
            # a rule's event-bus target without a RoleArn: AWS's older model, the target bus's
            # policy must admit the rule's account (within the account nothing more is needed)
            account = parts[4]
            caller = Caller(arn=f"arn:aws:iam::{account}:root", account=account, kind="root", admin=True,
                            unique_id=account)
            context = Context()
            context["aws:principalaccount"] = account
            context["aws:principalarn"] = caller.arn
            context["aws:sourcearn"] = src
            context["aws:sourceaccount"] = account
            try:
                await self._check(ctx, params, caller, None, context, None, True)
            except Exception as exc:
                self._audit(ctx, exc, {"type": "AWSAccount", "accountId": account, "invokedBy": "events.amazonaws.com"},
                            "events.amazonaws.com", src)
                raise
            return
        principal = SERVICE_PRINCIPALS.get(svc)
        if principal is None or ctx.service not in SERVICE_TARGETS:
            return           # the service acts through a role: evaluated above when it names one
        context = Context()
        context["aws:sourcearn"] = src
        context["aws:sourceaccount"] = parts[4] if len(parts) == 6 else ""
        context["aws:sourceowner"] = parts[4] if len(parts) == 6 else ""
        context["aws:principalisawsservice"] = True
        context["aws:principalservicename"] = principal
        caller = Caller(arn=principal or "", account=parts[4] if len(parts) == 6 else ctx.account_id,
                        kind="service", service=principal)
        try:
            await self._check(ctx, params, caller, None, context, None, True)
        except Exception as exc:
            self._audit(ctx, exc, {"type": "AWSService", "invokedBy": principal}, principal, src)
            raise

    @staticmethod
    def _audit(ctx, exc, identity: dict, principal: str, src: str) -> None:
        """A denied service-to-service call, as CloudTrail records it."""
        if getattr(exc, "code", None) not in ("AccessDenied", "AuthorizationError", "AccessDeniedException"):
            return
        telemetry.audit({
            "eventVersion": "1.09", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "userIdentity": identity,
            "eventSource": f"{ctx.service}.amazonaws.com", "eventName": ctx.operation,
            "awsRegion": ctx.region, "sourceIPAddress": principal, "userAgent": principal,
            "errorCode": exc.code, "errorMessage": exc.message, "requestParameters": None,
            "responseElements": None, "requestID": ctx.request_id, "eventID": uuid4(),
            "readOnly": False, "eventType": "AwsApiCall", "managementEvent": False,
            "recipientAccountId": ctx.account_id, "eventCategory": "Data",
            "sharedEventID": uuid4(), "additionalEventData": {"sourceArn": src}})

    async def changed(self, ctx, params: dict, result) -> None:
        """After an operation that may have changed resource policies: invalidate everywhere."""
        arns = declaration(ctx.service).changes(ctx, ctx.operation, params, result)
        if arns:
            await self.cluster.call(iam_key(ctx.account_id), "iam.Invalidate", {"arns": arns})
