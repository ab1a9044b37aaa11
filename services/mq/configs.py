"""Configurations with revisions, and tags (mixed into MqApi)."""

from __future__ import annotations

import time
import uuid

from services.mq import catalog as cat
from services.mq.engineconf import default_data, settings_of
from services.mq.model import broker_key, configuration_key


class ConfigsMixin:
    async def _config(self, ctx, config_id: str) -> dict:
        key = configuration_key(config_id)
        rec = await ctx.cluster.call(key, "mq.Get", {"kind": "mq.config", "k": key})
        if rec is None or rec["account"] != ctx.account_id or rec["region"] != ctx.region:
            raise cat.config_not_found(config_id)
        return rec

    @staticmethod
    def _revision(conf: dict, revision) -> dict:
        revs = conf["revisions"]
        if revision is None:
            return revs[-1]
        try:
            n = int(revision)
        except (TypeError, ValueError):
            n = 0
        if not 1 <= n <= len(revs):
            raise cat.not_found("configuration-revision", f"Can't find requested revision [{revision}] of "
                                f"configuration [{conf['id']}]. Make sure your configuration revision exists.")
        return revs[n - 1]

    @staticmethod
    def _rev_out(rev: dict) -> dict:
        from services.mq.api import iso
        out = {"Revision": rev["revision"], "Created": iso(rev["created"])}
        if rev.get("description") is not None:
            out["Description"] = rev["description"]
        return out

    def _conf_out(self, conf: dict) -> dict:
        from services.mq.api import iso
        latest = conf["revisions"][-1]
        return {"Arn": conf["arn"], "AuthenticationStrategy": conf["auth"], "Created": iso(conf["created"]),
                "Description": latest.get("description") or "", "EngineType": conf["engine"],
                "EngineVersion": conf["version"], "Id": conf["id"], "LatestRevision": self._rev_out(latest),
                "Name": conf["name"], "Tags": conf.get("tags") or {}}

    async def op_CreateConfiguration(self, ctx, p) -> dict:
        engine = cat.check_engine(p["EngineType"])
        version = cat.check_version(engine, p.get("EngineVersion"))
        name = p["Name"]
        if not cat.CONFIG_NAME.match(name):
            raise cat.bad_request("name", f"Configuration name [{name}] is invalid. Valid names can contain only "
                                  "alphanumeric characters, dashes, periods, underscores, and tildes (- . _ ~) and "
                                  "must be 1-150 characters long.")
        cid = f"c-{uuid.uuid4()}"
        now = int(time.time() * 1000)
        rec = {"id": cid, "account": ctx.account_id, "region": ctx.region, "name": name, "engine": engine,
               "version": version, "auth": p.get("AuthenticationStrategy") or "SIMPLE", "created": now,
               "arn": f"arn:aws:mq:{ctx.region}:{ctx.account_id}:configuration:{cid}", "tags": p.get("Tags") or {},
               "revisions": [{"revision": 1, "created": now, "description": "Auto-generated default for "
                              f"{name} on {engine.lower()} {version}", "data": default_data(engine)}]}
        key = configuration_key(cid)
        await ctx.cluster.call(key, "mq.Create", {"kind": "mq.config", "k": key, "v": rec})
        out = self._conf_out(rec)
        return {k: out[k] for k in ("Arn", "AuthenticationStrategy", "Created", "Id", "LatestRevision", "Name")}

    async def op_UpdateConfiguration(self, ctx, p) -> dict:
        conf = await self._config(ctx, p["ConfigurationId"])
        settings_of(conf["engine"], p["Data"])          # validates (BadRequestException naming the problem)
        key = configuration_key(conf["id"])
        rev = {"created": int(time.time() * 1000), "description": p.get("Description"), "data": p["Data"]}
        conf = await ctx.cluster.call(key, "mq.ConfigRevise", {"k": key, "rev": rev})
        if conf is None:
            raise cat.config_not_found(p["ConfigurationId"])
        out = self._conf_out(conf)
        return {"Arn": out["Arn"], "Created": out["Created"], "Id": out["Id"], "LatestRevision": out["LatestRevision"],
                "Name": out["Name"], "Warnings": []}

    async def op_DescribeConfiguration(self, ctx, p) -> dict:
        return self._conf_out(await self._config(ctx, p["ConfigurationId"]))

    async def op_DescribeConfigurationRevision(self, ctx, p) -> dict:
        from services.mq.api import iso
        conf = await self._config(ctx, p["ConfigurationId"])
        rev = self._revision(conf, p["ConfigurationRevision"])
        return {"ConfigurationId": conf["id"], "Created": iso(rev["created"]), "Data": rev["data"],
                "Description": rev.get("description") or ""}

    async def op_ListConfigurations(self, ctx, p) -> dict:
        from services.mq.api import page
        chunk, nxt = page(await self._list(ctx, "mq.config"), p)
        out = {"Configurations": [self._conf_out(c) for c in chunk], "MaxResults": p.get("MaxResults") or 20}
        if nxt:
            out["NextToken"] = nxt
        return out

    async def op_ListConfigurationRevisions(self, ctx, p) -> dict:
        from services.mq.api import page
        conf = await self._config(ctx, p["ConfigurationId"])
        chunk, nxt = page(conf["revisions"], p)
        out = {"ConfigurationId": conf["id"], "MaxResults": p.get("MaxResults") or 20,
               "Revisions": [self._rev_out(r) for r in chunk]}
        if nxt:
            out["NextToken"] = nxt
        return out

    async def op_DeleteConfiguration(self, ctx, p) -> dict:
        conf = await self._config(ctx, p["ConfigurationId"])
        for b in await self._list(ctx, "mq.broker"):
            c = b.get("config") or {}
            used = [r for r in (c.get("current"), c.get("pending")) if r]
            if any(r["Id"] == conf["id"] for r in used):
                raise cat.conflict("configuration-id", f"Configuration [{conf['id']}] is in use by broker "
                                   f"[{b['id']}].")
        key = configuration_key(conf["id"])
        await ctx.cluster.call(key, "mq.Delete", {"kind": "mq.config", "k": key})
        return {"ConfigurationId": conf["id"]}

    # -- tags --------------------------------------------------------------------------
    def _resource(self, ctx, arn: str) -> tuple[str, str, str]:
        parts = arn.split(":")
        if len(parts) >= 7 and parts[:3] == ["arn", "aws", "mq"] and parts[3] == ctx.region \
                and parts[4] == ctx.account_id:
            if parts[5] == "broker" and len(parts) == 8:
                return "mq.broker", broker_key(parts[7]), parts[7]
            if parts[5] == "configuration" and len(parts) == 7:
                return "mq.config", configuration_key(parts[6]), parts[6]
        raise cat.not_found("resource-arn", f"Can't find requested resource [{arn}]. Make sure your resource "
                            "exists.")

    async def _tag(self, ctx, arn: str, set_: dict | None = None, remove: list | None = None) -> dict:
        kind, key, _ident = self._resource(ctx, arn)
        rec = await ctx.cluster.call(key, "mq.Tag", {"kind": kind, "k": key, "set": set_ or {},
                                                      "remove": remove or []})
        if rec is None or rec["account"] != ctx.account_id:
            raise cat.not_found("resource-arn", f"Can't find requested resource [{arn}]. Make sure your resource "
                                "exists.")
        return rec

    async def op_CreateTags(self, ctx, p) -> dict:
        await self._tag(ctx, p["ResourceArn"], set_=p.get("Tags") or {})
        return {}

    async def op_DeleteTags(self, ctx, p) -> dict:
        await self._tag(ctx, p["ResourceArn"], remove=p.get("TagKeys") or [])
        return {}

    async def op_ListTags(self, ctx, p) -> dict:
        rec = await self._tag(ctx, p["ResourceArn"])
        return {"Tags": rec.get("tags") or {}}
