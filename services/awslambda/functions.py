"""Function records on the shard: $LATEST, versions, aliases and qualifiers.

One record per function (kind ``lambda.fn``) holds everything of it; each
operation reads and rewrites it within one group commit. Configurations are
kept in AWS's output shape (FunctionConfiguration) so reads are copies;
environment variables are kept only as KMS ciphertext (``env_ct``) and put
back in plain text by the gateway half.
"""

from __future__ import annotations

import random
import time

from broker.core.ids import uuid4
from services.awslambda.model import (
    LATEST, conflict, fn_arn, invalid, not_found, precondition, valid_alias_name,
)

K_FN = "lambda.fn"


def now_iso(ms: int | None = None) -> str:
    t = (ms if ms is not None else int(time.time() * 1000)) / 1000.0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}+0000"


def _copy(d: dict) -> dict:
    return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in d.items()}


CONFIG_FIELDS = ("Runtime", "Role", "Handler", "Description", "Timeout", "MemorySize", "DeadLetterConfig",
                 "KMSKeyArn", "TracingConfig", "Layers", "EphemeralStorage", "LoggingConfig", "VpcConfig",
                 "Architectures", "SnapStart", "FileSystemConfigs")


def build_config(rec: dict, p: dict, layers: list | None, layer_codes: list | None = None) -> dict:
    """$LATEST's configuration from Create/UpdateFunctionConfiguration params over the current one."""
    cfg = rec.get("cfg") or {}
    name, region, account = rec["n"], rec["r"], rec["a"]
    out = {
        "FunctionName": name, "FunctionArn": fn_arn(region, account, name),
        "Runtime": p.get("Runtime", cfg.get("Runtime")), "Role": p.get("Role", cfg.get("Role")),
        "Handler": p.get("Handler", cfg.get("Handler")),
        "CodeSize": rec["code"]["size"], "Description": p.get("Description", cfg.get("Description", "")),
        "Timeout": p.get("Timeout", cfg.get("Timeout", 3)), "MemorySize": p.get("MemorySize", cfg.get("MemorySize", 128)),
        "LastModified": now_iso(), "CodeSha256": rec["code"]["sha"], "Version": LATEST,
        "TracingConfig": p.get("TracingConfig", cfg.get("TracingConfig")) or {"Mode": "PassThrough"},
        "RevisionId": uuid4(), "State": "Active", "LastUpdateStatus": "Successful", "PackageType": "Zip",
        "Architectures": p.get("Architectures", cfg.get("Architectures")) or ["x86_64"],
        "EphemeralStorage": p.get("EphemeralStorage", cfg.get("EphemeralStorage")) or {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}",
                          **(p.get("LoggingConfig", cfg.get("LoggingConfig")) or {})},
    }
    for k in ("DeadLetterConfig", "KMSKeyArn", "VpcConfig", "FileSystemConfigs"):
        v = p.get(k, cfg.get(k))
        if v:
            out[k] = v
    if layers is not None:
        if layers:
            out["Layers"], out["_layers"] = layers, layer_codes or []
    elif cfg.get("Layers"):
        out["Layers"], out["_layers"] = cfg["Layers"], cfg.get("_layers") or []
    if out["Runtime"] is None:
        out.pop("Runtime")
    return out


