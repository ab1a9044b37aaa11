"""Reads over stored segments: traces, trace summaries (with a filter-expression
subset) and service graphs.

Filter expressions: ``service("name")``, ``ok``, ``error``, ``fault``,
``throttle``, ``partial``, comparisons of ``responsetime``, ``duration``,
``http.status``, ``http.url``, ``http.method``, ``http.useragent``,
``annotation.<key>`` and ``id`` with = != < <= > >= CONTAINS BEGINSWITH
ENDSWITH, combined with AND/&&, OR/||, NOT/! and parentheses.
"""

from __future__ import annotations

import json
import re

from services.errors import ServiceError


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, code="InvalidRequestException", status=400, sender_fault=True)


def flatten(segments: list[dict]) -> list[dict]:
    """Segments and every nested subsegment, each with `_sub` (a subsegment), `_top` (the id
    of its segment, None for an independent subsegment) and `_parent`."""
    out = []

    def walk(doc, top, parent, sub):
        doc = dict(doc)
        doc["_top"], doc["_parent"], doc["_sub"] = top, parent, sub
        out.append(doc)
        for child in doc.get("subsegments") or []:
            walk(child, top, doc.get("id"), True)
    for s in segments:
        sub = s.get("type") == "subsegment"
        walk(s, None if sub else s.get("id"), s.get("parent_id"), sub)
    return out


def trace(trace_id: str, segments: list[dict]) -> dict:
    starts = [s.get("start_time", 0) for s in segments]
    ends = [s.get("end_time", s.get("start_time", 0)) for s in segments]
    return {"Id": trace_id, "Duration": round(max(ends) - min(starts), 3) if segments else 0.0,
            "LimitExceeded": False,
            "Segments": [{"Id": s["id"], "Document": json.dumps(s, separators=(",", ":"))} for s in segments]}


def _node_type(doc: dict) -> str:
    if doc.get("origin"):
        return doc["origin"]
    if doc.get("namespace") == "aws":
        return f"AWS::{doc.get('name', '')}"
    if doc.get("namespace") == "remote":
        return "remote"
    return doc.get("type") == "subsegment" and "remote" or "AWS::Service"


def _root(segments: list[dict]) -> dict | None:
    ids = {s.get("id") for s in segments}
    tops = [s for s in segments if s.get("type") != "subsegment"]
    roots = [s for s in tops if not s.get("parent_id") or s["parent_id"] not in ids]
    pool = roots or tops or segments
    return min(pool, key=lambda s: s.get("start_time", 0)) if pool else None


def summaries(found: dict[str, list[dict]], expression: str | None, account: str) -> dict:
    flt = Filter(expression) if expression else None
    out = []
    for tid, segs in sorted(found.items()):
        s = summary(tid, segs, account)
        if flt is None or flt.matches(s, segs):
            out.append(s)
    out.sort(key=lambda s: s.get("StartTime", 0), reverse=True)
    return {"TraceSummaries": out, "TracesProcessedCount": len(found),
            "ApproximateTime": max((s.get("StartTime", 0) for s in out), default=0)}


def summary(tid: str, segs: list[dict], account: str) -> dict:
    flat = flatten(segs)
    root = _root(segs) or {}
    start = min(s.get("start_time", 0) for s in segs)
    end = max(s.get("end_time", s.get("start_time", 0)) for s in flat)
    services = {}
    annotations: dict = {}
    users = set()
    for s in segs:
        if s.get("type") == "subsegment":
            continue
        key = (s.get("name"), _node_type(s))
        services[key] = {"Name": key[0], "Names": [key[0]], "AccountId": s.get("aws", {}).get("account_id", account),
                         "Type": key[1]}
        if s.get("user"):
            users.add(s["user"])
    for s in flat:
        for k, v in (s.get("annotations") or {}).items():
            val = {"BooleanValue": v} if isinstance(v, bool) else \
                {"NumberValue": float(v)} if isinstance(v, (int, float)) else {"StringValue": str(v)}
            annotations.setdefault(k, []).append({"AnnotationValue": val})
    http = (root.get("http") or {})
    req, resp = http.get("request") or {}, http.get("response") or {}
    out = {"Id": tid, "StartTime": start, "Duration": round(end - start, 3),
           "ResponseTime": round(root.get("end_time", root.get("start_time", 0)) - root.get("start_time", 0), 3),
           "HasFault": any(s.get("fault") for s in flat), "HasError": any(s.get("error") for s in flat),
           "HasThrottle": any(s.get("throttle") for s in flat), "IsPartial": any(s.get("in_progress") for s in flat),
           "Annotations": annotations, "Users": [{"UserName": u} for u in sorted(users)],
           "ServiceIds": list(services.values())}
    h = {}
    if req.get("url"):
        h["HttpURL"] = req["url"]
    if req.get("method"):
        h["HttpMethod"] = req["method"]
    if req.get("user_agent"):
        h["UserAgent"] = req["user_agent"]
    if req.get("client_ip"):
        h["ClientIp"] = req["client_ip"]
    if resp.get("status") is not None:
        h["HttpStatus"] = resp["status"]
    if h:
        out["Http"] = h
    if root:
        out["EntryPoint"] = {"Name": root.get("name"), "Names": [root.get("name")], "AccountId": account,
                             "Type": _node_type(root)}
    return out


