"""Amazon MQ gateway half: every operation of botocore's ``mq`` model.

Brokers, users, configurations and tags are records on the MQ shard
(services/mq/shard.py); this half validates with AWS's rules and drives a
broker's lifecycle: CreateBroker stores the broker CREATION_IN_PROGRESS and
opens its listeners on every gateway (services/mq/lifecycle.py), then marks
it RUNNING; RebootBroker closes and reopens them on the same ports
(REBOOT_IN_PROGRESS); DeleteBroker (DELETION_IN_PROGRESS) closes them and
removes the broker's queues and exchanges.
"""

from __future__ import annotations

import base64
import os
import time
import uuid

from broker.runtime import telemetry
from services.errors import ServiceError
from services.mq import catalog as cat
from services.mq import lifecycle
from services.mq.configs import ConfigsMixin
from services.mq.model import broker_key
from services.mq.realm import hash_password
from services.mq.users import UsersMixin

UPDATABLE = ("AuthenticationStrategy", "AutoMinorVersionUpgrade", "EngineVersion", "HostInstanceType",
             "LdapServerMetadata", "Logs", "MaintenanceWindowStartTime", "SecurityGroups", "StorageSize",
             "DataReplicationMode")


def page(items: list, params: dict, default: int = 20) -> tuple[list, str | None]:
    """AWS-style pagination: an opaque NextToken is the offset."""
    n = params.get("MaxResults") or default
    start = 0
    tok = params.get("NextToken")
    if tok:
        try:
            start = int(base64.b64decode(tok).decode())
        except (ValueError, UnicodeDecodeError):
            raise cat.bad_request("nextToken", "The request has an invalid nextToken.") from None
    chunk = items[start:start + n]
    nxt = base64.b64encode(str(start + n).encode()).decode() if start + n < len(items) else None
    return chunk, nxt


def iso(ms: int):
    import datetime
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


