"""Distributed Map: Map Runs whose iterations are child executions.

A distributed Map state starts a Map Run (``sfn.maprun``): each item (or
ItemBatcher batch) becomes a child execution of the state machine
``<machine>/<label>`` whose definition is the ItemProcessor: a durable
Standard execution, or an Express one for ``ExecutionType: EXPRESS``. Children
live in the parent's partition (their ARNs name the parent machine), so a
child ending updates its Map Run and the parent in the same commit.

The Map Run record holds one status character per child (``.`` pending,
``R`` running, ``S``/``F``/``T``/``A`` succeeded, failed, timed out, aborted),
the running children and the failed ones (for redrive). At most
MaxConcurrency children run at once (0: AWS's 10,000); they are started from
the engine's run loop with a budget per tick. Tolerated failures are counted
in items; past the threshold the run fails, its running children are
aborted, and the parent's Map state fails with
States.ExceedToleratedFailureThreshold. A parent stopped, failed elsewhere or
timed out aborts its runs. After a kill -9, Standard children resume where
they were and running Express children start again (Express is at-least-once).
"""

from __future__ import annotations

import json
import logging
import os

from services.errors import ServiceError
from services.stepfunctions import arns
from services.stepfunctions import interpreter as I
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.asl.jsonpath import PathError, from_json, to_json
from services.stepfunctions.errors import resource_not_found, validation
from services.stepfunctions.execution import ABORTED, FAILED, KIND_EXEC, RUNNING, SUCCEEDED, TIMED_OUT

log = logging.getLogger("broker.sfn")

KIND_MAPRUN = "sfn.maprun"
LAUNCH_BUDGET = 256           # child executions started per loop tick, across Map Runs
MAX_CHILDREN = 10_000         # AWS: a Map Run runs at most 10,000 children at once
CHAR = {SUCCEEDED: "S", FAILED: "F", TIMED_OUT: "T", ABORTED: "A"}
_COUNT_NAMES = (("pending", "."), ("running", "R"), ("succeeded", "S"), ("failed", "F"), ("timedOut", "T"),
                ("aborted", "A"))
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"


def _uuid() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def child_definition(st) -> str:
    """The ItemProcessor as a state machine definition of its own."""
    spec = {k: v for k, v in st.processor.spec.items() if k != "ProcessorConfig"}
    spec.setdefault("QueryLanguage", st.ql)
    return json.dumps(spec, separators=(",", ":"))


