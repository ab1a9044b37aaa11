"""What a principal may do: the policies that apply to an access key (a user's
or an STS session's), the sessions STS issues, and the policy simulator
(a mixin of IamBackend)."""

from __future__ import annotations

import time

from services.iam import ids
from services.iam.errors import invalid, no_such
from services.iam.paging import page
from services.iam.policy import Caller, Context, evaluate, parse

KIND_KEY = "iam.key"
KIND_SESSION = "iam.session"


def context_from_entries(entries) -> Context:
    ctx = Context()
    for e in entries or ():
        vals = e.get("ContextKeyValues") or []
        typ = (e.get("ContextKeyType") or "string").lower()
        if typ == "boolean":
            vals = [str(v).lower() == "true" for v in vals]
        elif typ == "numeric":
            vals = [float(v) for v in vals]
        ctx.set(e["ContextKeyName"], vals if typ.endswith("list") else (vals[0] if len(vals) == 1 else vals))
    return ctx


def decision_name(d) -> str:
    if d.allowed:
        return "allowed"
    return "explicitDeny" if d.reason and d.reason.startswith("with an explicit deny") else "implicitDeny"


class PrincipalsMixin:
    # -- the policies of users, groups and roles ----------------------------------
    def _docs_of(self, a: str, rec: dict) -> list[str]:
        docs = list(rec.get("inline", {}).values())
        for arn in rec.get("attached", ()):
            pol = self.policy_by_arn(a, arn, required=False)
            if pol is not None:
                docs.append(pol["versions"][pol["default"]]["doc"])
        return docs

    def user_policies(self, a: str, u: dict) -> list[str]:
        docs = self._docs_of(a, u)
        for g in u.get("groups", ()):
            grp = self.get(a, "group", g, required=False)
            if grp is not None:
                docs += self._docs_of(a, grp)
        return docs

    def boundary_doc(self, a: str, rec: dict) -> str | None:
        arn = rec.get("boundary")
        if not arn:
            return None
        pol = self.policy_by_arn(a, arn, required=False)
        return pol["versions"][pol["default"]]["doc"] if pol else '{"Statement": []}'

    @staticmethod
    def _tags(rec) -> dict:
        return {t["Key"]: t["Value"] for t in rec.get("tags") or ()}

    # -- access keys -> principals (the gateways' view) ---------------------------
    def resolve(self, key_id: str) -> dict | None:
        """Everything a gateway needs to authenticate and authorize a key, or None."""
        k = self.store.get(KIND_KEY, key_id)
        if k is not None:
            a = k["acct"]
            u = self.get(a, "user", k["user"], required=False)
            if u is None:
                return None
            return {"ak": key_id, "secret": k["secret"], "account": a, "kind": "user", "arn": u["arn"],
                    "name": u["name"], "id": u["id"], "status": k["status"], "identity": self.user_policies(a, u),
                    "boundary": self.boundary_doc(a, u), "tags": self._tags(u)}
        s = self.store.get(KIND_SESSION, key_id)
        if s is None:
            return None
        a = s["acct"]
        out = {"ak": key_id, "secret": s["secret"], "account": a, "kind": s["kind"], "arn": s["arn"],
               "token": s["token"], "expires": s["expires"], "issued": s["issued"], "status": "Active",
               "session": s.get("policies"), "tags": dict(s.get("tags") or {}), "name": s.get("user"),
               "id": s.get("uid"), "identity": [], "boundary": None}
        if s["kind"] == "assumed-role":
            r = self.get(a, "role", s["role"], required=False)
            if r is None or r["id"] != s["role_id"]:
                out["identity"] = []          # the role is gone: the session may do nothing
            else:
                out["identity"] = self._docs_of(a, r)
                out["boundary"] = self.boundary_doc(a, r)
                out["role_arn"] = r["arn"]
                out["tags"] = {**self._tags(r), **out["tags"]}
        elif s.get("admin"):
            out["admin"] = True
        elif s["kind"] in ("user", "federated-user"):
            u = self.get(a, "user", s["user"], required=False)
            out["identity"] = self.user_policies(a, u) if u else []
            out["boundary"] = self.boundary_doc(a, u) if u else None
            if s["kind"] == "user":
                out["arn"] = u["arn"] if u else s["arn"]
        return out

    def issue_session(self, a: str, kind: str, arn: str, duration: int, **fields) -> dict:
        kid, secret, token = ids.access_key_id(a, temporary=True), ids.secret_key(), ids.session_token()
        now = time.time()
        rec = {"acct": a, "kind": kind, "arn": arn, "secret": secret, "token": token, "issued": now,
               "expires": now + duration, **fields}
        self.store.put(KIND_SESSION, kid, rec)
        return {"AccessKeyId": kid, "SecretAccessKey": secret, "SessionToken": token, "Expiration": rec["expires"]}

    def expire_sessions(self, now: float) -> int:
        gone = [k for k, s in self.store.scan(KIND_SESSION) if s["expires"] < now - 3600]
        for k in gone:
            self.store.delete(KIND_SESSION, k)
        return len(gone)

    # -- the policy simulator ---------------------------------------------------------
    def _simulate(self, a: str, caller: Caller, identity: list[str], boundary: list[str], p: dict) -> dict:
        actions = p["ActionNames"]
        resources = p.get("ResourceArns") or ["*"]
        res_policy = parse(p["ResourcePolicy"]) if p.get("ResourcePolicy") else None
        owner = p.get("ResourceOwner")
        owner = owner.split(":")[4] if owner and owner.startswith("arn:") else owner
        ctx = context_from_entries(p.get("ContextEntries"))
        ctx.setdefault("aws:principalarn", caller.arn)
        ctx.setdefault("aws:principalaccount", caller.account)
        if caller.name:
            ctx.setdefault("aws:username", caller.name)
        if caller.unique_id:
            ctx.setdefault("aws:userid", caller.unique_id)
        policies = [parse(d) for d in identity]
        bnd = parse(boundary[0]) if boundary else None
        results = []
        for action in actions:
            per_resource = []
            for resource in resources:
                racct = owner or (resource.split(":")[4] if resource.count(":") >= 5 else None) or None
                d = evaluate(action, resource, racct, caller, ctx, policies, res_policy, bnd)
                per_resource.append((resource, d))
            first = per_resource[0]
            result = {"EvalActionName": action, "EvalResourceName": first[0], "EvalDecision": decision_name(first[1]),
                      "MatchedStatements": [], "MissingContextValues": []}
            if bnd is not None:
                result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": not (
                    first[1].reason and "permissions boundary" in first[1].reason)}
            if res_policy is not None:
                result["EvalDecisionDetails"] = {"IAM Policy": decision_name(first[1])}
            if len(per_resource) > 1 or p.get("ResourceArns"):
                result["ResourceSpecificResults"] = [
                    {"EvalResourceName": r, "EvalResourceDecision": decision_name(d), "MatchedStatements": [],
                     "MissingContextValues": []} for r, d in per_resource]
            results.append(result)
        out = page(results, p, "EvaluationResults")
        return out

    def op_SimulateCustomPolicy(self, a, p):
        caller_arn = p.get("CallerArn") or f"arn:aws:iam::{a}:user/simulated"
        caller = Caller(arn=caller_arn, account=caller_arn.split(":")[4] or a, kind="user",
                        name=caller_arn.rsplit("/", 1)[-1])
        for doc in [*p["PolicyInputList"], *(p.get("PermissionsBoundaryPolicyInputList") or [])]:
            self.check_document(doc, "identity")
        return self._simulate(a, caller, p["PolicyInputList"], p.get("PermissionsBoundaryPolicyInputList") or [], p)

    def op_SimulatePrincipalPolicy(self, a, p):
        arn = p["PolicySourceArn"]
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[4] != a:
            raise invalid(f"Invalid ARN: {arn}")
        kind, _, rest = parts[5].partition("/")
        name = rest.rsplit("/", 1)[-1]
        if kind == "user":
            rec = self.get(a, "user", name)
            docs = self.user_policies(a, rec)
        elif kind == "group":
            rec = self.get(a, "group", name)
            docs = self._docs_of(a, rec)
        elif kind == "role":
            rec = self.get(a, "role", name)
            docs = self._docs_of(a, rec)
        else:
            raise no_such(f"The entity {arn} cannot be found.")
        docs += list(p.get("PolicyInputList") or [])
        boundary = list(p.get("PermissionsBoundaryPolicyInputList") or [])
        if not boundary and rec.get("boundary"):
            boundary = [self.boundary_doc(a, rec)]
        caller = Caller(arn=p.get("CallerArn") or rec["arn"], account=a, kind="user" if kind != "role" else
                        "assumed-role", unique_id=rec["id"], name=rec["name"] if kind == "user" else None,
                        role_arn=rec["arn"] if kind == "role" else None, tags=self._tags(rec))
        return self._simulate(a, caller, docs, boundary, p)
