"""An environment's web server URL: MWAA's own paths, and Airflow's UI and API behind them.

protocols/mwaa_web hands every request on the environment's HTTPS listener
here:

- ``POST /aws_mwaa/cli`` with ``Authorization: Bearer <CliToken>`` and the
  command as a text body runs that Airflow CLI command, answered as MWAA
  does: ``{"stdout": base64, "stderr": base64}``;
- ``/aws_mwaa/aws-console-sso?login=true#<WebToken>`` logs a browser in:
  the page posts the token from the fragment back, the broker checks it and
  answers with Airflow's session cookie (Airflow 3: the ``_token`` JWT of the
  environment's admin) and a redirect to the UI;
- anything else is proxied to the environment's Airflow API server (UI,
  REST API), bytes in and out.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

from services.errors import ServiceError
from services.mwaa import airflow_http
from services.mwaa.model import check_token, major, token_claims

_JSON = [("Content-Type", "application/json")]
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "date", "server"}
_SSO_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Amazon MWAA</title></head>
<body><form id="f" method="post" action="/aws_mwaa/aws-console-sso"><input type="hidden" name="token" id="t"></form>
<script>
var t = window.location.hash.replace(/^#/, "");
if (t) { document.getElementById("t").value = t; document.getElementById("f").submit(); }
else { document.body.textContent = "Missing web login token: open the URL with #<WebToken> at its end."; }
</script></body></html>
"""
_SESSION = None


def _answer(status: int, doc: dict) -> tuple[int, list, bytes]:
    return status, list(_JSON), json.dumps(doc).encode()


async def _access(gateway, args: dict) -> dict | None:
    try:
        return await gateway.cluster.call(args["k"], "mwaa.Env", {"k": args["k"], "op": "Access", "n": args["n"]})
    except ServiceError:
        return None


async def serve(gateway, args: dict, method: str, path: str, query: str, headers: dict, body: bytes,
                peer) -> tuple[int, list, bytes]:
    if path == "/aws_mwaa/cli":
        return await _cli(gateway, args, method, headers, body)
    if path == "/aws_mwaa/aws-console-sso":
        return await _sso(gateway, args, method, query, headers, body)
    acc = await _access(gateway, args)
    if acc is None or not acc["port"]:
        return 503, [("Content-Type", "text/plain")], b"The Apache Airflow web server is not available.\n"
    return await _proxy(acc, method, path, query, headers, body, peer)


async def _cli(gateway, args, method, headers, body):
    if method != "POST":
        return _answer(405, {"error": "Method not allowed: POST the command as text."})
    auth = headers.get("authorization", "")
    tok = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    claims = token_claims(tok) if tok else None
    acc = await _access(gateway, args) if claims and claims.get("k") == args["k"] else None
    if acc is None or check_token(acc["sec"], tok, "cli") is None:
        return _answer(403, {"error": "Invalid or expired CLI token: create one with CreateCliToken "
                                      "(valid for 60 seconds)."})
    try:
        out = await gateway.cluster.call(args["k"], "mwaa.Env", {"k": args["k"], "op": "Cli", "n": args["n"],
                                                                 "cmd": body.decode("utf-8", "replace").strip()})
    except ServiceError as exc:
        return _answer(400, {"error": exc.message})
    return _answer(out["code"], {"stdout": base64.b64encode(out["stdout"]).decode(),
                                 "stderr": base64.b64encode(out["stderr"]).decode()})


async def _sso(gateway, args, method, query, headers, body):
    if method == "GET" and "token" not in parse_qs(query):
        return 200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], _SSO_PAGE
    form = parse_qs(query) if method == "GET" else parse_qs(body.decode("utf-8", "replace"))
    tok = (form.get("token") or [""])[0]
    claims = token_claims(tok) if tok else None
    acc = await _access(gateway, args) if claims and claims.get("k") == args["k"] else None
    if acc is None or check_token(acc["sec"], tok, "web") is None:
        return 403, [("Content-Type", "text/plain")], b"Invalid or expired web login token.\n"
    if major(acc["version"]) < 3:            # Airflow 2 (FAB): its own login form
        return 302, [("Location", "/login/")], b""
    try:
        jwt = await airflow_http.token(acc)
    except (OSError, ConnectionError, ValueError):
        return 503, [("Content-Type", "text/plain")], b"The Apache Airflow web server is not available.\n"
    return 302, [("Location", "/"), ("Cache-Control", "no-store"),
                 ("Set-Cookie", f"_token={jwt}; Path=/; Secure; HttpOnly; SameSite=Lax")], b""


async def _session():
    global _SESSION
    if _SESSION is None or _SESSION.closed:
        import aiohttp
        _SESSION = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=120),
                                         connector=aiohttp.TCPConnector(limit=64))
    return _SESSION


async def _proxy(acc, method, path, query, headers, body, peer):
    session = await _session()
    fwd = [(k, v) for k, v in headers.items() if k not in _HOP and k != "host"]
    fwd += [("Host", headers.get("host", "")), ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-For", peer[0] if peer else "127.0.0.1")]
    url = f"http://127.0.0.1:{acc['port']}{path}" + (f"?{query}" if query else "")
    try:
        async with session.request(method, url, headers=fwd, data=body or None, allow_redirects=False) as r:
            data = await r.read()
            out = [(k, v) for k, v in r.headers.items() if k.lower() not in _HOP]
            return r.status, out, data
    except (OSError, TimeoutError):
        return 502, [("Content-Type", "text/plain")], b"The Apache Airflow web server did not answer.\n"
