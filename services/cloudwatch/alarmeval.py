"""Metric alarm evaluation (pure): the last EvaluationPeriods datapoints -> state,
reason and reason data, in AWS's words and with its missing-data rules."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"

COMPARE = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
BAND = {
    "LessThanLowerOrGreaterThanUpperThreshold": (lambda v, lo, hi: v < lo or v > hi, "outside the band"),
    "LessThanLowerThreshold": (lambda v, lo, hi: v < lo, "less than the lower thresholds"),
    "GreaterThanUpperThreshold": (lambda v, lo, hi: v > hi, "greater than the upper thresholds"),
}


def iso(ts: float) -> str:
    d = datetime.fromtimestamp(ts, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+0000" % (d.microsecond // 1000)


def _short(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def _num(v: float) -> str:
    return repr(float(v))


def evaluate(cfg: dict, points: list, current: str, now: float, band: dict | None = None) -> tuple:
    """`points`: [(bucket start, value or None, sample count)] oldest first, one per period of
    the evaluation range. Returns (state, reason, reason data JSON) or None to keep the state."""
    n = len(points)
    m = cfg.get("DatapointsToAlarm") or cfg.get("EvaluationPeriods") or n
    treat = cfg.get("TreatMissingData") or "missing"
    op = cfg.get("ComparisonOperator", "GreaterThanThreshold")
    threshold = cfg.get("Threshold")
    present = [p for p in points if p[1] is not None]
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore" and current != INSUFFICIENT:
            return None
        unknown = f"{n} datapoint{'s were' if n != 1 else ' was'} unknown"
        return INSUFFICIENT, f"Insufficient Data: {unknown}.", _reason_data(cfg, points, now, threshold)

    def breaching(p) -> bool:
        if p[1] is None:
            return treat == "breaching"
        if op in BAND:
            lo, hi = (band or {}).get(p[0], (None, None))
            return lo is not None and BAND[op][0](p[1], lo, hi)
        return COMPARE[op][0](p[1], threshold)

    bad = [p for p in points if breaching(p)]
    state = ALARM if len(bad) >= m else OK
    words = BAND[op][1] if op in BAND else COMPARE[op][1]
    if state == ALARM:
        shown = [p for p in reversed(bad) if p[1] is not None]
        verb = "was" if len(bad) == 1 else "were"
        cmp_text = f"{verb} {words}"
        count = len(bad)
    else:
        shown = [p for p in reversed(points) if p[1] is not None and not breaching(p)]
        count = len(shown) if treat != "notBreaching" else n - len(bad)
        cmp_text = f"{'was' if count == 1 else 'were'} not {words}"
    listed = ", ".join(f"{_num(p[1])} ({_short(p[0])})" for p in shown)
    what = f"{count} datapoint{'s' if count != 1 else ''}"
    if n > 1 and count != n:
        what = f"{count} out of the last {n} datapoints"
    thr = "the thresholds" if op in BAND else f"the threshold ({_num(threshold)})"
    if op in BAND:
        cmp_text = f"{'was' if count == 1 else 'were'}" + (f" {words}" if state == ALARM else f" not {words}")
        thr = ""
    reason = f"Threshold Crossed: {what} [{listed}] {cmp_text}{' ' + thr if thr else ''}"
    if n > 1:
        need = m if state == ALARM else n - m + 1
        trans = "OK -> ALARM" if state == ALARM else "ALARM -> OK"
        reason += f" (minimum {need} datapoint{'s' if need != 1 else ''} for {trans} transition)"
    return state, reason + ".", _reason_data(cfg, points, now, threshold)


def _reason_data(cfg: dict, points: list, now: float, threshold) -> str:
    doc: dict = {"version": "1.0", "queryDate": iso(now)}
    if points:
        doc["startDate"] = iso(points[0][0])
    if cfg.get("Statistic"):
        doc["statistic"] = cfg["Statistic"]
    elif cfg.get("ExtendedStatistic"):
        doc["statistic"] = cfg["ExtendedStatistic"]
    if cfg.get("Period"):
        doc["period"] = cfg["Period"]
    doc["recentDatapoints"] = [p[1] for p in points if p[1] is not None]
    if threshold is not None:
        doc["threshold"] = threshold
    doc["evaluatedDatapoints"] = [
        {"timestamp": iso(p[0]), **({"sampleCount": p[2]} if p[2] is not None else {}), "value": p[1]}
        for p in reversed(points) if p[1] is not None]
    return json.dumps(doc, separators=(",", ":"))


def now_s() -> float:
    return time.time()
