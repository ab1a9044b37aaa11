"""The mailbox admin API (``/_broker/ses/...``) and LocalStack's ``/_aws/ses``.

    GET    /_broker/ses/messages[?from=&to=&subject=&text=&id=&account=&region=&direction=&since=&limit=]
    DELETE /_broker/ses/messages[?same filters]         -> {"deleted": n}
    GET    /_broker/ses/messages/wait?<filters>&timeout=S -> first match within S seconds (404 if none)
    GET    /_broker/ses/messages/<id>                   -> parsed: headers, text, html, attachments
    GET    /_broker/ses/messages/<id>/raw               -> message/rfc822
    GET    /_broker/ses/messages/<id>/attachments/<n>   -> the attachment's bytes
    DELETE /_broker/ses/messages/<id>
    GET|POST /_broker/ses/verify?account=&region=&identity=[&token=]  -> verify (POST: without the token)
    GET    /_ses/verify?account=&region=&identity=&token=  -> the link in the verification mail; its
           secret token is the authorization, so it works without the admin token, as a link should
    GET    /_aws/ses[?id=&email=]    DELETE /_aws/ses[?id=]          (LocalStack's shape)
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import datetime

from services.ses.state import ns_key

MAX_WAIT = 120.0
_JSON = "application/json"


def _json(status: int, doc) -> tuple:
    return status, _JSON, json.dumps(doc, indent=1).encode()


def _query(q: dict) -> dict:
    out = {k: q[k] for k in ("id", "from", "to", "subject", "text", "account", "region", "direction") if q.get(k)}
    since = q.get("since")
    if since:
        try:
            out["since"] = int(float(since) * 1000) if since.replace(".", "", 1).isdigit() else int(
                datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            raise _BadRequest(f"since: not a timestamp: {since}") from None
    return out


class _BadRequest(Exception):
    pass


async def _scatter(gateway, op: str, args: dict, q: dict) -> list:
    if q.get("account") and q.get("region"):
        return [await gateway.cluster.call(ns_key(q["account"], q["region"]), op, args)]
    return [r for _p, r in await gateway.cluster.call_all(op, args)]


async def _list(gateway, q: dict, localstack: bool = False) -> list:
    parts = await _scatter(gateway, "ses.MailList", {"q": q, "localstack": localstack}, q)
    out = [m for part in parts for m in part]
    out.sort(key=lambda m: m.get("timestamp") or m.get("Timestamp") or "")
    return out


async def _get(gateway, mail_id: str, raw: bool = False):
    for r in await _scatter(gateway, "ses.MailGet", {"id": mail_id, "raw": raw}, {}):
        if r is not None:
            return r
    return None


async def _wait(gateway, q: dict, timeout: float):
    run = gateway.run
    if q.get("account") and q.get("region"):
        targets = [gateway.cluster.partition(ns_key(q["account"], q["region"]))]
    else:   # partition k is owned by shard k: one waiter per shard covers all its partitions
        targets = list(range(min(run.shards, run.partitions)))
    wait_id = f"{getattr(gateway, 'index', 0)}-{uuid.uuid4().hex}"
    tasks = [asyncio.ensure_future(gateway.cluster.call_partition(p, "ses.MailWait",
                                                                    {"q": q, "timeout": timeout, "wait_id": wait_id}))
             for p in targets]
    found = None
    try:
        for fut in asyncio.as_completed(tasks):
            r = await fut
            if r:
                found = r
                break
    finally:
        pending = [t for t in tasks if not t.done()]
        if pending:
            await asyncio.gather(*(gateway.cluster.call_partition(p, "ses.MailCancelWait", {"wait_id": wait_id})
                                   for p in targets), return_exceptions=True)
            await asyncio.gather(*pending, return_exceptions=True)
    return found


async def _verify(gateway, method: str, q: dict) -> tuple:
    settings = gateway.config
    account = q.get("account") or settings.get("aws.default_account", "000000000000")
    region = q.get("region") or settings.get("aws.default_region", "us-east-1")
    identity = q.get("identity")
    if not identity:
        return _json(400, {"error": "identity is required"})
    if method == "GET" and not q.get("token"):
        return _json(400, {"error": "token is required (POST verifies without one)"})
    r = await gateway.cluster.call(ns_key(account, region), "ses.Verify",
                                   {"a": account, "r": region, "identity": identity, "secret": q.get("token")})
    if not r["verified"]:
        return _json(404, {"verified": False, "error": f"no identity {identity} in {account}/{region} with "
                                                         f"that token"})
    if method == "GET":
        page = (f"<html><body><h1>Congratulations!</h1><p>You have successfully verified an email address. "
                f"You can now start sending email from this address.</p><p>{r['identity']}</p></body></html>")
        return 200, "text/html; charset=utf-8", page.encode()
    return _json(200, {"verified": True, "identity": r["identity"], "account": account, "region": region})


async def handle(gateway, method: str, path: str, query: dict, headers: dict, body: bytes):
    try:
        if path.rstrip("/") == "/_aws/ses":
            return await _localstack(gateway, method, query)
        if path.rstrip("/") == "/_ses/verify" and method == "GET":
            return await _verify(gateway, method, query)
        if not path.startswith("/_broker/ses"):
            return None
        rest = path[len("/_broker/ses"):].strip("/").split("/")
        if rest == ["verify"] and method in ("GET", "POST"):
            return await _verify(gateway, method, query)
        if rest[0] != "messages":
            return _json(404, {"error": f"no admin endpoint {method} {path}"})
        q = _query(query)
        if len(rest) == 1:
            if method == "GET":
                msgs = await _list(gateway, q)
                limit = int(query.get("limit") or 0)
                return _json(200, {"messages": msgs[-limit:] if limit else msgs})
            if method == "DELETE":
                n = sum(await _scatter(gateway, "ses.MailDelete", {"q": q}, q))
                return _json(200, {"deleted": n})
        elif rest[1] == "wait" and len(rest) == 2 and method == "GET":
            timeout = min(float(query.get("timeout") or 10), MAX_WAIT)
            found = await _wait(gateway, q, timeout)
            if found is None:
                return _json(404, {"message": None, "error": f"no matching message within {timeout:g} s"})
            return _json(200, {"message": found})
        else:
            return await _one(gateway, method, rest[1:])
        return _json(405, {"error": f"{method} not allowed on {path}"})
    except _BadRequest as exc:
        return _json(400, {"error": str(exc)})
    except ValueError as exc:
        return _json(400, {"error": str(exc)})


async def _one(gateway, method: str, rest: list[str]):
    mail_id = rest[0]
    if method == "DELETE" and len(rest) == 1:
        n = sum(await _scatter(gateway, "ses.MailDelete", {"id": mail_id}, {}))
        return _json(200 if n else 404, {"deleted": n})
    if method != "GET":
        return _json(405, {"error": f"{method} not allowed"})
    if len(rest) == 2 and rest[1] == "raw":
        r = await _get(gateway, mail_id, raw=True)
        if r is None or r.get("raw") is None:
            return _json(404, {"error": f"no message {mail_id}"})
        return 200, "message/rfc822", bytes(r["raw"])
    doc = await _get(gateway, mail_id)
    if doc is None:
        return _json(404, {"error": f"no message {mail_id}"})
    if len(rest) == 1:
        return _json(200, doc)
    if len(rest) == 3 and rest[1] == "attachments" and rest[2].isdigit():
        atts = doc.get("attachments") or []
        n = int(rest[2])
        if n >= len(atts):
            return _json(404, {"error": f"message {mail_id} has {len(atts)} attachments"})
        a = atts[n]
        extra = [("Content-Disposition", f'attachment; filename="{a["filename"]}"')] if a.get("filename") else []
        return 200, a["contentType"], base64.b64decode(a["content"]), extra
    return _json(404, {"error": "unknown path"})


async def _localstack(gateway, method: str, query: dict):
    if method == "GET":
        msgs = await _list(gateway, {"id": query.get("id")} if query.get("id") else {}, localstack=True)
        if query.get("email"):
            msgs = [m for m in msgs if m.get("Source") == query["email"]]
        return _json(200, {"messages": msgs})
    if method == "DELETE":
        args = {"id": query["id"]} if query.get("id") else {"q": {}}
        await _scatter(gateway, "ses.MailDelete", args, {})
        return 204, _JSON, b""
    return _json(405, {"error": f"{method} not allowed on /_aws/ses"})
