"""Connections, API destinations, global endpoints and partner event sources.

Connections keep their secrets (passwords, API key values, OAuth client
secrets) in the namespace record, sealed by the store's encryption at rest;
Describe answers never include them. An OAuth connection is AUTHORIZING
until its first token fetch, as at AWS; an API destination is ACTIVE while
its connection is AUTHORIZED.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid

from .names import arn, err, exists, lookup, not_found, paged, validation
from .namespace import K_CONN, K_DEST, K_ENDPOINT, K_ESOURCE, K_PSOURCE, _clean, _sec

log = logging.getLogger("broker.events")

_AUTH_PARAM = {"BASIC": "BasicAuthParameters", "API_KEY": "ApiKeyAuthParameters",
               "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters"}


def _public_auth(auth: dict) -> dict:
    """AuthParameters as Describe shows them: no secrets."""
    out: dict = {}
    if "BasicAuthParameters" in auth:
        out["BasicAuthParameters"] = {"Username": auth["BasicAuthParameters"].get("Username")}
    if "ApiKeyAuthParameters" in auth:
        out["ApiKeyAuthParameters"] = {"ApiKeyName": auth["ApiKeyAuthParameters"].get("ApiKeyName")}
    if "OAuthParameters" in auth:
        o = auth["OAuthParameters"]
        view = {"ClientParameters": {"ClientID": (o.get("ClientParameters") or {}).get("ClientID")},
                "AuthorizationEndpoint": o.get("AuthorizationEndpoint"), "HttpMethod": o.get("HttpMethod")}
        if o.get("OAuthHttpParameters"):
            view["OAuthHttpParameters"] = _public_http(o["OAuthHttpParameters"])
        out["OAuthParameters"] = view
    if "InvocationHttpParameters" in auth:
        out["InvocationHttpParameters"] = _public_http(auth["InvocationHttpParameters"])
    if "ConnectivityParameters" in auth:
        out["ConnectivityParameters"] = auth["ConnectivityParameters"]
    return out


def _public_http(h: dict) -> dict:
    def hide(lst):
        return [{**p, "Value": None} if p.get("IsValueSecret") else p for p in lst]
    return {k: [_clean(p) for p in hide(v)] for k, v in (h or {}).items()}


def _merge_auth(old: dict, new: dict) -> dict:
    out = dict(old)
    for k, v in (new or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_auth(out[k], v)
        else:
            out[k] = v
    return out


class ConnectionOps:
    # -- connections ----------------------------------------------------------------------
    def _conn(self, ns, name) -> dict:
        return lookup(ns.conns, name, f"Failed to describe the connection(s). Connection '{name}' does not exist.")

    def _conn_arn(self, ns, c) -> str:
        return arn(ns.account, ns.region, "connection", f"{c['n']}/{c['id']}")

    def _conn_brief(self, ns, c, state: str | None = None) -> dict:
        return _clean({"ConnectionArn": self._conn_arn(ns, c), "ConnectionState": state or c["st"],
                       "CreationTime": _sec(c["c"]), "LastModifiedTime": _sec(c["m"]),
                       "LastAuthorizedTime": _sec(c.get("la"))})

    def ns_CreateConnection(self, ns, p, info):
        name = p["Name"]
        if name in ns.conns:
            raise exists(f"Connection {name} already exists.")
        kind = p["AuthorizationType"]
        auth = p.get("AuthParameters") or {}
        if _AUTH_PARAM[kind] not in auth:
            raise validation(f"AuthParameters.{_AUTH_PARAM[kind]} must be specified for authorization type {kind}.")
        now = self.part.now_ms()
        oauth = kind == "OAUTH_CLIENT_CREDENTIALS"
        c = {"n": name, "id": str(uuid.uuid4()), "d": p.get("Description"), "type": kind, "auth": auth,
             "st": "AUTHORIZING" if oauth else "AUTHORIZED", "c": now, "m": now, "la": None if oauth else now,
             "sid": f"{uuid.uuid4()}-{secrets.token_hex(3)}", "icp": p.get("InvocationConnectivityParameters"),
             "kms": p.get("KmsKeyIdentifier")}
        ns.conns[name] = c
        self._ns_save(ns, K_CONN, name)
        if oauth:
            self.part.after_commit(lambda: self._authorize_soon(ns, name))
        out = self._conn_brief(ns, c)
        out.pop("LastAuthorizedTime", None)
        return out

    def _authorize_soon(self, ns, name: str) -> None:
        if self.closed:
            return
        asyncio.get_running_loop().create_task(self._authorize(ns, name))

    async def _authorize(self, ns, name: str) -> None:
        from .delivery import authorization_header
        c = ns.conns.get(name)
        if c is None:
            return
        try:
            await authorization_header(self._conn_runtime(ns, c), force=True)
            c["st"], c["la"] = "AUTHORIZED", self.part.now_ms()
            c.pop("why", None)
        except Exception as exc:
            c["st"], c["why"] = "DEAUTHORIZED", f"Failed to authorize connection: {getattr(exc, 'reason', exc)}"
        if ns.conns.get(name) is c:
            self._ns_save(ns, K_CONN, name)
            self.part.flush_soon()

    def _conn_runtime(self, ns, c) -> dict:
        return {"arn": self._conn_arn(ns, c), "type": c["type"], "auth": c["auth"]}

    def ns_DescribeConnection(self, ns, p, info):
        c = self._conn(ns, p["Name"])
        return _clean({"ConnectionArn": self._conn_arn(ns, c), "Name": c["n"], "Description": c.get("d"),
                       "InvocationConnectivityParameters": c.get("icp"), "ConnectionState": c["st"],
                       "StateReason": c.get("why"), "AuthorizationType": c["type"],
                       "SecretArn": f"arn:aws:secretsmanager:{ns.region}:{ns.account}:secret:events!connection/"
                                    f"{c['n']}/{c['sid']}",
                       "KmsKeyIdentifier": c.get("kms"), "AuthParameters": _public_auth(c["auth"]),
                       "CreationTime": _sec(c["c"]), "LastModifiedTime": _sec(c["m"]),
                       "LastAuthorizedTime": _sec(c.get("la") or c["c"])})

    def ns_UpdateConnection(self, ns, p, info):
        c = self._conn(ns, p["Name"])
        if p.get("AuthorizationType"):
            c["type"] = p["AuthorizationType"]
        if p.get("AuthParameters"):
            c["auth"] = _merge_auth(c["auth"], p["AuthParameters"])
        for param, field in (("Description", "d"), ("InvocationConnectivityParameters", "icp"),
                             ("KmsKeyIdentifier", "kms")):
            if param in p:
                c[field] = p[param]
        c["m"] = self.part.now_ms()
        if c["type"] == "OAUTH_CLIENT_CREDENTIALS":
            c["st"] = "AUTHORIZING"
            self.part.after_commit(lambda: self._authorize_soon(ns, c["n"]))
        else:
            c["st"], c["la"] = "AUTHORIZED", c["m"]
        self._ns_save(ns, K_CONN, c["n"])
        self._forget_destinations(ns)
        return self._conn_brief(ns, c)

    def ns_DeleteConnection(self, ns, p, info):
        c = self._conn(ns, p["Name"])
        out = self._conn_brief(ns, c, "DELETING")
        out["LastAuthorizedTime"] = _sec(c.get("la") or c["c"])
        self._ns_drop(ns, K_CONN, c["n"])
        self._forget_destinations(ns)
        return out

    def ns_DeauthorizeConnection(self, ns, p, info):
        c = self._conn(ns, p["Name"])
        c["st"], c["m"] = "DEAUTHORIZED", self.part.now_ms()
        self._ns_save(ns, K_CONN, c["n"])
        self._forget_destinations(ns)
        out = self._conn_brief(ns, c, "DEAUTHORIZING")
        out["LastAuthorizedTime"] = _sec(c.get("la") or c["c"])
        return out

    def ns_ListConnections(self, ns, p, info):
        items = sorted(ns.conns.values(), key=lambda c: c["n"])
        if p.get("NamePrefix"):
            items = [c for c in items if c["n"].startswith(p["NamePrefix"])]
        if p.get("ConnectionState"):
            items = [c for c in items if c["st"] == p["ConnectionState"]]
        return paged(items, p, "Connections", lambda c: _clean({
            "ConnectionArn": self._conn_arn(ns, c), "Name": c["n"], "ConnectionState": c["st"],
            "StateReason": c.get("why"), "AuthorizationType": c["type"], "CreationTime": _sec(c["c"]),
            "LastModifiedTime": _sec(c["m"]), "LastAuthorizedTime": _sec(c.get("la") or c["c"])}))

    # -- API destinations ----------------------------------------------------------------------
    def _dest(self, ns, name) -> dict:
        return lookup(ns.dests, name,
                      f"Failed to describe the api-destination(s). An api-destination '{name}' does not exist.")

    def _dest_arn(self, ns, d) -> str:
        return arn(ns.account, ns.region, "api-destination", f"{d['n']}/{d['id']}")

    def _conn_by_arn(self, ns, conn_arn: str) -> dict | None:
        name = conn_arn.split(":connection/", 1)[-1].split("/", 1)[0]
        c = ns.conns.get(name)
        return c if c is not None and self._conn_arn(ns, c) == conn_arn else None

    def _dest_state(self, ns, d) -> str:
        c = self._conn_by_arn(ns, d["conn"])
        return "ACTIVE" if c is not None and c["st"] == "AUTHORIZED" else "INACTIVE"

    def _dest_brief(self, ns, d) -> dict:
        return {"ApiDestinationArn": self._dest_arn(ns, d), "ApiDestinationState": self._dest_state(ns, d),
                "CreationTime": _sec(d["c"]), "LastModifiedTime": _sec(d["m"])}

    def ns_CreateApiDestination(self, ns, p, info):
        name = p["Name"]
        if name in ns.dests:
            raise exists(f"An api-destination '{name}' already exists.")
        if self._conn_by_arn(ns, p["ConnectionArn"]) is None:
            raise not_found(f"Connection '{p['ConnectionArn']}' does not exist.")
        now = self.part.now_ms()
        ns.dests[name] = {"n": name, "id": str(uuid.uuid4()), "d": p.get("Description"), "conn": p["ConnectionArn"],
                          "url": p["InvocationEndpoint"], "method": p["HttpMethod"],
                          "rate": p.get("InvocationRateLimitPerSecond") or 300, "c": now, "m": now}
        self._ns_save(ns, K_DEST, name)
        return self._dest_brief(ns, ns.dests[name])

    def ns_DescribeApiDestination(self, ns, p, info):
        d = self._dest(ns, p["Name"])
        return _clean({**self._dest_brief(ns, d), "Name": d["n"], "Description": d.get("d"),
                       "ConnectionArn": d["conn"], "InvocationEndpoint": d["url"], "HttpMethod": d["method"],
                       "InvocationRateLimitPerSecond": d["rate"]})

    def ns_UpdateApiDestination(self, ns, p, info):
        d = self._dest(ns, p["Name"])
        if p.get("ConnectionArn"):
            if self._conn_by_arn(ns, p["ConnectionArn"]) is None:
                raise not_found(f"Connection '{p['ConnectionArn']}' does not exist.")
            d["conn"] = p["ConnectionArn"]
        for param, field in (("Description", "d"), ("InvocationEndpoint", "url"), ("HttpMethod", "method"),
                             ("InvocationRateLimitPerSecond", "rate")):
            if p.get(param) is not None:
                d[field] = p[param]
        d["m"] = self.part.now_ms()
        self._ns_save(ns, K_DEST, d["n"])
        self._forget_destinations(ns)
        return self._dest_brief(ns, d)

    def ns_DeleteApiDestination(self, ns, p, info):
        d = self._dest(ns, p["Name"])
        self._ns_drop(ns, K_DEST, d["n"])
        self._forget_destinations(ns)
        return {}

    def ns_ListApiDestinations(self, ns, p, info):
        items = sorted(ns.dests.values(), key=lambda d: d["n"])
        if p.get("NamePrefix"):
            items = [d for d in items if d["n"].startswith(p["NamePrefix"])]
        if p.get("ConnectionArn"):
            items = [d for d in items if d["conn"] == p["ConnectionArn"]]
        return paged(items, p, "ApiDestinations", lambda d: _clean({
            **self._dest_brief(ns, d), "Name": d["n"], "ConnectionArn": d["conn"], "InvocationEndpoint": d["url"],
            "HttpMethod": d["method"], "InvocationRateLimitPerSecond": d["rate"]}))

    def ns_ResolveDestination(self, ns, p, info):
        """Internal: what a delivery needs to call an API destination (secrets included)."""
        name = p["arn"].split(":api-destination/", 1)[-1].split("/", 1)[0]
        d = ns.dests.get(name)
        if d is None or self._dest_arn(ns, d) != p["arn"]:
            return None
        c = self._conn_by_arn(ns, d["conn"])
        return {"dest": {"endpoint": d["url"], "method": d["method"], "rate": d["rate"]},
                "conn": self._conn_runtime(ns, c) if c else None, "rate": d["rate"]}

    def _forget_destinations(self, ns) -> None:
        from .delivery import destination_cache
        prefix = f"arn:aws:events:{ns.region}:{ns.account}:api-destination/"
        for k in [k for k in destination_cache if k.startswith(prefix)]:
            del destination_cache[k]

    # -- global endpoints ----------------------------------------------------------------------------
    def _endpoint(self, ns, name) -> dict:
        return lookup(ns.endpoints, name, f"Endpoint {name} does not exist.")

    def _endpoint_view(self, ns, e, full: bool) -> dict:
        out = {"Name": e["n"], "Arn": arn(ns.account, ns.region, "endpoint", e["n"]), "RoutingConfig": e["rc"],
               "ReplicationConfig": e.get("rep"), "EventBuses": e["buses"], "RoleArn": e.get("role"),
               "State": e["st"]}
        if full:
            out.update({"Description": e.get("d"), "EndpointId": e["id"],
                        "EndpointUrl": f"https://{e['id']}.endpoint.events.amazonaws.com",
                        "CreationTime": _sec(e["c"]), "LastModifiedTime": _sec(e["m"])})
        return _clean(out)

    def ns_CreateEndpoint(self, ns, p, info):
        name = p["Name"]
        if name in ns.endpoints:
            raise exists(f"Endpoint {name} already exists.")
        now = self.part.now_ms()
        ns.endpoints[name] = {"n": name, "d": p.get("Description"), "rc": p["RoutingConfig"],
                              "rep": p.get("ReplicationConfig") or {"State": "ENABLED"}, "buses": p["EventBuses"],
                              "role": p.get("RoleArn"), "st": "ACTIVE", "c": now, "m": now,
                              "id": f"{secrets.token_hex(4)}.{secrets.token_hex(2)}"}
        self._ns_save(ns, K_ENDPOINT, name)
        return self._endpoint_view(ns, ns.endpoints[name], False)

    def ns_DescribeEndpoint(self, ns, p, info):
        return self._endpoint_view(ns, self._endpoint(ns, p["Name"]), True)

    def ns_UpdateEndpoint(self, ns, p, info):
        e = self._endpoint(ns, p["Name"])
        for param, field in (("Description", "d"), ("RoutingConfig", "rc"), ("ReplicationConfig", "rep"),
                             ("EventBuses", "buses"), ("RoleArn", "role")):
            if param in p:
                e[field] = p[param]
        e["m"] = self.part.now_ms()
        self._ns_save(ns, K_ENDPOINT, e["n"])
        out = self._endpoint_view(ns, e, True)
        for k in ("Description", "CreationTime", "LastModifiedTime"):
            out.pop(k, None)
        return out

    def ns_DeleteEndpoint(self, ns, p, info):
        self._ns_drop(ns, K_ENDPOINT, self._endpoint(ns, p["Name"])["n"])
        return {}

    def ns_ListEndpoints(self, ns, p, info):
        items = sorted(ns.endpoints.values(), key=lambda e: e["n"])
        if p.get("NamePrefix"):
            items = [e for e in items if e["n"].startswith(p["NamePrefix"])]
        return paged(items, p, "Endpoints", lambda e: self._endpoint_view(ns, e, True), limit="MaxResults")

    # -- partner event sources (partner side) and event sources (customer side) ------------------------
    def ns_CreatePartnerEventSource(self, ns, p, info):
        name = p["Name"]
        src = ns.psources.setdefault(name, {"n": name, "accounts": {}})
        if p["Account"] in src["accounts"]:
            raise exists(f"Event source {name} already exists.")
        now = self.part.now_ms()
        src["accounts"][p["Account"]] = {"c": now, "st": "PENDING"}
        self._ns_save(ns, K_PSOURCE, name)
        return {"EventSourceArn": f"arn:aws:events:{ns.region}::event-source/{name}"}

    def ns_DescribePartnerEventSource(self, ns, p, info):
        if p["Name"] not in ns.psources:
            raise not_found(f"Event source {p['Name']} does not exist.")
        return {"Arn": f"arn:aws:events:{ns.region}::event-source/{p['Name']}", "Name": p["Name"]}

    def ns_DeletePartnerEventSource(self, ns, p, info):
        src = ns.psources.get(p["Name"])
        if src is not None:
            src["accounts"].pop(p["Account"], None)
            if src["accounts"]:
                self._ns_save(ns, K_PSOURCE, p["Name"])
            else:
                self._ns_drop(ns, K_PSOURCE, p["Name"])
        return {}

    def ns_ListPartnerEventSources(self, ns, p, info):
        items = sorted(n for n in ns.psources if n.startswith(p["NamePrefix"]))
        return paged(items, p, "PartnerEventSources",
                     lambda n: {"Arn": f"arn:aws:events:{ns.region}::event-source/{n}", "Name": n})

    def ns_ListPartnerEventSourceAccounts(self, ns, p, info):
        src = ns.psources.get(p["EventSourceName"])
        if src is None:
            raise not_found(f"Event source {p['EventSourceName']} does not exist.")
        out: dict = {"PartnerEventSourceAccounts": [
            {"Account": acct, "CreationTime": _sec(v["c"]), "ExpirationTime": _sec(v["c"] + 15 * 86_400_000),
             "State": v["st"]} for acct, v in sorted(src["accounts"].items())]}
        return out

    def ns_AddEventSource(self, ns, p, info):
        """Internal: a partner made an event source for this account."""
        now = self.part.now_ms()
        ns.esources[p["name"]] = {"n": p["name"], "by": p["by"], "c": now, "st": "PENDING"}
        self._ns_save(ns, K_ESOURCE, p["name"])
        return {}

    def _esource(self, ns, name) -> dict:
        return lookup(ns.esources, name, f"Event source {name} does not exist.")

    def _esource_view(self, ns, s) -> dict:
        return {"Arn": f"arn:aws:events:{ns.region}::event-source/{s['n']}", "CreatedBy": s["by"],
                "CreationTime": _sec(s["c"]), "ExpirationTime": _sec(s["c"] + 15 * 86_400_000), "Name": s["n"],
                "State": s["st"]}

    def ns_DescribeEventSource(self, ns, p, info):
        return self._esource_view(ns, self._esource(ns, p["Name"]))

    def ns_ListEventSources(self, ns, p, info):
        items = sorted(ns.esources.values(), key=lambda s: s["n"])
        if p.get("NamePrefix"):
            items = [s for s in items if s["n"].startswith(p["NamePrefix"])]
        return paged(items, p, "EventSources", lambda s: self._esource_view(ns, s))

    def _set_esource(self, ns, p, state):
        s = self._esource(ns, p["Name"])
        s["st"] = state
        self._ns_save(ns, K_ESOURCE, s["n"])
        return {}

    def ns_ActivateEventSource(self, ns, p, info):
        return self._set_esource(ns, p, "ACTIVE")

    def ns_DeactivateEventSource(self, ns, p, info):
        return self._set_esource(ns, p, "PENDING")


__all__ = ["ConnectionOps", "err"]
