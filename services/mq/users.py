"""Broker users: Create, Update, Delete, Describe, List (mixed into MqApi).

Users take effect on the broker's listeners at once (gateways re-read a
broker's users within a couple of seconds); AWS's username and password
rules apply.
"""

from __future__ import annotations

from services.mq import catalog as cat
from services.mq.model import broker_key


class UsersMixin:
    async def _user_call(self, ctx, op: str, args: dict, broker_id: str, username: str):
        try:
            return await ctx.cluster.call(broker_key(broker_id), op, {"k": broker_key(broker_id), **args})
        except Exception as exc:
            code = getattr(exc, "code", None)
            if code == "NoBroker":
                raise cat.broker_not_found(broker_id) from None
            if code == "NoUser":
                raise cat.user_not_found(username) from None
            if code == "UserExists":
                raise cat.conflict("username", f"User [{username}] already exists on broker [{broker_id}].") \
                    from None
            raise
        finally:
            realm = getattr(self.gateway, "mq_realm", None)
            if realm is not None:
                realm.forget(broker_id)

    async def op_CreateUser(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        cat.check_username(rec["engine"], p["Username"])
        cat.check_password(p.get("Password"))
        await self._user_call(ctx, "mq.UserPut", {"name": p["Username"], "mode": "create",
                                                  "v": self._user_record(p)}, rec["id"], p["Username"])
        return {}

    async def op_UpdateUser(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        fields = {}
        if p.get("Password") is not None:
            cat.check_password(p["Password"])
            full = self._user_record({"Password": p["Password"]})
            fields.update(salt=full["salt"], hash=full["hash"])
        if "ConsoleAccess" in p:
            fields["console"] = bool(p["ConsoleAccess"])
        if "Groups" in p:
            fields["groups"] = list(p["Groups"] or [])
        if "ReplicationUser" in p:
            fields["replication"] = bool(p["ReplicationUser"])
        await self._user_call(ctx, "mq.UserPut", {"name": p["Username"], "mode": "update", "v": fields},
                              rec["id"], p["Username"])
        return {}

    async def op_DeleteUser(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        await self._user_call(ctx, "mq.UserDelete", {"name": p["Username"]}, rec["id"], p["Username"])
        return {}

    async def op_DescribeUser(self, ctx, p) -> dict:
        rec = await self._broker(ctx, p["BrokerId"])
        u = (rec.get("users") or {}).get(p["Username"])
        if u is None:
            raise cat.user_not_found(p["Username"])
        return {"BrokerId": rec["id"], "Username": p["Username"], "ConsoleAccess": u.get("console", False),
                "Groups": u.get("groups") or [], "ReplicationUser": u.get("replication", False)}

    async def op_ListUsers(self, ctx, p) -> dict:
        from services.mq.api import page
        rec = await self._broker(ctx, p["BrokerId"])
        names = sorted(rec.get("users") or {})
        chunk, nxt = page(names, p)
        out = {"BrokerId": rec["id"], "MaxResults": p.get("MaxResults") or 20,
               "Users": [{"Username": n} for n in chunk]}
        if nxt:
            out["NextToken"] = nxt
        return out