class MapRuns:
    def __init__(self, engine):
        self.engine = engine
        self.store = engine.store
        self.by_run: dict[str, list[str]] = {}        # Map Run -> its child executions, oldest first
        self.pending: dict[str, None] = {}            # Map Runs with children to start (ordered set)

    def get(self, arn: str) -> dict:
        rec = self.store.get(KIND_MAPRUN, arn)
        if rec is None:
            raise resource_not_found(arn)
        if "st" not in rec:                               # a run recorded before runs had children
            c = rec.pop("counts", {})
            rec.update(st="S" * c.get("succeeded", 0) + "F" * c.get("failed", 0) + "A" * c.get("aborted", 0),
                       n=c.get("total", 0), sizes=None, live={}, bad={}, written=c.get("resultsWritten", 0),
                       label=rec["sm"].rsplit("/", 1)[-1], type="STANDARD", tid=0)
        return rec

    # -- starting a run ------------------------------------------------------------------
    def start(self, ex, t, st, items: list, eff, mc: int, tol_count, tol_pct) -> None:
        """The Map state of thread `t` starts a Map Run over `items` (already read and batched)."""
        engine = self.engine
        a = arns.parse(ex.arn)
        label = st.spec.get("Label") or _uuid()             # AWS: the Label, else a UUID
        arn = f"arn:aws:states:{a.region}:{a.account}:mapRun:{a.sm_name}/{label}:{_uuid()}"
        proc = st.processor
        sizes = [len(b["Items"]) if isinstance(b, dict) and isinstance(b.get("Items"), list) else 1
                 for b in items] if "ItemBatcher" in st.spec else None
        n = len(items)
        rec = {"arn": arn, "exec": ex.arn, "tid": t["id"], "sm": f"{ex.rec['sm']}/{label}", "label": label,
               "type": proc.execution_type or "STANDARD", "def": engine.store_definition(child_definition(st)),
               "status": RUNNING, "start": engine.now_ms(), "max": mc, "tolc": tol_count, "tolp": tol_pct,
               "n": n, "sizes": sizes, "st": "." * n, "live": {}, "bad": {}, "written": 0, "redrive": 0}
        self.store.put(KIND_MAPRUN, arn, rec)
        self.by_run[arn] = []
        ex.rec.setdefault("runs", []).append(arn)
        t["kids"] = {"kind": "map", "run": arn, "n": n, "items": items, "eff": eff}
        t["ph"] = "kids"
        ex.emit(t, "MapRunStarted", {"mapRunArn": arn})
        ex.save_thread(t)
        if n == 0:
            self._succeed(rec, ex, t, st)
        elif getattr(engine.host, "iam_authorizer", None) is not None and ex.rec.get("role"):
            rec["iam"] = 1                    # checked before the first child (again after a restart)
            self.store.put(KIND_MAPRUN, arn, rec)
            self._authorize(rec, ex, t, st)
        else:
            self._want(arn)

    def _authorize(self, rec: dict, ex, t, st) -> None:
        """IAM enforced: the run starts its children as the machine's role, which needs
        states:StartExecution on the machine and states:DescribeExecution/StopExecution
        on its executions (AWS's Distributed Map policy); checked once per run, before
        the first child; a redriven run also needs states:RedriveExecution on them. Denied:
        the Map Run fails with IAM's message."""
        from services.internal import caller
        a = arns.parse(ex.arn)
        child = f"arn:aws:states:{a.region}:{a.account}:execution:{a.sm_name}/{rec['label']}:{rec['arn'][-36:]}"
        machine = f"arn:aws:states:{a.region}:{a.account}:stateMachine:{a.sm_name}"
        kw = {"account": a.account, "region": a.region, "source_arn": ex.arn, "role_arn": ex.rec["role"]}
        redriven = rec.get("iam") == "redrive"

        async def go():
            c = caller(self.engine.host)
            try:
                await c.authorize("stepfunctions", "StartExecution", {"stateMachineArn": machine}, **kw)
                ops = ("DescribeExecution", "StopExecution") + (("RedriveExecution",) if redriven else ())
                for op in ops:
                    await c.authorize("stepfunctions", op, {"executionArn": child}, **kw)
                denied = None
            except Exception as exc:
                if not getattr(exc, "code", None):
                    raise
                denied = getattr(exc, "message", None) or str(exc)
            ex.calls.pop(t["id"], None)
            cur = self.store.get(KIND_MAPRUN, rec["arn"])
            live, _ = self._parent(rec)
            if live is None or cur is None or cur["status"] != RUNNING:
                return
            cur.pop("iam", None)
            if denied is None:
                self.store.put(KIND_MAPRUN, cur["arn"], cur)
                if redriven:
                    self._redrive_children(cur, ex, t, st)
                    ex.save()
                    self.engine.part.flush_soon()
                else:
                    self._want(cur["arn"])
                return
            from services.stepfunctions import flows
            self._end(cur, FAILED)
            ex.emit(t, "MapRunFailed", {"error": E.RUNTIME, "cause": denied})
            flows.fail_composite(ex, t, st, StatesError(E.RUNTIME, denied))
            ex.save()
            self.engine.part.flush_soon()
        self.engine._spawn(ex, t, go())

    def _want(self, arn: str) -> None:
        self.pending[arn] = None
        self.engine.schedule_pump()

    # -- starting children (from the engine's run loop) ------------------------------------
    def pump(self) -> None:
        budget = LAUNCH_BUDGET
        for arn in list(self.pending):
            if budget <= 0:
                return
            self.pending.pop(arn, None)
            rec = self.store.get(KIND_MAPRUN, arn)
            if rec is None or rec["status"] != RUNNING:
                continue
            if rec.get("iam"):                  # a restart came before the role was checked
                ex, t = self._parent(rec)
                if ex is not None:
                    self._authorize(rec, ex, t, I.state_of(ex, t))
                continue
            budget -= self._launch(rec, budget)
            if rec["status"] == RUNNING and "." in rec["st"] and self._room(rec) > 0:
                self.pending[arn] = None            # more to start next tick
        if self.pending:
            self.engine.schedule_pump()

    def _room(self, rec: dict) -> int:
        limit = rec["max"] or MAX_CHILDREN
        return min(limit, MAX_CHILDREN) - len(rec["live"])

    def _parent(self, rec: dict):
        ex = self.engine.running.get(rec["exec"])
        t = ex.threads.get(rec["tid"]) if ex is not None else None
        if t is None or (t.get("kids") or {}).get("run") != rec["arn"]:
            return None, None
        return ex, t

    def _launch(self, rec: dict, budget: int) -> int:
        ex, t = self._parent(rec)
        if ex is None:
            return 0
        from services.stepfunctions import flows
        st = I.state_of(ex, t)
        kids = t["kids"]
        marks = list(rec["st"])
        started = 0
        i = rec["st"].find(".")
        while i >= 0 and started < budget and self._room(rec) > 0:
            try:
                value = flows.item_input(ex, t, st, i, kids["items"][i])
            except (StatesError, PathError) as err:
                if isinstance(err, PathError):
                    err = E.runtime_error(err.message)
                rec["st"] = "".join(marks)
                self._end(rec, FAILED)
                I.fail_state(ex, t, st, err)
                ex.save()
                return started
            marks[i] = "R"
            rec["live"][str(i)] = self._start_child(rec, ex, i, value).arn
            started += 1
            i = rec["st"].find(".", i + 1)
        rec["st"] = "".join(marks)
        self.store.put(KIND_MAPRUN, rec["arn"], rec)
        return started

    def _start_child(self, rec: dict, parent, i: int, value):
        engine = self.engine
        a = arns.parse(parent.arn)
        name = _uuid()
        sm_name = f"{a.sm_name}/{rec['label']}"
        express = rec["type"] == "EXPRESS"
        arn = arns.express_arn(a.region, a.account, sm_name, name, _uuid()) if express else \
            arns.execution_arn(a.region, a.account, sm_name, name)
        prec = parent.rec
        child = {"arn": arn, "sm": rec["sm"], "sm_name": sm_name, "name": name, "type": rec["type"],
                 "status": RUNNING, "start": engine.now_ms(), "input": to_json(value), "role": prec["role"],
                 "def": rec["def"], "account": prec["account"], "region": prec["region"],
                 "trace": engine.tracing.child_header(parent, rec), "maprun": rec["arn"], "idx": i,
                 "items": rec["sizes"][i] if rec["sizes"] else 1, "ev": 0, "tid": 0, "redrive": 0,
                 "log": prec.get("log"), "xr": prec.get("xr")}
        self.by_run.setdefault(rec["arn"], []).append(arn)
        return engine.start(child, parent.mock_case)

    # -- children ending -------------------------------------------------------------------
    def child_finished(self, child: dict) -> None:
        """A child execution stopped (the engine calls this from `finished`)."""
        rec = self.store.get(KIND_MAPRUN, child["maprun"])
        if rec is None:
            return
        i = child["idx"]
        key = str(i)
        if rec["live"].get(key) == child["arn"]:
            del rec["live"][key]
            rec["st"] = rec["st"][:i] + CHAR[child["status"]] + rec["st"][i + 1:]
            if child["status"] != SUCCEEDED:
                rec["bad"][key] = child["arn"]
        self.store.put(KIND_MAPRUN, rec["arn"], rec)
        if rec["status"] != RUNNING:
            return
        ex, t = self._parent(rec)
        if ex is None:
            return
        st = I.state_of(ex, t)
        if child["status"] != SUCCEEDED and self._exceeded(rec):
            self._fail(rec, ex, t, st)
        elif "." not in rec["st"] and not rec["live"]:
            self._succeed(rec, ex, t, st)
        elif "." in rec["st"]:
            self._want(rec["arn"])

    def _failed_items(self, rec: dict) -> int:
        sizes = rec["sizes"]
        return sum((sizes[i] if sizes else 1) for i, c in enumerate(rec["st"]) if c in "FTA")

    def _exceeded(self, rec: dict) -> bool:
        """Past the tolerated failure count or percentage (either one; none given: no failure tolerated)."""
        failed = self._failed_items(rec)
        if not failed:
            return False
        count, pct = rec["tolc"], rec["tolp"]
        if count is None and pct is None:
            return True
        total = sum(rec["sizes"]) if rec["sizes"] else rec["n"]
        if count is not None and failed > count:
            return True
        return pct is not None and total > 0 and failed * 100.0 / total > pct

    def _end(self, rec: dict, status: str) -> None:
        """The run stops: running children are aborted (their ends no longer move the run)."""
        rec["status"] = status
        rec["stop"] = self.engine.now_ms()
        self.pending.pop(rec["arn"], None)
        self.store.put(KIND_MAPRUN, rec["arn"], rec)
        for key, child_arn in list(rec["live"].items()):
            cx = self.engine.running.get(child_arn)
            if cx is not None:
                cx.abort(None, None)
            else:
                self._mark(rec, int(key), "A")

    def _mark(self, rec: dict, i: int, ch: str) -> None:
        rec["live"].pop(str(i), None)
        rec["st"] = rec["st"][:i] + ch + rec["st"][i + 1:]
        self.store.put(KIND_MAPRUN, rec["arn"], rec)

    def _fail(self, rec: dict, ex, t, st) -> None:
        from services.stepfunctions import flows
        self._end(rec, FAILED)
        ex.emit(t, "MapRunFailed", {"error": E.EXCEED_TOLERATED_FAILURE_THRESHOLD, "cause": THRESHOLD_CAUSE})
        flows.fail_composite(ex, t, st, StatesError(E.EXCEED_TOLERATED_FAILURE_THRESHOLD, THRESHOLD_CAUSE))
        ex.save()

    def _succeed(self, rec: dict, ex, t, st) -> None:
        from services.stepfunctions import flows, itemio
        rows = self._rows(rec)
        results = [value for _i, status, value in rows if status == SUCCEEDED]
        if "ResultWriter" in st.spec:
            try:
                results = itemio.write_results(ex, t, st, rec, t["kids"]["items"], rows)
            except StatesError as err:
                rec["status"], rec["stop"] = FAILED, self.engine.now_ms()
                self.store.put(KIND_MAPRUN, rec["arn"], rec)
                ex.emit(t, "MapRunFailed", {"error": err.error, "cause": err.cause})
                flows.fail_composite(ex, t, st, err)
                ex.save()
                return
            rec["written"] = sum(rec["sizes"]) if rec["sizes"] else rec["n"]
        rec["status"], rec["stop"] = SUCCEEDED, self.engine.now_ms()
        self.store.put(KIND_MAPRUN, rec["arn"], rec)
        ex.emit(t, "MapRunSucceeded")
        flows.finish_composite(ex, t, st, results, None)
        ex.save()

    def _rows(self, rec: dict) -> list[tuple[int, str, object]]:
        """(index, status, output or error output) of the latest child of each index."""
        latest: dict[int, dict] = {}
        for arn in self.by_run.get(rec["arn"], ()):
            c = self.store.get(KIND_EXEC, arn)
            if c is not None:
                latest[c["idx"]] = c
        rows = []
        for i in range(rec["n"]):
            c = latest.get(i)
            if c is None:
                continue
            if c["status"] == SUCCEEDED:
                out = self.engine.archive.body(c).get("output")
                rows.append((i, SUCCEEDED, from_json(out) if out is not None else None))
            else:
                rows.append((i, c["status"], {"Error": c.get("error"), "Cause": c.get("cause")}))
        return rows

    # -- the parent going away --------------------------------------------------------------
    def abort(self, arn: str) -> None:
        """The parent stopped, timed out, failed elsewhere, or its Map state was aborted."""
        rec = self.store.get(KIND_MAPRUN, arn)
        if rec is not None and rec["status"] == RUNNING:
            self._end(rec, ABORTED)

    # -- API -------------------------------------------------------------------------------------
    def counts(self, rec: dict, by_items: bool) -> dict:
        sizes = rec["sizes"] if by_items else None
        out = {name: 0 for name, _c in _COUNT_NAMES}
        chars = {c: name for name, c in _COUNT_NAMES}
        for i, c in enumerate(rec["st"]):
            out[chars[c]] += sizes[i] if sizes else 1
        out["total"] = sum(sizes) if sizes else rec["n"]
        out["resultsWritten"] = (rec["written"] if by_items else
                                 (rec["n"] if rec["written"] else 0))
        return out

    def describe(self, arn: str) -> dict:
        rec = self.get(arn)
        out = {"mapRunArn": arn, "executionArn": rec["exec"], "status": rec["status"],
               "startDate": rec["start"] / 1000.0, "maxConcurrency": rec["max"],
               "toleratedFailurePercentage": float(rec["tolp"] or 0), "toleratedFailureCount": rec["tolc"] or 0,
               "itemCounts": self.counts(rec, True), "executionCounts": self.counts(rec, False),
               "redriveCount": rec.get("redrive", 0)}
        if rec.get("stop") and rec["status"] != RUNNING:
            out["stopDate"] = rec["stop"] / 1000.0
        if rec.get("redrive_date"):
            out["redriveDate"] = rec["redrive_date"] / 1000.0
        return out

    def list_for(self, parent: dict) -> list[dict]:
        out = []
        for arn in parent.get("runs") or ():
            rec = self.store.get(KIND_MAPRUN, arn)
            if rec is None:
                continue
            item = {"executionArn": rec["exec"], "mapRunArn": arn, "stateMachineArn": rec["sm"],
                    "startDate": rec["start"] / 1000.0}
            if rec.get("stop") and rec["status"] != RUNNING:
                item["stopDate"] = rec["stop"] / 1000.0
            out.append(item)
        return out

    def executions(self, arn: str, status: str | None, redriven: str | None) -> list[dict]:
        """ListExecutions(mapRunArn): the run's children, newest first."""
        self.get(arn)
        out = []
        for child_arn in reversed(self.by_run.get(arn, ())):
            c = self.store.get(KIND_EXEC, child_arn)
            if c is None:
                continue
            if status and c["status"] != status:
                continue
            if redriven == "REDRIVEN" and not c.get("redrive"):
                continue
            if redriven == "NOT_REDRIVEN" and c.get("redrive"):
                continue
            item = {"executionArn": child_arn, "stateMachineArn": c["sm"], "name": c["name"], "status": c["status"],
                    "startDate": c["start"] / 1000.0, "mapRunArn": arn, "itemCount": c.get("items", 1),
                    "redriveCount": c.get("redrive", 0)}
            if c.get("stop") and c["status"] != RUNNING:
                item["stopDate"] = c["stop"] / 1000.0
            if c.get("redrive_date"):
                item["redriveDate"] = c["redrive_date"] / 1000.0
            out.append(item)
        return out

    def update(self, arn: str, max_concurrency, tol_count, tol_pct) -> None:
        """UpdateMapRun: concurrency and failure tolerance of a run (applied at once)."""
        rec = self.get(arn)
        if max_concurrency is None and tol_count is None and tol_pct is None:
            raise validation("Must provide at least one of: maxConcurrency, toleratedFailureCount, "
                             "toleratedFailurePercentage")
        if max_concurrency is not None:
            rec["max"] = max_concurrency
        if tol_count is not None:
            rec["tolc"] = tol_count
        if tol_pct is not None:
            rec["tolp"] = float(tol_pct)
        self.store.put(KIND_MAPRUN, arn, rec)
        if rec["status"] != RUNNING:
            return
        ex, t = self._parent(rec)
        if ex is None:
            return
        if self._exceeded(rec):
            self._fail(rec, ex, t, I.state_of(ex, t))
        elif "." in rec["st"]:
            self._want(arn)

    # -- redrive ----------------------------------------------------------------------------------
    def redrive(self, ex, t, st, prev: int) -> None:
        """The parent is redriven at this Map state: its run redrives failed children, starts pending ones."""
        arn = t["kids"]["run"]
        rec = self.store.get(KIND_MAPRUN, arn)
        if rec is None:                                   # expired: run the Map state again
            t.pop("kids", None)
            t["ph"] = "enter"
            ex.save_thread(t)
            ex.make_ready(t)
            return
        now = self.engine.now_ms()
        rec["redrive"] = rec.get("redrive", 0) + 1
        rec["redrive_date"] = now
        rec["status"] = RUNNING
        rec["tid"] = t["id"]                              # the redriven parent's thread
        rec.pop("stop", None)
        ex.emit(t, "MapRunRedriven", {"mapRunArn": arn, "redriveCount": rec["redrive"]})
        if getattr(self.engine.host, "iam_authorizer", None) is not None and ex.rec.get("role"):
            rec["iam"] = "redrive"            # the role is checked before any child is redriven
            self.store.put(KIND_MAPRUN, arn, rec)
            self._authorize(rec, ex, t, st)
            return
        self._redrive_children(rec, ex, t, st)

    def _redrive_children(self, rec: dict, ex, t, st) -> None:
        from services.stepfunctions import redrive as R
        arn = rec["arn"]
        marks = list(rec["st"])
        for key, child_arn in sorted(rec["bad"].items(), key=lambda kv: int(kv[0])):
            i = int(key)
            c = self.store.get(KIND_EXEC, child_arn)
            marks[i] = "."                                # Express (or not redrivable): started again
            if rec["type"] == "STANDARD" and c is not None and c["status"] not in (RUNNING, SUCCEEDED):
                try:
                    R.redrive(self.engine, c)
                except ServiceError:
                    continue
                marks[i] = "R"
                rec["live"][key] = child_arn
        rec["bad"] = {}
        rec["st"] = "".join(marks)
        self.store.put(KIND_MAPRUN, arn, rec)
        if "." not in rec["st"] and not rec["live"]:
            self._succeed(rec, ex, t, st)
        elif "." in rec["st"]:
            self._want(arn)

    # -- recovery and expiry ----------------------------------------------------------------------
    def recovered(self, children: list[tuple[int, str, str]]) -> None:
        for _start, run, arn in sorted(children):
            self.by_run.setdefault(run, []).append(arn)
        for arn, rec in list(self.store.scan(KIND_MAPRUN)):
            self.by_run.setdefault(arn, [])
            if self.store.get(KIND_EXEC, rec["exec"]) is None:
                self.expire(arn)                          # an Express parent's run: gone with its parent
            elif rec["status"] == RUNNING and ("." in rec["st"] or rec.get("iam")):
                self.pending[arn] = None
        if self.pending:
            self.engine.schedule_pump()

    def expire(self, arn: str) -> None:
        """The parent expired: the run and its children go too."""
        for child_arn in self.by_run.pop(arn, ()):
            c = self.store.get(KIND_EXEC, child_arn)
            if c is not None:
                self.engine.archive.expire(c)
        self.store.delete(KIND_MAPRUN, arn)
        self.pending.pop(arn, None)
