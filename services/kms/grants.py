"""Grants: create, list, retire and revoke, and the grant-token index."""

from __future__ import annotations

import base64
import os

from .model import GRANT_OPERATIONS, KIND_GRANT, _Namespace
from .pagination import _paginate
from .validation import _dry_run_error, _err, _required, _ts, _validation


class GrantsMixin:
    """Grant operations of `KmsBackend`."""

    def _grant_entry(self, g: dict) -> dict:
        e = {"KeyId": g["key_arn"], "GrantId": g["grant_id"], "Name": g.get("name") or "",
             "CreationDate": _ts(g["created"]), "GranteePrincipal": g["grantee"],
             "IssuingAccount": f"arn:aws:iam::{g['account']}:root",
             "Operations": list(g["operations"])}
        if g.get("retiring"):
            e["RetiringPrincipal"] = g["retiring"]
        if g.get("constraints"):
            e["Constraints"] = g["constraints"]
        return e

    def _op_create_grant(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        operations = _required(p, "Operations")
        grantee = p.get("GranteePrincipal") or p.get("GranteeServicePrincipal")
        if not grantee:
            raise _validation("1 validation error detected: Value null at 'granteePrincipal' "
                              "failed to satisfy constraint: Member must not be null")
        if not operations:
            raise _validation("1 validation error detected: Value '[]' at 'operations' failed "
                              "to satisfy constraint: Member must have length greater than or "
                              "equal to 1")
        for op in operations:
            if op not in GRANT_OPERATIONS:
                raise _validation(
                    f"1 validation error detected: Value '[{', '.join(operations)}]' at "
                    f"'operations' failed to satisfy constraint: Member must satisfy constraint: "
                    f"[Member must satisfy enum value set: [{', '.join(sorted(GRANT_OPERATIONS))}]]")
        self._check_state(key, disabled=True)
        name = p.get("Name")
        if p.get("DryRun"):
            raise _dry_run_error()
        token = base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
        if name:
            for g in ns.grants.values():
                if g["key_id"] == key.key_id and g.get("name") == name:
                    g["tokens"].append(token)
                    self._tokens[token] = (account, region, g["grant_id"])
                    self._save_grant(g)
                    return {"GrantToken": token, "GrantId": g["grant_id"]}
        grant = {"account": account, "region": region, "grant_id": os.urandom(32).hex(),
                 "key_id": key.key_id, "key_arn": key.arn, "name": name or "",
                 "created": self._now(), "grantee": grantee,
                 "retiring": p.get("RetiringPrincipal") or p.get("RetiringServicePrincipal"),
                 "operations": list(operations), "constraints": p.get("Constraints"),
                 "tokens": [token]}
        ns.grants[grant["grant_id"]] = grant
        self._tokens[token] = (account, region, grant["grant_id"])
        self._save_grant(grant)
        return {"GrantToken": token, "GrantId": grant["grant_id"]}

    def _op_list_grants(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        grants = [g for g in ns.grants.values() if g["key_id"] == key.key_id]
        if p.get("GrantId"):
            grants = [g for g in grants if g["grant_id"] == p["GrantId"]]
            if not grants:
                raise _err("InvalidGrantIdException", "Grant ID not found")
        if p.get("GranteePrincipal"):
            grants = [g for g in grants if g["grantee"] == p["GranteePrincipal"]]
        if p.get("GranteeServicePrincipal"):
            grants = [g for g in grants if g["grantee"] == p["GranteeServicePrincipal"]]
        grants.sort(key=lambda g: g["grant_id"])
        page, extra = _paginate(grants, lambda g: g["grant_id"], p, 1, 100, 50)
        return {"Grants": [self._grant_entry(g) for g in page], **extra}

    def _op_list_retirable_grants(self, ns, account, region, p):
        principal = p.get("RetiringPrincipal") or p.get("RetiringServicePrincipal")
        if not principal:
            raise _validation("1 validation error detected: Value null at 'retiringPrincipal' "
                              "failed to satisfy constraint: Member must not be null")
        grants = sorted((g for g in ns.grants.values() if g.get("retiring") == principal),
                        key=lambda g: g["grant_id"])
        page, extra = _paginate(grants, lambda g: g["grant_id"], p, 1, 100, 50)
        return {"Grants": [self._grant_entry(g) for g in page], **extra}

    def _drop_grant(self, ns: _Namespace, grant: dict) -> None:
        ns.grants.pop(grant["grant_id"], None)
        for t in grant.get("tokens") or []:
            self._tokens.pop(t, None)
        self._store.delete(KIND_GRANT, self._rec_key(grant["account"], grant["region"],
                                                     grant["grant_id"]))

    def _op_retire_grant(self, ns, account, region, p):
        token, grant_id, key_param = p.get("GrantToken"), p.get("GrantId"), p.get("KeyId")
        if token:
            loc = self._tokens.get(token)
            if loc is None:
                raise _err("InvalidGrantTokenException", "The grant token is not valid.")
            grant_ns = self._namespace(loc[0], loc[1])
            grant = grant_ns.grants.get(loc[2])
            if grant is None:
                raise _err("InvalidGrantTokenException", "The grant token is not valid.")
        else:
            if not grant_id or not key_param:
                raise _validation("Grant token OR (grant ID, key ID) must be specified")
            key = self._resolve(ns, account, region, key_param, allow_alias=False)
            grant_ns = ns
            grant = ns.grants.get(grant_id)
            if grant is None or grant["key_id"] != key.key_id:
                raise _err("InvalidGrantIdException", "Grant ID not found")
        if p.get("DryRun"):
            raise _dry_run_error()
        self._drop_grant(grant_ns, grant)
        return {}

    def _op_revoke_grant(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        grant_id = _required(p, "GrantId")
        grant = ns.grants.get(grant_id)
        if grant is None or grant["key_id"] != key.key_id:
            raise _err("InvalidGrantIdException", "Grant ID not found")
        if p.get("DryRun"):
            raise _dry_run_error()
        self._drop_grant(ns, grant)
        return {}
