"""The account ledger's rules without processes: grants up to the pool, recalls spare units
before saying no, forgets lapsed and dead holders, relearns leases after a restart."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from broker.core.store import MemoryPartitionStore
from services.awslambda.concurrency import K_ACCT, LEASE_MS, Ledger, acct_key
from services.errors import ServiceError

KEY = acct_key("000000000000", "us-east-1")


class FakeShard:
    def __init__(self, limit: int, recalls: dict | None = None):
        self.account_limit, self.min_unreserved = limit, 0
        self.store = MemoryPartitionStore(0)
        self.now = 1_000_000
        self.recalls = recalls if recalls is not None else {}     # holder -> reply to a recall
        self.recalled: list[str] = []

        async def call_partition(_p, _op, args):
            self.recalled.append(args["h"])
            reply = self.recalls[args["h"]]
            if isinstance(reply, Exception):
                raise reply
            return reply
        self.part = SimpleNamespace(now_ms=lambda: self.now, call_partition=call_partition)


def _ledger(shard) -> Ledger:
    return Ledger(shard, KEY, "000000000000", "us-east-1")


def _acquire(ledger, holder, want=8, units=0):
    out = ledger.handle({"op": "Acquire", "h": holder, "hp": 1, "want": want, "units": units})
    return asyncio.run(out)["g"] if asyncio.iscoroutine(out) else out["g"]


def test_grants_up_to_the_pool_and_recalls_before_refusing():
    shard = FakeShard(10, recalls={"a": {"n": 3}, "gone": {"dead": True}})
    ledger = _ledger(shard)
    assert _acquire(ledger, "a") == 8
    assert _acquire(ledger, "gone", want=2) == 2          # the pool is empty now
    assert _acquire(ledger, "b") == 5                      # a gave back 3 spare, gone is forgotten: 3 + 2 free
    assert sorted(shard.recalled) == ["a", "gone"]
    assert "gone" not in ledger.leases and ledger.leases["a"][0] == 5
    shard.recalls["a"] = {"n": 0}
    assert _acquire(ledger, "b") == 0                      # nothing spare anywhere
    ledger.handle({"op": "Return", "h": "a", "n": 5})
    assert "a" not in ledger.leases
    assert _acquire(ledger, "b", want=20) == 5


def test_lapsed_leases_free_their_units_and_renewals_relearn_them():
    shard = FakeShard(4, recalls={"a": RuntimeError("its shard is down")})
    ledger = _ledger(shard)
    assert _acquire(ledger, "a") == 4
    assert _acquire(ledger, "b") == 0                      # a failed recall changes nothing
    shard.now += LEASE_MS + 1                              # a stopped renewing (crashed)
    assert _acquire(ledger, "b") == 4
    restarted = _ledger(shard)                             # leases are memory: a new ledger relearns them
    restarted.handle({"op": "Renew", "h": "b", "hp": 1, "units": 4, "peak": 1})
    assert restarted.leases["b"][0] == 4 and _acquire(restarted, "c") == 0


def test_reservations_are_durable_and_bounded():
    shard = FakeShard(10)
    shard.min_unreserved = 2
    ledger = _ledger(shard)
    ledger.handle({"op": "Reserve", "fn": "f1", "n": 5})
    with pytest.raises(ServiceError) as e:
        ledger.handle({"op": "Reserve", "fn": "f2", "n": 4})
    assert e.value.code == "InvalidParameterValueException" and "[2]" in e.value.message
    ledger.handle({"op": "Reserve", "fn": "f1", "n": 8})  # replacing its own reservation counts once
    assert shard.store.get(K_ACCT, KEY) == {"rc": {"f1": 8}}
    assert _ledger(shard).handle({"op": "Settings"}) == {"limit": 10, "unreserved": 2}
    assert _acquire(ledger, "a") == 2
    ledger.handle({"op": "Reserve", "fn": "f1", "n": None})
    assert _ledger(shard).pool == 10
