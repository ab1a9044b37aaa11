"""Value matchers: what one entry of a pattern's field list accepts.

A leaf of an event is a JSON scalar: ``str``, ``int``/``float``, ``bool`` or
``None``. Each matcher answers ``test(leaf) -> bool``; the ones that can be
found by hashing expose ``index_keys`` (exact values) or ``lower`` (case-
insensitive equality) so the index can jump straight to them.

Type rules follow Event Ruler, where strings are compared with their quotes
on and numbers without: a pattern number never equals an event string, a
prefix/suffix/wildcard only ever matches strings, and every ``anything-but``
form accepts a present value of another type (a number, ``null``, a bool).
"""

from __future__ import annotations

import ipaddress
import re

from .errors import InvalidPattern


def leaf_key(v) -> tuple:
    """Hashable identity of a leaf; numbers compare by value, types never mix."""
    if v is None:
        return ("z",)
    if v is True or v is False:
        return ("b", v)
    if isinstance(v, (int, float)):
        return ("n", float(v)) if abs(v) < 2 ** 53 else ("n", v)
    return ("s", v)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Value:
    """Base: matchers are immutable and compare by their canonical form."""
    __slots__ = ()
    index_keys: tuple = ()
    lower: str | None = None
    absent = False          # {"exists": false}

    def test(self, leaf) -> bool:
        raise NotImplementedError


class Exact(Value):
    """A plain value; strings that are IP literals also match the same address."""
    __slots__ = ("key", "ip", "_kind", "_val")

    def __init__(self, leaf):
        self.key = leaf_key(leaf)
        self.ip = parse_ip(leaf) if isinstance(leaf, str) else None
        self._kind = self.key[0]
        self._val = leaf

    @property
    def index_keys(self):
        return (self.key,)

    def test(self, leaf) -> bool:
        kind = self._kind
        if kind == "s":
            if type(leaf) is str:
                return leaf == self._val or (self.ip is not None and parse_ip(leaf) == self.ip)
            return isinstance(leaf, str) and leaf == self._val
        if kind == "n":
            return (type(leaf) is int or type(leaf) is float) and leaf == self._val
        if kind == "b":
            return leaf is self._val
        return leaf is None


class EqualsIgnoreCase(Value):
    __slots__ = ("lower",)

    def __init__(self, s: str):
        self.lower = s.lower()

    def test(self, leaf) -> bool:
        return isinstance(leaf, str) and leaf.lower() == self.lower


class _Affix(Value):
    __slots__ = ("s", "ci")

    def __init__(self, s: str, ignore_case: bool = False):
        self.s, self.ci = (s.lower() if ignore_case else s), ignore_case

    def test(self, leaf) -> bool:
        if not isinstance(leaf, str):
            return False
        return self._has(leaf.lower() if self.ci else leaf)


class Prefix(_Affix):
    __slots__ = ()

    def _has(self, text: str) -> bool:
        return text.startswith(self.s)


class Suffix(_Affix):
    __slots__ = ()

    def _has(self, text: str) -> bool:
        return text.endswith(self.s)


class Wildcard(Value):
    __slots__ = ("rx", "source")

    def __init__(self, pattern: str):
        self.source = pattern
        self.rx = wildcard_regex(pattern)

    def test(self, leaf) -> bool:
        return isinstance(leaf, str) and self.rx.fullmatch(leaf) is not None


class Numeric(Value):
    """A range: (low, low_open, high, high_open); None bounds are infinite."""
    __slots__ = ("lo", "lo_open", "hi", "hi_open")

    def __init__(self, lo=None, lo_open=False, hi=None, hi_open=False):
        self.lo, self.lo_open, self.hi, self.hi_open = lo, lo_open, hi, hi_open

    def test(self, leaf) -> bool:
        if not is_number(leaf):
            return False
        x = float(leaf)
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        if self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)):
            return False
        return True


class Exists(Value):
    __slots__ = ("absent",)

    def __init__(self, present: bool):
        self.absent = not present

    def test(self, leaf) -> bool:
        return not self.absent


class Cidr(Value):
    __slots__ = ("lo", "hi", "version")

    def __init__(self, lo: int, hi: int, version: int):
        self.lo, self.hi, self.version = lo, hi, version

    def test(self, leaf) -> bool:
        if not isinstance(leaf, str):
            return False
        ip = parse_ip(leaf)
        return ip is not None and ip[0] == self.version and self.lo <= ip[1] <= self.hi


class AnythingBut(Value):
    """Accepts a present value unless it equals one of the listed strings or numbers."""
    __slots__ = ("strings", "numbers")

    def __init__(self, strings=(), numbers=()):
        self.strings, self.numbers = frozenset(strings), frozenset(float(n) for n in numbers)

    def test(self, leaf) -> bool:
        if isinstance(leaf, str):
            return leaf not in self.strings
        if is_number(leaf):
            return float(leaf) not in self.numbers
        return True


