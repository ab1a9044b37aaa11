"""Log events on disk: one sealed row per PutLogEvents batch and stream.

A batch row carries its stream, sequence number and first/last event
timestamps, so reads select the batches overlapping a time range and
retention deletes whole batches. Events within a stream are ordered by
(timestamp, batch, index); that triple is an event's position, which the
GetLogEvents/FilterLogEvents tokens carry.
"""

from __future__ import annotations

import msgspec

DDL = """
CREATE TABLE IF NOT EXISTS batches (gid INTEGER, sid INTEGER, seq INTEGER, first INTEGER, last INTEGER, n INTEGER,
                                    v BLOB, PRIMARY KEY (gid, sid, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS batches_last ON batches (gid, last);
"""
_enc = msgspec.msgpack.Encoder().encode
_dec = msgspec.msgpack.Decoder().decode


def _aad(gid: int, sid: int, seq: int) -> bytes:
    return b"%d:%d:%d" % (gid, sid, seq)


class LogEvents:
    def __init__(self, side):
        self.side = side

    def append(self, gid: int, sid: int, seq: int, events: list[tuple[int, int, str]]) -> None:
        """events: [(timestamp ms, ingestion ms, message)] sorted by timestamp."""
        self.side.write("INSERT INTO batches VALUES (?,?,?,?,?,?,?)",
                        (gid, sid, seq, events[0][0], events[-1][0], len(events),
                         self.side.seal(_enc(events), _aad(gid, sid, seq))))

    def read(self, gid: int, sids: list[int] | None, start: int | None, end: int | None) -> list[tuple]:
        """[(timestamp, sid, seq, index, ingestion, message)] with start <= timestamp < end, in order."""
        sql = "SELECT sid, seq, v FROM batches WHERE gid=?"
        args: list = [gid]
        if start is not None:
            sql += " AND last>=?"
            args.append(start)
        if end is not None:
            sql += " AND first<?"
            args.append(end)
        if sids is not None:
            if not sids:
                return []
            sql += " AND sid IN (%s)" % ",".join("?" * len(sids))
            args += sids
        out = []
        for sid, seq, blob in self.side.read(sql, args):
            for i, (ts, ingest, msg) in enumerate(_dec(self.side.open(blob, _aad(gid, sid, seq)))):
                if (start is None or ts >= start) and (end is None or ts < end):
                    out.append((ts, sid, seq, i, ingest, msg))
        out.sort()
        return out

    def drop_stream(self, gid: int, sid: int) -> None:
        self.side.write("DELETE FROM batches WHERE gid=? AND sid=?", (gid, sid))

    def drop_group(self, gid: int) -> None:
        self.side.write("DELETE FROM batches WHERE gid=?", (gid,))

    def expire(self, gid: int, before_ms: int) -> None:
        self.side.write("DELETE FROM batches WHERE gid=? AND last<?", (gid, before_ms))
