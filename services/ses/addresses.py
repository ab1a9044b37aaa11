"""Email addresses as SES reads them: parsing, validation, identities, simulator."""

from __future__ import annotations

import re
from email.utils import getaddresses, parseaddr

from services.ses.errors import invalid_parameter

SIMULATOR_DOMAIN = "simulator.amazonses.com"
SIMULATOR_BOXES = ("success", "bounce", "ooto", "complaint", "suppressionlist")

# the forms nearly every client sends: a@b, <a@b>, Name <a@b>, "Name, Jr." <a@b>
_SIMPLE = re.compile(r'^\s*(?:"[^"\\]*"\s*|[^"<>,;:()\\]*?)?<?([^\s<>",;:()\\]+@[^\s<>",;:()\\]+)>?\s*$')
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$")
_LOCAL_BAD = re.compile(r"[\x00-\x20\x7f]")


def addr_spec(value: str) -> str:
    """The bare address of ``"Name <a@b>"`` or ``a@b``."""
    m = _SIMPLE.match(value)
    if m is not None and (value.count("<") == value.count(">") <= 1):
        return m.group(1)
    return parseaddr(value)[1] or value.strip()


def check_address(value: str) -> str:
    """Validate one address (display name allowed); returns the bare address."""
    addr = addr_spec(value)
    if "@" not in addr:
        raise invalid_parameter("Missing final '@domain'")
    local, _, domain = addr.rpartition("@")
    if not local or _LOCAL_BAD.search(local):
        raise invalid_parameter("Local address contains control or whitespace")
    if not domain or not _DOMAIN.match(domain.rstrip(".")):
        raise invalid_parameter(f"Domain contains illegal character" if domain else "Missing final '@domain'")
    return addr


def header_addresses(values: list[str]) -> list[str]:
    """Bare addresses from header values (each may hold several, comma separated)."""
    out = []
    for v in values:
        if '"' in v or "(" in v or ":" in v:
            out.extend(a for _n, a in getaddresses([v]) if a)
            continue
        for part in v.split(","):
            if part.strip():
                a = addr_spec(part)
                if a:
                    out.append(a)
    return out


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def is_domain(identity: str) -> bool:
    return "@" not in identity


def check_domain(domain: str) -> bool:
    return bool(_DOMAIN.match(domain.rstrip(".")))


def identity_candidates(address: str) -> list[str]:
    """Identities that authorise sending as `address`: itself, its domain and parent domains."""
    out = [address.lower()]
    domain = domain_of(address)
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        out.append(".".join(parts[i:]))
    return out


def simulator_box(address: str) -> str | None:
    """'success', 'bounce', ... for a mailbox-simulator address (labels like bounce+x@ allowed)."""
    local, _, domain = address.lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return None
    box = local.split("+", 1)[0]
    return box if box in SIMULATOR_BOXES else None
