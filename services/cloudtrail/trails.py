"""Trails: configuration, logging status, event selectors, and log files.

A logging trail collects the events its selectors select (management events
of its region, or of every region for a multi-Region trail, and data events
when selected) in the side database, and every delivery interval writes them
as one gzipped file per region under ``<data_dir>/s3/<bucket>/[<prefix>/]
AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` named
``<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz`` with
AWS's ``{"Records": [...]}`` content: the local stand-in for the S3 bucket.
A file's name derives from its first event, so a delivery interrupted by a
crash rewrites the same file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from broker.runtime import sinks
from services.cloudtrail.api import err
from services.cloudtrail.selectors import (
    DEFAULT_SELECTORS, GLOBAL_KEY, compile_advanced, compile_basic, selects, selects_data,
)

log = logging.getLogger("broker.cloudtrail")

KIND_TRAIL = "ct.trail"
MAX_TRAILS_PER_REGION = 5
PENDING_DDL = """
CREATE TABLE IF NOT EXISTS pending (trail TEXT, region TEXT, seq INTEGER, v BLOB,
                                    PRIMARY KEY (trail, region, seq)) WITHOUT ROWID;
"""
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def trail_arn(account, region, name) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


def _key(account, region, name) -> str:
    return f"{account}/{region}/{name}"


def compiled(trail: dict) -> list:
    sel = trail.get("selectors") or {}
    if "advanced" in sel:
        return compile_advanced(sel["advanced"])
    return compile_basic(sel.get("basic", DEFAULT_SELECTORS))


class Trails:
    def __init__(self, part, side, data_dir: str | None):
        self.part = part
        self.store = part.store
        self.side = side
        self.root = Path(data_dir) / "s3" if data_dir else None
        self.trails: dict[str, dict] = dict(self.store.scan(KIND_TRAIL))
        self._compiled: dict[str, list] = {k: compiled(t) for k, t in self.trails.items()}
        row = side.read("SELECT MAX(seq) FROM pending")
        self.seq = (row[0][0] or 0) if row else 0

    # -- lookup -------------------------------------------------------------------------
    def find(self, account, region, name_or_arn: str) -> dict:
        if name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":", 5)
            if len(parts) == 6 and parts[5].startswith("trail/"):
                t = self.trails.get(_key(parts[4], parts[3], parts[5][6:]))
                if t is not None and parts[4] == account:
                    return t
            raise err("TrailNotFoundException", f"Unknown trail: {name_or_arn} for the user: {account}")
        t = self.trails.get(_key(account, region, name_or_arn))
        if t is None:
            for cand in self.trails.values():
                if cand["account"] == account and cand["name"] == name_or_arn and cand["multi"]:
                    return cand
            raise err("TrailNotFoundException",
                      f"Unknown trail: {trail_arn(account, region, name_or_arn)} for the user: {account}")
        return t

    def visible(self, account, region, shadows: bool = True) -> list[dict]:
        return sorted((t for t in self.trails.values() if t["account"] == account and
                       (t["home"] == region or (shadows and t["multi"]))), key=lambda t: t["name"])

    # -- configuration ------------------------------------------------------------------
    def create(self, account, region, p: dict, now: float) -> dict:
        name = p["Name"]
        key = _key(account, region, name)
        if key in self.trails:
            raise err("TrailAlreadyExistsException", f"Trail {name} already exists for customer: {account}")
        if len([t for t in self.trails.values() if t["account"] == account and t["home"] == region]) \
                >= MAX_TRAILS_PER_REGION:
            raise err("MaximumNumberOfTrailsExceededException",
                      f"User: {account} already has {MAX_TRAILS_PER_REGION} trails in {region}.")
        t = {"name": name, "account": account, "home": region, "logging": False, "created": now,
             "selectors": {"basic": DEFAULT_SELECTORS}, "custom": False,
             "tags": {x["Key"]: x.get("Value", "") for x in p.get("TagsList") or []}}
        self._configure(t, p, creating=True)
        self._save(key, t)
        return self.summary(t)

    def update(self, account, region, p: dict) -> dict:
        t = self.find(account, region, p["Name"])
        if t["home"] != region:
            raise err("InvalidHomeRegionException", "This operation must be called from the trail's home region "
                      f"{t['home']}.")
        self._configure(t, p, creating=False)
        self._save(_key(account, t["home"], t["name"]), t)
        return self.summary(t)

    @staticmethod
    def _configure(t: dict, p: dict, creating: bool) -> None:
        fields = {"S3BucketName": "bucket", "S3KeyPrefix": "prefix", "SnsTopicName": "sns",
                  "IncludeGlobalServiceEvents": "global", "IsMultiRegionTrail": "multi",
                  "EnableLogFileValidation": "validation", "CloudWatchLogsLogGroupArn": "cw_group",
                  "CloudWatchLogsRoleArn": "cw_role", "KmsKeyId": "kms"}
        defaults = {"global": True, "multi": False, "validation": False}
        for src, dst in fields.items():
            if p.get(src) is not None:
                t[dst] = p[src]
            elif creating and dst in defaults:
                t[dst] = defaults[dst]
        if t.get("multi") and not t.get("global", True):
            raise err("InvalidParameterCombinationException",
                      "Multi-Region trail must include global service events.")

    def delete(self, account, region, name: str) -> None:
        t = self.find(account, region, name)
        if t["home"] != region:
            raise err("InvalidHomeRegionException", "This operation must be called from the trail's home region "
                      f"{t['home']}.")
        key = _key(account, t["home"], t["name"])
        del self.trails[key]
        self._compiled.pop(key, None)
        self.store.delete(KIND_TRAIL, key)
        self.side.write("DELETE FROM pending WHERE trail=?", (key,))
        self.publish(account)

    def set_logging(self, account, region, name: str, on: bool, now: float) -> None:
        t = self.find(account, region, name)
        if t["logging"] != on:
            t["logging"] = on
            t["started" if on else "stopped"] = now
            self._save(_key(account, t["home"], t["name"]), t)

    def put_selectors(self, account, region, p: dict) -> dict:
        t = self.find(account, region, p["TrailName"])
        if p.get("AdvancedEventSelectors") is not None:
            for s in p["AdvancedEventSelectors"]:
                for f in s.get("FieldSelectors") or []:
                    if f["Field"] == "eventCategory" and not set(f.get("Equals") or []) <= {"Management", "Data"}:
                        raise err("InvalidEventSelectorsException",
                                  "Invalid value for eventCategory field selector.")
            t["selectors"] = {"advanced": p["AdvancedEventSelectors"]}
        else:
            if len(p["EventSelectors"]) > 5:
                raise err("InvalidEventSelectorsException", "You can specify up to 5 event selectors per trail.")
            sels = []
            for s in p["EventSelectors"]:
                sels.append({"ReadWriteType": s.get("ReadWriteType", "All"),
                             "IncludeManagementEvents": s.get("IncludeManagementEvents", True),
                             "DataResources": s.get("DataResources") or [],
                             "ExcludeManagementEventSources": s.get("ExcludeManagementEventSources") or []})
            t["selectors"] = {"basic": sels}
        t["custom"] = True
        self._save(_key(account, t["home"], t["name"]), t)
        return {"TrailARN": trail_arn(account, t["home"], t["name"]), **self.selectors_out(t)}

    @staticmethod
    def selectors_out(t: dict) -> dict:
        sel = t.get("selectors") or {}
        if "advanced" in sel:
            return {"AdvancedEventSelectors": sel["advanced"]}
        return {"EventSelectors": sel.get("basic", DEFAULT_SELECTORS)}

    def _save(self, key: str, t: dict) -> None:
        self.trails[key] = t
        self._compiled[key] = compiled(t)
        self.store.put(KIND_TRAIL, key, t)
        self.publish(t["account"])

    def publish(self, account: str) -> None:
        """Hand the account's data-event selectors to the gateways' read copy (durable, in order)."""
        data = [self._compiled[k] for k, t in self.trails.items()
                if t["account"] == account and t["logging"] and selects_data(self._compiled[k])]
        sinks.deliveries(self.part).submit(
            "call", {"key": GLOBAL_KEY, "op": "cloudtrail.SetDataSelectors"}, {"account": account, "trails": data},
            order=f"cloudtrail-selectors/{account}")

    # -- output shapes -----------------------------------------------------------------
    def summary(self, t: dict) -> dict:
        out = {"Name": t["name"], "S3BucketName": t["bucket"], "IncludeGlobalServiceEvents": t.get("global", True),
               "IsMultiRegionTrail": t.get("multi", False),
               "TrailARN": trail_arn(t["account"], t["home"], t["name"]),
               "LogFileValidationEnabled": t.get("validation", False), "IsOrganizationTrail": False}
        for src, dst in (("prefix", "S3KeyPrefix"), ("sns", "SnsTopicName"), ("cw_group", "CloudWatchLogsLogGroupArn"),
                         ("cw_role", "CloudWatchLogsRoleArn"), ("kms", "KmsKeyId")):
            if t.get(src):
                out[dst] = t[src]
        if t.get("sns"):
            out["SnsTopicARN"] = f"arn:aws:sns:{t['home']}:{t['account']}:{t['sns']}"
        return out

    def describe(self, t: dict) -> dict:
        return {**self.summary(t), "HomeRegion": t["home"], "HasCustomEventSelectors": t.get("custom", False),
                "HasInsightSelectors": False}

    def status(self, t: dict) -> dict:
        out: dict = {"IsLogging": t["logging"]}
        for src, dst in (("started", "StartLoggingTime"), ("stopped", "StopLoggingTime"),
                         ("delivered", "LatestDeliveryTime"), ("attempted", "LatestDeliveryAttemptTime")):
            if t.get(src):
                out[dst] = t[src]
        if t.get("started"):
            out["TimeLoggingStarted"] = _iso(t["started"])
        if t.get("stopped"):
            out["TimeLoggingStopped"] = _iso(t["stopped"])
        if t.get("delivery_error"):
            out["LatestDeliveryError"] = t["delivery_error"]
        if t.get("attempted"):
            out["LatestDeliveryAttemptSucceeded"] = _iso(t["delivered"]) if t.get("delivered") else ""
        return out

    # -- routing events to trails -------------------------------------------------------
    def route(self, events: list[dict]) -> None:
        rows = []
        for key, t in self.trails.items():
            if not t["logging"]:
                continue
            sel = self._compiled[key]
            for e in events:
                if e.get("recipientAccountId") != t["account"]:
                    continue
                region = e.get("awsRegion", "")
                if region != t["home"] and not t.get("multi"):
                    continue
                if selects(sel, e):
                    self.seq += 1
                    aad = f"{key}/{region}/{self.seq}".encode()
                    rows.append((key, region, self.seq,
                                 self.side.seal(json.dumps(e, separators=(",", ":")).encode(), aad)))
        if rows:
            self.side.write_many("INSERT INTO pending VALUES (?,?,?,?)", rows)

    def deliver(self, now: float) -> None:
        """Write each trail's pending events as log files (one per region)."""
        for key, region in self.side.read("SELECT DISTINCT trail, region FROM pending"):
            t = self.trails.get(key)
            rows = self.side.read("SELECT seq, v FROM pending WHERE trail=? AND region=? ORDER BY seq",
                                  (key, region))
            if t is None or not rows:
                continue
            records = [json.loads(self.side.open(v, f"{key}/{region}/{seq}".encode())) for seq, v in rows]
            t["attempted"] = now
            try:
                self._write_file(t, region, rows[0][0], records)
                t["delivered"] = now
                t.pop("delivery_error", None)
            except OSError as exc:
                t["delivery_error"] = str(exc)
                log.warning("event=trail_delivery_failed trail=%s error=%s", t["name"], exc)
                self.store.put(KIND_TRAIL, key, t)
                continue
            self.side.write("DELETE FROM pending WHERE trail=? AND region=? AND seq<=?", (key, region, rows[-1][0]))
            self.store.put(KIND_TRAIL, key, t)

    def _write_file(self, t: dict, region: str, first_seq: int, records: list[dict]) -> Path:
        if self.root is None:
            raise OSError("no data directory (durability = memory)")
        first = datetime.strptime(records[0]["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        digest = hashlib.sha256(f"{t['account']}/{t['home']}/{t['name']}/{region}/{first_seq}".encode()).digest()
        uid = "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:16])
        acct = t["account"]
        parts = [t["bucket"]] + ([t["prefix"].strip("/")] if t.get("prefix") else []) + \
            ["AWSLogs", acct, "CloudTrail", region, first.strftime("%Y"), first.strftime("%m"), first.strftime("%d")]
        folder = self.root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{acct}_CloudTrail_{region}_{first.strftime('%Y%m%dT%H%MZ')}_{uid}.json.gz"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_s() -> float:
    return time.time()
