"""Admin path: ``GET /_broker/lambda/code/<file>.zip`` serves a stored function or
layer zip (what GetFunction's and GetLayerVersion's ``Code.Location`` point at)."""

from __future__ import annotations

import re
from pathlib import Path

_ZIP = re.compile(r"^/_broker/lambda/code/([0-9a-f]{64}\.zip)$")


async def handle(gateway, method: str, path: str, query: dict, headers: dict, body: bytes):
    m = _ZIP.match(path)
    if m is None or method not in ("GET", "HEAD"):
        return None
    f = Path(gateway.run.data_dir) / "lambda" / "code" / m.group(1)
    if not f.is_file():
        return 404, "application/json", b'{"message":"not found"}'
    return 200, "application/zip", f.read_bytes()
