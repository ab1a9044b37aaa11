"""IAM identifiers: unique ids, access key ids (which carry their account, as
AWS's do: GetAccessKeyInfo reads it back), secrets, session tokens, ARNs."""

from __future__ import annotations

import base64
import secrets

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_MASK = 0x7FFFFFFFFF80

# unique-id prefixes AWS uses
USER, GROUP, ROLE, POLICY, PROFILE, KEY, TEMP_KEY = "AIDA", "AGPA", "AROA", "ANPA", "AIPA", "AKIA", "ASIA"


def unique_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_B32) for _ in range(17))


def access_key_id(account: str, temporary: bool = False) -> str:
    """20 characters: prefix + base32 of 10 bytes whose bits 7..46 hold the account."""
    n = int(account)
    head = (secrets.randbits(1) << 47) | (n << 7) | secrets.randbits(7)
    raw = head.to_bytes(6, "big") + secrets.token_bytes(4)
    return (TEMP_KEY if temporary else KEY) + base64.b32encode(raw).decode()[:16]


def account_of_key(key_id: str) -> str | None:
    """The account an access key id was issued for (None: not one of ours)."""
    if len(key_id) != 20 or not key_id[:4].isalpha():
        return None
    try:
        raw = base64.b32decode(key_id[4:])
    except (ValueError, TypeError):
        return None
    n = (int.from_bytes(raw[:6], "big") & _MASK) >> 7
    return f"{n:012d}" if n < 10**12 else None


def secret_key() -> str:
    return base64.b64encode(secrets.token_bytes(30)).decode()[:40]


def session_token() -> str:
    return "IQoJb3JpZ2luX2VjE" + base64.b64encode(secrets.token_bytes(96)).decode()


def arn(account: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def assumed_role_arn(account: str, role: str, session: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/{session}"


def iam_key(account: str) -> str:
    """Entity key of an account's IAM partition (IAM is global: one per account)."""
    return f"iam/{account}"