def _stats() -> dict:
    return {"OkCount": 0, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 0, "TotalCount": 0},
            "FaultStatistics": {"OtherCount": 0, "TotalCount": 0}, "TotalCount": 0, "TotalResponseTime": 0.0}


def _count(st: dict, doc: dict) -> None:
    st["TotalCount"] += 1
    st["TotalResponseTime"] = round(st["TotalResponseTime"] + max(
        0.0, doc.get("end_time", doc.get("start_time", 0)) - doc.get("start_time", 0)), 6)
    if doc.get("fault"):
        st["FaultStatistics"]["OtherCount"] += 1
        st["FaultStatistics"]["TotalCount"] += 1
    elif doc.get("error") or doc.get("throttle"):
        st["ErrorStatistics"]["ThrottleCount" if doc.get("throttle") else "OtherCount"] += 1
        st["ErrorStatistics"]["TotalCount"] += 1
    else:
        st["OkCount"] += 1


def service_graph(found: dict[str, list[dict]], account: str) -> list[dict]:
    nodes: dict[tuple, dict] = {}

    def node(name, ntype, t0, t1, root=False):
        key = (name, ntype)
        n = nodes.get(key)
        if n is None:
            n = nodes[key] = {"ReferenceId": len(nodes), "Name": name, "Names": [name], "Root": root,
                              "AccountId": account, "Type": ntype, "State": "active", "StartTime": t0,
                              "EndTime": t1, "_edges": {}, "SummaryStatistics": _stats()}
        n["StartTime"], n["EndTime"] = min(n["StartTime"], t0), max(n["EndTime"], t1)
        n["Root"] = n["Root"] or root
        return n

    def edge(src, dst, doc):
        e = src["_edges"].get(dst["ReferenceId"])
        t0, t1 = doc.get("start_time", 0), doc.get("end_time", doc.get("start_time", 0))
        if e is None:
            e = src["_edges"][dst["ReferenceId"]] = {"ReferenceId": dst["ReferenceId"], "StartTime": t0, "EndTime": t1,
                                                     "SummaryStatistics": _stats(), "Aliases": []}
        e["StartTime"], e["EndTime"] = min(e["StartTime"], t0), max(e["EndTime"], t1)
        _count(e["SummaryStatistics"], doc)

    for segs in found.values():
        flat = flatten(segs)
        by_id = {s.get("id"): s for s in flat}

        def owner(doc):
            """The segment a (sub)segment belongs to, climbing parents of independent subsegments."""
            seen = 0
            while doc is not None and doc["_sub"] and seen < 64:
                doc = by_id.get(doc["_top"]) if doc["_top"] else by_id.get(doc["_parent"])
                seen += 1
            return doc if doc is not None and not doc["_sub"] else None

        def node_of(doc, root=False):
            return node(doc.get("name"), _node_type(doc), doc.get("start_time", 0),
                        doc.get("end_time", doc.get("start_time", 0)), root)
        for s in flat:
            if s["_sub"]:
                if s.get("namespace") in ("aws", "remote"):       # a downstream call: an inferred node
                    me, up = node_of(s), owner(s)
                    _count(me["SummaryStatistics"], s)
                    if up is not None:
                        edge(node_of(up), me, s)
                continue
            me = node_of(s)
            _count(me["SummaryStatistics"], s)
            parent = by_id.get(s.get("parent_id"))
            up = owner(parent) if parent is not None else None
            if up is None:
                edge(node("client", "client", s.get("start_time", 0), s.get("end_time", 0), root=True), me, s)
            elif up is not s:
                edge(node_of(up), me, s)
    out = []
    for n in nodes.values():
        n["Edges"] = list(n.pop("_edges").values())
        out.append(n)
    return out


# -- filter expressions -------------------------------------------------------------------
_TOK = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>&&|\|\||!=|<=|>=|[=<>!(),])'
                  r'|(?P<word>[A-Za-z_][A-Za-z0-9_.\-]*))')
