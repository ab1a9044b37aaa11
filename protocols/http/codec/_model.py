"""Service model loading from botocore data (+ per-service query overlays)."""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import botocore.session

_OVERLAY_DIR = Path(__file__).parent / "overlays"
_ALIASES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions", "airflow": "mwaa"}


@functools.cache
def _session():
    return botocore.session.get_session()


# Services whose servers do not enforce the model's enums at the edge: the
# value reaches the service, which answers with its own error (SQS takes
# message attribute names in AttributeNames and answers InvalidAttributeName
# for unknown queue attributes, not a ValidationException).
SERVICE_VALIDATES_ENUMS = frozenset({"sqs"})


def _raw_model(name: str) -> dict:
    raw = _session().get_component("data_loader").load_service_model(name, "service-2")
    if name in SERVICE_VALIDATES_ENUMS:   # a copy: botocore's cached model stays intact
        raw = {**raw, "shapes": {k: {a: b for a, b in s.items() if a != "enum"} for k, s in raw["shapes"].items()}}
    return raw


def _apply_overlay(raw: dict, overlay: dict) -> dict:
    m = copy.deepcopy(raw)
    m["metadata"].update(overlay.get("metadata", {}))
    m["metadata"]["protocols"] = ["query"]
    m["metadata"].pop("awsQueryCompatible", None)
    for op, tr in overlay.get("operations", {}).items():
        if op in m["operations"] and m["operations"][op].get("output"):
            m["operations"][op]["output"].update(tr)
    for name, tr in overlay.get("shapes", {}).items():
        sh = m["shapes"].get(name)
        if sh is None:
            continue
        if tr.get("flattened"):
            sh["flattened"] = True
        if "error" in tr:
            sh["error"] = tr["error"]
        for part in ("member", "key", "value"):
            if part in tr and part in sh:
                sh[part].update(tr[part])
        for mname, mt in tr.get("members", {}).items():
            if mname in sh.get("members", {}):
                sh["members"][mname].update(mt)
    return m
