"""Admin paths: ``GET /_broker/mwaa/environments`` (every environment's processes, ports of its
web server URL, restarts, memory) and ``GET /_broker/mwaa/environments/<name>/logs/<component>``
(the tail of a component's console log: scheduler, dag-processor, webserver, triggerer,
requirements_install, db_migrate, startup_script), for the default account and region unless
``?account=&region=`` say otherwise."""

from __future__ import annotations

import json
import re
from pathlib import Path

_LOGS = re.compile(r"^/_broker/mwaa/environments/([a-zA-Z][0-9a-zA-Z_-]*)/logs/([a-z_-]+)$")


async def handle(gateway, method: str, path: str, query: dict, headers: dict, body: bytes):
    if method != "GET":
        return None
    run = gateway.run
    account = query.get("account") or run.config.get("aws.default_account", "000000000000")
    region = query.get("region") or run.config.get("aws.default_region", "us-east-1")
    if path.rstrip("/") == "/_broker/mwaa/environments":
        parts = await gateway.cluster.call_all("mwaa.Health", {"memory": True})
        envs = [e for _p, lst in parts for e in lst]
        return 200, "application/json", json.dumps({"environments": envs}).encode()
    m = _LOGS.match(path)
    if m is None:
        return None
    f = Path(run.data_dir) / "mwaa" / "environments" / account / region / m.group(1) / "console" / f"{m.group(2)}.log"
    if not f.is_file():
        return 404, "application/json", json.dumps({"error": f"no log {m.group(2)} for {m.group(1)}"}).encode()
    n = int(query.get("bytes") or 65536)
    with open(f, "rb") as fh:
        fh.seek(max(0, fh.seek(0, 2) - n))
        return 200, "text/plain; charset=utf-8", fh.read()
