"""HTTP to an environment's Airflow API server on loopback, as its admin user.

Airflow 3 takes a JWT (``POST /auth/token`` with the admin's password,
which only the broker knows); Airflow 2 takes basic auth. Tokens are kept
per environment and password for a while in the process that asked.
"""

from __future__ import annotations

import base64
import json
import time

_TOKENS: dict[tuple, tuple[str, float]] = {}
TOKEN_REUSE_S = 600.0


async def token(acc: dict) -> str:
    from broker.runtime.sinks import http_request
    k = (acc["port"], acc["pw"])
    hit = _TOKENS.get(k)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    status, _h, body = await http_request(
        "POST", f"http://127.0.0.1:{acc['port']}/auth/token", {"Content-Type": "application/json"},
        json.dumps({"username": "admin", "password": acc["pw"]}).encode(), timeout=30)
    if status not in (200, 201):
        raise ConnectionError(f"Airflow refused the admin login ({status})")
    tok = json.loads(body)["access_token"]
    if len(_TOKENS) > 256:
        _TOKENS.clear()
    _TOKENS[k] = (tok, time.monotonic() + TOKEN_REUSE_S)
    return tok


async def auth_header(acc: dict) -> str:
    if int(str(acc["version"]).split(".")[0]) >= 3:
        return "Bearer " + await token(acc)
    return "Basic " + base64.b64encode(f"admin:{acc['pw']}".encode()).decode()


async def request(acc: dict, method: str, path: str, body: bytes | None, timeout: float = 60) -> tuple[int, dict, bytes]:
    """One call to Airflow's API: (status, headers, body); a refused connection is a 503."""
    from broker.runtime.sinks import http_request
    try:
        headers = {"Authorization": await auth_header(acc), "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        status, h, raw = await http_request(method, f"http://127.0.0.1:{acc['port']}{path}", headers, body,
                                            timeout=timeout)
        if status == 401:                                 # restarted with a new secret: log in again
            _TOKENS.pop((acc["port"], acc["pw"]), None)
        return status, h, raw
    except (OSError, ConnectionError) as exc:
        return 503, {}, json.dumps({"detail": f"Apache Airflow is not reachable: {exc}"}).encode()
