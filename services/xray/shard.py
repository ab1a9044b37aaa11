"""X-Ray shard half: the segments of the namespaces (account + region) whose
partition this is, kept 30 days in the side database (sealed), and the
reads built on them: trace summaries, traces, service graphs."""

from __future__ import annotations

import json
import time

from services.cloudwatch.sidestore import SideStore
from services.xray import traces

RETENTION = 30 * 86400
SWEEP_INTERVAL = 600.0
DDL = """
CREATE TABLE IF NOT EXISTS segments (acct TEXT, region TEXT, trace TEXT, id TEXT, start REAL, v BLOB,
                                     PRIMARY KEY (acct, region, trace, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS segments_start ON segments (acct, region, start);
"""


class XRayShard:
    def __init__(self, part):
        self.part = part
        self.side = SideStore(part, "xray", DDL, ("segments",))
        self.side.every(60, SWEEP_INTERVAL, self._sweep)

    def close(self) -> None:
        self.side.close()

    def _sweep(self) -> None:
        self.side.write("DELETE FROM segments WHERE start<?", (time.time() - RETENTION,))

    def _aad(self, acct, region, trace, sid) -> bytes:
        return f"{acct}/{region}/{trace}/{sid}".encode()

    def op_Put(self, args):
        acct, region = args["a"], args["r"]
        rows = []
        for doc in args["segments"]:
            rows.append((acct, region, doc["trace_id"], doc["id"], float(doc.get("start_time") or 0),
                         self.side.seal(json.dumps(doc, separators=(",", ":")).encode(),
                                        self._aad(acct, region, doc["trace_id"], doc["id"]))))
        self.side.write_many("INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?,?)", rows)
        return self.side.answer({}) if args.get("wait") else None

    def _trace(self, acct, region, trace_id) -> list[dict]:
        return [json.loads(self.side.open(v, self._aad(acct, region, trace_id, sid)))
                for sid, v in self.side.read("SELECT id, v FROM segments WHERE acct=? AND region=? AND trace=?",
                                             (acct, region, trace_id))]

    def _traces_between(self, acct, region, start, end) -> dict[str, list[dict]]:
        ids = [r[0] for r in self.side.read(
            "SELECT DISTINCT trace FROM segments WHERE acct=? AND region=? AND start>=? AND start<=?",
            (acct, region, start, end))]
        return {tid: self._trace(acct, region, tid) for tid in ids}

    def op_Handle(self, args):
        a, r, op, p = args["a"], args["r"], args["op"], args["params"]
        if op == "BatchGetTraces":
            out, missing = [], []
            for tid in p["TraceIds"]:
                segs = self._trace(a, r, tid)
                if segs:
                    out.append(traces.trace(tid, segs))
                else:
                    missing.append(tid)
            return {"Traces": out, "UnprocessedTraceIds": missing}
        if op == "GetTraceSummaries":
            found = self._traces_between(a, r, p["StartTime"], p["EndTime"])
            return traces.summaries(found, p.get("FilterExpression"), a)
        if op == "GetServiceGraph":
            found = self._traces_between(a, r, p["StartTime"], p["EndTime"])
            return {"StartTime": p["StartTime"], "EndTime": p["EndTime"],
                    "Services": traces.service_graph(found, a), "ContainsOldGroupVersions": False}
        if op == "GetTraceGraph":
            found = {tid: self._trace(a, r, tid) for tid in p["TraceIds"]}
            return {"Services": traces.service_graph(found, a)}
        return {}
