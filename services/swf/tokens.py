"""Task tokens and page tokens: opaque to clients, routable by the gateway.

A task token names the domain (so the gateway can route the response to the
shard that owns it), the run, and the task's scheduled and started event
ids; the shard accepts it only while that exact attempt is outstanding.
Page tokens carry where the next page starts and when they were issued
(AWS expires them after 24 hours).
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from services.swf import errors
from services.swf.model import PAGE_TOKEN_TTL_MS

_enc = msgspec.msgpack.Encoder().encode
_dec = msgspec.msgpack.Decoder().decode

DECISION, ACTIVITY = "d", "a"


def _pack(value) -> str:
    return base64.b64encode(_enc(value)).decode()


def _unpack(token: str):
    try:
        return _dec(base64.b64decode(token.encode(), validate=True))
    except (binascii.Error, msgspec.DecodeError, ValueError, UnicodeEncodeError):
        return None


def task_token(kind: str, account: str, region: str, domain: str, workflow_id: str, run_id: str,
               scheduled: int, started: int) -> str:
    return _pack([1, kind, account, region, domain, workflow_id, run_id, scheduled, started])


def parse_task_token(token: str, kind: str) -> tuple[str, str, str, str, str, int, int]:
    """(account, region, domain, workflowId, runId, scheduledEventId, startedEventId);
    ValidationException if malformed."""
    v = _unpack(token)
    if (not isinstance(v, list) or len(v) != 9 or v[0] != 1 or v[1] != kind
            or not all(isinstance(x, str) for x in v[2:7]) or not all(isinstance(x, int) for x in v[7:])):
        raise errors.invalid_token()
    return v[2], v[3], v[4], v[5], v[6], v[7], v[8]


def page_token(kind: str, now_ms: int, *state) -> str:
    return _pack([kind, now_ms, *state])


def parse_page_token(token: str, kind: str, now_ms: int) -> list:
    """The state a page token carries; ValidationException if malformed or expired."""
    v = _unpack(token)
    if not isinstance(v, list) or len(v) < 2 or v[0] != kind or not isinstance(v[1], int):
        raise errors.validation("Invalid nextPageToken")
    if now_ms - v[1] > PAGE_TOKEN_TTL_MS:
        raise errors.validation("Specified token has exceeded its maximum lifetime")
    return v[2:]