class FunctionRecords:
    """Mixin of the shard half: ``self.fns`` (key -> record), ``self.store``."""

    fns: dict

    # -- lookup ---------------------------------------------------------------------
    def _fn(self, key: str, a: dict) -> dict:
        rec = self.fns.get(key)
        if rec is None:
            raise not_found(f"Function not found: {fn_arn(a['r'], a['a'], a['n'])}")
        return rec

    def _save(self, key: str, rec: dict) -> None:
        self.store.put(K_FN, key, rec)

    @staticmethod
    def _unknown(rec: dict, q: str) -> Exception:
        return not_found(f"Function not found: {fn_arn(rec['r'], rec['a'], rec['n'], q)}")

    def resolve(self, rec: dict, q: str | None, *, route: bool = False) -> tuple[str, dict, dict]:
        """(version, configuration, code) a qualifier names; an alias resolves to its
        version (with ``route``, a weighted alias picks one by weight)."""
        if not q or q == LATEST:
            return LATEST, rec["cfg"], rec["code"]
        if q.isdigit():
            v = rec["vers"].get(q)
            if v is None:
                raise self._unknown(rec, q)
            return q, v["cfg"], v["code"]
        al = rec["aliases"].get(q)
        if al is None:
            raise self._unknown(rec, q)
        ver = al["FunctionVersion"]
        if route:
            weights = (al.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            if weights:
                x = random.random()
                for other, w in weights.items():
                    if x < w:
                        ver = other
                        break
                    x -= w
        if ver == LATEST:
            return LATEST, rec["cfg"], rec["code"]
        v = rec["vers"][ver]
        return ver, v["cfg"], v["code"]

    @staticmethod
    def _check_revision(current: str, wanted: str | None) -> None:
        if wanted and wanted != current:
            raise precondition("The Revision Id provided does not match the latest Revision Id. "
                               "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")

    # -- create / update / delete -----------------------------------------------------
    def _CreateFunction(self, key, a):
        if key in self.fns:
            raise conflict(f"Function already exist: {a['n']}")
        p = a["q"]
        rec = {"n": a["n"], "a": a["a"], "r": a["r"], "code": a["code"], "env_ct": a.get("env_ct"),
               "vers": {}, "nv": 1, "aliases": {}, "tags": dict(p.get("Tags") or {}), "policy": [],
               "rc": None, "pc": {}, "eic": {}, "urls": {}, "created": int(time.time() * 1000)}
        rec["cfg"] = build_config(rec, p, a.get("layers"), a.get("lc"))
        self.fns[key] = rec
        out = rec["cfg"]
        if p.get("Publish"):
            out = self._publish(rec, None)
        self._save(key, rec)
        return self.view(rec, out)

    def _UpdateFunctionCode(self, key, a):
        rec = self._fn(key, a)
        p = a["q"]
        self._check_revision(rec["cfg"]["RevisionId"], p.get("RevisionId"))
        rec["code"] = a["code"]
        cfg = rec["cfg"]
        cfg.update(CodeSize=a["code"]["size"], CodeSha256=a["code"]["sha"], LastModified=now_iso(),
                   RevisionId=uuid4())
        if p.get("Architectures"):
            cfg["Architectures"] = p["Architectures"]
        out = self._publish(rec, None) if p.get("Publish") else cfg
        self._save(key, rec)
        self.retire(key)
        return self.view(rec, out)

    def _UpdateFunctionConfiguration(self, key, a):
        rec = self._fn(key, a)
        p = a["q"]
        self._check_revision(rec["cfg"]["RevisionId"], p.get("RevisionId"))
        if "env_ct" in a:
            rec["env_ct"] = a["env_ct"]
        rec["cfg"] = build_config(rec, p, a.get("layers"), a.get("lc"))
        self._save(key, rec)
        self.retire(key)
        return self.view(rec, rec["cfg"])

    def _DeleteFunction(self, key, a):
        rec = self._fn(key, a)
        q = a["q"].get("Qualifier")
        if q is None:
            del self.fns[key]
            self.store.delete(K_FN, key)
            self.retire(key, drop=True)
            self.release_reservation(key, rec)
            return {"_urls": list(rec["urls"].values())}
        if q == LATEST:
            raise invalid("$LATEST version cannot be deleted without deleting the function.")
        if q not in rec["vers"]:
            raise self._unknown(rec, q)
        users = [n for n, al in rec["aliases"].items() if al["FunctionVersion"] == q or
                 q in ((al.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})]
        if users:
            raise conflict(f"Unable to delete version because the following aliases reference it: {users}")
        del rec["vers"][q]
        rec["pc"].pop(q, None)
        rec["eic"].pop(q, None)
        self._save(key, rec)
        self.retire(key)
        return {}

    # -- reads ---------------------------------------------------------------------------
    def view(self, rec: dict, cfg: dict) -> dict:
        out = _copy(cfg)
        if rec.get("env_ct") if cfg["Version"] == LATEST else cfg.get("_env_ct"):
            out["_env_ct"] = rec["env_ct"] if cfg["Version"] == LATEST else cfg["_env_ct"]
        else:
            out.pop("_env_ct", None)
        return out

    def _GetFunctionConfiguration(self, key, a):
        rec = self._fn(key, a)
        _v, cfg, _code = self.resolve(rec, a["q"].get("Qualifier"))
        return self.view(rec, cfg)

    def _GetFunction(self, key, a):
        rec = self._fn(key, a)
        ver, cfg, code = self.resolve(rec, a["q"].get("Qualifier"))
        out = {"Configuration": self.view(rec, cfg), "_code": code, "Tags": dict(rec["tags"])}
        if rec["rc"] is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": rec["rc"]}
        return out

    def op_List(self, a):
        """Every function of an account+region in this partition (ListFunctions scatter)."""
        out = []
        prefix = f"lambda/{a['a']}/{a['r']}/"
        for key, rec in self.fns.items():
            if key.startswith(prefix):
                out.append(self.view(rec, rec["cfg"]))
                if a.get("all"):
                    out.extend(self.view(rec, v["cfg"]) for _n, v in sorted(rec["vers"].items(), key=lambda i: int(i[0])))
        return out

    # -- versions -------------------------------------------------------------------------
    def _publish(self, rec: dict, description: str | None) -> dict:
        last = str(rec["nv"] - 1)
        prev = rec["vers"].get(last)
        cfg = rec["cfg"]
        if prev is not None and prev["code"]["sha"] == rec["code"]["sha"] and prev.get("_src") == cfg["RevisionId"]:
            return prev["cfg"]
        n = str(rec["nv"])
        rec["nv"] += 1
        vcfg = _copy(cfg)
        vcfg.update(Version=n, FunctionArn=fn_arn(rec["r"], rec["a"], rec["n"], n), RevisionId=uuid4(),
                    LastModified=now_iso())
        if description is not None:
            vcfg["Description"] = description
        if rec.get("env_ct"):
            vcfg["_env_ct"] = rec["env_ct"]
        rec["vers"][n] = {"cfg": vcfg, "code": rec["code"], "_src": cfg["RevisionId"]}
        return vcfg

    def _PublishVersion(self, key, a):
        rec = self._fn(key, a)
        p = a["q"]
        if p.get("CodeSha256") and p["CodeSha256"] != rec["code"]["sha"]:
            raise invalid(f"CodeSHA256 ({p['CodeSha256']}) is different from current CodeSHA256 in $LATEST "
                          f"({rec['code']['sha']}). Please try again with the CodeSHA256 in $LATEST.")
        self._check_revision(rec["cfg"]["RevisionId"], p.get("RevisionId"))
        out = self._publish(rec, p.get("Description"))
        self._save(key, rec)
        return self.view(rec, out)

    def _ListVersionsByFunction(self, key, a):
        rec = self._fn(key, a)
        items = [self.view(rec, rec["cfg"])] + [self.view(rec, v["cfg"]) for _n, v in
                                                  sorted(rec["vers"].items(), key=lambda i: int(i[0]))]
        return {"_items": items}

    # -- aliases ----------------------------------------------------------------------------
    def _alias_view(self, rec: dict, al: dict) -> dict:
        out = {"AliasArn": fn_arn(rec["r"], rec["a"], rec["n"], al["Name"]), "Name": al["Name"],
               "FunctionVersion": al["FunctionVersion"], "Description": al.get("Description", ""),
               "RevisionId": al["RevisionId"]}
        if al.get("RoutingConfig"):
            out["RoutingConfig"] = al["RoutingConfig"]
        return out

    def _check_alias_target(self, rec: dict, version: str, routing: dict | None) -> None:
        if version != LATEST and version not in rec["vers"]:
            raise self._unknown(rec, version)
        weights = (routing or {}).get("AdditionalVersionWeights") or {}
        if weights:
            if version == LATEST or LATEST in weights:
                raise invalid("$LATEST is not supported for an alias pointing to more than 1 version")
            for v, w in weights.items():
                if v not in rec["vers"]:
                    raise self._unknown(rec, v)
                if v == version:
                    raise invalid(f"Invalid function version {v}. Function version {v} is already included in "
                                  f"routing configuration.")
                if not 0.0 <= w <= 1.0:
                    raise invalid("Invalid weight for additional version: must be between 0.0 and 1.0")
            if sum(weights.values()) > 1.0:
                raise invalid("Sum of additional version weights must not exceed 1.0")

    def _CreateAlias(self, key, a):
        rec = self._fn(key, a)
        p = a["q"]
        name = p["Name"]
        if not valid_alias_name(name):
            raise invalid(f"Invalid alias name {name}: an alias name can't be a version number or $LATEST.")
        if name in rec["aliases"]:
            raise conflict(f"Alias already exists: {fn_arn(rec['r'], rec['a'], rec['n'], name)}")
        self._check_alias_target(rec, p["FunctionVersion"], p.get("RoutingConfig"))
        al = {"Name": name, "FunctionVersion": p["FunctionVersion"], "Description": p.get("Description", ""),
              "RoutingConfig": p.get("RoutingConfig"), "RevisionId": uuid4()}
        rec["aliases"][name] = al
        self._save(key, rec)
        return self._alias_view(rec, al)

    def _alias(self, rec: dict, name: str) -> dict:
        al = rec["aliases"].get(name)
        if al is None:
            raise not_found(f"Cannot find alias arn: {fn_arn(rec['r'], rec['a'], rec['n'], name)}")
        return al

    def _GetAlias(self, key, a):
        rec = self._fn(key, a)
        return self._alias_view(rec, self._alias(rec, a["q"]["Name"]))

    def _UpdateAlias(self, key, a):
        rec = self._fn(key, a)
        p = a["q"]
        al = self._alias(rec, p["Name"])
        self._check_revision(al["RevisionId"], p.get("RevisionId"))
        version = p.get("FunctionVersion", al["FunctionVersion"])
        routing = p["RoutingConfig"] if "RoutingConfig" in p else al.get("RoutingConfig")
        self._check_alias_target(rec, version, routing)
        al.update(FunctionVersion=version, RoutingConfig=routing, RevisionId=uuid4())
        if "Description" in p:
            al["Description"] = p["Description"]
        self._save(key, rec)
        self.retire(key)
        return self._alias_view(rec, al)

    def _DeleteAlias(self, key, a):
        rec = self._fn(key, a)
        name = a["q"]["Name"]
        rec["aliases"].pop(name, None)
        rec["pc"].pop(name, None)
        rec["eic"].pop(name, None)
        url = rec["urls"].pop(name, None)          # the alias's function URL goes with it
        self._save(key, rec)
        return {"_urls": [url] if url else []}

    def _ListAliases(self, key, a):
        rec = self._fn(key, a)
        v = a["q"].get("FunctionVersion")
        return {"_items": [self._alias_view(rec, al) for _n, al in sorted(rec["aliases"].items())
                           if not v or al["FunctionVersion"] == v]}
