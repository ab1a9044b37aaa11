"""Event selectors: which events a trail logs.

Basic selectors (ReadWriteType, IncludeManagementEvents, DataResources,
ExcludeManagementEventSources) and advanced selectors (field selectors on
eventCategory, eventSource, eventName, readOnly, resources.type,
resources.ARN, eventType, userIdentity.arn, errorCode with Equals,
StartsWith, EndsWith and their negations) are both compiled to one form:
a list of advanced selectors, each a list of (field, operators).

Gateways hold a read copy of every account's data-event selectors (polled
from one global record) so that a data event (SQS SendMessage, SNS
Publish...) costs nothing unless some trail of the account selects it.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("broker.cloudtrail")

GLOBAL_KEY = "cloudtrail/_data-selectors"
POLL_INTERVAL = 2.0
DEFAULT_SELECTORS = [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
                      "ExcludeManagementEventSources": []}]
_OPS = ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith")


def compile_basic(selectors: list[dict]) -> list[list]:
    out = []
    for s in selectors or []:
        rw = s.get("ReadWriteType") or "All"
        ro = [] if rw == "All" else [["readOnly", {"Equals": ["true" if rw == "ReadOnly" else "false"]}]]
        if s.get("IncludeManagementEvents", True):
            sel = [["eventCategory", {"Equals": ["Management"]}], *ro]
            excl = s.get("ExcludeManagementEventSources") or []
            if excl:
                sel.append(["eventSource", {"NotEquals": list(excl)}])
            out.append(sel)
        for dr in s.get("DataResources") or []:
            values = dr.get("Values") or []
            sel = [["eventCategory", {"Equals": ["Data"]}], ["resources.type", {"Equals": [dr.get("Type", "")]}], *ro]
            # "arn:aws:s3" style values and the bare service prefix select every resource of the type
            prefixes = [v for v in values if v.count(":") > 2 and not v.endswith(":::")] if values else []
            if prefixes:
                sel.append(["resources.ARN", {"StartsWith": prefixes}])
            out.append(sel)
    return out


def compile_advanced(selectors: list[dict]) -> list[list]:
    out = []
    for s in selectors or []:
        sel = []
        for f in s.get("FieldSelectors") or []:
            ops = {op: list(f[op]) for op in _OPS if f.get(op)}
            sel.append([f["Field"], ops])
        out.append(sel)
    return out


def _values(event: dict, field: str) -> list[str]:
    if field == "eventCategory":
        return [event.get("eventCategory", "Management")]
    if field == "readOnly":
        return [str(bool(event.get("readOnly"))).lower()]
    if field == "resources.type":
        return [r.get("type", "") for r in event.get("resources") or []]
    if field == "resources.ARN":
        return [r.get("ARN", "") for r in event.get("resources") or []]
    if field == "userIdentity.arn":
        return [(event.get("userIdentity") or {}).get("arn", "")]
    v = event.get(field)
    return [] if v is None else [str(v)]


def _field_matches(values: list[str], ops: dict) -> bool:
    if not values:
        values = [""]
    pos = [(op, x) for op in ("Equals", "StartsWith", "EndsWith") for x in ops.get(op, [])]
    if pos and not any(_one(op, v, x) for v in values for op, x in pos):
        return False
    for op in ("NotEquals", "NotStartsWith", "NotEndsWith"):
        for x in ops.get(op, []):
            if any(_one(op[3:], v, x) for v in values):
                return False
    return True


def _one(op: str, v: str, x: str) -> bool:
    if op == "Equals":
        return v == x
    if op == "StartsWith":
        return v.startswith(x)
    return v.endswith(x)


def selects(compiled: list[list], event: dict) -> bool:
    """Does any selector of a trail select `event` (a CloudTrail record)?"""
    for sel in compiled:
        if all(_field_matches(_values(event, field), ops) for field, ops in sel):
            return True
    return False


def selects_data(compiled: list[list]) -> bool:
    """Could this trail select any data event?"""
    for sel in compiled:
        cats = [ops.get("Equals", []) for f, ops in sel if f == "eventCategory"]
        if not cats or any("Data" in c for c in cats):
            return True
    return False


class DataSelectorCache:
    """A gateway's read copy: account -> [compiled selectors of each logging trail that selects data events]."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.version = -1
        self.accounts: dict[str, list] = {}
        self._task = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                doc = await self.cluster.call(GLOBAL_KEY, "cloudtrail.DataSelectors", {"since": self.version})
                if doc is not None:
                    self.version = doc["version"]
                    self.accounts = doc["accounts"]
            except Exception as exc:
                log.debug("event=data_selectors_poll_failed error=%s", exc)
            await asyncio.sleep(POLL_INTERVAL)

    def wants(self, account: str, event: dict) -> bool:
        trails = self.accounts.get(account)
        return bool(trails) and any(selects(c, event) for c in trails)

    def any_for(self, account: str) -> bool:
        return bool(self.accounts.get(account))
