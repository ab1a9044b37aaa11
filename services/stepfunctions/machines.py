"""State machines, their versions and aliases (the shard's records and rules).

Records: ``sfn.sm`` (the machine: latest definition id, role, logging,
tracing, revision, version counter, tags), ``sfn.ver`` (an immutable
published version) and ``sfn.alias`` (routing to one or two versions).
Definitions are stored once by content hash (``sfn.def``, engine.py).
"""

from __future__ import annotations

import random
import uuid

from services.stepfunctions import arns
from services.stepfunctions.errors import (
    conflict, err, resource_not_found, sm_already_exists, sm_does_not_exist, validation,
)

KIND_SM = "sfn.sm"
KIND_VERSION = "sfn.ver"
KIND_ALIAS = "sfn.alias"
MAX_TAGS = 50
DEFAULT_LOGGING = {"level": "OFF", "includeExecutionData": False}
DEFAULT_TRACING = {"enabled": False}


class Machines:
    def __init__(self, service):
        self.service = service
        self.store = service.part.store
        self.engine = service.engine

    # -- lookups --------------------------------------------------------------------
    def sm(self, arn: str) -> dict | None:
        return self.store.get(KIND_SM, arn)

    def need_sm(self, arn: str) -> dict:
        rec = self.sm(arn)
        if rec is None:
            raise sm_does_not_exist(arn)
        return rec

    def resolve(self, arn: str) -> tuple[dict, dict | None, dict | None]:
        """A state machine, version or alias ARN -> (machine, version or None, alias or None)."""
        rec = self.sm(arn)
        if rec is not None:
            return rec, None, None
        ver = self.store.get(KIND_VERSION, arn)
        if ver is not None:
            return self.need_sm(ver["sm"]), ver, None
        alias = self.store.get(KIND_ALIAS, arn)
        if alias is not None:
            routes = alias["routing"]
            pick = random.uniform(0, 100)
            acc = 0
            chosen = routes[-1]["stateMachineVersionArn"]
            for r in routes:
                acc += r["weight"]
                if pick < acc:
                    chosen = r["stateMachineVersionArn"]
                    break
            ver = self.store.get(KIND_VERSION, chosen)
            if ver is None:
                raise sm_does_not_exist(arn)
            return self.need_sm(alias["sm"]), ver, alias
        raise sm_does_not_exist(arn)

    # -- state machines ---------------------------------------------------------------
    def create(self, a: dict) -> dict:
        arn = a["arn"]
        now = self.engine.now_ms()
        did = self.engine.store_definition(a["definition"])
        existing = self.sm(arn)
        logging_cfg = a.get("logging") or dict(DEFAULT_LOGGING)
        tracing = a.get("tracing") or dict(DEFAULT_TRACING)
        if existing is not None:
            same = (existing["def"] == did and existing["role"] == a["role"] and existing["type"] == a["type"]
                    and existing["logging"] == logging_cfg and existing["tracing"] == tracing)
            if not same:
                raise sm_already_exists(arn)
            out = {"stateMachineArn": arn, "creationDate": existing["created"] / 1000.0}
            if a.get("publish"):
                out["stateMachineVersionArn"] = self._publish(existing, a.get("desc"))["arn"]
            return out
        rec = {"arn": arn, "name": a["name"], "account": a["account"], "region": a["region"], "type": a["type"],
               "def": did, "role": a["role"], "logging": logging_cfg, "tracing": tracing,
               "created": now, "updated": now, "rev": None, "vseq": 0, "tags": dict(a.get("tags") or {}),
               "enc": a.get("enc") or {"type": "AWS_OWNED_KEY"}}
        self.store.put(KIND_SM, arn, rec)
        out = {"stateMachineArn": arn, "creationDate": now / 1000.0}
        if a.get("publish"):
            out["stateMachineVersionArn"] = self._publish(rec, a.get("desc"))["arn"]
        return out

    def describe(self, arn: str, include_variables: bool = True) -> dict:
        rec = self.sm(arn)
        ver = None
        if rec is None:
            ver = self.store.get(KIND_VERSION, arn)
            if ver is None:
                raise sm_does_not_exist(arn)
            rec = self.need_sm(ver["sm"])
        src = ver or rec
        out = {"stateMachineArn": arn, "name": rec["name"], "status": "ACTIVE",
               "definition": self.engine.definition_text(src["def"]), "roleArn": src["role"], "type": rec["type"],
               "creationDate": src["created"] / 1000.0, "loggingConfiguration": src["logging"],
               "tracingConfiguration": src["tracing"], "encryptionConfiguration": rec.get("enc")}
        if ver is not None and ver.get("desc"):
            out["description"] = ver["desc"]
        if ver is None and rec.get("rev"):
            out["revisionId"] = rec["rev"]
        if ver is not None and ver.get("rev"):
            out["revisionId"] = ver["rev"]
        if include_variables:
            refs = self.engine.definition(src["def"], rec["type"] == "EXPRESS").variable_references()
            if refs:
                out["variableReferences"] = refs
        return out

    def update(self, a: dict) -> dict:
        rec = self.need_sm(a["arn"])
        now = self.engine.now_ms()
        changed = False
        if a.get("definition") is not None:
            did = self.engine.store_definition(a["definition"])
            changed |= did != rec["def"]
            rec["def"] = did
        for field, key in (("role", "role"), ("logging", "logging"), ("tracing", "tracing")):
            if a.get(field) is not None:
                changed |= rec[key] != a[field]
                rec[key] = a[field]
        if changed or rec.get("rev") is None and (a.get("definition") or a.get("role")):
            if changed:
                rec["rev"] = str(uuid.uuid4())
        rec["updated"] = now
        self.store.put(KIND_SM, rec["arn"], rec)
        out = {"updateDate": now / 1000.0}
        if rec.get("rev"):
            out["revisionId"] = rec["rev"]
        if a.get("publish"):
            out["stateMachineVersionArn"] = self._publish(rec, a.get("desc"))["arn"]
        return out

    def delete(self, arn: str) -> None:
        rec = self.sm(arn)
        if rec is None:
            return
        for key, _v in list(self.store.scan(KIND_VERSION, arn + ":")):
            self.store.delete(KIND_VERSION, key)
        for key, _v in list(self.store.scan(KIND_ALIAS, arn + ":")):
            self.store.delete(KIND_ALIAS, key)
        self.store.delete(KIND_SM, arn)

    def list(self, account: str, region: str) -> list[dict]:
        out = []
        for _k, rec in self.store.scan(KIND_SM):
            if rec["account"] == account and rec["region"] == region:
                out.append({"stateMachineArn": rec["arn"], "name": rec["name"], "type": rec["type"],
                            "creationDate": rec["created"] / 1000.0})
        return out

    # -- versions ---------------------------------------------------------------------
    def _publish(self, rec: dict, desc: str | None, expected_rev: str | None = None) -> dict:
        if expected_rev is not None and expected_rev != rec.get("rev"):
            raise conflict(f"Failed to publish the State Machine version for revision {expected_rev}. The current "
                           f"State Machine revision is {rec.get('rev')}.")
        latest = None
        if rec["vseq"]:
            latest = self.store.get(KIND_VERSION, f"{rec['arn']}:{rec['vseq']}")
        if latest is not None and latest["def"] == rec["def"] and latest["role"] == rec["role"] and \
                latest.get("rev") == rec.get("rev") and latest["logging"] == rec["logging"] and \
                latest["tracing"] == rec["tracing"] and (desc is None or desc == latest.get("desc")):
            return latest                           # publishing an unchanged revision is idempotent
        rec["vseq"] += 1
        now = self.engine.now_ms()
        ver = {"arn": f"{rec['arn']}:{rec['vseq']}", "sm": rec["arn"], "n": rec["vseq"], "def": rec["def"],
               "role": rec["role"], "logging": rec["logging"], "tracing": rec["tracing"], "created": now,
               "desc": desc, "rev": rec.get("rev")}
        self.store.put(KIND_VERSION, ver["arn"], ver)
        self.store.put(KIND_SM, rec["arn"], rec)
        return ver

    def publish(self, a: dict) -> dict:
        rec = self.need_sm(a["arn"])
        ver = self._publish(rec, a.get("desc"), a.get("rev"))
        return {"stateMachineVersionArn": ver["arn"], "creationDate": ver["created"] / 1000.0}

    def list_versions(self, arn: str) -> list[dict]:
        self.need_sm(arn)
        vers = [v for _k, v in self.store.scan(KIND_VERSION, arn + ":")]
        vers.sort(key=lambda v: -v["n"])
        return [{"stateMachineVersionArn": v["arn"], "creationDate": v["created"] / 1000.0} for v in vers]

    def delete_version(self, arn: str) -> None:
        ver = self.store.get(KIND_VERSION, arn)
        if ver is None:
            return
        users = [al["name"] for _k, al in self.store.scan(KIND_ALIAS, ver["sm"] + ":")
                 if any(r["stateMachineVersionArn"] == arn for r in al["routing"])]
        if users:
            raise conflict("Version to be deleted must not be referenced by an alias. Current list of aliases "
                           f"referencing this version: [{', '.join(users)}]")
        self.store.delete(KIND_VERSION, arn)

    # -- aliases ----------------------------------------------------------------------
    def _check_routing(self, sm_arn: str, routing: list) -> list:
        got = [r.get("stateMachineVersionArn") for r in routing]
        for v in got:
            if not isinstance(v, str) or not v.startswith(sm_arn + ":") or not v[len(sm_arn) + 1:].isdigit():
                raise validation(f"Routing configuration must contain state machine version ARNs. Received: "
                                 f"[{', '.join(map(str, got))}]")
        if len(set(got)) != len(got):
            raise validation(f"Routing configuration must contain distinct state machine version ARNs. Received: "
                             f"[{', '.join(got)}]")
        weights = [r.get("weight") for r in routing]
        if sum(weights) != 100:
            raise validation(f"Sum of routing configuration weights must equal 100. Received: "
                             f"[{', '.join(map(str, weights))}]")
        for v in got:
            if self.store.get(KIND_VERSION, v) is None:
                raise resource_not_found(v)
        return [{"stateMachineVersionArn": v, "weight": w} for v, w in zip(got, weights)]

    def create_alias(self, a: dict) -> dict:
        sm_arn = a["sm"]
        self.need_sm(sm_arn)
        routing = self._check_routing(sm_arn, a["routing"])
        arn = f"{sm_arn}:{a['name']}"
        existing = self.store.get(KIND_ALIAS, arn)
        if existing is not None:
            if existing["routing"] != routing or existing.get("desc") != a.get("desc"):
                raise conflict("Failed to create alias because an alias with the same name and a different routing "
                               "configuration already exists.")
            return {"stateMachineAliasArn": arn, "creationDate": existing["created"] / 1000.0}
        now = self.engine.now_ms()
        self.store.put(KIND_ALIAS, arn, {"arn": arn, "name": a["name"], "sm": sm_arn, "desc": a.get("desc"),
                                         "routing": routing, "created": now, "updated": now})
        return {"stateMachineAliasArn": arn, "creationDate": now / 1000.0}

    def describe_alias(self, arn: str) -> dict:
        al = self.store.get(KIND_ALIAS, arn)
        if al is None:
            raise err("ResourceNotFound", "Request references a resource that does not exist.")
        out = {"stateMachineAliasArn": arn, "name": al["name"], "routingConfiguration": al["routing"],
               "creationDate": al["created"] / 1000.0, "updateDate": al["updated"] / 1000.0}
        if al.get("desc"):
            out["description"] = al["desc"]
        return out

    def update_alias(self, a: dict) -> dict:
        al = self.store.get(KIND_ALIAS, a["arn"])
        if al is None:
            raise err("ResourceNotFound", "Request references a resource that does not exist.")
        if a.get("routing") is not None:
            al["routing"] = self._check_routing(al["sm"], a["routing"])
        if a.get("desc") is not None:
            al["desc"] = a["desc"]
        al["updated"] = self.engine.now_ms()
        self.store.put(KIND_ALIAS, al["arn"], al)
        return {"updateDate": al["updated"] / 1000.0}

    def delete_alias(self, arn: str) -> None:
        self.store.delete(KIND_ALIAS, arn)

    def list_aliases(self, sm_arn: str) -> list[dict]:
        self.need_sm(sm_arn)
        out = [al for _k, al in self.store.scan(KIND_ALIAS, sm_arn + ":")]
        out.sort(key=lambda al: al["created"])
        return [{"stateMachineAliasArn": al["arn"], "creationDate": al["created"] / 1000.0} for al in out]

    # -- tags ---------------------------------------------------------------------------
    def tags_of(self, arn: str) -> dict:
        rec = self.sm(arn)
        if rec is None:
            raise resource_not_found(arn)
        return rec

    def tag(self, arn: str, tags: dict) -> None:
        rec = self.tags_of(arn)
        merged = dict(rec["tags"])
        merged.update(tags)
        if len(merged) > MAX_TAGS:
            from services.stepfunctions.errors import too_many_tags
            raise too_many_tags(arn)
        rec["tags"] = merged
        self.store.put(KIND_SM, arn, rec)

    def untag(self, arn: str, keys: list) -> None:
        rec = self.tags_of(arn)
        for k in keys:
            rec["tags"].pop(k, None)
        self.store.put(KIND_SM, arn, rec)


def parse_sm_arn(text: str):
    return arns.parse_kind(text, "stateMachine")
