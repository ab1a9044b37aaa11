"""Schedule expressions: ``rate(...)``, ``cron(...)`` and ``at(...)``, as AWS reads them.

AWS's cron has six fields (minutes hours day-of-month month day-of-week
year), exactly one of the two day fields is ``?``, days of the week count
1-7 from Sunday, and ``L``, ``W`` and ``#`` are allowed where AWS documents
them. Validation here follows those rules; the calendar arithmetic is
croniter's (the expression is translated to its 7-field form, with the
weekday numbers shifted to its 0-6 from Sunday).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")
_UNIT_MS = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


class InvalidExpression(ValueError):
    pass


class Schedule:
    """A parsed expression: ``kind`` is "rate", "cron" or "at"."""
    __slots__ = ("text", "kind", "period_ms", "cron", "at")

    def __init__(self, text: str, kind: str, period_ms: int = 0, cron: str = "", at: datetime | None = None):
        self.text, self.kind, self.period_ms, self.cron, self.at = text, kind, period_ms, cron, at

    def next_after(self, after_ms: int, tz: str = "UTC", anchor_ms: int | None = None) -> int | None:
        """First fire time strictly after `after_ms` (epoch ms), or None if none is left.

        Rates count from `anchor_ms` (the schedule's start); cron runs in `tz`.
        """
        if self.kind == "rate":
            a = anchor_ms if anchor_ms is not None else after_ms
            if after_ms < a:
                return a
            n = (after_ms - a) // self.period_ms + 1
            return a + n * self.period_ms
        if self.kind == "at":
            zone = _zone(tz)
            due = int(self.at.replace(tzinfo=zone).timestamp() * 1000)
            return due if due > after_ms else None
        zone = _zone(tz)
        base = datetime.fromtimestamp(after_ms / 1000, zone)
        try:
            nxt = croniter(self.cron, base).get_next(datetime)
        except Exception:   # croniter gives up when a year range is exhausted
            return None
        return int(nxt.timestamp() * 1000)


def _zone(tz: str):
    if not tz or tz == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidExpression(tz) from None


def valid_timezone(tz: str) -> bool:
    try:
        _zone(tz)
        return True
    except InvalidExpression:
        return False


def parse(text: str, *, allow_at: bool = False) -> Schedule:
    """Parse and validate; raises InvalidExpression."""
    if text is None:
        raise InvalidExpression(text)
    m = _RATE.match(text)
    if m:
        value, unit = int(m.group(1)), m.group(2)
        if value <= 0 or (value == 1) != (not unit.endswith("s")):
            raise InvalidExpression(text)
        return Schedule(text, "rate", period_ms=value * _UNIT_MS[unit.rstrip("s")])
    if text.startswith("cron(") and text.endswith(")"):
        return Schedule(text, "cron", cron=_translate_cron(text[5:-1], text))
    if allow_at:
        m = _AT.match(text)
        if m:
            try:
                at = datetime(*(int(g) for g in m.groups()))
            except ValueError:
                raise InvalidExpression(text) from None
            return Schedule(text, "at", at=at)
    raise InvalidExpression(text)


# -- cron -----------------------------------------------------------------------------

_FIELD = {
    # name: (low, high, names, extra characters allowed)
    "minutes": (0, 59, None, ""),
    "hours": (0, 23, None, ""),
    "dom": (1, 31, None, "LW"),
    "month": (1, 12, _MONTHS, ""),
    "dow": (1, 7, _DAYS, "L#"),
    "year": (1970, 2199, None, ""),
}


def _translate_cron(body: str, text: str) -> str:
    parts = body.split(" ")
    if len(parts) != 6 or any(p == "" for p in parts):
        raise InvalidExpression(text)
    minutes, hours, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise InvalidExpression(text)    # exactly one of the day fields is "?"
    for name, value in zip(_FIELD, parts):
        if value == "?" and name in ("dom", "dow"):
            continue
        _check_field(name, value, text)
    cdom = "*" if dom == "?" else dom
    cdow = "*" if dow == "?" else _shift_dow(dow)
    fields = [_single_ranges(f) for f in (minutes, hours, cdom, month, cdow)]
    expr = " ".join(fields) + f" 0 {_single_ranges(year)}"
    if not croniter.is_valid(expr):
        raise InvalidExpression(text)
    return expr


def _check_field(name: str, value: str, text: str) -> None:
    lo, hi, names, _extra = _FIELD[name]
    for item in value.split(","):
        if item == "":
            raise InvalidExpression(text)
        base, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise InvalidExpression(text)
        if base == "*":
            continue
        if name == "dom" and base in ("L", "LW"):
            continue
        if name == "dom" and base.endswith("W") and base[:-1].isdigit():
            base = base[:-1]
        if name == "dow":
            if base == "L":
                continue
            if base.endswith("L"):
                base = base[:-1]
            elif "#" in base:
                base, _, nth = base.partition("#")
                if not nth.isdigit() or not 1 <= int(nth) <= 5:
                    raise InvalidExpression(text)
        bounds = base.split("-")
        if len(bounds) > 2:
            raise InvalidExpression(text)
        for b in bounds:
            if b.isdigit():
                if not lo <= int(b) <= hi:
                    raise InvalidExpression(text)
            elif names is None or b.upper() not in names:
                raise InvalidExpression(text)



def _single_ranges(value: str) -> str:
    """``8-8`` -> ``8``: croniter reads a one-value range as the whole field."""
    out = []
    for item in value.split(","):
        base, slash, step = item.partition("/")
        lo, dash, hi = base.partition("-")
        if dash and lo == hi:
            item = lo
        out.append(item)
    return ",".join(out)


def _shift_dow(value: str) -> str:
    """AWS 1-7 (Sunday first) -> croniter 0-6; ``nL`` -> croniter's ``Ln``."""
    def one(tok: str) -> str:
        return str(int(tok) - 1) if tok.isdigit() else tok

    out = []
    for item in value.split(","):
        base, slash, step = item.partition("/")
        if base.endswith("L") and base != "L":
            out.append("L" + one(base[:-1]))
            continue
        if "#" in base:
            d, _, nth = base.partition("#")
            out.append(f"{one(d)}#{nth}")
            continue
        base = "-".join(one(b) for b in base.split("-")) if base not in ("*", "L") else ("6" if base == "L" else base)
        out.append(base + (slash + step if slash else ""))
    return ",".join(out)


def utc_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


__all__ = ["Schedule", "InvalidExpression", "parse", "valid_timezone", "utc_ms"]
