"""Fast random identifiers (UUID version 4 strings) for hot paths.

`uuid.uuid4()` costs a syscall and an object per call; request and message
ids are drawn instead from a pre-read block of OS randomness, formatted as
RFC 4122 version-4 UUIDs (same entropy, same format).
"""

from __future__ import annotations

import os

_BLOCK = 4096
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_state = ["", 0]


def uuid4() -> str:
    buf, pos = _state
    if pos >= len(buf):
        buf = os.urandom(16 * _BLOCK).hex()
        pos = 0
        _state[0] = buf
    h = buf[pos:pos + 32]
    _state[1] = pos + 32
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
