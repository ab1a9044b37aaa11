"""Domains and workflow/activity types: registration, deprecation, deletion,
description, listing and domain tags (shard side).

A deprecated domain keeps serving its running executions and every
visibility call; it refuses new executions and new types, which SWF
reports as an unknown domain (neither operation models DomainDeprecatedFault).
"""

from __future__ import annotations

from services.swf import errors
from services.swf.model import DEPRECATED, MAX_DOMAIN_TAGS, REGISTERED, compact, domain_arn
from services.swf.state import K_DOMAIN, K_TYPE, Domain

WORKFLOW_DEFAULTS = ("defaultTaskStartToCloseTimeout", "defaultExecutionStartToCloseTimeout", "defaultTaskList",
                     "defaultTaskPriority", "defaultChildPolicy", "defaultLambdaRole")
ACTIVITY_DEFAULTS = ("defaultTaskStartToCloseTimeout", "defaultTaskHeartbeatTimeout", "defaultTaskList",
                     "defaultTaskPriority", "defaultTaskScheduleToStartTimeout", "defaultTaskScheduleToCloseTimeout")


class Catalog:
    """Mixed into the shard: ``self.engine`` holds the domains."""

    def domain(self, a: dict, *, registered: bool = False) -> Domain:
        d = self.engine.domains.get(a["k"])
        if d is None or (registered and not d.registered):
            raise errors.unknown_domain(a["domain"])
        return d

    def _save_domain(self, d: Domain) -> None:
        self.store.put(K_DOMAIN, d.key, {"a": d.account, "r": d.region, **d.rec})

    # -- domains ---------------------------------------------------------------
    def op_RegisterDomain(self, a):
        key = a["k"]
        if key in self.engine.domains:
            raise errors.fault("DomainAlreadyExistsFault", a["domain"])
        tags = a.get("tags") or []
        if len(tags) > MAX_DOMAIN_TAGS:
            raise errors.fault("TooManyTagsFault", f"You can specify a maximum of {MAX_DOMAIN_TAGS} tags.")
        rec = {"name": a["domain"], "desc": a.get("desc"), "ret": a["ret"], "status": REGISTERED,
               "created": self.part.now_ms() / 1000.0, "tags": tags}
        d = self.engine.domains[key] = Domain(key, a["account"], a["region"], a["domain"], rec)
        self._save_domain(d)
        return {}

    @staticmethod
    def domain_info(d: Domain) -> dict:
        return compact({"name": d.name, "status": d.rec["status"], "description": d.rec.get("desc"),
                        "arn": domain_arn(d.account, d.region, d.name)})

    def op_DescribeDomain(self, a):
        d = self.domain(a)
        return {"domainInfo": self.domain_info(d),
                "configuration": {"workflowExecutionRetentionPeriodInDays": d.rec["ret"]}}

    def op_DeprecateDomain(self, a):
        d = self.domain(a)
        if not d.registered:
            raise errors.fault("DomainDeprecatedFault", d.name)
        d.rec["status"] = DEPRECATED
        self._save_domain(d)
        return {}

    def op_UndeprecateDomain(self, a):
        d = self.domain(a)
        if d.registered:
            raise errors.fault("DomainAlreadyExistsFault", d.name)
        d.rec["status"] = REGISTERED
        self._save_domain(d)
        return {}

    def op_ListDomains(self, a):
        """Broadcast: DomainInfos of this partition for an account and region."""
        return [self.domain_info(d) for d in self.engine.domains.values()
                if d.account == a["account"] and d.region == a["region"] and d.rec["status"] == a["status"]]

    # -- tags ------------------------------------------------------------------
    def op_TagResource(self, a):
        d = self.domain(a)
        tags = {t["key"]: t.get("value", "") for t in d.rec.get("tags") or []}
        for t in a["tags"]:
            tags[t["key"]] = t.get("value", "")
        if len(tags) > MAX_DOMAIN_TAGS:
            raise errors.fault("TooManyTagsFault", f"You can specify a maximum of {MAX_DOMAIN_TAGS} tags.")
        d.rec["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        self._save_domain(d)
        return {}

    def op_UntagResource(self, a):
        d = self.domain(a)
        drop = set(a["keys"])
        d.rec["tags"] = [t for t in d.rec.get("tags") or [] if t["key"] not in drop]
        self._save_domain(d)
        return {}

    def op_ListTagsForResource(self, a):
        return {"tags": list(self.domain(a).rec.get("tags") or [])}

    # -- types -----------------------------------------------------------------
    def _type(self, d: Domain, a: dict) -> dict:
        t = d.types[a["kind"]].get((a["name"], a["version"]))
        if t is None:
            raise errors.unknown_type(a["kind"], a["name"], a["version"])
        return t

    def _save_type(self, d: Domain, t: dict) -> None:
        self.store.put(K_TYPE, d.type_key(t["kind"], t["name"], t["version"]), {"d": d.key, **t})

    def op_RegisterType(self, a):
        d = self.domain(a, registered=True)
        kind, name, version = a["kind"], a["name"], a["version"]
        if (name, version) in d.types[kind]:
            raise errors.fault("TypeAlreadyExistsFault", errors.type_ref(kind, name, version))
        fields = WORKFLOW_DEFAULTS if kind == "Workflow" else ACTIVITY_DEFAULTS
        p = a["req"]
        t = {"kind": kind, "name": name, "version": version, "desc": p.get("description"), "status": REGISTERED,
             "created": self.part.now_ms() / 1000.0, "cfg": {f: p[f] for f in fields if p.get(f) is not None}}
        d.types[kind][(name, version)] = t
        self._save_type(d, t)
        return {}

    @staticmethod
    def type_info(t: dict) -> dict:
        return compact({("workflowType" if t["kind"] == "Workflow" else "activityType"):
                        {"name": t["name"], "version": t["version"]},
                        "status": t["status"], "description": t.get("desc"), "creationDate": t["created"],
                        "deprecationDate": t.get("depr")})

    def op_DescribeType(self, a):
        t = self._type(self.domain(a), a)
        return {"typeInfo": self.type_info(t), "configuration": dict(t["cfg"])}

    def op_DeprecateType(self, a):
        d = self.domain(a)
        t = self._type(d, a)
        if t["status"] == DEPRECATED:
            raise errors.fault("TypeDeprecatedFault", errors.type_ref(a["kind"], a["name"], a["version"]))
        t["status"], t["depr"] = DEPRECATED, self.part.now_ms() / 1000.0
        self._save_type(d, t)
        return {}

    def op_UndeprecateType(self, a):
        d = self.domain(a)
        t = self._type(d, a)
        if t["status"] == REGISTERED:
            raise errors.fault("TypeAlreadyExistsFault", errors.type_ref(a["kind"], a["name"], a["version"]))
        t["status"] = REGISTERED
        t.pop("depr", None)
        self._save_type(d, t)
        return {}

    def op_DeleteType(self, a):
        d = self.domain(a)
        t = self._type(d, a)
        if t["status"] != DEPRECATED:
            raise errors.fault("TypeNotDeprecatedFault", errors.type_ref(a["kind"], a["name"], a["version"]))
        del d.types[a["kind"]][(a["name"], a["version"])]
        self.store.delete(K_TYPE, d.type_key(a["kind"], a["name"], a["version"]))
        return {}

    def op_ListTypes(self, a):
        d = self.domain(a)
        name = a.get("name")
        infos = [self.type_info(t) for (n, _v), t in sorted(d.types[a["kind"]].items())
                 if t["status"] == a["status"] and (not name or n == name)]
        return infos
