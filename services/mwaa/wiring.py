"""Process hook: environment health as a section of ``/_broker/health`` (gateways only)."""

from __future__ import annotations


async def _health(gateway) -> dict:
    parts = await gateway.cluster.call_all("mwaa.Health", {})
    envs = [e for _p, lst in parts for e in lst]
    bad = [e["name"] for e in envs if e["status"] in ("AVAILABLE", "UPDATING") and not e["healthy"]]
    return {"status": "degraded" if bad else "ok", "environments": envs}


def install(host) -> None:
    sections = getattr(host, "health_sections", None)
    if sections is not None:
        sections["mwaa"] = _health
