"""Per-function settings on the shard: concurrency, provisioned concurrency,
asynchronous invocation configs, resource policy, tags and function URLs."""

from __future__ import annotations

import json
import time

from broker.core.ids import uuid4
from broker.runtime import sinks
from services.awslambda.concurrency import acct_key, remote_error
from services.awslambda.functions import now_iso
from services.awslambda.model import LATEST, conflict, err, fn_arn, invalid, not_found


def _qualifier_for_pc(rec: dict, q: str | None) -> str:
    if not q or q == LATEST:
        raise invalid("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
    if q not in rec["vers"] and q not in rec["aliases"]:
        raise not_found(f"Function not found: {fn_arn(rec['r'], rec['a'], rec['n'], q)}")
    return q


class FunctionSettings:
    """Mixin of the shard half (uses FunctionRecords and the pools)."""

    # -- reserved concurrency ---------------------------------------------------------
    def _PutFunctionConcurrency(self, key, a):
        self._fn(key, a)
        return self._reserve(key, a, a["q"]["ReservedConcurrentExecutions"])

    def _GetFunctionConcurrency(self, key, a):
        rec = self._fn(key, a)
        return {} if rec["rc"] is None else {"ReservedConcurrentExecutions": rec["rc"]}

    def _DeleteFunctionConcurrency(self, key, a):
        self._fn(key, a)
        return self._reserve(key, a, None)

    async def _reserve(self, key: str, a: dict, n: int | None) -> dict:
        """Checked and recorded by the account's ledger (it sees every function of the account),
        then kept on the function."""
        try:
            await self.part.call(acct_key(a["a"], a["r"]), "lambda.Acct",
                                 {"op": "Reserve", "k": acct_key(a["a"], a["r"]), "a": a["a"], "r": a["r"],
                                  "fn": key, "n": n})
        except Exception as exc:
            raise remote_error(exc) from None
        rec = self._fn(key, a)
        rec["rc"] = n
        self._save(key, rec)
        return {} if n is None else {"ReservedConcurrentExecutions": n}

    def release_reservation(self, key: str, rec: dict) -> None:
        """A deleted function's reservation goes back to the pool (durably, after the commit)."""
        if rec.get("rc") is not None:
            k = acct_key(rec["a"], rec["r"])
            sinks.deliveries(self.part).submit("call", {"key": k, "op": "lambda.Acct"},
                                               {"op": "Reserve", "k": k, "a": rec["a"], "r": rec["r"], "fn": key,
                                                "n": None})

    # -- provisioned concurrency ----------------------------------------------------------
    def _pc_view(self, rec: dict, q: str, pc: dict) -> dict:
        ready = self.pools.provisioned_ready(rec, q)
        return {"FunctionArn": fn_arn(rec["r"], rec["a"], rec["n"], q), "RequestedProvisionedConcurrentExecutions": pc["n"],
                "AvailableProvisionedConcurrentExecutions": ready, "AllocatedProvisionedConcurrentExecutions": ready,
                "Status": "READY" if ready >= pc["n"] else "IN_PROGRESS", "LastModified": pc["m"]}

    def _PutProvisionedConcurrencyConfig(self, key, a):
        rec = self._fn(key, a)
        q = _qualifier_for_pc(rec, a["q"].get("Qualifier"))
        n = a["q"]["ProvisionedConcurrentExecutions"]
        if rec["rc"] is not None and n > rec["rc"]:
            raise invalid("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                          "for function")
        rec["pc"][q] = {"n": n, "m": now_iso()}
        self._save(key, rec)
        self.part.after_commit(lambda: self.pools.provision(key, rec, q, n))
        out = self._pc_view(rec, q, rec["pc"][q])
        out.pop("FunctionArn")
        out["Status"] = "IN_PROGRESS" if out["Status"] != "READY" else "READY"
        return out

    def _GetProvisionedConcurrencyConfig(self, key, a):
        rec = self._fn(key, a)
        q = a["q"].get("Qualifier")
        pc = rec["pc"].get(q)
        if pc is None:
            raise err("ProvisionedConcurrencyConfigNotFoundException",
                      "No Provisioned Concurrency Config found for this function", 404)
        out = self._pc_view(rec, q, pc)
        out.pop("FunctionArn")
        return out

    def _DeleteProvisionedConcurrencyConfig(self, key, a):
        rec = self._fn(key, a)
        q = a["q"].get("Qualifier")
        if rec["pc"].pop(q, None) is None:
            raise err("ProvisionedConcurrencyConfigNotFoundException",
                      "No Provisioned Concurrency Config found for this function", 404)
        self._save(key, rec)
        self.part.after_commit(lambda: self.pools.provision(key, rec, q, 0))
        return {}

    def _ListProvisionedConcurrencyConfigs(self, key, a):
        rec = self._fn(key, a)
        return {"_items": [self._pc_view(rec, q, pc) for q, pc in sorted(rec["pc"].items())]}

    # -- asynchronous invocation configs ------------------------------------------------------
    @staticmethod
    def _eic_view(rec: dict, q: str, c: dict) -> dict:
        out = {"LastModified": c["m"], "FunctionArn": fn_arn(rec["r"], rec["a"], rec["n"], q),
               "DestinationConfig": c.get("DestinationConfig") or {"OnSuccess": {}, "OnFailure": {}}}
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if c.get(k) is not None:
                out[k] = c[k]
        return out

    def _eic_qualifier(self, rec, q):
        q = q or LATEST
        if q != LATEST:
            self.resolve(rec, q)
        return q

    def _put_eic(self, key, a, merge: bool):
        rec = self._fn(key, a)
        p = a["q"]
        q = self._eic_qualifier(rec, p.get("Qualifier"))
        cur = rec["eic"].get(q) if merge else None
        if merge and cur is None:
            raise not_found(f"The function {fn_arn(rec['r'], rec['a'], rec['n'], q)} doesn't have an EventInvokeConfig")
        c = dict(cur or {})
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"):
            if k in p:
                c[k] = p[k]
        c["m"] = time.time()
        rec["eic"][q] = c
        self._save(key, rec)
        return self._eic_view(rec, q, c)

    def _PutFunctionEventInvokeConfig(self, key, a):
        return self._put_eic(key, a, False)

    def _UpdateFunctionEventInvokeConfig(self, key, a):
        return self._put_eic(key, a, True)

    def _GetFunctionEventInvokeConfig(self, key, a):
        rec = self._fn(key, a)
        q = self._eic_qualifier(rec, a["q"].get("Qualifier"))
        c = rec["eic"].get(q)
        if c is None:
            raise not_found(f"The function {fn_arn(rec['r'], rec['a'], rec['n'], q)} doesn't have an EventInvokeConfig")
        return self._eic_view(rec, q, c)

    def _DeleteFunctionEventInvokeConfig(self, key, a):
        rec = self._fn(key, a)
        q = self._eic_qualifier(rec, a["q"].get("Qualifier"))
        if rec["eic"].pop(q, None) is None:
            raise not_found(f"The function {fn_arn(rec['r'], rec['a'], rec['n'], q)} doesn't have an EventInvokeConfig")
        self._save(key, rec)
        return {}

    def _ListFunctionEventInvokeConfigs(self, key, a):
        rec = self._fn(key, a)
        return {"_items": [self._eic_view(rec, q, c) for q, c in sorted(rec["eic"].items())]}

    # -- resource policy --------------------------------------------------------------------
    def _AddPermission(self, key, a):
        rec = self._fn(key, a)
        p = a["q"]
        q = p.get("Qualifier")
        if q:
            self.resolve(rec, q)
        self._check_revision(rec["cfg"]["RevisionId"], p.get("RevisionId"))
        sid = p["StatementId"]
        if any(s["Sid"] == sid for s in rec["policy"]):
            raise conflict("The statement id (sid) provided already exists. Please provide a new statement id, "
                           "or remove the existing statement.")
        principal = p["Principal"]
        if principal == "*":
            prin = "*"
        elif principal.endswith(".amazonaws.com"):
            prin = {"Service": principal}
        elif principal.isdigit():
            prin = {"AWS": f"arn:aws:iam::{principal}:root"}
        else:
            prin = {"AWS": principal}
        action = p["Action"]
        st = {"Sid": sid, "Effect": "Allow", "Principal": prin,
              "Action": action if ":" in action else f"lambda:{action}",
              "Resource": fn_arn(rec["r"], rec["a"], rec["n"], q)}
        cond: dict = {}
        if p.get("SourceArn"):
            cond.setdefault("ArnLike", {})["AWS:SourceArn"] = p["SourceArn"]
        if p.get("SourceAccount"):
            cond.setdefault("StringEquals", {})["AWS:SourceAccount"] = p["SourceAccount"]
        if p.get("PrincipalOrgID"):
            cond.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = p["PrincipalOrgID"]
        if p.get("FunctionUrlAuthType"):
            cond.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = p["FunctionUrlAuthType"]
        if cond:
            st["Condition"] = cond
        rec["policy"].append(st)
        rec["policy_rev"] = uuid4()
        self._save(key, rec)
        return {"Statement": json.dumps(st, separators=(",", ":"))}

    def _RemovePermission(self, key, a):
        rec = self._fn(key, a)
        sid = a["q"]["StatementId"]
        keep = [s for s in rec["policy"] if s["Sid"] != sid]
        if len(keep) == len(rec["policy"]):
            raise not_found(f"Statement {sid} is not found in resource policy.")
        rec["policy"] = keep
        rec["policy_rev"] = uuid4()
        self._save(key, rec)
        return {}

    def _GetPolicy(self, key, a):
        rec = self._fn(key, a)
        q = a["q"].get("Qualifier")
        res = fn_arn(rec["r"], rec["a"], rec["n"], q)
        sts = [s for s in rec["policy"] if s["Resource"] == res]
        if not sts:
            raise not_found("The resource you requested does not exist.")
        doc = {"Version": "2012-10-17", "Id": "default", "Statement": sts}
        return {"Policy": json.dumps(doc, separators=(",", ":")), "RevisionId": rec.get("policy_rev") or uuid4()}

    # -- tags ----------------------------------------------------------------------------------
    def _TagResource(self, key, a):
        rec = self._fn(key, a)
        rec["tags"].update(a["q"]["Tags"])
        self._save(key, rec)
        return {}

    def _UntagResource(self, key, a):
        rec = self._fn(key, a)
        for k in a["q"]["TagKeys"]:
            rec["tags"].pop(k, None)
        self._save(key, rec)
        return {}

    def _ListTags(self, key, a):
        return {"Tags": dict(self._fn(key, a)["tags"])}

    # -- function URLs (the listener is opened by the gateway half) ---------------------------------
    def _url_qualifier(self, rec, q):
        q = q or LATEST
        if q != LATEST and q not in rec["aliases"]:
            if q.isdigit():
                raise invalid("Function URLs can only be created for the $LATEST version or an alias.")
            raise not_found(f"Function not found: {fn_arn(rec['r'], rec['a'], rec['n'], q)}")
        return q

    @staticmethod
    def _url_view(u: dict) -> dict:
        return {k: v for k, v in u.items() if not k.startswith("_")}

    def _CreateFunctionUrlConfig(self, key, a):
        rec = self._fn(key, a)
        q = self._url_qualifier(rec, a["q"].get("Qualifier"))
        if q in rec["urls"]:
            raise conflict(f"Failed to create function url config for [functionArn = "
                           f"{fn_arn(rec['r'], rec['a'], rec['n'], None if q == LATEST else q)}]. "
                           f"Error message:  FunctionUrlConfig exists for this Lambda function")
        if "url" not in a:
            return {"_open": {"id": uuid4().replace("-", "")[:32], "q": q}}
        p = a["q"]
        now = now_iso()
        u = {"FunctionUrl": a["url"], "FunctionArn": fn_arn(rec["r"], rec["a"], rec["n"], None if q == LATEST else q),
             "AuthType": p["AuthType"], "CreationTime": now, "LastModifiedTime": now,
             "InvokeMode": p.get("InvokeMode") or "BUFFERED", "_listener": a["listener"]}
        if p.get("Cors"):
            u["Cors"] = p["Cors"]
        rec["urls"][q] = u
        self._save(key, rec)
        return self._url_view(u)

    def _url(self, rec, q):
        u = rec["urls"].get(q)
        if u is None:
            raise not_found("The resource you requested does not exist.")
        return u

    def _GetFunctionUrlConfig(self, key, a):
        rec = self._fn(key, a)
        return self._url_view(self._url(rec, self._url_qualifier(rec, a["q"].get("Qualifier"))))

    def _UpdateFunctionUrlConfig(self, key, a):
        rec = self._fn(key, a)
        u = self._url(rec, self._url_qualifier(rec, a["q"].get("Qualifier")))
        for k in ("AuthType", "Cors", "InvokeMode"):
            if k in a["q"]:
                u[k] = a["q"][k]
        u["LastModifiedTime"] = now_iso()
        self._save(key, rec)
        return self._url_view(u)

    def _DeleteFunctionUrlConfig(self, key, a):
        rec = self._fn(key, a)
        q = self._url_qualifier(rec, a["q"].get("Qualifier"))
        u = self._url(rec, q)
        del rec["urls"][q]
        self._save(key, rec)
        return {"_urls": [u]}

    def _ListFunctionUrlConfigs(self, key, a):
        rec = self._fn(key, a)
        return {"_items": [self._url_view(u) for _q, u in sorted(rec["urls"].items())]}

    def op_Url(self, a):
        """What a function URL listener needs to invoke: the URL config, or None."""
        rec = self.fns.get(a["k"])
        u = rec and rec["urls"].get(a["q"])
        return self._url_view(u) if u and u["_listener"] == a["l"] else None