class MqApi(UsersMixin, ConfigsMixin):
    def __init__(self, gateway):
        self.gateway = gateway
        self._ops = {name: getattr(self, "op_" + name) for name in (
            "CreateBroker", "DescribeBroker", "ListBrokers", "UpdateBroker", "RebootBroker", "DeleteBroker",
            "Promote", "DescribeSharedResources", "DescribeBrokerEngineTypes", "DescribeBrokerInstanceOptions",
            "CreateUser", "UpdateUser", "DeleteUser", "DescribeUser", "ListUsers",
            "CreateConfiguration", "UpdateConfiguration", "DescribeConfiguration",
            "DescribeConfigurationRevision", "ListConfigurations", "ListConfigurationRevisions",
            "DeleteConfiguration", "CreateTags", "DeleteTags", "ListTags")}

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is None:
            from services.errors import NotImplementedOperation
            raise NotImplementedOperation(f"Amazon MQ {operation} is not implemented.")
        return await fn(ctx, params)

    # -- records ---------------------------------------------------------------------
    async def _broker(self, ctx, broker_id: str) -> dict:
        rec = await ctx.cluster.call(broker_key(broker_id), "mq.Get", {"kind": "mq.broker",
                                                                      "k": broker_key(broker_id)})
        if rec is None or rec["account"] != ctx.account_id or rec["region"] != ctx.region:
            raise cat.broker_not_found(broker_id)
        return rec

    async def _patch(self, ctx, broker_id: str, fields: dict, when: dict | None = None,
                     step: str | None = None) -> dict | None:
        """Set fields of the broker record; `step`: the lifecycle step that follows."""
        args = {"kind": "mq.broker", "k": broker_key(broker_id), "set": fields, "when": when or {}}
        if step is not None:
            args["lifecycle"] = step
        return await ctx.cluster.call(broker_key(broker_id), "mq.Patch", args)

    async def _list(self, ctx, kind: str) -> list:
        rows = await ctx.cluster.call_all("mq.List", {"kind": kind, "account": ctx.account_id,
                                                      "region": ctx.region})
        out = []
        for _p, recs in rows:
            out.extend(recs)
        return sorted(out, key=lambda r: (r["created"], r["id"]))

    # -- brokers -------------------------------------------------------------------------
    async def op_CreateBroker(self, ctx, p) -> dict:
        engine = cat.check_engine(p["EngineType"])
        version = cat.check_version(engine, p.get("EngineVersion"))
        name = p["BrokerName"]
        if not cat.BROKER_NAME.match(name):
            raise cat.bad_request("brokerName", f"Broker name [{name}] is invalid. Valid names are 1-50 characters "
                                  "long and contain only letters, numbers, dashes, and underscores.")
        instance = p["HostInstanceType"]
        if instance not in cat.INSTANCE_TYPES[engine]:
            raise cat.bad_request("hostInstanceType", f"Host instance type [{instance}] is not supported for "
                                  f"engine type [{engine}].")
        mode = p["DeploymentMode"]
        if mode not in cat.DEPLOYMENT_MODES[engine]:
            raise cat.bad_request("deploymentMode", f"Deployment mode [{mode}] is not supported for engine type "
                                  f"[{engine}].")
        storage = p.get("StorageType") or "EBS"
        if storage not in cat.STORAGE_TYPES[engine]:
            raise cat.bad_request("storageType", f"Storage type [{storage}] is not supported for engine type "
                                  f"[{engine}].")
        users = p.get("Users") or []
        auth = p.get("AuthenticationStrategy") or "SIMPLE"
        if auth == "SIMPLE" and not users:
            raise cat.bad_request("users", "A broker with SIMPLE authentication requires at least one user.")
        if engine == "RABBITMQ" and len(users) > 1:
            raise cat.bad_request("users", "RabbitMQ brokers accept one and only one administrative user at "
                                  "creation.")
        stored_users = {}
        for u in users:
            cat.check_username(engine, u["Username"])
            cat.check_password(u.get("Password"))
            stored_users[u["Username"]] = self._user_record(u)
        for other in await self._list(ctx, "mq.broker"):
            if other["name"] == name:
                raise cat.conflict("brokerName", f"Broker with name [{name}] already exists.")
        config_ref, settings = await self._initial_config(ctx, engine, p.get("Configuration"))
        broker_id = f"b-{uuid.uuid4()}"
        host = ctx.host.rsplit(":", 1)[0] if not ctx.host.endswith("]") else ctx.host
        now = int(time.time() * 1000)
        rec = {
            "id": broker_id, "account": ctx.account_id, "region": ctx.region, "name": name, "engine": engine,
            "version": version, "instance": instance, "mode": mode, "storage": storage, "auth": auth,
            "arn": f"arn:aws:mq:{ctx.region}:{ctx.account_id}:broker:{name}:{broker_id}",
            "public": bool(p.get("PubliclyAccessible")), "auto_minor": bool(p.get("AutoMinorVersionUpgrade", True)),
            "security_groups": p.get("SecurityGroups") or ["sg-" + os.urandom(8).hex()[:17]],
            "subnets": p.get("SubnetIds") or ["subnet-" + os.urandom(8).hex()[:17]],
            "logs": p.get("Logs") or {"General": False}, "maintenance": p.get("MaintenanceWindowStartTime") or {
                "DayOfWeek": "SUNDAY", "TimeOfDay": "00:00", "TimeZone": "UTC"},
            "encryption": p.get("EncryptionOptions") or {"UseAwsOwnedKey": True},
            "storage_size": p.get("StorageSize") or (200 if engine == "RABBITMQ" else 20),
            "config": {"current": config_ref, "history": [], "pending": None}, "settings": settings,
            "pending": {}, "state": "CREATION_IN_PROGRESS", "created": now, "tags": p.get("Tags") or {},
            "users": stored_users, "host": host, "console_base": ctx.base_url, "listeners": {},
            "replication": p.get("DataReplicationMode") or "NONE",
        }
        await ctx.cluster.call(broker_key(broker_id), "mq.Create", {"kind": "mq.broker", "k": broker_key(broker_id),
                                                                    "v": rec, "lifecycle": "create"})
        telemetry.metric("AWS/AmazonMQ", "BrokerCount", {}, 1, account=ctx.account_id, region=ctx.region)
        return {"BrokerArn": rec["arn"], "BrokerId": broker_id}

    async def _initial_config(self, ctx, engine, ref) -> tuple[dict | None, dict]:
        if not ref:
            return None, {}
        conf = await self._config(ctx, ref["Id"])
        if conf["engine"] != engine:
            raise cat.bad_request("configuration", f"Configuration [{ref['Id']}] is for engine type "
                                  f"[{conf['engine']}], not [{engine}].")
        rev = self._revision(conf, ref.get("Revision"))
        from services.mq.engineconf import settings_of
        return {"Id": conf["id"], "Revision": rev["revision"]}, settings_of(engine, rev["data"])

    @staticmethod
    def _user_record(u: dict) -> dict:
        salt = os.urandom(16)
        return {"salt": salt, "hash": hash_password(u["Password"], salt), "console": bool(u.get("ConsoleAccess")),
                "groups": list(u.get("Groups") or []), "replication": bool(u.get("ReplicationUser"))}

    def describe(self, rec: dict) -> dict:
        endpoints = lifecycle.endpoints(rec)
        out = {
            "BrokerArn": rec["arn"], "BrokerId": rec["id"], "BrokerName": rec["name"], "BrokerState": rec["state"],
            "Created": iso(rec["created"]), "DeploymentMode": rec["mode"], "EngineType": rec["engine"],
            "EngineVersion": rec["version"], "HostInstanceType": rec["instance"],
            "AuthenticationStrategy": rec["auth"], "AutoMinorVersionUpgrade": rec["auto_minor"],
            "PubliclyAccessible": rec["public"], "SecurityGroups": rec["security_groups"],
            "SubnetIds": rec["subnets"], "StorageType": rec["storage"], "StorageSize": rec["storage_size"],
            "EncryptionOptions": rec["encryption"], "MaintenanceWindowStartTime": rec["maintenance"],
            "Logs": {"General": bool(rec["logs"].get("General")),
                     "GeneralLogGroup": f"/aws/amazonmq/broker/{rec['id']}/general",
                     **({"Audit": bool(rec["logs"].get("Audit")),
                         "AuditLogGroup": f"/aws/amazonmq/broker/{rec['id']}/audit"}
                        if rec["engine"] == "ACTIVEMQ" else {})},
            "Tags": rec.get("tags") or {}, "Users": [{"Username": n} for n in sorted(rec.get("users") or {})],
            "BrokerInstances": [{"ConsoleURL": lifecycle.console_url(rec), "Endpoints": endpoints}]
            if rec["state"] in ("RUNNING", "REBOOT_IN_PROGRESS") else [],
            "DataReplicationMode": rec.get("replication", "NONE"),
            "ActionsRequired": [],
        }
        conf = rec.get("config") or {}
        if conf.get("current") or conf.get("history") or conf.get("pending"):
            out["Configurations"] = {k: v for k, v in (("Current", conf.get("current")),
                                                       ("History", conf.get("history") or []),
                                                       ("Pending", conf.get("pending"))) if v is not None}
        pend = rec.get("pending") or {}
        for field, key in (("EngineVersion", "PendingEngineVersion"), ("HostInstanceType", "PendingHostInstanceType"),
                           ("SecurityGroups", "PendingSecurityGroups"), ("StorageSize", "PendingStorageSize"),
                           ("AuthenticationStrategy", "PendingAuthenticationStrategy")):
            if field in pend:
                out[key] = pend[field]
        return out

    async def op_DescribeBroker(self, ctx, p) -> dict:
        return self.describe(await self._broker(ctx, p["BrokerId"]))

    async def op_ListBrokers(self, ctx, p) -> dict:
        recs = await self._list(ctx, "mq.broker")
        chunk, nxt = page(recs, p)
        out = {"BrokerSummaries": [{
            "BrokerArn": r["arn"], "BrokerId": r["id"], "BrokerName": r["name"], "BrokerState": r["state"],
            "Created": iso(r["created"]), "DeploymentMode": r["mode"], "EngineType": r["engine"],
            "HostInstanceType": r["instance"]} for r in chunk]}
        if nxt:
            out["NextToken"] = nxt
        return out

    async def op_UpdateBroker(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        engine = rec["engine"]
        pending = dict(rec.get("pending") or {})
        fields: dict = {}
        if "EngineVersion" in p:
            pending["EngineVersion"] = cat.check_version(engine, p["EngineVersion"])
        if "HostInstanceType" in p:
            if p["HostInstanceType"] not in cat.INSTANCE_TYPES[engine]:
                raise cat.bad_request("hostInstanceType", f"Host instance type [{p['HostInstanceType']}] is not "
                                      f"supported for engine type [{engine}].")
            pending["HostInstanceType"] = p["HostInstanceType"]
        for key in ("SecurityGroups", "StorageSize", "AuthenticationStrategy"):
            if key in p:
                pending[key] = p[key]
        if "AutoMinorVersionUpgrade" in p:
            fields["auto_minor"] = bool(p["AutoMinorVersionUpgrade"])
        if "Logs" in p:
            fields["logs"] = p["Logs"]
        if "MaintenanceWindowStartTime" in p:
            fields["maintenance"] = p["MaintenanceWindowStartTime"]
        conf = dict(rec.get("config") or {})
        if p.get("Configuration"):
            ref, _settings = await self._initial_config(ctx, engine, p["Configuration"])
            conf["pending"] = ref
            fields["config"] = conf
        fields["pending"] = pending
        rec = await self._patch(ctx, rec["id"], fields)
        if rec is None:
            raise cat.broker_not_found(p["BrokerId"])
        out = {"BrokerId": rec["id"], "AutoMinorVersionUpgrade": rec["auto_minor"],
               "AuthenticationStrategy": pending.get("AuthenticationStrategy", rec["auth"]),
               "EngineVersion": pending.get("EngineVersion", rec["version"]),
               "HostInstanceType": pending.get("HostInstanceType", rec["instance"]),
               "Logs": rec["logs"], "MaintenanceWindowStartTime": rec["maintenance"],
               "SecurityGroups": pending.get("SecurityGroups", rec["security_groups"]),
               "DataReplicationMode": rec.get("replication", "NONE")}
        if conf.get("pending") or conf.get("current"):
            out["Configuration"] = conf.get("pending") or conf.get("current")
        return out

    async def op_RebootBroker(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        if rec["state"] != "RUNNING":
            raise cat.conflict("broker-id", f"Broker [{rec['id']}] is in state [{rec['state']}] and cannot be "
                               "rebooted.")
        fields = {"state": "REBOOT_IN_PROGRESS"}
        pending = dict(rec.get("pending") or {})
        conf = dict(rec.get("config") or {})
        if conf.get("pending"):       # a pending configuration applies on reboot
            c = await self._config(ctx, conf["pending"]["Id"])
            from services.mq.engineconf import settings_of
            fields["settings"] = settings_of(rec["engine"], self._revision(c, conf["pending"]["Revision"])["data"])
            hist = list(conf.get("history") or [])
            if conf.get("current"):
                hist.append(conf["current"])
            fields["config"] = {"current": conf["pending"], "history": hist, "pending": None}
        for key, field in (("EngineVersion", "version"), ("HostInstanceType", "instance"),
                           ("SecurityGroups", "security_groups"), ("StorageSize", "storage_size"),
                           ("AuthenticationStrategy", "auth")):
            if key in pending:
                fields[field] = pending.pop(key)
        fields["pending"] = pending
        if await self._patch(ctx, rec["id"], fields, when={"state": "RUNNING"}, step="reboot") is None:
            raise cat.conflict("broker-id", f"Broker [{rec['id']}] cannot be rebooted now.")
        self.gateway.mq_realm.forget(rec["id"]) if hasattr(self.gateway, "mq_realm") else None
        return {}

    async def op_DeleteBroker(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        if rec["state"] == "DELETION_IN_PROGRESS":
            return {"BrokerId": rec["id"]}
        if await self._patch(ctx, rec["id"], {"state": "DELETION_IN_PROGRESS"}, step="delete") is None:
            raise cat.broker_not_found(p["BrokerId"])
        if hasattr(self.gateway, "mq_realm"):
            self.gateway.mq_realm.forget(rec["id"])
        return {"BrokerId": rec["id"]}

    async def op_Promote(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        raise cat.bad_request("broker-id", f"Broker [{rec['id']}] is not part of a data replication pair.")

    async def op_DescribeSharedResources(self, ctx, p) -> dict:
        await self._broker(ctx, p["BrokerId"])
        return {"SharedResources": []}

    async def op_DescribeBrokerEngineTypes(self, ctx, p) -> dict:
        engines = [p["EngineType"]] if p.get("EngineType") else sorted(cat.ENGINE_VERSIONS)
        items = []
        for e in engines:
            if e not in cat.ENGINE_VERSIONS:
                raise cat.bad_request("engineType", f"Broker engine type [{e}] does not exist. Valid values are: "
                                      "[ACTIVEMQ, RABBITMQ]")
            items.append({"EngineType": e, "EngineVersions": [{"Name": v} for v in cat.ENGINE_VERSIONS[e]]})
        chunk, nxt = page(items, p)
        out = {"BrokerEngineTypes": chunk, "MaxResults": p.get("MaxResults") or 20}
        if nxt:
            out["NextToken"] = nxt
        return out

    async def op_DescribeBrokerInstanceOptions(self, ctx, p) -> dict:
        items = []
        for engine in sorted(cat.INSTANCE_TYPES):
            if p.get("EngineType") and p["EngineType"] != engine:
                continue
            for instance in cat.INSTANCE_TYPES[engine]:
                if p.get("HostInstanceType") and p["HostInstanceType"] != instance:
                    continue
                for storage in cat.STORAGE_TYPES[engine]:
                    if p.get("StorageType") and p["StorageType"] != storage:
                        continue
                    items.append({
                        "AvailabilityZones": [{"Name": ctx.region + s} for s in cat.AZ_SUFFIXES[:3]],
                        "EngineType": engine, "HostInstanceType": instance, "StorageType": storage,
                        "SupportedDeploymentModes": cat.DEPLOYMENT_MODES[engine],
                        "SupportedEngineVersions": cat.ENGINE_VERSIONS[engine]})
        chunk, nxt = page(items, p)
        out = {"BrokerInstanceOptions": chunk, "MaxResults": p.get("MaxResults") or 20}
        if nxt:
            out["NextToken"] = nxt
        return out


__all__ = ["MqApi", "ServiceError"]
