"""IAM's state for the accounts of one partition, and the identity operations:
users, groups, roles, instance profiles, access keys, tags, boundaries.

Records (kind ``iam.e``, key ``<account>/<type>/<lower-case name>``) are plain
dicts; names are unique per account regardless of case, as at IAM. Access
keys and STS sessions are kept by key id (kinds ``iam.key``/``iam.session``).
Managed and inline policies: services/iam/policies.py; what a key may do:
services/iam/principals.py.
"""

from __future__ import annotations

import time
from services.iam import ids
from services.iam.errors import conflict, exists, invalid, limit, no_such, validation
from services.iam.paging import encode_doc, page
from services.iam.policies import PoliciesMixin
from services.iam.principals import PrincipalsMixin

KIND = "iam.e"
KIND_KEY = "iam.key"
KIND_SESSION = "iam.session"

MAX_KEYS_PER_USER = 2
MAX_TAGS = 50

# type -> (ARN resource word, unique-id prefix, not-found text, exists text)
TYPES = {
    "user": ("user", ids.USER, "The user with name {} cannot be found.", "User with name {} already exists."),
    "group": ("group", ids.GROUP, "The group with name {} cannot be found.", "Group with name {} already exists."),
    "role": ("role", ids.ROLE, "The role with name {} cannot be found.", "Role with name {} already exists."),
    "profile": ("instance-profile", ids.PROFILE, "Instance Profile {} cannot be found.",
                "Instance Profile {} already exists."),
    "policy": ("policy", ids.POLICY, "Policy {} was not found.",
               "A policy called {} already exists. Duplicate names are not allowed."),
}