class AnythingButString(Value):
    """anything-but with equals-ignore-case / prefix / suffix / wildcard: strings are
    tested, every other present value is accepted."""
    __slots__ = ("kind", "items", "_rx")

    def __init__(self, kind: str, items):
        self.kind = kind
        if kind == "equals-ignore-case":
            self.items = frozenset(s.lower() for s in items)
        else:
            self.items = tuple(items)
        self._rx = tuple(wildcard_regex(p) for p in items) if kind == "wildcard" else ()

    def test(self, leaf) -> bool:
        if not isinstance(leaf, str):
            return True
        k = self.kind
        if k == "equals-ignore-case":
            return leaf.lower() not in self.items
        if k == "prefix":
            return not any(leaf.startswith(p) for p in self.items)
        if k == "suffix":
            return not any(leaf.endswith(p) for p in self.items)
        return not any(rx.fullmatch(leaf) for rx in self._rx)


# -- wildcards ------------------------------------------------------------------

def check_wildcard(text: str) -> None:
    """Event Ruler's wildcard grammar; positions count UTF-8 bytes of ``"text"``."""
    b = ('"' + text + '"').encode()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x2A:                       # *
            if i + 1 < n and b[i + 1] == 0x2A:
                raise InvalidPattern(f"Consecutive wildcard characters at pos {i}")
        elif c == 0x5C:                     # backslash
            if i + 1 < n and b[i + 1] in (0x2A, 0x5C):
                i += 2
                continue
            raise InvalidPattern(f"Invalid escape character at pos {i}")
        i += 1


def wildcard_regex(text: str) -> re.Pattern:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "*\\":
            out.append(re.escape(text[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def wildcard_complexity(text: str, limit: int) -> int:
    """Largest number of pattern states a single input can keep alive at once
    (capped just above `limit`): Event Ruler refuses wildcard rules whose
    matching could fan out past its limit ("Rule is too complex")."""
    toks: list = ['"']
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            toks.append(text[i + 1])
            i += 2
            continue
        toks.append(None if c == "*" else c)
        i += 1
    toks.append('"')
    n = len(toks)

    def closure(states):
        out = set(states)
        stack = list(states)
        while stack:
            s = stack.pop()
            if s < n and toks[s] is None and s + 1 not in out:
                out.add(s + 1)
                stack.append(s + 1)
        return frozenset(out)

    alphabet = {t for t in toks if t is not None} | {"\x00other"}
    start = closure({0})
    seen, todo, worst = {start}, [start], len(start)
    while todo and len(seen) < 5000:
        cur = todo.pop()
        for a in alphabet:
            nxt = set()
            for s in cur:
                if s >= n:
                    continue
                t = toks[s]
                if t is None:
                    nxt.add(s)                  # a star consumes any byte and stays
                elif t == a:
                    nxt.add(s + 1)
            if not nxt:
                continue
            fs = closure(nxt)
            worst = max(worst, len(fs))
            if worst > limit:
                return worst
            if fs not in seen:
                seen.add(fs)
                todo.append(fs)
    return worst


# -- IP addresses -----------------------------------------------------------------

_IPV4 = re.compile(r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$")
_IPV6 = re.compile(r"^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*$")


def parse_ip(s) -> tuple[int, int] | None:
    """(version, integer) of an IPv4/IPv6 literal, or None."""
    if not isinstance(s, str) or not (_IPV4.match(s) or _IPV6.match(s)):
        return None
    try:
        a = ipaddress.ip_address(s)
    except ValueError:
        return None
    return a.version, int(a)


def cidr(text: str) -> Cidr:
    """Event Ruler's CIDR rules and messages (raised without a location)."""
    parts = text.split("/")
    while len(parts) > 1 and parts[-1] == "":       # Java's split drops trailing empties
        parts.pop()
    if len(parts) != 2:
        raise InvalidPattern("Malformed CIDR, one '/' required", located=False)
    try:
        if not re.fullmatch(r"[+-]?[0-9]+", parts[1]):
            raise ValueError
        bits = int(parts[1])
        if not -2 ** 31 <= bits < 2 ** 31:
            raise ValueError
    except ValueError:
        raise InvalidPattern("Malformed CIDR, mask bits must be an integer", located=False) from None
    if bits < 0:
        raise InvalidPattern("Malformed CIDR, mask bits must not be negative", located=False)
    ip_text = parts[0]
    if not (_IPV4.match(ip_text) or _IPV6.match(ip_text)):
        raise InvalidPattern(f"Nonstandard IP address: {ip_text}", located=False)
    try:
        addr = ipaddress.ip_address(ip_text)
    except ValueError:
        raise InvalidPattern(f"Invalid IP address: {ip_text}", located=False) from None
    width = 32 if addr.version == 4 else 128
    if addr.version == 4 and bits > 31:
        raise InvalidPattern("IPv4 mask bits must be < 32", located=False)
    if addr.version == 6 and bits > 127:
        raise InvalidPattern("IPv6 mask bits must be < 128", located=False)
    # As Event Ruler: the range starts at the address given (not the network
    # address) and ends at it with every host bit set.
    lo = int(addr)
    hi = lo | ((1 << (width - bits)) - 1)
    return Cidr(lo, hi, addr.version)
