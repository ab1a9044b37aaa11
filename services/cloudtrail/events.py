"""Stored management events of one partition's accounts, and LookupEvents.

Events live 90 days (as LookupEvents shows them at AWS) in the side
database, sealed; the columns LookupEvents filters on are stored beside
each sealed record.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone

from services.cloudtrail.api import err

RETENTION = 90 * 86400
DEFAULT_RESULTS = 50

EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events (acct TEXT, region TEXT, ts REAL, id TEXT, name TEXT, source TEXT, user TEXT,
                                   akid TEXT, ro TEXT, v BLOB, PRIMARY KEY (acct, region, ts, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_age ON events (ts);
"""
_COLUMNS = {"EventId": "id", "EventName": "name", "EventSource": "source", "Username": "user",
            "AccessKeyId": "akid", "ReadOnly": "ro"}


def event_time(event: dict) -> float:
    try:
        return datetime.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except (KeyError, ValueError):
        return time.time()


def username(event: dict) -> str:
    ident = event.get("userIdentity") or {}
    if ident.get("type") == "Root":
        return "root"
    return ident.get("userName") or ident.get("principalId", "")


class EventStore:
    def __init__(self, side):
        self.side = side

    def add(self, events: list[dict]) -> None:
        rows = []
        for e in events:
            ts = event_time(e)
            aad = f"{e['recipientAccountId']}/{e['eventID']}".encode()
            rows.append((e["recipientAccountId"], e.get("awsRegion", ""), ts, e["eventID"], e["eventName"],
                         e["eventSource"], username(e), (e.get("userIdentity") or {}).get("accessKeyId", ""),
                         "true" if e.get("readOnly") else "false",
                         self.side.seal(json.dumps(e, separators=(",", ":")).encode(), aad)))
        if rows:
            self.side.write_many("INSERT OR REPLACE INTO events VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def sweep(self, now: float) -> None:
        self.side.write("DELETE FROM events WHERE ts<?", (now - RETENTION,))

    def lookup(self, account: str, region: str, p: dict, now: float) -> dict:
        if p.get("EventCategory") == "insight":
            return {"Events": []}
        start = p.get("StartTime") if p.get("StartTime") is not None else now - RETENTION
        end = p.get("EndTime") if p.get("EndTime") is not None else now + 1
        sql = "SELECT ts, id, v FROM events WHERE acct=? AND region=? AND ts>=? AND ts<=?"
        args: list = [account, region, start, end]
        attr = (p.get("LookupAttributes") or [None])[0]
        post = None
        if attr is not None:
            col = _COLUMNS.get(attr["AttributeKey"])
            if col is not None:
                sql += f" AND {col}=?"
                args.append(attr["AttributeValue"])
            else:
                post = attr
        if p.get("NextToken"):
            ts, eid = _untoken(p["NextToken"])
            sql += " AND (ts<? OR (ts=? AND id<?))"
            args += [ts, ts, eid]
        sql += " ORDER BY ts DESC, id DESC"
        limit = p.get("MaxResults") or DEFAULT_RESULTS
        out, last, more = [], None, False
        for ts, eid, blob in self.side.read(sql, args):
            event = json.loads(self.side.open(blob, f"{account}/{eid}".encode()))
            res = [{"ResourceType": r.get("type"), "ResourceName": r.get("ARN")} for r in event.get("resources") or []]
            if post is not None and not any(
                    (r["ResourceType"] if post["AttributeKey"] == "ResourceType" else r["ResourceName"])
                    == post["AttributeValue"] for r in res):
                continue
            if len(out) == limit:
                more = True
                break
            item = {"EventId": eid, "EventName": event["eventName"], "ReadOnly": "true" if event.get("readOnly")
                    else "false", "EventTime": ts, "EventSource": event["eventSource"],
                    "Username": username(event), "Resources": res,
                    "CloudTrailEvent": json.dumps(event, separators=(",", ":"))}
            akid = (event.get("userIdentity") or {}).get("accessKeyId")
            if akid:
                item["AccessKeyId"] = akid
            out.append(item)
            last = (ts, eid)
        result: dict = {"Events": out}
        if more and last is not None:
            result["NextToken"] = base64.urlsafe_b64encode(json.dumps(last).encode()).decode()
        return result


def _untoken(token: str):
    try:
        ts, eid = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(ts), str(eid)
    except (ValueError, TypeError):
        raise err("InvalidNextTokenException", "Invalid NextToken") from None
