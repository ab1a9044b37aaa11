"""Dashboards: stored per account (they are global at AWS: no region in the ARN)."""

from __future__ import annotations

import json
import re

from services.cloudwatch.errors import dashboard_invalid, dashboard_not_found, invalid_next_token

KIND_DASHBOARD = "cw.dashboard"
NAME = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
LIST_PAGE = 1000


def dashboard_arn(account: str, name: str) -> str:
    return f"arn:aws:cloudwatch::{account}:dashboard/{name}"


def validate_body(body: str) -> list[dict]:
    """Validation messages for a dashboard body; raises when it cannot be stored at all."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise dashboard_invalid("The input failed to satisfy the constraints specified by an AWS service.",
                                [{"DataPath": "/", "Message": f"Invalid JSON: {exc.msg}"}]) from None
    if not isinstance(doc, dict):
        raise dashboard_invalid("The input failed to satisfy the constraints specified by an AWS service.",
                                [{"DataPath": "/", "Message": "Should be an object"}])
    messages = []
    widgets = doc.get("widgets")
    if widgets is not None and not isinstance(widgets, list):
        raise dashboard_invalid("The input failed to satisfy the constraints specified by an AWS service.",
                                [{"DataPath": "/widgets", "Message": "Should be an array"}])
    for i, w in enumerate(widgets or []):
        if not isinstance(w, dict) or "type" not in w:
            raise dashboard_invalid("The input failed to satisfy the constraints specified by an AWS service.",
                                    [{"DataPath": f"/widgets/{i}", "Message": "Should have required property "
                                      "'type'"}])
        if w["type"] not in ("metric", "text", "log", "alarm", "explorer", "custom"):
            messages.append({"DataPath": f"/widgets/{i}/type", "Message": "Should be equal to one of the allowed "
                             "values"})
    return messages


class Dashboards:
    def __init__(self, store):
        self.store = store

    def put(self, account: str, p: dict, now: float) -> dict:
        name, body = p["DashboardName"], p["DashboardBody"]
        if not NAME.match(name):
            raise dashboard_invalid("The value for field DashboardName contains invalid characters. It can "
                                    "only contain alphanumerics, dash (-) and underscore (_).")
        messages = validate_body(body)
        self.store.put(KIND_DASHBOARD, f"{account}/{name}", {"body": body, "modified": now, "name": name})
        return {"DashboardValidationMessages": messages}

    def get(self, account: str, name: str) -> dict:
        rec = self.store.get(KIND_DASHBOARD, f"{account}/{name}")
        if rec is None:
            raise dashboard_not_found("Dashboard does not exist")
        return {"DashboardArn": dashboard_arn(account, name), "DashboardBody": rec["body"], "DashboardName": name}

    def delete(self, account: str, names: list[str]) -> dict:
        missing = [n for n in names if self.store.get(KIND_DASHBOARD, f"{account}/{n}") is None]
        if missing:
            raise dashboard_not_found(f"The specified dashboard does not exist. [{', '.join(missing)}]")
        for n in names:
            self.store.delete(KIND_DASHBOARD, f"{account}/{n}")
        return {}

    def list(self, account: str, p: dict) -> dict:
        prefix = p.get("DashboardNamePrefix") or ""
        entries = [{"DashboardName": rec["name"], "DashboardArn": dashboard_arn(account, rec["name"]),
                    "LastModified": rec["modified"], "Size": len(rec["body"].encode())}
                   for _, rec in self.store.scan(KIND_DASHBOARD, f"{account}/{prefix}")]
        start = 0
        if p.get("NextToken"):
            try:
                start = int(p["NextToken"])
            except ValueError:
                raise invalid_next_token() from None
        out: dict = {"DashboardEntries": entries[start:start + LIST_PAGE]}
        if start + LIST_PAGE < len(entries):
            out["NextToken"] = str(start + LIST_PAGE)
        return out
