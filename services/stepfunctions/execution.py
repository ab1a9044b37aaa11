"""One execution: its record, its threads, its history.

An execution is a tree of *threads*: the root runs the machine's top-level
states; a Parallel branch or a Map iteration runs as a child thread. A
thread is a plain dict persisted as its own store record (``sfn.thr``) each
time it changes, so a restart finds every thread where it was: at a state
to enter, waiting on a task, a timer or its children. Events are numbered
per execution and chained with previousEventId per thread, as AWS does.
Express executions keep threads and events in memory only (a Map Run's
Express children keep their record, for DescribeExecution and
ListExecutions). History chunks that fill up move to the archive.
"""

from __future__ import annotations

import time
from collections import ChainMap, deque
from datetime import datetime, timezone

from services.stepfunctions import history
from services.stepfunctions.asl.jsonpath import from_json, to_json

KIND_EXEC = "sfn.exec"
KIND_THREAD = "sfn.thr"

RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"
PENDING_REDRIVE = "PENDING_REDRIVE"
TERMINAL = (SUCCEEDED, FAILED, TIMED_OUT, ABORTED)


def iso_ms(ms: int) -> str:
    d = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


class Execution:
    def __init__(self, engine, rec: dict, definition, threads: dict | None = None):
        self.engine = engine
        self.rec = rec
        self.arn = rec["arn"]
        self.definition = definition
        self.express = rec["type"] == "EXPRESS"
        self.threads: dict[int, dict] = threads or {}
        self.ready: deque[int] = deque()
        self.queued = False               # in the engine's run queue
        self.events: list[dict] = []      # express: the whole history; standard: the tail chunk
        self.waiters: list = []           # futures resolved when the execution stops
        self.calls: dict[int, object] = {}    # tid -> in-flight asyncio task (integration call)
        self._input = None
        self._input_parsed = False
        self.mock_case = None             # Step Functions Local mock test case (dict) or None
        self._keys: dict[int, str] = {}   # tid -> thread record key
        self._chunk_key = None
        self.texts: dict[int, tuple] = {}  # tid -> (value, its JSON text): a state's output is the next input

    # -- identity -----------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.rec["status"]

    @property
    def account(self) -> str:
        return self.rec["account"]

    @property
    def region(self) -> str:
        return self.rec["region"]

    @property
    def input_value(self):
        if not self._input_parsed:
            self._input = from_json(self.rec["input"])
            self._input_parsed = True
        return self._input

    # -- persistence ----------------------------------------------------------------
    def save(self) -> None:
        if not self.express or "maprun" in self.rec:
            self.engine.store.put(KIND_EXEC, self.arn, self.rec)

    def _thread_key(self, tid: int) -> str:
        key = self._keys.get(tid)
        if key is None:
            key = self._keys[tid] = f"{self.arn}|{tid:08d}"
        return key

    def save_thread(self, t: dict) -> None:
        if not self.express:
            self.engine.store.put(KIND_THREAD, self._thread_key(t["id"]), t)

    def drop_thread(self, t: dict) -> None:
        tid = t["id"]
        self.threads.pop(tid, None)
        self.texts.pop(tid, None)
        if not self.express:
            self.engine.store.delete(KIND_THREAD, self._thread_key(tid))
            self._keys.pop(tid, None)

    def json_text(self, t: dict, value) -> str:
        """JSON text of a thread's value, reusing the text made for the previous event when it is the same value."""
        hit = self.texts.get(t["id"])
        if hit is not None and hit[0] is value:
            return hit[1]
        text = to_json(value)
        self.texts[t["id"]] = (value, text)
        return text

    def new_thread(self, parent: dict | None, prog, state: str, state_input, prev: int, **extra) -> dict:
        tid = self.rec["tid"] = self.rec.get("tid", 0) + 1
        t = {"id": tid, "p": None if parent is None else parent["id"], "prog": prog, "st": state, "ph": "enter",
             "in": state_input, "prev": prev, "ent": 0, "rc": {}, "vars": {}}
        t.update(extra)
        self.threads[tid] = t
        self.save_thread(t)
        return t

    def make_ready(self, t: dict) -> None:
        self.ready.append(t["id"])
        self.engine.schedule(self)

    # -- events ----------------------------------------------------------------------
    def emit(self, t: dict | None, etype: str, details: dict | None = None, *, prev: int | None = None,
             advance: bool = True) -> int:
        """Append an event; previousEventId is the thread's last event unless `prev` is given."""
        rec = self.rec
        eid = rec["ev"] = rec["ev"] + 1
        p = prev if prev is not None else (t["prev"] if t is not None else 0)
        ev = {"id": eid, "previousEventId": p, "timestamp": int(time.time() * 1000), "type": etype}
        if details is not None or etype[:9] == "Execution":
            key = history.details_key(etype)
            if key is not None:
                ev[key] = details or {}
        if t is not None and advance:
            t["prev"] = eid
        if t is not None and "xray" in rec:
            self.engine.tracing.on_event(self, t, etype)
        events = self.events
        events.append(ev)
        if not self.express:
            key = self._chunk_key
            if key is None:
                key = self._chunk_key = history.chunk_key(self.arn, rec.get("chunk", 0))
            self.engine.store.put(history.KIND_HISTORY, key, events)
            if len(events) >= history.CHUNK:
                self.engine.archive.spill(self.arn, [rec.get("chunk", 0)])
                rec["chunk"] = rec.get("chunk", 0) + 1
                self._chunk_key = None
                self.events = []
        if rec.get("log"):
            self.engine.logs.add(self, ev)
        return eid

    def all_events(self) -> list[dict]:
        if self.express:
            return list(self.events)
        return self.engine.archive.events(self.rec)

    # -- context object and variables --------------------------------------------------
    def context(self, t: dict, state=None, token: str | None = None) -> dict:
        rec = self.rec
        ctx = {
            "Execution": {"Id": self.arn, "Input": self.input_value, "StartTime": iso_ms(rec["start"]),
                          "Name": rec["name"], "RoleArn": rec["role"], "RedriveCount": rec.get("redrive", 0)},
            "StateMachine": {"Id": rec["sm"], "Name": rec["sm_name"]},
            "State": {"Name": t["st"], "EnteredTime": iso_ms(t.get("entered", rec["start"])),
                      "RetryCount": t.get("retries", 0)},
        }
        if rec.get("redrive_date"):
            ctx["Execution"]["RedriveTime"] = iso_ms(rec["redrive_date"])
        if token is not None:
            ctx["Task"] = {"Token": token}
        item = t.get("item")
        if item is not None:
            ctx["Map"] = {"Item": {"Index": item[0], "Value": item[1]}}
        return ctx

    def variables(self, t: dict):
        """Variables visible to thread `t`: its own, then each enclosing scope's."""
        maps = []
        cur = t
        while cur is not None:
            maps.append(cur["vars"])
            p = cur.get("p")
            cur = self.threads.get(p) if p is not None else None
        return ChainMap(*maps)

    # -- ending ------------------------------------------------------------------------
    def stop(self, status: str, etype: str, details: dict, *, prev: int, output=None, error=None,
             cause=None) -> None:
        rec = self.rec
        if rec["status"] not in (RUNNING,):
            return
        self.emit(None, etype, details, prev=prev)
        rec["status"] = status
        rec["stop"] = int(time.time() * 1000)
        if output is not None:
            rec["output"] = output
        rec["error"], rec["cause"] = error, cause
        root = next((t for t in self.threads.values() if t["p"] is None), None)
        if status != SUCCEEDED and root is not None and not self.express:
            from services.stepfunctions.redrive import snapshot
            rec["redrive_at"] = snapshot(self, root)    # where RedriveExecution picks up
        if "xray" in rec:
            self.engine.tracing.cut_short(self)
        for t in list(self.threads.values()):
            self.engine.release_thread(self, t)
            self.drop_thread(t)
        self.ready.clear()
        self.save()
        self.engine.finished(self)

    def succeed(self, t: dict, output) -> None:
        text = to_json(output)
        self.stop(SUCCEEDED, "ExecutionSucceeded", {"output": text, "outputDetails": {"truncated": False}},
                  prev=t["prev"], output=text)

    def fail(self, t: dict | None, error: str | None, cause: str | None, *, prev: int | None = None) -> None:
        details = {}
        if error is not None:
            details["error"] = error
        if cause is not None:
            details["cause"] = cause
        self.stop(FAILED, "ExecutionFailed", details, prev=t["prev"] if prev is None else prev, error=error,
                  cause=cause)

    def abort(self, error: str | None, cause: str | None) -> None:
        details = {}
        if error is not None:
            details["error"] = error
        if cause is not None:
            details["cause"] = cause
        self.stop(ABORTED, "ExecutionAborted", details, prev=0, error=error, cause=cause)

    def time_out(self) -> None:
        root = next((t for t in self.threads.values() if t["p"] is None), None)
        self.stop(TIMED_OUT, "ExecutionTimedOut", {"error": "States.Timeout"},
                  prev=root["prev"] if root else 0, error="States.Timeout")
