"""CloudTrail shard half: the trails and events of the accounts whose partition
this is, plus (in one partition) the global copy of data-event selectors
that gateways poll.

Ops: ``cloudtrail.Handle`` (API operations), ``cloudtrail.Record`` (event
batches shipped by every gateway), ``cloudtrail.SetDataSelectors`` /
``cloudtrail.DataSelectors`` (the gateways' read copy).
"""

from __future__ import annotations

import time
import uuid

from broker.runtime import sinks
from services.cloudtrail.events import EVENTS_DDL, EventStore
from services.cloudtrail.trails import PENDING_DDL, Trails
from services.cloudwatch.sidestore import SideStore

KIND_SELECTORS = "ct.dataselectors"
SWEEP_INTERVAL = 600.0
WRITES = {"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging", "PutEventSelectors",
          "AddTags", "RemoveTags"}


SOURCES = {"monitoring": "aws.cloudwatch", "email": "aws.ses", "elasticmapreduce": "aws.emr"}


def eventbridge_source(event_source: str) -> str:
    prefix = event_source.split(".", 1)[0]
    return SOURCES.get(prefix, f"aws.{prefix}")


def _eventbridge_bus_key():
    """EventBridge's bus entity key, when this build has EventBridge."""
    from services.registry import SERVICES
    if not any(s.name == "events" and s.shard for s in SERVICES):
        return None
    from services.events.names import bus_key
    return bus_key


class CloudTrailShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.side = SideStore(part, "cloudtrail", EVENTS_DDL + PENDING_DDL, ("events", "pending"))
        run = getattr(getattr(part, "shard", None), "run", None)
        self.interval = float((run.config if run else {}).get("cloudtrail.delivery_interval", 300.0))
        self.trails = Trails(part, self.side, run.data_dir if run else None)
        self.events = EventStore(self.side)
        self._bus_key = _eventbridge_bus_key()
        self.side.every(self.interval, self.interval, lambda: self.trails.deliver(time.time()))
        self.side.every(30, SWEEP_INTERVAL, lambda: self.events.sweep(time.time()))

    def close(self) -> None:
        self.side.close()

    # -- ops ------------------------------------------------------------------------------
    def op_Record(self, args):
        events = args["events"]
        management = [e for e in events if e.get("eventCategory") != "Data"]
        self.events.add(management)
        self.trails.route(events)
        self._to_eventbridge(management)
        return None

    def _to_eventbridge(self, events: list[dict]) -> None:
        """Management events that change something go to the default event bus as
        "AWS API Call via CloudTrail" (AWS skips List*, Get* and Describe* calls);
        one durable delivery per account and region."""
        if self._bus_key is None:
            return
        by_ns: dict[tuple, list] = {}
        for e in events:
            if e.get("readOnly") or e["eventName"].startswith(("List", "Get", "Describe")):
                continue
            region = e.get("awsRegion", "")
            by_ns.setdefault((e["recipientAccountId"], region), []).append({
                "version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
                "source": eventbridge_source(e["eventSource"]), "account": e["recipientAccountId"],
                "time": e["eventTime"], "region": region, "resources": [], "detail": e})
        for (account, region), evs in by_ns.items():
            key = self._bus_key(account, region, "default")
            sinks.deliveries(self.part).submit(
                "call", {"key": key, "op": "events.Put", "give_up": ["ResourceNotFoundException"]},
                {"k": key, "ev": evs, "trace": [], "from": account})

    def op_SetDataSelectors(self, args):
        doc = self.store.get(KIND_SELECTORS, "all") or {"version": 0, "accounts": {}}
        accounts = dict(doc["accounts"])
        if args["trails"]:
            accounts[args["account"]] = args["trails"]
        else:
            accounts.pop(args["account"], None)
        self.store.put(KIND_SELECTORS, "all", {"version": doc["version"] + 1, "accounts": accounts})
        return {}

    def op_DataSelectors(self, args):
        doc = self.store.get(KIND_SELECTORS, "all") or {"version": 0, "accounts": {}}
        return None if doc["version"] == args.get("since") else doc

    def op_Handle(self, args):
        a, r, op, p = args["a"], args["r"], args["op"], args["params"]
        now = time.time()
        result = getattr(self, "_" + op)(a, r, p, now)
        if op in WRITES:
            return self.side.answer(result)
        return result

    # -- operations -----------------------------------------------------------------------
    def _CreateTrail(self, a, r, p, now):
        return self.trails.create(a, r, p, now)

    def _UpdateTrail(self, a, r, p, now):
        return self.trails.update(a, r, p)

    def _DeleteTrail(self, a, r, p, now):
        self.trails.delete(a, r, p["Name"])
        return {}

    def _GetTrail(self, a, r, p, now):
        return {"Trail": self.trails.describe(self.trails.find(a, r, p["Name"]))}

    def _DescribeTrails(self, a, r, p, now):
        names = p.get("trailNameList")
        shadows = p.get("includeShadowTrails", True)
        if names:
            out = []
            for n in names:
                try:
                    out.append(self.trails.find(a, r, n))
                except Exception:
                    continue
        else:
            out = self.trails.visible(a, r, shadows)
        return {"trailList": [self.trails.describe(t) for t in out]}

    def _ListTrails(self, a, r, p, now):
        return {"Trails": [{"TrailARN": self.trails.summary(t)["TrailARN"], "Name": t["name"],
                            "HomeRegion": t["home"]} for t in self.trails.visible(a, r, True)]}

    def _StartLogging(self, a, r, p, now):
        self.trails.set_logging(a, r, p["Name"], True, now)
        return {}

    def _StopLogging(self, a, r, p, now):
        self.trails.set_logging(a, r, p["Name"], False, now)
        return {}

    def _GetTrailStatus(self, a, r, p, now):
        return self.trails.status(self.trails.find(a, r, p["Name"]))

    def _PutEventSelectors(self, a, r, p, now):
        return self.trails.put_selectors(a, r, p)

    def _GetEventSelectors(self, a, r, p, now):
        t = self.trails.find(a, r, p["TrailName"])
        return {"TrailARN": self.trails.summary(t)["TrailARN"], **self.trails.selectors_out(t)}

    def _LookupEvents(self, a, r, p, now):
        return self.events.lookup(a, r, p, now)

    def _AddTags(self, a, r, p, now):
        t = self.trails.find(a, r, p["ResourceId"])
        tags = dict(t.get("tags") or {})
        tags.update({x["Key"]: x.get("Value", "") for x in p.get("TagsList") or []})
        if len(tags) > 50:
            from services.cloudtrail.api import err
            raise err("TagsLimitExceededException", "The number of tags per trail has exceeded the permitted "
                      "amount. Currently, the limit is 50.")
        t["tags"] = tags
        self.trails._save(f"{t['account']}/{t['home']}/{t['name']}", t)
        return {}

    def _RemoveTags(self, a, r, p, now):
        t = self.trails.find(a, r, p["ResourceId"])
        for x in p.get("TagsList") or []:
            (t.get("tags") or {}).pop(x["Key"], None)
        self.trails._save(f"{t['account']}/{t['home']}/{t['name']}", t)
        return {}

    def _ListTags(self, a, r, p, now):
        out = []
        for rid in p["ResourceIdList"]:
            t = self.trails.find(a, r, rid)
            out.append({"ResourceId": rid, "TagsList": [{"Key": k, "Value": v}
                                                        for k, v in sorted((t.get("tags") or {}).items())]})
        return {"ResourceTagList": out}