class IamBackend(PoliciesMixin, PrincipalsMixin):
    def __init__(self, store):
        self.store = store
        self.changed: set[str] = set()     # accounts whose principals changed in this call

    # -- records --------------------------------------------------------------
    @staticmethod
    def _k(account: str, t: str, name: str) -> str:
        return f"{account}/{t}/{name.lower()}"

    def get(self, account: str, t: str, name: str, required: bool = True) -> dict | None:
        rec = self.store.get(KIND, self._k(account, t, name))
        if rec is None and required:
            raise no_such(TYPES[t][2].format(name))
        return rec

    def put(self, account: str, t: str, rec: dict) -> None:
        self.store.put(KIND, self._k(account, t, rec["name"]), rec)
        self.changed.add(account)

    def drop(self, account: str, t: str, name: str) -> None:
        self.store.delete(KIND, self._k(account, t, name))
        self.changed.add(account)

    def all(self, account: str, t: str) -> list[dict]:
        return [v for _, v in self.store.scan(KIND, f"{account}/{t}/")]

    def create(self, account: str, t: str, name: str, path: str | None, **fields) -> dict:
        if self.get(account, t, name, required=False) is not None:
            raise exists(TYPES[t][3].format(name))
        path = path or "/"
        rec = {"name": name, "id": ids.unique_id(TYPES[t][1]), "path": path, "created": time.time(),
               "arn": ids.arn(account, TYPES[t][0], path, name), **fields}
        self.put(account, t, rec)
        return rec

    # -- shapes ---------------------------------------------------------------
    @staticmethod
    def _boundary(rec) -> dict | None:
        b = rec.get("boundary")
        return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": b} if b else None

    def user_shape(self, u: dict, full: bool = True) -> dict:
        out = {"Path": u["path"], "UserName": u["name"], "UserId": u["id"], "Arn": u["arn"],
               "CreateDate": u["created"]}
        if full:
            if u.get("boundary"):
                out["PermissionsBoundary"] = self._boundary(u)
            if u.get("tags"):
                out["Tags"] = u["tags"]
        return out

    @staticmethod
    def group_shape(g: dict) -> dict:
        return {"Path": g["path"], "GroupName": g["name"], "GroupId": g["id"], "Arn": g["arn"],
                "CreateDate": g["created"]}

    def role_shape(self, r: dict, full: bool = True) -> dict:
        out = {"Path": r["path"], "RoleName": r["name"], "RoleId": r["id"], "Arn": r["arn"],
               "CreateDate": r["created"], "AssumeRolePolicyDocument": encode_doc(r["trust"]),
               "MaxSessionDuration": r.get("max", 3600)}
        if r.get("desc") is not None:
            out["Description"] = r["desc"]
        if full:
            if r.get("boundary"):
                out["PermissionsBoundary"] = self._boundary(r)
            if r.get("tags"):
                out["Tags"] = r["tags"]
            out["RoleLastUsed"] = ({"LastUsedDate": r["used"][0], "Region": r["used"][1]}
                                   if r.get("used") else {})
        return out

    def profile_shape(self, account: str, p: dict) -> dict:
        roles = [self.role_shape(r, full=False) for r in
                 (self.get(account, "role", n, required=False) for n in p.get("roles", [])) if r]
        out = {"Path": p["path"], "InstanceProfileName": p["name"], "InstanceProfileId": p["id"],
               "Arn": p["arn"], "CreateDate": p["created"], "Roles": roles}
        if p.get("tags"):
            out["Tags"] = p["tags"]
        return out

    def listing(self, account: str, t: str, params: dict, key: str, shape) -> dict:
        prefix = params.get("PathPrefix") or "/"
        items = sorted((r for r in self.all(account, t) if r["path"].startswith(prefix)),
                       key=lambda r: r["name"].lower())
        out = page(items, params, key)
        out[key] = [shape(r) for r in out[key]]
        return out

    # -- users --------------------------------------------------------------------
    def op_CreateUser(self, a, p):
        tags = self._tags_in(p.get("Tags"))
        u = self.create(a, "user", p["UserName"], p.get("Path"), tags=tags, inline={}, attached=[], groups=[],
                        boundary=self._boundary_arn(a, p.get("PermissionsBoundary")))
        return {"User": self.user_shape(u)}

    def op_GetUser(self, a, p, caller=None):
        name = p.get("UserName")
        if not name:
            if caller and caller.get("kind") == "user":
                name = caller["name"]
            else:
                return {"User": {"UserId": a, "Arn": f"arn:aws:iam::{a}:root", "CreateDate": 0, "Path": "/",
                                 "UserName": ""}}
        return {"User": self.user_shape(self.get(a, "user", name))}

    def op_ListUsers(self, a, p):
        return self.listing(a, "user", p, "Users", lambda u: self.user_shape(u, full=False))

    def op_UpdateUser(self, a, p):
        u = self.get(a, "user", p["UserName"])
        new = p.get("NewUserName")
        if new and new.lower() != u["name"].lower() and self.get(a, "user", new, required=False):
            raise exists(TYPES["user"][3].format(new))
        self.drop(a, "user", u["name"])
        if new:
            for g in u["groups"]:
                grp = self.get(a, "group", g, required=False)
                if grp:
                    grp["users"] = [new if x.lower() == u["name"].lower() else x for x in grp["users"]]
                    self.put(a, "group", grp)
            for kid, k in list(self.store.scan(KIND_KEY)):
                if k["acct"] == a and k["user"].lower() == u["name"].lower():
                    k["user"] = new
                    self.store.put(KIND_KEY, kid, k)
            u["name"] = new
        if p.get("NewPath"):
            u["path"] = p["NewPath"]
        u["arn"] = ids.arn(a, "user", u["path"], u["name"])
        self.put(a, "user", u)
        return {}

    def op_DeleteUser(self, a, p):
        u = self.get(a, "user", p["UserName"])
        if self._keys_of(a, u["name"]):
            raise conflict("Cannot delete entity, must delete access keys first.")
        if u["inline"]:
            raise conflict("Cannot delete entity, must delete policies first.")
        if u["attached"]:
            raise conflict("Cannot delete entity, must detach all policies first.")
        if u["groups"]:
            raise conflict("Cannot delete entity, must remove users from group first.")
        self.drop(a, "user", u["name"])
        return {}

    # -- access keys ------------------------------------------------------------------
    def _keys_of(self, a: str, user: str) -> list[tuple[str, dict]]:
        return sorted(((kid, k) for kid, k in self.store.scan(KIND_KEY)
                       if k["acct"] == a and k["user"].lower() == user.lower()), key=lambda x: x[1]["created"])

    def _key_user(self, a, p, caller) -> dict:
        name = p.get("UserName")
        if not name:
            if caller and caller.get("kind") == "user":
                name = caller["name"]
            else:
                raise validation("Must specify userName when calling with non-User credentials")
        return self.get(a, "user", name)

    def op_CreateAccessKey(self, a, p, caller=None):
        u = self._key_user(a, p, caller)
        if len(self._keys_of(a, u["name"])) >= MAX_KEYS_PER_USER:
            raise limit(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")
        kid, secret = ids.access_key_id(a), ids.secret_key()
        rec = {"acct": a, "user": u["name"], "secret": secret, "status": "Active", "created": time.time()}
        self.store.put(KIND_KEY, kid, rec)
        self.changed.add(a)
        return {"AccessKey": {"UserName": u["name"], "AccessKeyId": kid, "Status": "Active",
                              "SecretAccessKey": secret, "CreateDate": rec["created"]}}

    def op_ListAccessKeys(self, a, p, caller=None):
        u = self._key_user(a, p, caller)
        keys = [{"UserName": u["name"], "AccessKeyId": kid, "Status": k["status"], "CreateDate": k["created"]}
                for kid, k in self._keys_of(a, u["name"])]
        return page(keys, p, "AccessKeyMetadata")

    def _own_key(self, a, p, caller) -> tuple[str, dict]:
        u = self._key_user(a, p, caller)
        kid = p["AccessKeyId"]
        k = self.store.get(KIND_KEY, kid)
        if k is None or k["acct"] != a or k["user"].lower() != u["name"].lower():
            raise no_such(f"The Access Key with id {kid} cannot be found.")
        return kid, k

    def op_UpdateAccessKey(self, a, p, caller=None):
        kid, k = self._own_key(a, p, caller)
        k["status"] = p["Status"]
        self.store.put(KIND_KEY, kid, k)
        self.changed.add(a)
        return {}

    def op_DeleteAccessKey(self, a, p, caller=None):
        kid, _ = self._own_key(a, p, caller)
        self.store.delete(KIND_KEY, kid)
        self.changed.add(a)
        return {}

    def op_GetAccessKeyLastUsed(self, a, p):
        kid = p["AccessKeyId"]
        k = self.store.get(KIND_KEY, kid)
        if k is None or k["acct"] != a:
            raise err_access_key(kid)
        used = k.get("used")
        last = ({"LastUsedDate": used[0], "ServiceName": used[1], "Region": used[2]} if used
                else {"ServiceName": "N/A", "Region": "N/A"})
        return {"UserName": k["user"], "AccessKeyLastUsed": last}

    # -- groups ------------------------------------------------------------------
    def op_CreateGroup(self, a, p):
        g = self.create(a, "group", p["GroupName"], p.get("Path"), inline={}, attached=[], users=[])
        return {"Group": self.group_shape(g)}

    def op_GetGroup(self, a, p):
        g = self.get(a, "group", p["GroupName"])
        users = [self.user_shape(u, full=False) for u in
                 (self.get(a, "user", n, required=False) for n in sorted(g["users"], key=str.lower)) if u]
        out = page(users, p, "Users")
        out["Group"] = self.group_shape(g)
        return out

    def op_ListGroups(self, a, p):
        return self.listing(a, "group", p, "Groups", self.group_shape)

    def op_UpdateGroup(self, a, p):
        g = self.get(a, "group", p["GroupName"])
        new = p.get("NewGroupName")
        self.drop(a, "group", g["name"])
        if new:
            if self.get(a, "group", new, required=False):
                raise exists(TYPES["group"][3].format(new))
            for n in g["users"]:
                u = self.get(a, "user", n, required=False)
                if u:
                    u["groups"] = [new if x.lower() == g["name"].lower() else x for x in u["groups"]]
                    self.put(a, "user", u)
            g["name"] = new
        if p.get("NewPath"):
            g["path"] = p["NewPath"]
        g["arn"] = ids.arn(a, "group", g["path"], g["name"])
        self.put(a, "group", g)
        return {}

    def op_DeleteGroup(self, a, p):
        g = self.get(a, "group", p["GroupName"])
        if g["users"]:
            raise conflict("Cannot delete entity, must remove users from group first.")
        if g["inline"]:
            raise conflict("Cannot delete entity, must delete policies first.")
        if g["attached"]:
            raise conflict("Cannot delete entity, must detach all policies first.")
        self.drop(a, "group", g["name"])
        return {}

    def op_AddUserToGroup(self, a, p):
        g, u = self.get(a, "group", p["GroupName"]), self.get(a, "user", p["UserName"])
        if u["name"].lower() not in {x.lower() for x in g["users"]}:
            g["users"].append(u["name"])
            u["groups"].append(g["name"])
            self.put(a, "group", g)
            self.put(a, "user", u)
        return {}

    def op_RemoveUserFromGroup(self, a, p):
        g, u = self.get(a, "group", p["GroupName"]), self.get(a, "user", p["UserName"])
        if u["name"].lower() not in {x.lower() for x in g["users"]}:
            raise no_such(f"The user with name {u['name']} cannot be found.")
        g["users"] = [x for x in g["users"] if x.lower() != u["name"].lower()]
        u["groups"] = [x for x in u["groups"] if x.lower() != g["name"].lower()]
        self.put(a, "group", g)
        self.put(a, "user", u)
        return {}

    def op_ListGroupsForUser(self, a, p):
        u = self.get(a, "user", p["UserName"])
        groups = [self.group_shape(g) for g in
                  (self.get(a, "group", n, required=False) for n in sorted(u["groups"], key=str.lower)) if g]
        return page(groups, p, "Groups")

    # -- roles -------------------------------------------------------------------
    def op_CreateRole(self, a, p):
        trust = self.check_document(p["AssumeRolePolicyDocument"], "trust")
        r = self.create(a, "role", p["RoleName"], p.get("Path"), trust=trust, desc=p.get("Description"),
                        max=p.get("MaxSessionDuration") or 3600, tags=self._tags_in(p.get("Tags")), inline={},
                        attached=[], boundary=self._boundary_arn(a, p.get("PermissionsBoundary")))
        return {"Role": self.role_shape(r)}

    def op_GetRole(self, a, p):
        return {"Role": self.role_shape(self.get(a, "role", p["RoleName"]))}

    def op_ListRoles(self, a, p):
        return self.listing(a, "role", p, "Roles", lambda r: self.role_shape(r, full=False))

    def op_UpdateRole(self, a, p):
        r = self.get(a, "role", p["RoleName"])
        if p.get("Description") is not None:
            r["desc"] = p["Description"]
        if p.get("MaxSessionDuration"):
            r["max"] = p["MaxSessionDuration"]
        self.put(a, "role", r)
        return {}

    def op_UpdateRoleDescription(self, a, p):
        r = self.get(a, "role", p["RoleName"])
        r["desc"] = p["Description"]
        self.put(a, "role", r)
        return {"Role": self.role_shape(r)}

    def op_UpdateAssumeRolePolicy(self, a, p):
        r = self.get(a, "role", p["RoleName"])
        r["trust"] = self.check_document(p["PolicyDocument"], "trust")
        self.put(a, "role", r)
        return {}

    def op_DeleteRole(self, a, p):
        r = self.get(a, "role", p["RoleName"])
        if any(r["name"].lower() in {x.lower() for x in ip.get("roles", [])} for ip in self.all(a, "profile")):
            raise conflict("Cannot delete entity, must remove roles from instance profile first.")
        if r["inline"]:
            raise conflict("Cannot delete entity, must delete policies first.")
        if r["attached"]:
            raise conflict("Cannot delete entity, must detach all policies first.")
        self.drop(a, "role", r["name"])
        return {}

    # -- instance profiles ---------------------------------------------------------
    def op_CreateInstanceProfile(self, a, p):
        ip = self.create(a, "profile", p["InstanceProfileName"], p.get("Path"), roles=[],
                         tags=self._tags_in(p.get("Tags")))
        return {"InstanceProfile": self.profile_shape(a, ip)}

    def op_GetInstanceProfile(self, a, p):
        return {"InstanceProfile": self.profile_shape(a, self.get(a, "profile", p["InstanceProfileName"]))}

    def op_ListInstanceProfiles(self, a, p):
        return self.listing(a, "profile", p, "InstanceProfiles", lambda ip: self.profile_shape(a, ip))

    def op_DeleteInstanceProfile(self, a, p):
        ip = self.get(a, "profile", p["InstanceProfileName"])
        if ip["roles"]:
            raise conflict("Cannot delete entity, must remove roles from instance profile first.")
        self.drop(a, "profile", ip["name"])
        return {}

    def op_AddRoleToInstanceProfile(self, a, p):
        ip, r = self.get(a, "profile", p["InstanceProfileName"]), self.get(a, "role", p["RoleName"])
        if ip["roles"]:
            raise limit("Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
        ip["roles"].append(r["name"])
        self.put(a, "profile", ip)
        return {}

    def op_RemoveRoleFromInstanceProfile(self, a, p):
        ip, r = self.get(a, "profile", p["InstanceProfileName"]), self.get(a, "role", p["RoleName"])
        if r["name"].lower() not in {x.lower() for x in ip["roles"]}:
            raise no_such(f"The role with name {r['name']} cannot be found.")
        ip["roles"] = [x for x in ip["roles"] if x.lower() != r["name"].lower()]
        self.put(a, "profile", ip)
        return {}

    def op_ListInstanceProfilesForRole(self, a, p):
        r = self.get(a, "role", p["RoleName"])
        items = sorted((ip for ip in self.all(a, "profile")
                        if r["name"].lower() in {x.lower() for x in ip["roles"]}), key=lambda x: x["name"].lower())
        out = page(items, p, "InstanceProfiles")
        out["InstanceProfiles"] = [self.profile_shape(a, ip) for ip in out["InstanceProfiles"]]
        return out

    # -- tags and boundaries (users, roles, instance profiles, policies) ----------------
    @staticmethod
    def _tags_in(tags) -> list:
        tags = list(tags or [])
        if len(tags) > MAX_TAGS:
            raise limit(f"Cannot exceed quota for TagsPerUser: {MAX_TAGS}")
        seen = set()
        for t in tags:
            k = t["Key"].lower()
            if k in seen:
                raise invalid("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
            seen.add(k)
        return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]

    def tag(self, a, t, name, tags) -> dict:
        rec = self.get(a, t, name)
        cur = {x["Key"].lower(): x for x in rec.get("tags") or []}
        for x in self._tags_in(tags):
            cur[x["Key"].lower()] = x
        if len(cur) > MAX_TAGS:
            raise limit(f"Cannot exceed quota for TagsPerUser: {MAX_TAGS}")
        rec["tags"] = list(cur.values())
        self.put(a, t, rec)
        return {}

    def untag(self, a, t, name, keys) -> dict:
        rec = self.get(a, t, name)
        drop = {k.lower() for k in keys}
        rec["tags"] = [x for x in rec.get("tags") or [] if x["Key"].lower() not in drop]
        self.put(a, t, rec)
        return {}

    def op_TagUser(self, a, p): return self.tag(a, "user", p["UserName"], p["Tags"])
    def op_UntagUser(self, a, p): return self.untag(a, "user", p["UserName"], p["TagKeys"])
    def op_ListUserTags(self, a, p): return page(self.get(a, "user", p["UserName"]).get("tags") or [], p, "Tags")
    def op_TagRole(self, a, p): return self.tag(a, "role", p["RoleName"], p["Tags"])
    def op_UntagRole(self, a, p): return self.untag(a, "role", p["RoleName"], p["TagKeys"])
    def op_ListRoleTags(self, a, p): return page(self.get(a, "role", p["RoleName"]).get("tags") or [], p, "Tags")
    def op_TagInstanceProfile(self, a, p): return self.tag(a, "profile", p["InstanceProfileName"], p["Tags"])

    def op_UntagInstanceProfile(self, a, p):
        return self.untag(a, "profile", p["InstanceProfileName"], p["TagKeys"])

    def op_ListInstanceProfileTags(self, a, p):
        return page(self.get(a, "profile", p["InstanceProfileName"]).get("tags") or [], p, "Tags")

    def _set_boundary(self, a, t, name, arn) -> dict:
        rec = self.get(a, t, name)
        rec["boundary"] = self._boundary_arn(a, arn) if arn else None
        self.put(a, t, rec)
        return {}

    def op_PutUserPermissionsBoundary(self, a, p):
        return self._set_boundary(a, "user", p["UserName"], p["PermissionsBoundary"])

    def op_DeleteUserPermissionsBoundary(self, a, p):
        return self._set_boundary(a, "user", p["UserName"], None)

    def op_PutRolePermissionsBoundary(self, a, p):
        return self._set_boundary(a, "role", p["RoleName"], p["PermissionsBoundary"])

    def op_DeleteRolePermissionsBoundary(self, a, p):
        return self._set_boundary(a, "role", p["RoleName"], None)


def err_access_key(kid: str):
    return no_such(f"The Access Key with id {kid} cannot be found.")
