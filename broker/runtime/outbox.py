"""Durable hand-off of operations to another partition (at-least-once).

A record is written to the partition's store in the same group commit as the
state change that produced it (e.g. a message removed for dead-lettering),
then sent; it is deleted only after the target acknowledged. On start every
pending record is sent again, so nothing held only in memory can be lost.
"""

from __future__ import annotations

import asyncio
import logging
import os

log = logging.getLogger("broker.outbox")


class Outbox:
    def __init__(self, part, kind: str, give_up_codes: tuple[str, ...] = ()):
        self.part = part
        self.kind = kind
        self.give_up = give_up_codes       # error codes meaning "target gone": drop the record
        self.closed = False
        for okey, rec in list(part.store.scan(kind)):
            self._deliver(okey, rec)

    def send(self, target_key: str, op: str, args: dict) -> None:
        okey = os.urandom(8).hex()
        rec = {"target": target_key, "op": op, "args": args}
        self.part.store.put(self.kind, okey, rec)
        self._deliver(okey, rec)

    def _deliver(self, okey: str, rec: dict) -> None:
        async def run():
            delay = 0.05
            while not self.closed:
                try:
                    await self.part.call(rec["target"], rec["op"], dict(rec["args"]))
                    break
                except Exception as exc:
                    if getattr(exc, "code", None) in self.give_up:
                        log.info("event=outbox_dropped target=%s reason=%s", rec["target"], exc.code)
                        break
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            if not self.closed:
                self.part.store.delete(self.kind, okey)
                self.part.flush_soon()
        asyncio.get_running_loop().create_task(run())

    def close(self) -> None:
        self.closed = True
