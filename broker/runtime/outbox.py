"""Durable hand-off of operations to another partition (at-least-once).

A thin face over the shared delivery sinks (broker/runtime/sinks.py, kind
``call``): the record is written in the same group commit as the state
change that produced it (e.g. a message removed for dead-lettering), sent
after that commit, retried until the target acknowledges, and deleted only
then. Records of the older per-service outbox kinds are moved over on start.
"""

from __future__ import annotations

from broker.runtime.sinks import deliveries


class Outbox:
    def __init__(self, part, kind: str, give_up_codes: tuple[str, ...] = ()):
        self.part = part
        self.give_up = list(give_up_codes)   # error codes meaning "target gone": drop the record
        for okey, rec in list(part.store.scan(kind)):
            self.send(rec["target"], rec["op"], rec["args"])
            part.store.delete(kind, okey)

    def send(self, target_key: str, op: str, args: dict) -> None:
        deliveries(self.part).submit("call", {"key": target_key, "op": op, "give_up": self.give_up}, args)

    def close(self) -> None:
        pass
