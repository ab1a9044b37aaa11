"""Waiting inside a test's own event loop."""

from __future__ import annotations

import asyncio


async def until(cond, timeout: float = 2.0, interval: float = 0.005) -> None:
    """Poll `cond` on the running loop until true; AssertionError after `timeout`."""
    for _ in range(int(timeout / interval)):
        if cond():
            return
        await asyncio.sleep(interval)
    raise AssertionError("timed out")
