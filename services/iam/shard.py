"""IAM shard half: the IAM state of the accounts whose ``iam/<account>`` key
falls in this partition (users, groups, roles, policies, keys, STS sessions).

Every process that authorizes requests (gateways, and shards for service-to-
service calls) subscribes to every shard (``iam.Subscribe``); a change to an
account's principals, or to a resource policy (``iam.Invalidate``), is pushed
to all of them (``iam.invalidate``) and acknowledged before the operation
answers, so a deleted key or a changed policy holds on every gateway at once.
"""

from __future__ import annotations

import asyncio
import logging
import time

from broker.core.errors import OpError
from services.iam.backend import IamBackend

log = logging.getLogger("broker.iam")

PUSH_TIMEOUT = 5.0
SESSION_SWEEP_MS = 600_000


def _subscribers(shard) -> set:
    subs = getattr(shard, "_iam_subscribers", None)
    if subs is None:
        subs = shard._iam_subscribers = set()
    return subs


async def push(shard, payload: dict) -> None:
    """Send an invalidation to every subscribed process and wait for their acks."""
    subs = _subscribers(shard)
    live = [c for c in subs if not c.closed]
    subs.intersection_update(live)
    if not live:
        return
    futs = [c.call_nowait("iam.invalidate", payload) for c in live]
    shard.flush_soon()
    done, pending = await asyncio.wait(futs, timeout=PUSH_TIMEOUT)
    for f in done:
        if not f.cancelled() and f.exception() is not None:
            log.info("event=iam_invalidate_failed error=%s", f.exception())
    if pending:
        log.warning("event=iam_invalidate_timeout subscribers=%d", len(pending))


class IamShard:
    def __init__(self, part):
        self.part = part
        self.backend = IamBackend(part.store)
        self.closed = False
        part.schedule(part.now_ms() + SESSION_SWEEP_MS, self._sweep)

    def _sweep(self) -> None:
        if self.closed:
            return
        self.backend.expire_sessions(time.time())
        self.part.schedule(self.part.now_ms() + SESSION_SWEEP_MS, self._sweep)

    async def _after(self, result, accounts) -> dict:
        await push(self.part.shard, {"accounts": sorted(accounts)})
        return result

    def _run(self, fn):
        b = self.backend
        b.changed = set()
        result = fn()
        if b.changed:
            return self._after(result, b.changed)
        return result

    def op_Handle(self, args):
        a, op, params = args["a"], args["op"], args["params"]
        fn = getattr(self.backend, f"op_{op}", None)
        if fn is None:
            raise OpError(f"IAM {op} is not implemented by this broker yet.", code="NotImplemented", status=501,
                          sender_fault=False)
        if op in ("GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey"):
            return self._run(lambda: fn(a, params, args.get("caller")))
        return self._run(lambda: fn(a, params))

    def op_Resolve(self, args):
        return self.backend.resolve(args["ak"])

    def op_Role(self, args):
        """A role's trust policy and limits (STS, and the gateways' sts:AssumeRole checks)."""
        r = self.backend.get(args["a"], "role", args["role"], required=False)
        if r is None:
            return None
        return {"arn": r["arn"], "id": r["id"], "name": r["name"], "trust": r["trust"], "max": r.get("max", 3600),
                "tags": self.backend._tags(r)}

    def op_ServiceRole(self, args):
        """A role as a service assumes it (services/iam/service_roles.py): its trust policy,
        identity policies (inline and attached) and permissions boundary."""
        b = self.backend
        a = args["a"]
        r = b.get(a, "role", args["role"], required=False)
        if r is None:
            return None
        return {"arn": r["arn"], "id": r["id"], "name": r["name"], "trust": r["trust"],
                "identity": b._docs_of(a, r), "boundary": b.boundary_doc(a, r), "tags": b._tags(r)}

    def op_PolicyDocs(self, args):
        """Default-version documents of managed policies (STS session policy ARNs)."""
        b = self.backend
        out = []
        for arn in args["arns"]:
            pol = b.policy_by_arn(args["a"], arn, required=False)
            if pol is not None:
                out.append(pol["versions"][pol["default"]]["doc"])
        return out

    def op_User(self, args):
        u = self.backend.get(args["a"], "user", args["user"], required=False)
        return None if u is None else {"arn": u["arn"], "id": u["id"], "name": u["name"]}

    def op_Session(self, args):
        """Issue temporary credentials (STS) in this account's partition."""
        fields = dict(args.get("fields") or {})
        return self.backend.issue_session(args["a"], args["kind"], args["arn"], int(args["duration"]), **fields)

    def op_Subscribe(self, args):
        conn = self.part.shard.current_conn
        if conn is not None:
            _subscribers(self.part.shard).add(conn)
        return True

    def op_Invalidate(self, args):
        """A resource policy changed somewhere (or everything did): tell every process."""
        return _push(self.part.shard, {"arns": list(args["arns"])} if args.get("arns") else {"all": True})

    def close(self) -> None:
        # admin reset and shutdown: every cached principal and policy may be gone
        self.closed = True
        subs = _subscribers(self.part.shard)
        for c in list(subs):
            if not c.closed:
                try:
                    c.call_nowait("iam.invalidate", {"all": True})
                except Exception:
                    pass


async def _push(shard, payload: dict) -> bool:
    await push(shard, payload)
    return True
