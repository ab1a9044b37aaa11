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

from services.stepfunctions import arns, history, logdelivery, mocks
from services.stepfunctions.activities import Activities
from services.stepfunctions.engine import KIND_MAPRUN, Engine
from services.stepfunctions.errors import (
    err, execution_already_exists, execution_does_not_exist, execution_not_redrivable, invalid_token,
    resource_not_found, sm_does_not_exist, type_not_supported,
)
from services.stepfunctions.execution import KIND_EXEC, RUNNING, SUCCEEDED, TERMINAL, Execution
from services.stepfunctions.machines import Machines

REDRIVE_WINDOW_MS = 14 * 24 * 3600 * 1000


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
                "log": logdelivery.destination(src.get("logging") or sm.get("logging"))}

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
        rec = self._exec(a["arn"])
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
        out.update(_redrive_status(rec, self.engine.now_ms()))
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
        events = ex.all_events() if ex is not None else history.load(self.store, rec["arn"])
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
        if a.get("maprun"):
            rec = self.store.get(KIND_MAPRUN, a["maprun"])
            if rec is None:
                raise resource_not_found(a["maprun"])
            return []
        sm, ver, alias = self.machines.resolve(target) if target else (None, None, None)
        if sm["type"] == "EXPRESS":
            raise type_not_supported()
        status = a.get("status")
        out = []
        for arn in reversed(self.engine.by_sm.get(sm["arn"], [])):
            rec = self.store.get(KIND_EXEC, arn)
            if rec is None:
                continue
            if ver is not None and alias is None and rec.get("ver") != ver["arn"]:
                continue
            if alias is not None and rec.get("alias") != alias["arn"]:
                continue
            st = rec["status"]
            if status and not (st == status or (status == "PENDING_REDRIVE" and False)):
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
        now = self.engine.now_ms()
        reason = _redrive_status(rec, now)
        if reason["redriveStatus"] != "REDRIVABLE":
            raise execution_not_redrivable(reason.get("redriveStatusReason") or
                                           f"Execution is {rec['status']} and cannot be redriven")
        at = rec.get("redrive_at")
        if not at:
            raise execution_not_redrivable("Execution cannot be redriven: no failed state to restart from")
        definition = self.engine.definition(rec["def"], False)
        ex = Execution(self.engine, rec, definition)
        tail = self.store.get(history.KIND_HISTORY, history.chunk_key(ex.arn, rec.get("chunk", 0)))
        ex.events = tail if tail is not None else []
        rec["redrive"] = rec.get("redrive", 0) + 1
        rec["redrive_date"] = now
        rec["status"] = RUNNING
        for k in ("stop", "error", "cause", "output", "redrive_at"):
            rec.pop(k, None)
        self.engine.running[ex.arn] = ex
        eid = ex.emit(None, "ExecutionRedriven", {"redriveCount": rec["redrive"]}, prev=rec["ev"])
        root = ex.new_thread(None, None, at["st"], at["in"], eid)
        root["vars"] = at.get("vars") or {}
        ex.save_thread(root)
        ex.save()
        ex.make_ready(root)
        return {"redriveDate": now / 1000.0}

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
    def _maprun(self, arn: str) -> dict:
        rec = self.store.get(KIND_MAPRUN, arn)
        if rec is None:
            raise resource_not_found(arn)
        return rec

    def op_DescribeMapRun(self, a):
        rec = self._maprun(a["arn"])
        out = {"mapRunArn": rec["arn"], "executionArn": rec["exec"], "status": rec["status"],
               "startDate": rec["start"] / 1000.0, "maxConcurrency": rec["max"],
               "toleratedFailurePercentage": rec["tolp"], "toleratedFailureCount": rec["tolc"],
               "itemCounts": dict(rec["counts"]), "executionCounts": dict(rec["counts"]),
               "redriveCount": 0}
        if rec.get("stop"):
            out["stopDate"] = rec["stop"] / 1000.0
        return out

    def op_ListMapRuns(self, a):
        self._exec(a["arn"])
        out = []
        for _k, rec in self.store.scan(KIND_MAPRUN):
            if rec["exec"] == a["arn"]:
                item = {"executionArn": rec["exec"], "mapRunArn": rec["arn"], "stateMachineArn": rec["sm"],
                        "startDate": rec["start"] / 1000.0}
                if rec.get("stop"):
                    item["stopDate"] = rec["stop"] / 1000.0
                out.append(item)
        return out

    def op_UpdateMapRun(self, a):
        rec = self._maprun(a["arn"])
        for k, field in (("max", "max"), ("tolc", "tolc"), ("tolp", "tolp")):
            if a.get(k) is not None:
                rec[field] = a[k]
        self.store.put(KIND_MAPRUN, rec["arn"], rec)
        return {}


def _new_name() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _redrive_status(rec: dict, now: int) -> dict:
    st = rec["status"]
    if st in (RUNNING, SUCCEEDED):
        return {"redriveStatus": "NOT_REDRIVABLE", "redriveStatusReason": f"Execution is {st} and cannot be redriven"}
    if rec.get("stop") and now - rec["stop"] > REDRIVE_WINDOW_MS:
        return {"redriveStatus": "NOT_REDRIVABLE",
                "redriveStatusReason": "Execution cannot be redriven after 14 days of its stop time"}
    return {"redriveStatus": "REDRIVABLE"}


__all__ = ["SfnShard", "err", "sm_does_not_exist", "TERMINAL", "time"]
