"""Per account+region EventBridge state that is looked up by name: archives
(and the events they hold), replays, connections, API destinations, global
endpoints and partner event sources.

Methods are ``ns_<Operation>(ns, params, info)`` on the shard (sync, or
async where another partition must be asked first). Every change is a
record, so all of it survives a restart; a replay that was running resumes
where its last committed batch ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
from broker.core.eventpattern import InvalidPattern, validate
from broker.runtime.ipc import RemoteError
from services.errors import ServiceError

from .names import (
    arn, bus_key, err, exists, invalid_pattern, limit_exceeded, lookup, not_found, paged, parse_arn, validation,
)

log = logging.getLogger("broker.events")

K_ARCHIVE = "events.archive"
K_EVENT = "events.archived"
K_REPLAY = "events.replay"
K_CONN = "events.connection"
K_DEST = "events.destination"
K_ENDPOINT = "events.endpoint"
K_PSOURCE = "events.partner-source"
K_ESOURCE = "events.event-source"
MAX_ACTIVE_REPLAYS = 10
REPLAY_BATCH = 100
DAY_MS = 86_400_000


class Namespace:
    __slots__ = ("key", "account", "region", "archives", "replays", "conns", "dests", "endpoints", "psources",
                 "esources", "tasks")

    def __init__(self, key: str, account: str, region: str):
        self.key, self.account, self.region = key, account, region
        self.archives: dict[str, dict] = {}
        self.replays: dict[str, dict] = {}
        self.conns: dict[str, dict] = {}
        self.dests: dict[str, dict] = {}
        self.endpoints: dict[str, dict] = {}
        self.psources: dict[str, dict] = {}
        self.esources: dict[str, dict] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    def table(self, kind: str) -> dict:
        return {K_ARCHIVE: self.archives, K_REPLAY: self.replays, K_CONN: self.conns, K_DEST: self.dests,
                K_ENDPOINT: self.endpoints, K_PSOURCE: self.psources, K_ESOURCE: self.esources}[kind]


NS_KINDS = (K_ARCHIVE, K_REPLAY, K_CONN, K_DEST, K_ENDPOINT, K_PSOURCE, K_ESOURCE)


def _sec(ms):
    return None if ms is None else ms / 1000.0


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def event_size(ev: dict) -> int:
    """Bytes AWS counts for an archived event: source, detail-type, detail, time, resources."""
    detail = ev.get("detail")
    detail_text = detail if isinstance(detail, str) else json.dumps(detail)
    return (len(str(ev.get("source", "")).encode()) + len(str(ev.get("detail-type", "")).encode())
            + len(detail_text.encode()) + len(str(ev.get("time", "")).encode())
            + sum(len(str(r).encode()) for r in ev.get("resources") or []))


class NamespaceOps:
    """Namespace-level operations (mixed into the shard half)."""

    async def call(self, key: str, op: str, args: dict):
        """An op on another partition; its AWS error surfaces as ours."""
        try:
            return await self.part.call(key, op, args)
        except RemoteError as exc:
            raise ServiceError(exc.message, code=exc.code, status=exc.status, sender_fault=exc.sender_fault,
                               **(exc.fields or {})) from None

    def _ns_save(self, ns: Namespace, kind: str, name: str) -> None:
        self.store.put(kind, f"{ns.key}|{name}", ns.table(kind)[name])

    def _ns_drop(self, ns: Namespace, kind: str, name: str) -> None:
        ns.table(kind).pop(name, None)
        self.store.delete(kind, f"{ns.key}|{name}")

    # -- archives ------------------------------------------------------------------------
    async def ns_CreateArchive(self, ns, p, info):
        name = p["ArchiveName"]
        if name in ns.archives:
            raise exists(f"Archive {name} already exists.")
        src = p["EventSourceArn"]
        bus = self._bus_of_arn(src, ns)
        pattern = p.get("EventPattern")
        if pattern:
            try:
                validate(pattern)
            except InvalidPattern as exc:
                raise invalid_pattern(exc.reason) from None
        await self.call(bus, "events.AttachArchive", {"k": bus, "name": name, "pat": pattern, "on": True})
        if name in ns.archives:        # lost a race with another CreateArchive of the same name
            raise exists(f"Archive {name} already exists.")
        now = self.part.now_ms()
        ns.archives[name] = {"n": name, "src": src, "bus": bus, "d": p.get("Description"), "pat": pattern,
                             "ret": p.get("RetentionDays") or 0, "st": "ENABLED", "c": now, "cnt": 0, "size": 0,
                             "kms": p.get("KmsKeyIdentifier")}
        self._ns_save(ns, K_ARCHIVE, name)
        self.arm_purge()
        return {"ArchiveArn": arn(ns.account, ns.region, "archive", name), "State": "ENABLED",
                "CreationTime": _sec(now)}

    def _bus_of_arn(self, src: str, ns) -> str:
        p = parse_arn(src)
        if not p or p[0] != "events" or not p[3].startswith("event-bus/"):
            raise validation(f"Parameter EventSourceArn is not valid. Reason: Event bus {src} does not exist.")
        return bus_key(p[2] or ns.account, p[1] or ns.region, p[3][len("event-bus/"):])

    def _archive(self, ns, name) -> dict:
        return lookup(ns.archives, name, f"Archive {name} does not exist.")

    def ns_DescribeArchive(self, ns, p, info):
        a = self._archive(ns, p["ArchiveName"])
        return _clean({"ArchiveArn": arn(ns.account, ns.region, "archive", a["n"]), "ArchiveName": a["n"],
                       "EventSourceArn": a["src"], "Description": a.get("d"), "EventPattern": a.get("pat"),
                       "State": a["st"], "RetentionDays": a["ret"], "SizeBytes": a["size"],
                       "EventCount": a["cnt"], "CreationTime": _sec(a["c"]), "KmsKeyIdentifier": a.get("kms")})

    async def ns_UpdateArchive(self, ns, p, info):
        if not any(k in p for k in ("EventPattern", "RetentionDays", "Description")):
            raise validation("At least one of EventPattern, RetentionDays or Description must be provided.")
        a = self._archive(ns, p["ArchiveName"])
        if "EventPattern" in p:
            pattern = p["EventPattern"] or None
            if pattern:
                try:
                    validate(pattern)
                except InvalidPattern as exc:
                    raise invalid_pattern(exc.reason) from None
            await self.call(a["bus"], "events.AttachArchive", {"k": a["bus"], "name": a["n"],
                                                                    "pat": a.get("pat"), "on": False})
            await self.call(a["bus"], "events.AttachArchive", {"k": a["bus"], "name": a["n"],
                                                                    "pat": pattern, "on": True})
            a["pat"] = pattern
        if "RetentionDays" in p:
            a["ret"] = p["RetentionDays"] or 0
        if "Description" in p:
            a["d"] = p["Description"]
        if "KmsKeyIdentifier" in p:
            a["kms"] = p["KmsKeyIdentifier"] or None
        self._ns_save(ns, K_ARCHIVE, a["n"])
        return {"ArchiveArn": arn(ns.account, ns.region, "archive", a["n"]), "State": a["st"],
                "CreationTime": _sec(a["c"])}

    async def ns_DeleteArchive(self, ns, p, info):
        a = self._archive(ns, p["ArchiveName"])
        try:
            await self.call(a["bus"], "events.AttachArchive", {"k": a["bus"], "name": a["n"],
                                                                    "pat": a.get("pat"), "on": False})
        except Exception as exc:        # the bus is gone: nothing left to detach
            log.info("event=archive_detach_failed archive=%s error=%s", a["n"], exc)
        self._ns_drop(ns, K_ARCHIVE, a["n"])
        for k, _v in list(self.store.scan(K_EVENT, f"{ns.key}|{a['n']}|")):
            self.store.delete(K_EVENT, k)
        return {}

    async def ns_ListArchives(self, ns, p, info):
        items = sorted(ns.archives.values(), key=lambda a: a["n"])
        if p.get("NamePrefix"):
            items = [a for a in items if a["n"].startswith(p["NamePrefix"])]
        if p.get("EventSourceArn"):
            src = p["EventSourceArn"]
            key = self._bus_of_arn(src, ns)
            if not await self.call(key, "events.BusExists", {"k": key}):
                raise not_found(f"Event bus {key.rsplit('/', 1)[1]} does not exist.")
            items = [a for a in items if a["src"] == src]
        if p.get("State"):
            items = [a for a in items if a["st"] == p["State"]]
        return paged(items, p, "Archives", lambda a: _clean({
            "ArchiveName": a["n"], "EventSourceArn": a["src"], "State": a["st"], "RetentionDays": a["ret"],
            "SizeBytes": a["size"], "EventCount": a["cnt"], "CreationTime": _sec(a["c"])}))

    def op_ArchiveEvents(self, a):
        """Events matched by an archive's pattern at its bus (a durable hand-off)."""
        ns = self._ns_of_key(a["k"])
        arc = ns.archives.get(a["archive"]) if ns else None
        if arc is None:
            return {"n": 0}
        for ev in a["ev"]:
            t = self._event_ms(ev)
            size = event_size(ev)
            key = f"{ns.key}|{arc['n']}|{t:013d}|{ev.get('id', '')}"
            if self.store.get(K_EVENT, key) is not None:
                continue        # the hand-off again after a kill -9 (at least once): counted already
            self.store.put(K_EVENT, key, {"t": t, "e": ev, "s": size})
            arc["cnt"] += 1
            arc["size"] += size
        self._ns_save(ns, K_ARCHIVE, arc["n"])
        return {"n": len(a["ev"])}

    @staticmethod
    def _event_ms(ev: dict) -> int:
        from datetime import datetime
        try:
            return int(datetime.fromisoformat(str(ev.get("time", "")).replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return 0

    def purge_archives(self, now: int) -> None:
        """Drop archived events past their archive's retention (0 = keep forever)."""
        for ns in list(self.namespaces.values()):
            for arc in ns.archives.values():
                if not arc["ret"]:
                    continue
                cutoff = now - arc["ret"] * DAY_MS
                for k, v in list(self.store.scan(K_EVENT, f"{ns.key}|{arc['n']}|")):
                    if v["t"] >= cutoff:
                        break
                    self.store.delete(K_EVENT, k)
                    arc["cnt"] -= 1
                    arc["size"] -= v["s"]
                self._ns_save(ns, K_ARCHIVE, arc["n"])

    # -- replays ------------------------------------------------------------------------------
    def ns_StartReplay(self, ns, p, info):
        name = p["ReplayName"]
        if name in ns.replays:
            raise exists(f"Replay {name} already exists.")
        src = p["EventSourceArn"]
        parsed = parse_arn(src)
        aname = parsed[3][len("archive/"):] if parsed and parsed[3].startswith("archive/") else None
        arc = ns.archives.get(aname) if aname else None
        if arc is None:
            raise validation(f"Parameter EventSourceArn is not valid. Reason: Archive {aname or src} does not exist.")
        dest = p["Destination"]
        if dest.get("Arn") != arc["src"]:
            raise validation("Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted.")
        start, end = p["EventStartTime"], p["EventEndTime"]
        if start >= end:
            raise validation("Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.")
        active = sum(1 for r in ns.replays.values() if r["st"] in ("STARTING", "RUNNING", "CANCELLING"))
        if active >= MAX_ACTIVE_REPLAYS:
            raise limit_exceeded()
        now = self.part.now_ms()
        ns.replays[name] = {"n": name, "d": p.get("Description"), "src": src, "archive": aname, "bus": arc["bus"],
                            "dest": dest, "es": start, "ee": end, "st": "STARTING", "rs": now, "re": None,
                            "last": None, "pos": ""}
        self._ns_save(ns, K_REPLAY, name)
        self.part.after_commit(lambda: self._run_replay(ns, name))
        return {"ReplayArn": arn(ns.account, ns.region, "replay", name), "State": "STARTING",
                "ReplayStartTime": _sec(now)}

    def _run_replay(self, ns, name: str) -> None:
        if name in ns.tasks or self.closed:
            return
        ns.tasks[name] = asyncio.get_running_loop().create_task(self._replay(ns, name))

    async def _replay(self, ns, name: str) -> None:
        r = ns.replays.get(name)
        try:
            if r is None:
                return
            if r["st"] == "STARTING":
                r["st"] = "RUNNING"
                self._ns_save(ns, K_REPLAY, name)
                self.part.flush_soon()
            rules = [fa.rsplit("/", 1)[-1] for fa in r["dest"].get("FilterArns") or []]
            prefix = f"{ns.key}|{r['archive']}|"
            # the window's keys, in event-time order, read once (keys sort by time)
            keys = [k for k, v in self.store.scan(K_EVENT, prefix)
                    if k > r["pos"] and r["es"] <= v["t"] < r["ee"]]
            i = 0
            while r["st"] == "RUNNING" and not self.closed and i < len(keys):
                chunk = keys[i:i + REPLAY_BATCH]
                i += len(chunk)
                recs = [self.store.get(K_EVENT, k) for k in chunk]
                batch = [v["e"] for v in recs if v is not None]     # retention may have dropped some
                last_key = chunk[-1]
                if not batch:
                    continue
                await self.call(r["bus"], "events.Put", {"k": r["bus"], "ev": batch, "replay": name,
                                                         "rules": rules})
                r["pos"] = last_key
                r["last"] = self._event_ms(batch[-1])
                self._ns_save(ns, K_REPLAY, name)
                self.part.flush_soon()
            if r["st"] == "CANCELLING":
                r["st"] = "CANCELLED"
            elif r["st"] == "RUNNING":
                r["st"] = "COMPLETED"
            r["re"] = self.part.now_ms()
            self._ns_save(ns, K_REPLAY, name)
            self.part.flush_soon()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if r is not None and not self.closed:
                log.warning("event=replay_failed replay=%s error=%s", name, exc)
                r["st"] = "FAILED"
                r["why"] = str(exc)[:200]
                r["re"] = self.part.now_ms()
                self._ns_save(ns, K_REPLAY, name)
                self.part.flush_soon()
        finally:
            ns.tasks.pop(name, None)

    def _replay_rec(self, ns, name) -> dict:
        return lookup(ns.replays, name, f"Replay {name} does not exist.")

    def ns_DescribeReplay(self, ns, p, info):
        r = self._replay_rec(ns, p["ReplayName"])
        return _clean({"ReplayName": r["n"], "ReplayArn": arn(ns.account, ns.region, "replay", r["n"]),
                       "Description": r.get("d"), "State": r["st"], "StateReason": r.get("why"),
                       "EventSourceArn": r["src"], "Destination": r["dest"], "EventStartTime": _sec(r["es"]),
                       "EventEndTime": _sec(r["ee"]), "EventLastReplayedTime": _sec(r.get("last")),
                       "ReplayStartTime": _sec(r["rs"]), "ReplayEndTime": _sec(r.get("re"))})

    def ns_CancelReplay(self, ns, p, info):
        r = self._replay_rec(ns, p["ReplayName"])
        if r["st"] not in ("STARTING", "RUNNING"):
            raise err("IllegalStatusException", f"Replay {r['n']} is not in a valid state for this operation.")
        r["st"] = "CANCELLING" if r["n"] in ns.tasks else "CANCELLED"
        if r["st"] == "CANCELLED":
            r["re"] = self.part.now_ms()
        self._ns_save(ns, K_REPLAY, r["n"])
        return {"ReplayArn": arn(ns.account, ns.region, "replay", r["n"]), "State": "CANCELLING"}

    def ns_ListReplays(self, ns, p, info):
        items = sorted(ns.replays.values(), key=lambda r: r["n"])
        if p.get("NamePrefix"):
            items = [r for r in items if r["n"].startswith(p["NamePrefix"])]
        if p.get("State"):
            items = [r for r in items if r["st"] == p["State"]]
        if p.get("EventSourceArn"):
            items = [r for r in items if r["src"] == p["EventSourceArn"]]
        return paged(items, p, "Replays", lambda r: _clean({
            "ReplayName": r["n"], "EventSourceArn": r["src"], "State": r["st"], "StateReason": r.get("why"),
            "EventStartTime": _sec(r["es"]), "EventEndTime": _sec(r["ee"]),
            "EventLastReplayedTime": _sec(r.get("last")), "ReplayStartTime": _sec(r["rs"]),
            "ReplayEndTime": _sec(r.get("re"))}))

    def resume_replays(self) -> None:
        for ns in self.namespaces.values():
            for name, r in ns.replays.items():
                if r["st"] in ("STARTING", "RUNNING"):
                    self._run_replay(ns, name)
                elif r["st"] == "CANCELLING":
                    r["st"] = "CANCELLED"
                    r["re"] = self.part.now_ms()
                    self._ns_save(ns, K_REPLAY, name)
