"""The execution runtime of one partition: starting, stepping, timing, resuming.

Threads that can move are stepped from one run queue with a budget per loop
tick (many executions share a shard fairly; a 1,000-item Map does not hold
the loop). Timers (Wait, Retry backoff, task timeouts and heartbeats, the
execution's TimeoutSeconds) are the partition's durable timers. Task tokens,
in-flight integration calls and activity hand-offs are tracked here. On
start every RUNNING execution is rebuilt from its records and resumed where
its threads were: no completed state runs again, a Wait fires late but
fires, an activity task keeps its token.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections import deque

from broker.runtime import telemetry
from broker.runtime.outbox import Outbox
from services.stepfunctions import arns, interpreter, tasks
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl.definition import compile_definition
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.asl.jsonpath import from_json, to_json
from services.stepfunctions.asl.resources import SYNC, SYNC2
from services.stepfunctions.archive import Archive
from services.stepfunctions.execution import ABORTED, FAILED, RUNNING, SUCCEEDED, TIMED_OUT, Execution
from services.stepfunctions.logdelivery import LogDelivery
from services.stepfunctions.mapruns import MapRuns
from services.stepfunctions.tracing import Tracing

log = logging.getLogger("broker.sfn")

KIND_DEF = "sfn.def"
KIND_XSTART = "sfn.xstart"       # async Express executions not finished yet (re-run after a restart)
KIND_OUTBOX = "sfn.outbox"
TIMER_KIND = "sfn.timer"
STEP_BUDGET = 4000               # thread steps per loop tick across executions
EXPRESS_KEPT = 1000              # finished Express histories kept for the admin API (per partition)
_METRIC_END = {SUCCEEDED: "ExecutionsSucceeded", FAILED: "ExecutionsFailed", ABORTED: "ExecutionsAborted",
               TIMED_OUT: "ExecutionsTimedOut"}


def encode_token(execution_arn: str, tid: int, attempt: int) -> str:
    raw = f"{execution_arn}|{tid}|{attempt}|{os.urandom(12).hex()}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, int]:
    """-> (execution arn, thread id); ValueError if it is not one of ours."""
    pad = "=" * (-len(token) % 4)
    text = base64.urlsafe_b64decode((token + pad).encode()).decode()
    arn, tid, _attempt, _nonce = text.split("|")
    if not arn.startswith("arn:") or ":execution:" not in arn:
        raise ValueError("not a task token")
    return arn, int(tid)


class Engine:
    def __init__(self, service):
        self.service = service
        self.part = service.part
        self.store = self.part.store
        self.host = self.part.shard
        self.closed = False
        self.running: dict[str, Execution] = {}
        self.by_sm: dict[str, dict[str, None]] = {}   # machine -> its Standard executions, oldest first
        self.tokens: dict[str, tuple[str, int]] = {}
        self.runq: deque[Execution] = deque()
        self._run_scheduled = False
        self._pump = False
        self.express_done: deque = deque(maxlen=EXPRESS_KEPT)
        self.logs = LogDelivery(self)
        self.archive = Archive(self)
        self.mapruns = MapRuns(self)
        self.tracing = Tracing(self)
        self.timers = self.part.services["core"].timers
        self.timers.handlers[TIMER_KIND] = self._on_timer
        self.outbox = Outbox(self.part, KIND_OUTBOX, give_up_codes=("ExecutionDoesNotExist", "TaskTimedOut",
                                                                     "InvalidToken"))
        from services.stepfunctions.recovery import recover
        recover(self)

    def close(self) -> None:
        self.closed = True
        self.outbox.close()
        self.logs.close()
        self.archive.close()
        for ex in self.running.values():
            for task in ex.calls.values():
                task.cancel()

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    # -- definitions ----------------------------------------------------------------
    def store_definition(self, text: str) -> str:
        import hashlib
        did = hashlib.sha256(text.encode()).hexdigest()[:40]
        if self.store.get(KIND_DEF, did) is None:
            self.store.put(KIND_DEF, did, {"text": text})
        return did

    def definition(self, did: str, express: bool):
        rec = self.store.get(KIND_DEF, did)
        return compile_definition(rec["text"], express=express)

    def definition_text(self, did: str) -> str:
        return self.store.get(KIND_DEF, did)["text"]

    # -- starting -------------------------------------------------------------------
    def start(self, rec: dict, mock_case=None) -> Execution:
        """Create and schedule a new execution from its (filled-in) record."""
        express = rec["type"] == "EXPRESS"
        definition = self.definition(rec["def"], express)
        rec.setdefault("ev", 0)
        rec.setdefault("tid", 0)
        ex = Execution(self, rec, definition)
        ex.mock_case = mock_case
        self.running[ex.arn] = ex
        if rec.get("maprun"):
            pass                                # listed by its Map Run; Express children have records too
        elif express:
            if not rec.get("sync"):
                self.store.put(KIND_XSTART, ex.arn, rec)
        else:
            self.by_sm.setdefault(rec["sm"], {})[ex.arn] = None
        self.tracing.started(ex)
        ex.emit(None, "ExecutionStarted", self._started_details(rec), prev=0)
        root = ex.new_thread(None, None, definition.root.start_at, ex.input_value, 0)
        ex.save()
        timeout = definition.root.timeout_seconds
        if timeout:
            self.set_timer(ex, root, "exec", rec["start"] + timeout * 1000)
        telemetry.metric("AWS/States", "ExecutionsStarted", {"StateMachineArn": rec["sm"]}, 1,
                         account=rec["account"], region=rec["region"])
        ex.make_ready(root)
        return ex

    @staticmethod
    def _started_details(rec: dict) -> dict:
        d = {"input": rec["input"], "inputDetails": {"truncated": False}, "roleArn": rec["role"]}
        if rec.get("ver"):
            d["stateMachineVersionArn"] = rec["ver"]
        if rec.get("alias"):
            d["stateMachineAliasArn"] = rec["alias"]
        return d

    # -- run queue ------------------------------------------------------------------
    def schedule(self, ex: Execution) -> None:
        if not ex.queued:
            ex.queued = True
            self.runq.append(ex)
        if not self._run_scheduled and not self.closed:
            self._run_scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def schedule_pump(self) -> None:
        """Map Runs have children to start: do it from the run loop (with its budget)."""
        self._pump = True
        if not self._run_scheduled and not self.closed:
            self._run_scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._run_scheduled = False
        if self._pump and not self.closed:
            self._pump = False
            self.mapruns.pump()
        budget = STEP_BUDGET
        while self.runq and budget > 0 and not self.closed:
            ex = self.runq.popleft()
            ex.queued = False
            n = 0
            while ex.ready and ex.status == RUNNING and n < 1000 and budget > 0:
                t = ex.threads.get(ex.ready.popleft())
                if t is None:
                    continue
                try:
                    interpreter.step(ex, t)
                except Exception:
                    log.exception("event=sfn_step_failed execution=%s state=%s", ex.arn, t.get("st"))
                    ex.fail(t, E.RUNTIME, "An internal error occurred while executing the state "
                                          f"'{t.get('st')}'.")
                n += 1
                budget -= 1
            if ex.ready and ex.status == RUNNING:
                self.schedule(ex)
            elif ex.status == RUNNING:
                ex.save()
        if self.runq and not self._run_scheduled:
            self._run_scheduled = True
            asyncio.get_running_loop().call_soon(self._run)
        self.part.flush_soon()

    # -- timers ---------------------------------------------------------------------
    @staticmethod
    def _timer_id(ex: Execution, t: dict, purpose: str) -> str:
        return f"sfn|{ex.arn}|{t['id']}|{purpose}"

    def set_timer(self, ex: Execution, t: dict, purpose: str, due_ms: int) -> None:
        data = {"x": ex.arn, "t": t["id"], "k": purpose, "n": (t.get("task") or {}).get("n", 0)}
        if ex.express:
            asyncio.get_running_loop().call_later(max(0.0, (due_ms - self.now_ms()) / 1000.0),
                                                  self._on_timer, None, data)
            return
        self.timers.schedule(self._timer_id(ex, t, purpose), due_ms, TIMER_KIND, data)

    def cancel_timer(self, ex: Execution, t: dict, purpose: str) -> None:
        if not ex.express:
            self.timers.cancel(self._timer_id(ex, t, purpose))

    def _on_timer(self, _timer_id, data) -> None:
        if self.closed:
            return
        ex = self.running.get(data["x"])
        if ex is None or ex.status != RUNNING:
            return
        purpose = data["k"]
        if purpose == "exec":
            ex.time_out()
            self.part.flush_soon()
            return
        t = ex.threads.get(data["t"])
        if t is None:
            return
        if purpose == "wait" and t["ph"] == "wait":
            interpreter.wait_done(ex, t)
        elif purpose == "retry" and t["ph"] == "retry":
            t["ph"] = "run"
            ex.save_thread(t)
            ex.make_ready(t)
        elif purpose in ("timeout", "heartbeat") and t["ph"] == "task" and \
                (t.get("task") or {}).get("n", 0) == data.get("n", 0):
            tasks.timed_out(ex, t, interpreter.state_of(ex, t), heartbeat=purpose == "heartbeat")
        else:
            return
        ex.save()
        self.part.flush_soon()

    # -- tokens, calls and releasing a thread's resources -------------------------------
    def new_token(self, ex: Execution, t: dict) -> str:
        tok = encode_token(ex.arn, t["id"], t.get("retries", 0))
        self.tokens[tok] = (ex.arn, t["id"])
        return tok

    def release_thread(self, ex: Execution, t: dict) -> None:
        run = (t.get("kids") or {}).get("run")
        if run is not None:
            self.mapruns.abort(run)             # a distributed Map going away takes its Map Run along
        task = t.get("task")
        if task:
            tok = task.get("tok")
            if tok:
                self.tokens.pop(tok, None)
            stok = task.get("stok")
            if stok:
                self.tokens.pop(stok, None)
        call = ex.calls.pop(t["id"], None)
        if call is not None:
            call.cancel()
        for purpose in ("timeout", "heartbeat", "wait", "retry"):
            self.cancel_timer(ex, t, purpose)

    def _spawn(self, ex: Execution, t: dict, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        ex.calls[t["id"]] = task

    def _current(self, ex: Execution, t: dict, attempt: int):
        """The thread still waits on the same attempt (not stopped, timed out or retried meanwhile)."""
        if self.closed or ex.status != RUNNING or ex.threads.get(t["id"]) is not t or t["ph"] != "task":
            return False
        return (t.get("task") or {}).get("n", -1) == attempt

    def start_call(self, ex: Execution, t: dict, st) -> None:
        from services.stepfunctions import integrations, mocks
        task = t["task"]
        attempt = task["n"]
        res = st.resource
        parent = None
        if res.pattern in (SYNC, SYNC2):
            stok = task.get("stok") or self.new_token(ex, t)
            task["stok"] = stok
            self.tokens[stok] = (ex.arn, t["id"])
            parent = {"token": stok, "key": arns.parse(ex.arn).key}
            ex.save_thread(t)
        trace = self.tracing.header_for(ex, t)

        async def go():
            try:
                mocked = mocks.response_for(ex, st, attempt)
                if mocked is not None:
                    result = mocks.apply(mocked)
                else:
                    result = await integrations.invoke(self, ex, res, task["params"], task_token=task.get("tok"),
                                                       parent=parent, trace=trace, credentials=task.get("cred"))
                ok, value = True, result
            except StatesError as err:
                ok, value = False, err
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("event=sfn_integration_failed execution=%s state=%s", ex.arn, st.name)
                ok, value = False, StatesError(E.TASK_FAILED, f"{type(exc).__name__}: {exc}", task=True)
            ex.calls.pop(t["id"], None)
            if not self._current(ex, t, attempt):
                return
            if ok:
                tasks.call_returned(ex, t, st, value)
                task_now = t.get("task") or {}
                done = task_now.pop("early", None)
                if done is not None:
                    self._child_finished(ex, t, st, done)
                early = task_now.pop("early_out", None)
                if early is not None and t["ph"] == "task":
                    self._outcome(ex, t, st, *early)
            else:
                tasks.failed(ex, t, st, value)
            ex.save()
            self.part.flush_soon()
        self._spawn(ex, t, go())

    # -- activities (the execution's side) ------------------------------------------------
    def schedule_activity(self, ex: Execution, t: dict, st) -> None:
        task = t["task"]
        res = st.resource
        a = arns.parse(res.arn)
        args = {"k": a.key, "arn": res.arn, "token": task["tok"], "input": to_json(task["params"]),
                "exec": ex.arn, "hb": task["hb"], "to": task["to"]}
        attempt = task["n"]

        async def go():
            from services.stepfunctions import mocks
            try:
                if mocks.response_for(ex, interpreter.state_of(ex, t), attempt) is not None:
                    ok, code = True, None
                else:
                    await self.part.call(a.key, "sfn.ActivityEnqueue", args)
                    ok, code = True, None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                ok, code = False, getattr(exc, "code", "InternalFailure")
            ex.calls.pop(t["id"], None)
            if not self._current(ex, t, attempt):
                return
            if ok:
                tasks.activity_scheduled(ex, t, st)
                mocked = mocks.response_for(ex, st, attempt)
                if mocked is not None:
                    try:
                        tasks.activity_started(ex, t, st, None)
                        tasks.succeeded(ex, t, st, mocks.apply(mocked))
                    except StatesError as err:
                        tasks.failed(ex, t, st, err)
            elif code == "ActivityDoesNotExist":
                tasks.schedule_failed(ex, t, st, E.runtime_error(f"The activity {res.arn} does not exist."))
            else:
                tasks.schedule_failed(ex, t, st, StatesError(E.TASK_FAILED, f"The activity {res.arn} could not be "
                                                             f"scheduled: {code}", task=True))
            ex.save()
            self.part.flush_soon()
        self._spawn(ex, t, go())

    def _by_token(self, token: str):
        ref = self.tokens.get(token)
        if ref is None:
            return None, None
        ex = self.running.get(ref[0])
        t = ex.threads.get(ref[1]) if ex is not None else None
        if t is None or t["ph"] != "task":
            return None, None
        task = t.get("task") or {}
        if token not in (task.get("tok"), task.get("stok")):
            return None, None
        return ex, t

    def task_outcome(self, token: str, kind: str, output=None, error=None, cause=None) -> None:
        """SendTaskSuccess/Failure/Heartbeat; raises TaskTimedOut when no such live task."""
        from services.stepfunctions.errors import task_timed_out
        ex, t = self._by_token(token)
        if ex is None:
            raise task_timed_out()
        st = interpreter.state_of(ex, t)
        task = t["task"]
        if kind == "heartbeat":
            if task["hb"] is not None:
                self.set_timer(ex, t, "heartbeat", self.now_ms() + task["hb"] * 1000)
            return
        if task.get("stage") == "scheduling" and st.resource.kind == "activity":
            task["early_out"] = [kind, output, error, cause]      # applied once ActivityScheduled is recorded
            ex.save_thread(t)
            return
        if task.get("stage") == "started" and st.resource.kind != "activity" and t["id"] in ex.calls:
            # the worker answered before the integration call that handed it the token came back:
            # TaskSubmitted comes first, then this outcome
            task["early_out"] = [kind, output, error, cause]
            ex.save_thread(t)
            return
        self._outcome(ex, t, st, kind, output, error, cause)

    def _outcome(self, ex: Execution, t: dict, st, kind: str, output, error, cause) -> None:
        if kind == "success":
            tasks.succeeded(ex, t, st, output)
        else:
            tasks.failed(ex, t, st, StatesError(error, cause))
        ex.save()

    def activity_started(self, token: str, worker: str | None) -> None:
        ex, t = self._by_token(token)
        if ex is None:
            return
        tasks.activity_started(ex, t, interpreter.state_of(ex, t), worker)
        ex.save()

    # -- nested executions (.sync) ------------------------------------------------------
    def child_done(self, token: str, summary: dict) -> None:
        ex, t = self._by_token(token)
        if ex is None:
            return
        st = interpreter.state_of(ex, t)
        if t["task"].get("stage") != "submitted":
            t["task"]["early"] = summary        # the child beat StartExecution's reply back
            ex.save_thread(t)
            return
        self._child_finished(ex, t, st, summary)
        ex.save()

    def _child_finished(self, ex: Execution, t: dict, st, s: dict) -> None:
        v2 = st.resource.pattern == SYNC2
        out = {"ExecutionArn": s["arn"], "Input": from_json(s["input"]) if v2 else s["input"],
               "InputDetails": {"Included": True}, "Name": s["name"], "StartDate": s["start"],
               "StateMachineArn": s["sm"], "Status": s["status"], "StopDate": s["stop"]}
        if s["status"] == SUCCEEDED:
            out["Output"] = from_json(s["output"]) if v2 else s["output"]
            out["OutputDetails"] = {"Included": True}
            tasks.succeeded(ex, t, st, dict(sorted(out.items())))
            return
        if s.get("error") is not None:
            out["Error"] = s["error"]
        if s.get("cause") is not None:
            out["Cause"] = s["cause"]
        tasks.failed(ex, t, st, StatesError(E.TASK_FAILED, to_json(dict(sorted(out.items())))))

    # -- ending ----------------------------------------------------------------------------
    def finished(self, ex: Execution) -> None:
        rec = ex.rec
        self.running.pop(ex.arn, None)
        if ex.threads:
            for t in list(ex.threads.values()):
                self.release_thread(ex, t)
        for fut in ex.waiters:
            if not fut.done():
                fut.set_result(rec)
        ex.waiters.clear()
        telemetry.metric("AWS/States", _METRIC_END[rec["status"]], {"StateMachineArn": rec["sm"]}, 1,
                         account=rec["account"], region=rec["region"])
        telemetry.metric("AWS/States", "ExecutionTime", {"StateMachineArn": rec["sm"]},
                         rec["stop"] - rec["start"], "Milliseconds", account=rec["account"], region=rec["region"])
        self.tracing.finished(ex)
        if ex.express:
            self.store.delete(KIND_XSTART, ex.arn)
            self.express_done.append((ex.arn, rec, ex.events))
        if not ex.express or rec.get("maprun"):
            self.archive.closed_execution(rec)
        elif rec.get("runs"):
            for run in rec["runs"]:             # Express keeps nothing: its Map Runs go with it
                self.mapruns.expire(run)
        if rec.get("maprun"):
            self.mapruns.child_finished(rec)
        parent = rec.get("parent")
        if parent:
            summary = {k: rec.get(k2) for k, k2 in (("arn", "arn"), ("input", "input"), ("name", "name"),
                                                   ("start", "start"), ("sm", "sm"), ("status", "status"),
                                                   ("stop", "stop"), ("output", "output"), ("error", "error"),
                                                   ("cause", "cause"))}
            self.outbox.send(parent["key"], "sfn.ChildDone", {"k": parent["key"], "token": parent["token"],
                                                              "summary": summary})

    def forget(self, rec: dict) -> None:
        """An expired execution leaves the indexes."""
        runs = self.by_sm.get(rec["sm"])
        if runs is not None:
            runs.pop(rec["arn"], None)
            if not runs:
                del self.by_sm[rec["sm"]]
        if rec.get("maprun"):
            kids = self.mapruns.by_run.get(rec["maprun"])
            if kids is not None and rec["arn"] in kids:
                kids.remove(rec["arn"])
