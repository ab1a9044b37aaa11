"""CloudWatch Logs shard half: the log groups, streams and events of the
namespaces (account + region) whose partition this is.

Groups and streams are entity records (metadata only); events are sealed
batches in the side database (services/logs/events.py), expired by each
group's retention. Metric filters turn matching events into CloudWatch
metrics as they arrive; subscription filters are stored.
"""

from __future__ import annotations

import base64
import json
import time

from broker.runtime import telemetry
from services.cloudwatch.sidestore import SideStore
from services.errors import ServiceError
from services.logs.api import DAY_MS, invalid
from services.logs.events import DDL, LogEvents
from services.logs.patterns import PatternError, compile_pattern

KIND_GROUP = "logs.group"
KIND_STREAM = "logs.stream"
MAX_SUBSCRIPTIONS = 2
MAX_METRIC_FILTERS = 100
MAX_GET_EVENTS = 10_000
MAX_RESPONSE_BYTES = 1_048_576
PAST_LIMIT_MS = 14 * DAY_MS
FUTURE_LIMIT_MS = 2 * 3600 * 1000
SWEEP_INTERVAL = 600.0
WRITES = {"CreateLogGroup", "DeleteLogGroup", "CreateLogStream", "DeleteLogStream", "PutLogEvents",
          "PutRetentionPolicy", "DeleteRetentionPolicy", "PutSubscriptionFilter", "DeleteSubscriptionFilter",
          "PutMetricFilter", "DeleteMetricFilter", "TagLogGroup", "UntagLogGroup", "TagResource", "UntagResource"}


def _err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status, sender_fault=True)


def group_missing() -> ServiceError:
    return _err("ResourceNotFoundException", "The specified log group does not exist.")


def stream_missing() -> ServiceError:
    return _err("ResourceNotFoundException", "The specified log stream does not exist.")


def _pattern(text: str):
    try:
        return compile_pattern(text)
    except PatternError as exc:
        raise invalid(f"Invalid filter pattern: {exc}") from None


def _token(pos) -> str:
    return base64.urlsafe_b64encode(json.dumps(pos).encode()).decode()


def _untoken(token: str):
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise invalid("The specified nextToken is invalid.") from None


class LogsShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.side = SideStore(part, "logs", DDL, ("batches",))
        self.events = LogEvents(self.side)
        self.groups: dict[str, dict] = dict(self.store.scan(KIND_GROUP))
        self.streams: dict[int, dict[str, dict]] = {}
        for key, rec in self.store.scan(KIND_STREAM):
            gid = int(key.split("/", 1)[0])
            self.streams.setdefault(gid, {})[rec["name"]] = rec
        self.side.every(60, SWEEP_INTERVAL, self._sweep)

    def close(self) -> None:
        self.side.close()

    def _sweep(self) -> None:
        now = int(time.time() * 1000)
        for g in self.groups.values():
            if g.get("retention"):
                self.events.expire(g["gid"], now - g["retention"] * DAY_MS)

    # -- dispatch -----------------------------------------------------------------------
    def op_Handle(self, args):
        a, r, op, p = args["a"], args["r"], args["op"], args["params"]
        result = getattr(self, "_" + op)(a, r, p, int(time.time() * 1000))
        if op in WRITES:
            return self.side.answer(result or {})
        return result or {}

    def _group(self, a, r, name) -> dict:
        g = self.groups.get(f"{a}/{r}/{name}")
        if g is None:
            raise group_missing()
        return g

    def _stream(self, g, name) -> dict:
        s = self.streams.get(g["gid"], {}).get(name)
        if s is None:
            raise stream_missing()
        return s

    def _save_group(self, g) -> None:
        self.store.put(KIND_GROUP, f"{g['account']}/{g['region']}/{g['name']}", g)

    def _save_stream(self, g, s) -> None:
        self.store.put(KIND_STREAM, f"{g['gid']}/{s['name']}", s)

    @staticmethod
    def _arn(g) -> str:
        return f"arn:aws:logs:{g['region']}:{g['account']}:log-group:{g['name']}"

    # -- groups ------------------------------------------------------------------------
    def _CreateLogGroup(self, a, r, p, now):
        key = f"{a}/{r}/{p['logGroupName']}"
        if key in self.groups:
            raise _err("ResourceAlreadyExistsException", "The specified log group already exists")
        if len(p.get("tags") or {}) > 50:
            raise invalid("Too many tags: a log group can have up to 50 tags.")
        g = {"gid": self.store.allocate_id("logs.group"), "name": p["logGroupName"], "account": a, "region": r,
             "created": now, "retention": None, "kms": p.get("kmsKeyId"), "tags": p.get("tags") or {},
             "class": p.get("logGroupClass") or "STANDARD", "metric_filters": {}, "subscriptions": {},
             "deletion_protection": bool(p.get("deletionProtectionEnabled"))}
        self.groups[key] = g
        self._save_group(g)

    def _DeleteLogGroup(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        if g.get("deletion_protection"):
            raise _err("ValidationException", "Log group deletion is not allowed while deletion protection is "
                       "enabled.")
        del self.groups[f"{a}/{r}/{g['name']}"]
        self.store.delete(KIND_GROUP, f"{a}/{r}/{g['name']}")
        for s in self.streams.pop(g["gid"], {}).values():
            self.store.delete(KIND_STREAM, f"{g['gid']}/{s['name']}")
        self.events.drop_group(g["gid"])

    def _describe_group(self, g) -> dict:
        out = {"logGroupName": g["name"], "creationTime": g["created"],
               "metricFilterCount": len(g["metric_filters"]), "arn": self._arn(g) + ":*", "storedBytes": 0,
               "logGroupClass": g.get("class", "STANDARD"), "logGroupArn": self._arn(g),
               "deletionProtectionEnabled": g.get("deletion_protection", False)}
        if g.get("retention"):
            out["retentionInDays"] = g["retention"]
        if g.get("kms"):
            out["kmsKeyId"] = g["kms"]
        return out

    def _DescribeLogGroups(self, a, r, p, now):
        prefix = p.get("logGroupNamePrefix")
        pattern = p.get("logGroupNamePattern")
        names = set(p.get("logGroupIdentifiers") or [])
        groups = sorted((g for g in self.groups.values() if g["account"] == a and g["region"] == r),
                        key=lambda g: g["name"])
        if prefix:
            groups = [g for g in groups if g["name"].startswith(prefix)]
        if pattern:
            groups = [g for g in groups if pattern.lower() in g["name"].lower()]
        if names:
            groups = [g for g in groups if g["name"] in names or self._arn(g) in names]
        if p.get("logGroupClass"):
            groups = [g for g in groups if g.get("class") == p["logGroupClass"]]
        page, token = self._page(groups, p, 50, lambda g: g["name"])
        out: dict = {"logGroups": [self._describe_group(g) for g in page]}
        if token:
            out["nextToken"] = token
        return out

    def _page(self, items, p, default, key):
        limit = p.get("limit") or default
        if p.get("nextToken"):
            after = _untoken(p["nextToken"])
            items = [i for i in items if key(i) > after] if isinstance(after, str) else items[int(after):]
        page = items[:limit]
        return page, (_token(key(page[-1])) if len(items) > limit else None)

    def _PutRetentionPolicy(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        g["retention"] = p["retentionInDays"]
        self._save_group(g)

    def _DeleteRetentionPolicy(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        g["retention"] = None
        self._save_group(g)

    # -- streams -------------------------------------------------------------------------
    def _CreateLogStream(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        streams = self.streams.setdefault(g["gid"], {})
        if p["logStreamName"] in streams:
            raise _err("ResourceAlreadyExistsException", "The specified log stream already exists")
        s = {"sid": self.store.allocate_id("logs.stream"), "name": p["logStreamName"], "created": now,
             "first": None, "last": None, "ingest": None, "seq": 0}
        streams[s["name"]] = s
        self._save_stream(g, s)

    def _DeleteLogStream(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        s = self._stream(g, p["logStreamName"])
        del self.streams[g["gid"]][s["name"]]
        self.store.delete(KIND_STREAM, f"{g['gid']}/{s['name']}")
        self.events.drop_stream(g["gid"], s["sid"])

    def _DescribeLogStreams(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        streams = list(self.streams.get(g["gid"], {}).values())
        by_time = p.get("orderBy") == "LastEventTime"
        if p.get("logStreamNamePrefix"):
            streams = [s for s in streams if s["name"].startswith(p["logStreamNamePrefix"])]
        if by_time:
            streams.sort(key=lambda s: (s["last"] or 0, s["name"]), reverse=bool(p.get("descending")))
        else:
            streams.sort(key=lambda s: s["name"], reverse=bool(p.get("descending")))
        page, token = self._index_page(streams, p)
        arn = self._arn(g)
        out_streams = []
        for s in page:
            item = {"logStreamName": s["name"], "creationTime": s["created"],
                    "arn": f"{arn}:log-stream:{s['name']}", "storedBytes": 0}
            if s["first"] is not None:
                item.update({"firstEventTimestamp": s["first"], "lastEventTimestamp": s["last"],
                             "lastIngestionTime": s["ingest"], "uploadSequenceToken": _seq_token(s["seq"])})
            out_streams.append(item)
        out: dict = {"logStreams": out_streams}
        if token:
            out["nextToken"] = token
        return out

    def _index_page(self, items, p):
        limit = p.get("limit") or 50
        start = int(_untoken(p["nextToken"])) if p.get("nextToken") else 0
        page = items[start:start + limit]
        return page, (_token(start + limit) if start + limit < len(items) else None)

    # -- events --------------------------------------------------------------------------
    def _PutLogEvents(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        s = self._stream(g, p["logStreamName"])
        events = p["logEvents"]
        too_new = too_old = expired = None
        keep = []
        retention_ms = g["retention"] * DAY_MS if g.get("retention") else None
        for i, e in enumerate(events):
            ts = e["timestamp"]
            if ts > now + FUTURE_LIMIT_MS:
                too_new = i if too_new is None else too_new
            elif ts < now - PAST_LIMIT_MS:
                too_old = i
            elif retention_ms is not None and ts < now - retention_ms:
                expired = i
            else:
                keep.append((ts, now, e["message"]))
        out: dict = {}
        info = {}
        if too_new is not None:
            info["tooNewLogEventStartIndex"] = too_new
        if too_old is not None:
            info["tooOldLogEventEndIndex"] = too_old
        if expired is not None:
            info["expiredLogEventEndIndex"] = expired
        if info:
            out["rejectedLogEventsInfo"] = info
        if keep:
            s["seq"] += 1
            self.events.append(g["gid"], s["sid"], s["seq"], keep)
            s["first"] = keep[0][0] if s["first"] is None else min(s["first"], keep[0][0])
            s["last"] = keep[-1][0] if s["last"] is None else max(s["last"], keep[-1][0])
            s["ingest"] = now
            self._save_stream(g, s)
            if g["metric_filters"]:
                self._apply_metric_filters(g, keep)
        out["nextSequenceToken"] = _seq_token(s["seq"])
        return out

    def _apply_metric_filters(self, g, events) -> None:
        for f in g["metric_filters"].values():
            pat = compile_pattern(f["filterPattern"])
            for t in f["metricTransformations"]:
                total, hits = 0.0, 0
                for ts, _ing, msg in events:
                    if not pat.match(msg):
                        continue
                    value = _metric_value(t.get("metricValue", "1"), pat, msg)
                    if value is None:
                        continue
                    dims = {k: str(pat.extract(msg).get(v, v)) for k, v in (t.get("dimensions") or {}).items()}
                    telemetry.metric(t["metricNamespace"], t["metricName"], dims or None, value,
                                     t.get("unit") or "None", account=g["account"], region=g["region"])
                    hits += 1
                    total += value
                if not hits and t.get("defaultValue") is not None:
                    telemetry.metric(t["metricNamespace"], t["metricName"], None, t["defaultValue"],
                                     t.get("unit") or "None", account=g["account"], region=g["region"])

    def _GetLogEvents(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        s = self._stream(g, p["logStreamName"])
        limit = min(p.get("limit") or MAX_GET_EVENTS, MAX_GET_EVENTS)
        rows = self.events.read(g["gid"], [s["sid"]], p.get("startTime"), p.get("endTime"))
        keys = [[ts, seq, i] for ts, _sid, seq, i, _ing, _m in rows]
        token = p.get("nextToken")
        if token:
            kind, _, raw = token.partition("/")
            if kind not in ("f", "b"):
                raise invalid("The specified nextToken is invalid.")
            pos = _untoken(raw) if raw else None
            forward = kind == "f"
        else:
            pos, forward = None, bool(p.get("startFromHead"))
        if forward:
            idx = [j for j, k in enumerate(keys) if pos is None or k > pos]
            sel = idx[:limit]
        else:
            idx = [j for j, k in enumerate(keys) if pos is None or k < pos]
            sel = idx[-limit:]
        sel = _fit(rows, sel, forward)
        events = [{"timestamp": rows[j][0], "message": rows[j][5], "ingestionTime": rows[j][4]} for j in sel]
        if sel:
            fwd, back = keys[sel[-1]], keys[sel[0]]
        else:
            fwd = back = pos if pos is not None else ([0, 0, -1] if forward or not keys else keys[-1])
        return {"events": events, "nextForwardToken": "f/" + _token(fwd), "nextBackwardToken": "b/" + _token(back)}

    def _FilterLogEvents(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        streams = self.streams.get(g["gid"], {})
        if p.get("logStreamNames"):
            chosen = [streams[n] for n in p["logStreamNames"] if n in streams]
            if not chosen:
                raise stream_missing()
        elif p.get("logStreamNamePrefix"):
            chosen = [s for n, s in streams.items() if n.startswith(p["logStreamNamePrefix"])]
        else:
            chosen = None
        pat = _pattern(p.get("filterPattern"))
        names = {s["sid"]: s["name"] for s in streams.values()}
        rows = self.events.read(g["gid"], [s["sid"] for s in chosen] if chosen is not None else None,
                                p.get("startTime"), p.get("endTime"))
        limit = min(p.get("limit") or MAX_GET_EVENTS, MAX_GET_EVENTS)
        after = _untoken(p["nextToken"]) if p.get("nextToken") else None
        out, size, last = [], 0, None
        more = False
        for ts, sid, seq, i, ingest, msg in rows:
            key = [ts, sid, seq, i]
            if after is not None and key <= after:
                continue
            if not pat.match(msg):
                continue
            if len(out) >= limit or size + len(msg) > MAX_RESPONSE_BYTES:
                more = True
                break
            out.append({"logStreamName": names.get(sid, ""), "timestamp": ts, "message": msg,
                        "ingestionTime": ingest, "eventId": _event_id(ts, sid, seq, i)})
            size += len(msg)
            last = key
        searched = [{"logStreamName": s["name"], "searchedCompletely": not more}
                    for s in (chosen if chosen is not None else streams.values())]
        result: dict = {"events": out, "searchedLogStreams": searched}
        if more and last is not None:
            result["nextToken"] = _token(last)
        return result

    # -- filters -------------------------------------------------------------------------
    def _PutSubscriptionFilter(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        _pattern(p["filterPattern"])
        subs = g["subscriptions"]
        if p["filterName"] not in subs and len(subs) >= MAX_SUBSCRIPTIONS:
            raise _err("LimitExceededException", "Resource limit exceeded.")
        subs[p["filterName"]] = {"filterName": p["filterName"], "logGroupName": g["name"],
                                 "filterPattern": p["filterPattern"], "destinationArn": p["destinationArn"],
                                 "distribution": p.get("distribution") or "ByLogStream", "creationTime": now,
                                 **({"roleArn": p["roleArn"]} if p.get("roleArn") else {})}
        self._save_group(g)

    def _DescribeSubscriptionFilters(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        subs = sorted(g["subscriptions"].values(), key=lambda f: f["filterName"])
        if p.get("filterNamePrefix"):
            subs = [f for f in subs if f["filterName"].startswith(p["filterNamePrefix"])]
        return {"subscriptionFilters": subs}

    def _DeleteSubscriptionFilter(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        if g["subscriptions"].pop(p["filterName"], None) is None:
            raise _err("ResourceNotFoundException", "The specified subscription filter does not exist.")
        self._save_group(g)

    def _PutMetricFilter(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        _pattern(p["filterPattern"])
        if p["filterName"] not in g["metric_filters"] and len(g["metric_filters"]) >= MAX_METRIC_FILTERS:
            raise _err("LimitExceededException", "Resource limit exceeded.")
        g["metric_filters"][p["filterName"]] = {
            "filterName": p["filterName"], "filterPattern": p["filterPattern"], "logGroupName": g["name"],
            "metricTransformations": p["metricTransformations"], "creationTime": now}
        self._save_group(g)

    def _DescribeMetricFilters(self, a, r, p, now):
        groups = [self._group(a, r, p["logGroupName"])] if p.get("logGroupName") else \
            [g for g in self.groups.values() if g["account"] == a and g["region"] == r]
        out = []
        for g in groups:
            for f in sorted(g["metric_filters"].values(), key=lambda f: f["filterName"]):
                if p.get("filterNamePrefix") and not f["filterName"].startswith(p["filterNamePrefix"]):
                    continue
                ts = f["metricTransformations"]
                if p.get("metricName") and not any(t["metricName"] == p["metricName"] for t in ts):
                    continue
                if p.get("metricNamespace") and not any(t["metricNamespace"] == p["metricNamespace"] for t in ts):
                    continue
                out.append(f)
        return {"metricFilters": out}

    def _DeleteMetricFilter(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        if g["metric_filters"].pop(p["filterName"], None) is None:
            raise _err("ResourceNotFoundException", "The specified metric filter does not exist.")
        self._save_group(g)

    def _TestMetricFilter(self, a, r, p, now):
        pat = _pattern(p["filterPattern"])
        out = []
        for i, msg in enumerate(p["logEventMessages"], 1):
            if pat.match(msg):
                out.append({"eventNumber": i, "eventMessage": msg,
                            "extractedValues": {k: v if isinstance(v, str) else json.dumps(v)
                                                for k, v in pat.extract(msg).items()}})
        return {"matches": out}

    # -- tags ----------------------------------------------------------------------------
    def _by_arn(self, a, r, arn: str) -> dict:
        parts = arn.split(":")
        if len(parts) < 7 or parts[5] != "log-group":
            raise group_missing()
        return self._group(parts[4] or a, parts[3] or r, parts[6])

    def _tag(self, g, tags: dict) -> None:
        merged = {**g["tags"], **tags}
        if len(merged) > 50:
            raise _err("TooManyTagsException", "A resource can have no more than 50 tags.")
        g["tags"] = merged
        self._save_group(g)

    def _TagLogGroup(self, a, r, p, now):
        self._tag(self._group(a, r, p["logGroupName"]), p["tags"])

    def _UntagLogGroup(self, a, r, p, now):
        g = self._group(a, r, p["logGroupName"])
        for k in p["tags"]:
            g["tags"].pop(k, None)
        self._save_group(g)

    def _ListTagsLogGroup(self, a, r, p, now):
        return {"tags": dict(self._group(a, r, p["logGroupName"])["tags"])}

    def _TagResource(self, a, r, p, now):
        self._tag(self._by_arn(a, r, p["resourceArn"]), p["tags"])

    def _UntagResource(self, a, r, p, now):
        g = self._by_arn(a, r, p["resourceArn"])
        for k in p["tagKeys"]:
            g["tags"].pop(k, None)
        self._save_group(g)

    def _ListTagsForResource(self, a, r, p, now):
        return {"tags": dict(self._by_arn(a, r, p["resourceArn"])["tags"])}


def _seq_token(seq: int) -> str:
    return "%056d" % seq


def _event_id(ts, sid, seq, i) -> str:
    return "%020d%012d%012d%06d" % (ts, sid, seq, i)


def _fit(rows, sel: list[int], forward: bool) -> list[int]:
    """Trim a page to AWS's 1 MB response limit, keeping the side nearest the position."""
    size, out = 0, []
    for j in (sel if forward else reversed(sel)):
        size += len(rows[j][5]) + 26
        if size > MAX_RESPONSE_BYTES and out:
            break
        out.append(j)
    return out if forward else list(reversed(out))


def _metric_value(spec, pat, msg) -> float | None:
    spec = str(spec)
    if spec.startswith("$"):
        v = pat.extract(msg).get(spec)
        try:
            return float(v)
        except (TypeError, ValueError):
            return None
    try:
        return float(spec)
    except ValueError:
        return None
