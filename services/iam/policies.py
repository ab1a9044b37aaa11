"""Managed policies (with versions), attachments, inline policies and
permissions boundaries: a mixin of IamBackend."""

from __future__ import annotations

import time

from services.iam import awsmanaged, ids
from services.iam.errors import conflict, exists, invalid, limit, malformed, no_such
from services.iam.paging import encode_doc, page
from services.iam.policy import MalformedPolicy, validate

MAX_VERSIONS = 5
MANAGED_SIZE = 6144
# holder type -> (name parameter, inline not-found word)
HOLDERS = {"user": "UserName", "group": "GroupName", "role": "RoleName"}


def _not_attachable(arn: str):
    return no_such(f"Policy {arn} does not exist or is not attachable.")


class PoliciesMixin:
    # -- documents ------------------------------------------------------------------
    @staticmethod
    def check_document(text: str, kind: str = "identity", size: int | None = None) -> str:
        if size is not None and len("".join(text.split())) > size:
            raise limit(f"Cannot exceed quota for PolicySize: {size}")
        try:
            validate(text, kind)
        except MalformedPolicy as exc:
            raise malformed(str(exc)) from None
        return text

    # -- managed policies -----------------------------------------------------------
    def policy_by_arn(self, a: str, arn: str, required: bool = True) -> dict | None:
        """A customer managed policy of account `a`, or an AWS managed one (read-only)."""
        doc = awsmanaged.document(arn)
        if doc is not None:
            name = arn.rsplit("/", 1)[-1]
            return {"name": name, "id": "ANPA" + name.upper()[:17].ljust(17, "X"), "arn": arn, "path": "/",
                    "created": 1423000000.0, "updated": 1423000000.0, "default": "v1", "aws": True,
                    "versions": {"v1": {"doc": doc, "created": 1423000000.0}}, "tags": []}
        parts = arn.split(":", 5)
        rec = None
        if len(parts) == 6 and parts[4] == a and parts[5].startswith("policy/"):
            rec = self.store.get("iam.e", self._k(a, "policy", parts[5].rsplit("/", 1)[-1]))
            if rec is not None and rec["arn"] != arn:
                rec = None
        if rec is None and required:
            raise no_such(f"Policy {arn} was not found.")
        return rec

    def _boundary_arn(self, a: str, arn: str | None) -> str | None:
        if not arn:
            return None
        if self.policy_by_arn(a, arn, required=False) is None:
            raise invalid(f"ARN {arn} is not valid.") if not arn.startswith("arn:") else _not_attachable(arn)
        return arn

    def _attached_to(self, a: str, arn: str) -> list[tuple[str, dict]]:
        return [(t, rec) for t in HOLDERS for rec in self.all(a, t) if arn in rec.get("attached", ())]

    def policy_shape(self, a: str, p: dict) -> dict:
        count = len(self._attached_to(a, p["arn"]))
        bcount = sum(1 for t in ("user", "role") for r in self.all(a, t) if r.get("boundary") == p["arn"])
        out = {"PolicyName": p["name"], "PolicyId": p["id"], "Arn": p["arn"], "Path": p["path"],
               "DefaultVersionId": p["default"], "AttachmentCount": count,
               "PermissionsBoundaryUsageCount": bcount, "IsAttachable": True, "CreateDate": p["created"],
               "UpdateDate": p.get("updated", p["created"])}
        if p.get("desc"):
            out["Description"] = p["desc"]
        if p.get("tags"):
            out["Tags"] = p["tags"]
        return out

    def op_CreatePolicy(self, a, p):
        name = p["PolicyName"]
        if self.get(a, "policy", name, required=False):
            raise exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        doc = self.check_document(p["PolicyDocument"], "identity", MANAGED_SIZE)
        now = time.time()
        path = p.get("Path") or "/"
        rec = {"name": name, "id": ids.unique_id(ids.POLICY), "path": path, "created": now, "updated": now,
               "arn": f"arn:aws:iam::{a}:policy{path}{name}", "desc": p.get("Description"), "default": "v1",
               "next": 2, "versions": {"v1": {"doc": doc, "created": now}}, "tags": self._tags_in(p.get("Tags"))}
        self.put(a, "policy", rec)
        return {"Policy": self.policy_shape(a, rec)}

    def op_GetPolicy(self, a, p):
        return {"Policy": self.policy_shape(a, self.policy_by_arn(a, p["PolicyArn"]))}

    def op_DeletePolicy(self, a, p):
        rec = self._own_policy(a, p["PolicyArn"])
        if self._attached_to(a, rec["arn"]):
            raise conflict("Cannot delete a policy attached to entities.")
        if len(rec["versions"]) > 1:
            raise conflict("This policy has more than one version. Before you delete a policy, you must delete "
                           "the policy's versions. The default version is deleted with the policy.")
        self.drop(a, "policy", rec["name"])
        return {}

    def _own_policy(self, a, arn) -> dict:
        rec = self.policy_by_arn(a, arn)
        if rec.get("aws"):
            raise invalid(f"Policy {arn} is an AWS managed policy and cannot be changed.")
        return rec

    def op_ListPolicies(self, a, p):
        scope = p.get("Scope") or "All"
        prefix = p.get("PathPrefix") or "/"
        items = []
        if scope in ("All", "Local"):
            items += [r for r in self.all(a, "policy")]
        if scope in ("All", "AWS"):
            items += [self.policy_by_arn(a, awsmanaged.ARN_PREFIX + n) for n in sorted(awsmanaged.POLICIES)]
        shapes = [self.policy_shape(a, r) for r in items if r["path"].startswith(prefix)]
        if p.get("OnlyAttached"):
            shapes = [s for s in shapes if s["AttachmentCount"]]
        return page(sorted(shapes, key=lambda s: s["PolicyName"].lower()), p, "Policies")

    # -- versions ---------------------------------------------------------------------
    @staticmethod
    def _version_shape(vid: str, v: dict, default: str, with_doc: bool) -> dict:
        out = {"VersionId": vid, "IsDefaultVersion": vid == default, "CreateDate": v["created"]}
        if with_doc:
            out["Document"] = encode_doc(v["doc"])
        return out

    def op_CreatePolicyVersion(self, a, p):
        rec = self._own_policy(a, p["PolicyArn"])
        if len(rec["versions"]) >= MAX_VERSIONS:
            raise limit("A managed policy can have up to 5 versions. Before you create a new version, you must "
                        "delete an existing version.")
        doc = self.check_document(p["PolicyDocument"], "identity", MANAGED_SIZE)
        vid = f"v{rec['next']}"
        rec["next"] += 1
        now = time.time()
        rec["versions"][vid] = {"doc": doc, "created": now}
        if p.get("SetAsDefault"):
            rec["default"] = vid
        rec["updated"] = now
        self.put(a, "policy", rec)
        return {"PolicyVersion": self._version_shape(vid, rec["versions"][vid], rec["default"], False)}

    def _version(self, a, p) -> tuple[dict, str, dict]:
        rec = self.policy_by_arn(a, p["PolicyArn"])
        vid = p["VersionId"]
        v = rec["versions"].get(vid)
        if v is None:
            raise no_such(f"Policy {rec['arn']} version {vid} does not exist or is not attachable.")
        return rec, vid, v

    def op_GetPolicyVersion(self, a, p):
        rec, vid, v = self._version(a, p)
        return {"PolicyVersion": self._version_shape(vid, v, rec["default"], True)}

    def op_ListPolicyVersions(self, a, p):
        rec = self.policy_by_arn(a, p["PolicyArn"])
        order = sorted(rec["versions"].items(), key=lambda kv: -int(kv[0][1:]))
        return page([self._version_shape(vid, v, rec["default"], False) for vid, v in order], p, "Versions")

    def op_DeletePolicyVersion(self, a, p):
        rec, vid, _ = self._version(a, p)
        if rec.get("aws"):
            raise invalid(f"Policy {rec['arn']} is an AWS managed policy and cannot be changed.")
        if vid == rec["default"]:
            raise conflict("Cannot delete the default version of a policy.")
        del rec["versions"][vid]
        self.put(a, "policy", rec)
        return {}

    def op_SetDefaultPolicyVersion(self, a, p):
        rec, vid, _ = self._version(a, p)
        if rec.get("aws"):
            raise invalid(f"Policy {rec['arn']} is an AWS managed policy and cannot be changed.")
        rec["default"] = vid
        rec["updated"] = time.time()
        self.put(a, "policy", rec)
        return {}

    def op_TagPolicy(self, a, p):
        return self.tag(a, "policy", self._own_policy(a, p["PolicyArn"])["name"], p["Tags"])

    def op_UntagPolicy(self, a, p):
        return self.untag(a, "policy", self._own_policy(a, p["PolicyArn"])["name"], p["TagKeys"])

    def op_ListPolicyTags(self, a, p):
        return page(self.policy_by_arn(a, p["PolicyArn"]).get("tags") or [], p, "Tags")

    # -- attachments ------------------------------------------------------------------
    def _attach(self, a, t, p) -> dict:
        rec = self.get(a, t, p[HOLDERS[t]])
        arn = p["PolicyArn"]
        if self.policy_by_arn(a, arn, required=False) is None:
            raise _not_attachable(arn)
        if arn not in rec["attached"]:
            rec["attached"].append(arn)
            self.put(a, t, rec)
        return {}

    def _detach(self, a, t, p) -> dict:
        rec = self.get(a, t, p[HOLDERS[t]])
        arn = p["PolicyArn"]
        if arn not in rec["attached"]:
            raise no_such(f"Policy {arn} was not found.")
        rec["attached"].remove(arn)
        self.put(a, t, rec)
        return {}

    def _list_attached(self, a, t, p) -> dict:
        rec = self.get(a, t, p[HOLDERS[t]])
        prefix = p.get("PathPrefix") or "/"
        out = []
        for arn in rec["attached"]:
            pol = self.policy_by_arn(a, arn, required=False)
            if pol is not None and pol["path"].startswith(prefix):
                out.append({"PolicyName": pol["name"], "PolicyArn": arn})
        return page(out, p, "AttachedPolicies")

    def op_AttachUserPolicy(self, a, p): return self._attach(a, "user", p)
    def op_AttachGroupPolicy(self, a, p): return self._attach(a, "group", p)
    def op_AttachRolePolicy(self, a, p): return self._attach(a, "role", p)
    def op_DetachUserPolicy(self, a, p): return self._detach(a, "user", p)
    def op_DetachGroupPolicy(self, a, p): return self._detach(a, "group", p)
    def op_DetachRolePolicy(self, a, p): return self._detach(a, "role", p)
    def op_ListAttachedUserPolicies(self, a, p): return self._list_attached(a, "user", p)
    def op_ListAttachedGroupPolicies(self, a, p): return self._list_attached(a, "group", p)
    def op_ListAttachedRolePolicies(self, a, p): return self._list_attached(a, "role", p)

    def op_ListEntitiesForPolicy(self, a, p):
        self.policy_by_arn(a, p["PolicyArn"])
        out = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": [], "IsTruncated": False}
        for t, rec in self._attached_to(a, p["PolicyArn"]):
            key = {"user": ("PolicyUsers", "UserName", "UserId"), "group": ("PolicyGroups", "GroupName", "GroupId"),
                   "role": ("PolicyRoles", "RoleName", "RoleId")}[t]
            out[key[0]].append({key[1]: rec["name"], key[2]: rec["id"]})
        return out

    # -- inline policies -----------------------------------------------------------------
    def _put_inline(self, a, t, p) -> dict:
        rec = self.get(a, t, p[HOLDERS[t]])
        rec["inline"][p["PolicyName"]] = self.check_document(p["PolicyDocument"], "identity")
        self.put(a, t, rec)
        return {}

    def _inline(self, a, t, p) -> tuple[dict, str]:
        rec = self.get(a, t, p[HOLDERS[t]])
        name = p["PolicyName"]
        if name not in rec["inline"]:
            raise no_such(f"The {t} policy with name {name} cannot be found.")
        return rec, name

    def _get_inline(self, a, t, p) -> dict:
        rec, name = self._inline(a, t, p)
        return {HOLDERS[t]: rec["name"], "PolicyName": name, "PolicyDocument": encode_doc(rec["inline"][name])}

    def _delete_inline(self, a, t, p) -> dict:
        rec, name = self._inline(a, t, p)
        del rec["inline"][name]
        self.put(a, t, rec)
        return {}

    def _list_inline(self, a, t, p) -> dict:
        return page(sorted(self.get(a, t, p[HOLDERS[t]])["inline"]), p, "PolicyNames")

    def op_PutUserPolicy(self, a, p): return self._put_inline(a, "user", p)
    def op_PutGroupPolicy(self, a, p): return self._put_inline(a, "group", p)
    def op_PutRolePolicy(self, a, p): return self._put_inline(a, "role", p)
    def op_GetUserPolicy(self, a, p): return self._get_inline(a, "user", p)
    def op_GetGroupPolicy(self, a, p): return self._get_inline(a, "group", p)
    def op_GetRolePolicy(self, a, p): return self._get_inline(a, "role", p)
    def op_DeleteUserPolicy(self, a, p): return self._delete_inline(a, "user", p)
    def op_DeleteGroupPolicy(self, a, p): return self._delete_inline(a, "group", p)
    def op_DeleteRolePolicy(self, a, p): return self._delete_inline(a, "role", p)
    def op_ListUserPolicies(self, a, p): return self._list_inline(a, "user", p)
    def op_ListGroupPolicies(self, a, p): return self._list_inline(a, "group", p)
    def op_ListRolePolicies(self, a, p): return self._list_inline(a, "role", p)
