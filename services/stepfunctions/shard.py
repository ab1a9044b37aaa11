"""Step Functions shard half: one per partition; ops are ``sfn.<Name>``.

Machines, versions, aliases and executions of a state machine live in the
partition of the machine's key; activities in their own. Every op runs
against memory and stages its writes; the runtime commits before the reply
leaves. StartSyncExecution and GetActivityTask answer later (awaitables).
"""

from __future__ import annotations

import asyncio
import os
import time

from services.stepfunctions import arns, history, logdelivery, mocks, redrive
from services.stepfunctions.activities import Activities
from services.stepfunctions.engine import Engine
from services.stepfunctions.errors import (
    err, execution_already_exists, execution_does_not_exist, invalid_arn, invalid_token, resource_not_found,
    sm_does_not_exist, type_not_supported,
)
from services.stepfunctions.execution import KIND_EXEC, RUNNING, TERMINAL
from services.stepfunctions.machines import Machines


class SfnShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.engine = Engine(self)
        self.machines = Machines(self)
        self.activities = Activities(self)

    def close(self) -> None:
        self.engine.close()
        self.activities.close()

    # -- state machines ------------------------------------------------------------------
    def op_CreateStateMachine(self, a):
        return self.machines.create(a)

    def op_DescribeStateMachine(self, a):
        return self.machines.describe(a["arn"])

    def op_UpdateStateMachine(self, a):
        return self.machines.update(a)

    def op_DeleteStateMachine(self, a):
        self.machines.delete(a["arn"])
        return {}

    def op_ListStateMachines(self, a):
        return self.machines.list(a["account"], a["region"])

    def op_StateMachineType(self, a):
        rec = self.machines.resolve(a["arn"])[0]
        return rec["type"]

    def op_PublishVersion(self, a):
        return self.machines.publish(a)

    def op_ListVersions(self, a):
        return self.machines.list_versions(a["arn"])

    def op_DeleteVersion(self, a):
        self.machines.delete_version(a["arn"])
        return {}

    def op_CreateAlias(self, a):
        return self.machines.create_alias(a)

    def op_DescribeAlias(self, a):
        return self.machines.describe_alias(a["arn"])

    def op_UpdateAlias(self, a):
        return self.machines.update_alias(a)

    def op_DeleteAlias(self, a):
        self.machines.delete_alias(a["arn"])
        return {}

    def op_ListAliases(self, a):
        return self.machines.list_aliases(a["arn"])

    # -- tags (state machines and activities) --------------------------------------------
    def _tagged(self, arn: str):
        kind = arns.parse(arn).kind
        if kind == "activity":
            return self.activities.record(arn), "sfn.act"
        rec = self.machines.sm(arn)
        if rec is None:
            raise resource_not_found(arn)
        return rec, "sfn.sm"

    def op_TagResource(self, a):
        rec, kind = self._tagged(a["arn"])
        merged = dict(rec["tags"])
        merged.update(a["tags"])
        if len(merged) > 50:
            from services.stepfunctions.errors import too_many_tags
            raise too_many_tags(a["arn"])
        rec["tags"] = merged
        self.store.put(kind, a["arn"], rec)
        return {}

    def op_UntagResource(self, a):
        rec, kind = self._tagged(a["arn"])
        for k in a["keys"]:
            rec["tags"].pop(k, None)
        self.store.put(kind, a["arn"], rec)
        return {}

    def op_ListTags(self, a):
        rec, _kind = self._tagged(a["arn"])
        return [{"key": k, "value": v} for k, v in rec["tags"].items()]

    # -- activities ------------------------------------------------------------------------
    def op_CreateActivity(self, a):
        return self.activities.create(a)

    def op_DescribeActivity(self, a):
        return self.activities.describe(a["arn"])

    def op_DeleteActivity(self, a):
        self.activities.delete(a["arn"])
        return {}

    def op_ListActivities(self, a):
        return self.activities.list(a["account"], a["region"])

    def op_ActivityEnqueue(self, a):
        return self.activities.enqueue(a)

    def op_GetActivityTask(self, a):
        return self.activities.get_task(a["arn"], a.get("worker"), a.get("wait", 60))

    def op_ActivityStarted(self, a):
        self.engine.activity_started(a["token"], a.get("worker"))
        return True

    # -- executions ----------------------------------------------------------------------------
    def _new_record(self, a: dict, sm: dict, ver: dict | None, alias: dict | None, express: bool) -> dict:
        now = self.engine.now_ms()
        name = a.get("name") or _new_name()
        if express:
            arn = arns.express_arn(sm["region"], sm["account"], sm["name"], name, _new_name())
        else:
            arn = arns.execution_arn(sm["region"], sm["account"], sm["name"], name)
        src = ver or sm
        return {"arn": arn, "sm": sm["arn"], "sm_name": sm["name"], "name": name, "type": sm["type"],
                "status": RUNNING, "start": now, "input": a["input"], "role": src["role"], "def": src["def"],
                "ver": ver["arn"] if ver else None, "alias": alias["arn"] if alias else None,
                "account": sm["account"], "region": sm["region"], "trace": a.get("trace"),
                "parent": a.get("parent"), "ev": 0, "tid": 0, "redrive": 0,
                "log": logdelivery.destination(src.get("logging") or sm.get("logging")),
                "xr": bool((src.get("tracing") or sm.get("tracing") or {}).get("enabled"))}

    def op_StartExecution(self, a):
        sm, ver, alias = self.machines.resolve(a["target"])
        express = sm["type"] == "EXPRESS"
        try:
            mock_case = mocks.test_case(self.part, a["mock"], sm["name"]) if a.get("mock") else None
        except mocks.MockConfigError as exc:
            from services.stepfunctions.errors import validation
            raise validation(str(exc)) from None
        if not express and a.get("name"):
            arn = arns.execution_arn(sm["region"], sm["account"], sm["name"], a["name"])
            existing = self.store.get(KIND_EXEC, arn)
            if existing is not None:
                if existing["status"] == RUNNING and existing["input"] == a["input"]:
                    return {"executionArn": arn, "startDate": existing["start"] / 1000.0}
                raise execution_already_exists(arn)
        rec = self._new_record(a, sm, ver, alias, express)
        ex = self.engine.start(rec, mock_case)
        return {"executionArn": ex.arn, "startDate": rec["start"] / 1000.0}

    def op_StartSyncExecution(self, a):
        sm, ver, alias = self.machines.resolve(a["target"])
        if sm["type"] != "EXPRESS":
            raise type_not_supported()
        rec = self._new_record(a, sm, ver, alias, True)
        rec["sync"] = True
        fut = asyncio.get_running_loop().create_future()
        ex = self.engine.start(rec)
        ex.waiters.append(fut)
        return self._sync_result(fut)

    async def _sync_result(self, fut):
        rec = await fut
        out = {"executionArn": rec["arn"], "stateMachineArn": rec["sm"], "name": rec["name"],
               "startDate": rec["start"] / 1000.0, "stopDate": rec["stop"] / 1000.0, "status": rec["status"],
               "input": rec["input"], "inputDetails": {"included": True}, "outputDetails": {"included": True},
               "billingDetails": {"billedMemoryUsedInMB": 64,
                                  "billedDurationInMilliseconds": max(100, -(-(rec["stop"] - rec["start"]) // 100)
                                                                      * 100)}}
        if rec.get("output") is not None:
            out["output"] = rec["output"]
        if rec.get("error") is not None:
            out["error"] = rec["error"]
        if rec.get("cause") is not None:
            out["cause"] = rec["cause"]
        if rec.get("trace"):
            out["traceHeader"] = rec["trace"]
        return out

    def _exec(self, arn: str) -> dict:
        rec = self.store.get(KIND_EXEC, arn)
        if rec is None:
            raise execution_does_not_exist(arn)
        return rec

    def op_DescribeExecution(self, a):
        if arns.parse(a["arn"]).kind == "express":       # only a Map Run's Express children are described
            rec = self.store.get(KIND_EXEC, a["arn"])
            if rec is None or not rec.get("maprun"):
                raise invalid_arn("Resource type not valid in this context: express")
        rec = self.engine.archive.warm(self._exec(a["arn"]))
        out = {"executionArn": rec["arn"], "stateMachineArn": rec["sm"], "name": rec["name"],
               "status": rec["status"], "startDate": rec["start"] / 1000.0, "input": rec["input"],
               "inputDetails": {"included": True}, "redriveCount": rec.get("redrive", 0)}
        for key, field in (("ver", "stateMachineVersionArn"), ("alias", "stateMachineAliasArn"),
                           ("trace", "traceHeader"), ("error", "error"), ("cause", "cause"),
                           ("maprun", "mapRunArn")):
            if rec.get(key) is not None:
                out[field] = rec[key]
        if rec.get("stop"):
            out["stopDate"] = rec["stop"] / 1000.0
        if rec.get("output") is not None:
            out["output"] = rec["output"]
            out["outputDetails"] = {"included": True}
        if rec.get("redrive_date"):
            out["redriveDate"] = rec["redrive_date"] / 1000.0
        if rec["type"] == "STANDARD":
            out.update(redrive.status(rec, self.engine.now_ms()))
        return out

    def op_DescribeStateMachineForExecution(self, a):
        rec = self._exec(a["arn"])
        sm = self.machines.sm(rec["sm"])
        out = {"stateMachineArn": rec["sm"], "name": rec["sm_name"],
               "definition": self.engine.definition_text(rec["def"]), "roleArn": rec["role"],
               "updateDate": (sm["updated"] if sm else rec["start"]) / 1000.0,
               "loggingConfiguration": (sm or {}).get("logging") or {"level": "OFF", "includeExecutionData": False},
               "tracingConfiguration": (sm or {}).get("tracing") or {"enabled": False}}
        if sm is not None and sm.get("rev") and not rec.get("ver"):
            out["revisionId"] = sm["rev"]
        if rec.get("maprun"):
            out["mapRunArn"] = rec["maprun"]
        if sm is not None:
            out["encryptionConfiguration"] = sm.get("enc")
        refs = self.engine.definition(rec["def"], rec["type"] == "EXPRESS").variable_references()
        if refs:
            out["variableReferences"] = refs
        return out

    def op_GetExecutionHistory(self, a):
        rec = self._exec(a["arn"])
        ex = self.engine.running.get(rec["arn"])
        events = ex.all_events() if ex is not None else self.engine.archive.events(rec)
        try:
            page, nxt = history.page(events, a.get("max"), a.get("token"), a.get("reverse", False),
                                     a.get("data", True))
        except ValueError:
            raise invalid_token() from None
        out = {"events": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def op_ListExecutions(self, a):
        target = a["arn"]
        status, redriven = a.get("status"), a.get("redrive")
        if a.get("maprun"):
            return self.engine.mapruns.executions(a["maprun"], status, redriven)
        sm, ver, alias = self.machines.resolve(target)
        if sm["type"] == "EXPRESS":
            raise type_not_supported()
        out = []
        for arn in reversed(self.engine.by_sm.get(sm["arn"], {})):
            rec = self.store.get(KIND_EXEC, arn)
            if rec is None:
                continue
            if ver is not None and alias is None and rec.get("ver") != ver["arn"]:
                continue
            if alias is not None and rec.get("alias") != alias["arn"]:
                continue
            st = rec["status"]
            if status and st != status:
                continue
            if redriven and (redriven == "REDRIVEN") != bool(rec.get("redrive")):
                continue
            item = {"executionArn": arn, "stateMachineArn": rec["sm"], "name": rec["name"], "status": st,
                    "startDate": rec["start"] / 1000.0, "redriveCount": rec.get("redrive", 0)}
            if rec.get("stop"):
                item["stopDate"] = rec["stop"] / 1000.0
            if rec.get("ver"):
                item["stateMachineVersionArn"] = rec["ver"]
            if rec.get("alias"):
                item["stateMachineAliasArn"] = rec["alias"]
            if rec.get("redrive_date"):
                item["redriveDate"] = rec["redrive_date"] / 1000.0
            out.append(item)
        return out

    def op_StopExecution(self, a):
        rec = self._exec(a["arn"])
        ex = self.engine.running.get(rec["arn"])
        if ex is not None and rec["status"] == RUNNING:
            ex.abort(a.get("error"), a.get("cause"))
        return {"stopDate": (rec.get("stop") or self.engine.now_ms()) / 1000.0}

    def op_RedriveExecution(self, a):
        rec = self._exec(a["arn"])
        return {"redriveDate": redrive.redrive(self.engine, rec) / 1000.0}

    def op_SendTask(self, a):
        self.engine.task_outcome(a["token"], a["kind"], a.get("output"), a.get("error"), a.get("cause"))
        return {}

    def op_ChildDone(self, a):
        self.engine.child_done(a["token"], a["summary"])
        return True

    def op_ExpressHistory(self, a):
        arn = a.get("arn")
        out = []
        for x_arn, rec, events in self.engine.express_done:
            if arn is None or x_arn == arn:
                out.append({"executionArn": x_arn, "status": rec["status"], "events": events})
        ex = self.engine.running.get(arn) if arn else None
        if ex is not None and ex.express:
            out.append({"executionArn": arn, "status": RUNNING, "events": list(ex.events)})
        return out

    # -- map runs --------------------------------------------------------------------------
    def op_DescribeMapRun(self, a):
        return self.engine.mapruns.describe(a["arn"])

    def op_ListMapRuns(self, a):
        return self.engine.mapruns.list_for(self._exec(a["arn"]))

    def op_UpdateMapRun(self, a):
        self.engine.mapruns.update(a["arn"], a.get("max"), a.get("tolc"), a.get("tolp"))
        return {}


def _new_name() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


__all__ = ["SfnShard", "err", "sm_does_not_exist", "TERMINAL", "time"]
