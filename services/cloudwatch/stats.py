"""Statistic sets and the statistics CloudWatch computes from them.

A *slot* is the aggregate of one metric over one time bucket:
``[SampleCount, Sum, Minimum, Maximum, histogram]``. The histogram maps a
log-scale bucket (relative width 2 %) to ``[count, sum]`` of the samples in
it, so a bucket stands for its mean (exact when its values are equal,
within 1 % otherwise); it merges exactly, so percentiles survive roll-ups
(1 s -> 1 min -> 5 min -> 1 h). Data published as a statistic set carries no
histogram, and then percentiles are unavailable for it, as at AWS.
"""

from __future__ import annotations

import math
import re

GAMMA = 1.02
_LOG_G = math.log(GAMMA)
_BIAS = 1400                      # bucket index offset: |v| down to ~1e-12 keeps its own buckets
_MAX_IDX = 2 * _BIAS + 4000

# AWS's statistic names
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PCT = r"(?:\d{1,2}(?:\.\d{1,10})?|100(?:\.0{1,10})?)"
_SHORT = re.compile(rf"^(p|tm|wm|tc|ts)({_PCT})$")
_BOUND = r"(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?)?"
_RANGE = re.compile(rf"^(TM|WM|TC|TS|PR)\({_BOUND}:{_BOUND}\)$")


def bucket_of(v: float) -> int:
    if v == 0:
        return 0
    a = abs(v)
    i = math.ceil(math.log(a) / _LOG_G) + _BIAS
    i = 1 if i < 1 else (_MAX_IDX if i > _MAX_IDX else i)
    return i if v > 0 else -i


def new_slot() -> list:
    return [0.0, 0.0, math.inf, -math.inf, {}]


def add_value(slot: list, value: float, n: float = 1.0) -> None:
    slot[0] += n
    slot[1] += value * n
    if value < slot[2]:
        slot[2] = value
    if value > slot[3]:
        slot[3] = value
    _hist_add(slot[4], bucket_of(value), n, value * n)


def _hist_add(h: dict, b: int, n: float, total: float) -> None:
    cur = h.get(b)
    if cur is None:
        h[b] = [n, total]
    else:
        cur[0] += n
        cur[1] += total


def add_stats(slot: list, count: float, total: float, lo: float, hi: float, hist: dict | None) -> None:
    slot[0] += count
    slot[1] += total
    if lo < slot[2]:
        slot[2] = lo
    if hi > slot[3]:
        slot[3] = hi
    if hist:
        h = slot[4]
        for b, (n, s) in hist.items():
            _hist_add(h, b, n, s)


def merge(slot: list, other: list) -> None:
    add_stats(slot, other[0], other[1], other[2], other[3], other[4])


def from_samples(count: float, total: float, lo: float, hi: float, samples: list) -> list:
    """A slot from a telemetry statistic set: each reservoir sample stands for count/len samples."""
    slot = [count, total, lo, hi, {}]
    if samples:
        w = count / len(samples)
        h = slot[4]
        for v in samples:
            _hist_add(h, bucket_of(v), w, v * w)
    return slot


# -- statistics -------------------------------------------------------------------
def is_extended(name: str) -> bool:
    return name == "IQM" or bool(_SHORT.match(name) or _RANGE.match(name))


def valid_extended(name: str) -> bool:
    if not is_extended(name):
        return False
    m = _RANGE.match(name)
    if m:
        lo, hi = m.group(2), m.group(3)
        if lo is None and hi is None:
            return False
        for b in (lo, hi):
            if b is not None and b.endswith("%") and float(b[:-1]) > 100:
                return False
    return True


def statistic(slot: list, name: str) -> float | None:
    """`name` of one slot: a standard or an extended statistic; None when unavailable."""
    n = slot[0]
    if n <= 0:
        return None if name != "SampleCount" else 0.0
    if name == "SampleCount":
        return n
    if name == "Sum":
        return slot[1]
    if name == "Average":
        return slot[1] / n
    if name == "Minimum":
        return slot[2]
    if name == "Maximum":
        return slot[3]
    return extended(slot, name)


def _sorted_buckets(slot: list) -> list[tuple[float, float]]:
    lo, hi = slot[2], slot[3]
    out = []
    for c, s in slot[4].values():
        if c > 0:
            out.append((min(max(s / c, lo), hi), c))
    out.sort()
    return out


def percentile(slot: list, p: float) -> float | None:
    buckets = _sorted_buckets(slot)
    total = sum(c for _, c in buckets)
    if total <= 0:
        return None
    if p <= 0:
        return slot[2]
    if p >= 100:
        return slot[3]
    rank = p / 100.0 * total
    acc = 0.0
    for v, c in buckets:
        acc += c
        if acc >= rank - 1e-9:
            return v
    return buckets[-1][0]


def _bound(text: str | None, slot: list, low: bool) -> float:
    if text is None:
        return -math.inf if low else math.inf
    if text.endswith("%"):
        p = float(text[:-1])
        if low and p <= 0:
            return -math.inf
        if not low and p >= 100:
            return math.inf
        v = percentile(slot, p)
        return v if v is not None else (-math.inf if low else math.inf)
    return float(text)


def extended(slot: list, name: str) -> float | None:
    if not slot[4]:
        return None
    if name == "IQM":
        kind, lo_t, hi_t = "TM", "25%", "75%"
    else:
        m = _SHORT.match(name)
        if m:
            kind, pct = m.group(1), m.group(2)
            if kind == "p":
                return percentile(slot, float(pct))
            kind, lo_t, hi_t = kind.upper(), None, pct + "%"
        else:
            m = _RANGE.match(name)
            if m is None:
                return None
            kind, lo_t, hi_t = m.group(1), m.group(2), m.group(3)
    buckets = _sorted_buckets(slot)
    lo, hi = _bound(lo_t, slot, True), _bound(hi_t, slot, False)
    total = sum(c for _, c in buckets)
    if kind == "PR":      # absolute bounds only: share of values in (lo, hi]
        if any(t is not None and t.endswith("%") for t in (lo_t, hi_t)):
            return None
        inside = sum(c for v, c in buckets if (v > lo or lo == -math.inf) and v <= hi)
        return 100.0 * inside / total if total else None
    if kind == "WM":
        clamped = [(min(max(v, lo), hi), c) for v, c in buckets]
        return sum(v * c for v, c in clamped) / total if total else None
    # trimmed: lower bound exclusive, upper inclusive (as AWS defines TM)
    sel = [(v, c) for v, c in buckets if (v > lo or lo == -math.inf) and v <= hi]
    cnt = sum(c for _, c in sel)
    s = sum(v * c for v, c in sel)
    if kind == "TC":
        return cnt
    if kind == "TS":
        return s
    return s / cnt if cnt else None
