"""X-Ray tracing of executions (a machine's ``tracingConfiguration.enabled``).

An execution of a traced machine joins the caller's trace (the
``X-Amzn-Trace-Id`` of StartExecution, or its ``traceHeader``) or starts a
new one, and records through the X-Ray service's path (broker/runtime
telemetry.segment, shipped to the account's X-Ray partition):

- one segment for the execution (``origin`` AWS::StepFunctions::StateMachine,
  named after the machine), sent in progress when the execution starts and
  complete when it stops;
- one subsegment per state visit (entered to exited, ``error`` when the state
  failed), child of the execution's segment.

Task states pass ``Root=…;Parent=<the task's subsegment>;Sampled=1`` to the
services they call, so their own segments (services/xray/record.py
observe_internal) hang under the task; Map Run children and nested
executions continue the same trace. ``Sampled=0`` in the incoming header
turns recording off, as with X-Ray's SDKs.
"""

from __future__ import annotations

import os
import time

from broker.runtime import telemetry


def parse_header(value: str | None) -> dict:
    from services.xray.record import parse_header as parse
    return parse(value)


def new_trace_id() -> str:
    return f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def new_id() -> str:
    return os.urandom(8).hex()


def header(root: str, parent: str | None) -> str:
    return f"Root={root};Parent={parent};Sampled=1" if parent else f"Root={root};Sampled=1"


class Tracing:
    def __init__(self, engine):
        self.engine = engine

    # -- the execution's segment -------------------------------------------------------
    def started(self, ex, redriven: bool = False) -> None:
        """A traced execution (new or redriven) joins its caller's trace or starts one."""
        rec = ex.rec
        if not rec.get("xr"):
            return
        xray = rec.get("xray")
        if xray is not None and redriven:
            xray["seg"] = new_id()              # the redrive is a segment of its own in the same trace
        elif xray is None:
            incoming = parse_header(rec.get("trace"))
            if incoming.get("Sampled") == "0":
                return
            root = incoming.get("Root") or new_trace_id()
            xray = rec["xray"] = {"root": root, "seg": new_id(), "parent": incoming.get("Parent")}
            if not incoming:
                rec["trace"] = header(root, None)
        self._segment(ex, in_progress=True)

    def resumed(self, ex) -> None:
        pass                                    # ids live in the records; nothing to rebuild

    def cut_short(self, ex) -> None:
        """The execution stops: states still open end with it."""
        for t in ex.threads.values():
            self._close(ex, t, error=ex.rec["status"] != "SUCCEEDED")

    def finished(self, ex) -> None:
        if ex.rec.get("xray"):
            self._segment(ex, in_progress=False)

    def _segment(self, ex, in_progress: bool) -> None:
        rec = ex.rec
        xray = rec["xray"]
        doc = {"name": rec["sm_name"], "id": xray["seg"], "trace_id": xray["root"],
               "start_time": (rec.get("redrive_date") or rec["start"]) / 1000.0,
               "origin": "AWS::StepFunctions::StateMachine",
               "aws": {"execution_arn": rec["arn"], "state_machine_arn": rec["sm"], "region": rec["region"],
                       "account_id": rec["account"], "redrive_count": rec.get("redrive", 0)}}
        if xray.get("parent"):
            doc["parent_id"] = xray["parent"]
        if in_progress:
            doc["in_progress"] = True
        else:
            doc["end_time"] = rec["stop"] / 1000.0
            if rec["status"] != "SUCCEEDED":
                doc["error"] = True
                if rec.get("error"):
                    doc["cause"] = {"exceptions": [{"id": new_id(), "type": rec["error"],
                                                    "message": rec.get("cause") or ""}]}
        telemetry.segment(doc, account=rec["account"], region=rec["region"])

    # -- states ------------------------------------------------------------------------------
    def on_event(self, ex, t: dict, etype: str) -> None:
        """Execution.emit calls this for traced executions: states open and close subsegments."""
        if etype.endswith("StateEntered"):
            t["xs"] = [new_id(), time.time(), 0]
        elif etype.endswith("StateExited"):
            self._close(ex, t, error=False)
        elif etype.endswith(("Failed", "TimedOut")) and t.get("xs"):
            t["xs"][2] = 1

    def _close(self, ex, t: dict, error: bool) -> None:
        xs = t.pop("xs", None)
        if not xs:
            return
        xray = ex.rec["xray"]
        doc = {"type": "subsegment", "name": t["st"], "id": xs[0], "parent_id": xray["seg"],
               "trace_id": xray["root"], "start_time": xs[1], "end_time": time.time(),
               "aws": {"execution_arn": ex.arn, "state_name": t["st"]}}
        if error or xs[2]:
            doc["error"] = True
        telemetry.segment(doc, account=ex.rec["account"], region=ex.rec["region"])

    # -- propagation ---------------------------------------------------------------------------
    def header_for(self, ex, t: dict) -> str | None:
        """The trace header a task passes to the service it calls."""
        xray = ex.rec.get("xray")
        if not xray:
            return ex.rec.get("trace")
        xs = t.get("xs")
        return header(xray["root"], xs[0] if xs else xray["seg"])

    def child_header(self, parent, run: dict) -> str | None:
        """The trace header of a Map Run child: under the parent's Map state."""
        xray = parent.rec.get("xray")
        if not xray:
            return parent.rec.get("trace")
        t = parent.threads.get(run["tid"]) or {}
        xs = t.get("xs")
        return header(xray["root"], xs[0] if xs else xray["seg"])