_CMP = {"=", "!=", "<", "<=", ">", ">=", "CONTAINS", "BEGINSWITH", "ENDSWITH"}


class Filter:
    def __init__(self, text: str):
        toks, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = _TOK.match(text, pos)
            if m is None or m.end() == pos:
                raise _invalid(f"Invalid filter expression: unexpected input at position {pos}")
            kind = m.lastgroup
            toks.append((kind, m.group(kind)))
            pos = m.end()
        self.toks, self.i = toks, 0
        self.tree = self._or()
        if self.i != len(toks):
            raise _invalid("Invalid filter expression")

    def _peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def _or(self):
        node = self._and()
        while self._peek()[1] in ("||",) or (self._peek()[0] == "word" and self._peek()[1].upper() == "OR"):
            self.i += 1
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._not()
        while self._peek()[1] in ("&&",) or (self._peek()[0] == "word" and self._peek()[1].upper() == "AND"):
            self.i += 1
            node = ("and", node, self._not())
        return node

    def _not(self):
        k, v = self._peek()
        if v == "!" or (k == "word" and v.upper() == "NOT"):
            self.i += 1
            return ("not", self._not())
        return self._atom()

    def _atom(self):
        k, v = self._peek()
        self.i += 1
        if v == "(":
            node = self._or()
            if self._peek()[1] != ")":
                raise _invalid("Invalid filter expression: unbalanced parentheses")
            self.i += 1
            return node
        if k != "word":
            raise _invalid("Invalid filter expression")
        word = v.lower()
        if word in ("service", "id") and self._peek()[1] == "(":
            self.i += 1
            arg = ""
            if self._peek()[0] == "str":
                arg = json.loads(self._peek()[1])
                self.i += 1
            if self._peek()[1] != ")":
                raise _invalid("Invalid filter expression")
            self.i += 1
            return ("fn", word, arg)
        if word in ("ok", "error", "fault", "throttle", "partial") and self._peek()[1] not in _CMP and \
                (self._peek()[0] != "word" or self._peek()[1].upper() not in _CMP):
            return ("flag", word)
        ok, op = self._peek()
        if op is None or (op not in _CMP and op.upper() not in _CMP):
            raise _invalid("Invalid filter expression: expected a comparison")
        self.i += 1
        vk, vv = self._peek()
        self.i += 1
        if vk == "str":
            value = json.loads(vv)
        elif vk == "num":
            value = float(vv)
        elif vk == "word" and vv.lower() in ("true", "false"):
            value = vv.lower() == "true"
        else:
            raise _invalid("Invalid filter expression: expected a value")
        return ("cmp", word, op.upper(), value)

    def matches(self, summary: dict, segs: list[dict]) -> bool:
        return self._eval(self.tree, summary, segs)

    def _eval(self, n, s, segs) -> bool:
        kind = n[0]
        if kind == "or":
            return self._eval(n[1], s, segs) or self._eval(n[2], s, segs)
        if kind == "and":
            return self._eval(n[1], s, segs) and self._eval(n[2], s, segs)
        if kind == "not":
            return not self._eval(n[1], s, segs)
        if kind == "fn":
            if n[1] == "service":
                return any(x["Name"] == n[2] for x in s["ServiceIds"]) or not n[2]
            return s["Id"] == n[2]
        if kind == "flag":
            return {"ok": not (s["HasFault"] or s["HasError"]), "error": s["HasError"], "fault": s["HasFault"],
                    "throttle": s["HasThrottle"], "partial": s["IsPartial"]}[n[1]]
        _, field, op, value = n
        actual = self._field(field, s)
        if actual is None:
            return op == "!="
        return _compare(actual, op, value)

    @staticmethod
    def _field(field: str, s: dict):
        http = s.get("Http") or {}
        simple = {"responsetime": s.get("ResponseTime"), "duration": s.get("Duration"), "id": s.get("Id"),
                  "http.status": http.get("HttpStatus"), "http.url": http.get("HttpURL"),
                  "http.method": http.get("HttpMethod"), "http.useragent": http.get("UserAgent"),
                  "http.clientip": http.get("ClientIp")}
        if field in simple:
            return simple[field]
        if field.startswith("annotation."):
            vals = s.get("Annotations", {}).get(field[11:])
            if vals:
                v = vals[0]["AnnotationValue"]
                return next(iter(v.values()))
        return None


def _compare(a, op, b) -> bool:
    try:
        if op == "=":
            return a == b
        if op == "!=":
            return a != b
        if op == "CONTAINS":
            return str(b) in str(a)
        if op == "BEGINSWITH":
            return str(a).startswith(str(b))
        if op == "ENDSWITH":
            return str(a).endswith(str(b))
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    except TypeError:
        return False
