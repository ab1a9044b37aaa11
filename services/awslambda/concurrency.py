"""The account's concurrency, counted server-wide.

AWS's ``ConcurrentExecutions`` quota (``lambda.concurrent_executions``) is per
account and region, while a function's environments run in the shard that
owns the function. Asking one place for every invocation would cost an IPC
round trip each, so the count is leased in batches:

- The ledger: one per account and region, in the partition of
  ``lambda-acct/<account>/<region>``. It holds the reservations (durable:
  PutFunctionConcurrency is checked and recorded here, so the check sees every
  function of the account) and the leases of the unreserved pool (memory).
- A holder per shard process: it takes units of an account's pool from the
  ledger ``LEASE_BATCH`` at a time, so an invocation costs no IPC while its
  process holds a spare unit. It keeps at most ``LEASE_BATCH`` spare units,
  renews its lease every ``RENEW_S`` and gives everything back once idle.
- When the pool is empty the ledger first recalls the other holders' spare
  units, so ``TooManyRequestsException`` comes only when as many invocations
  as the pool allows are really running.

Leases live in memory. A holder's crash frees its units when its lease
lapses (``LEASE_MS``); a restarted ledger relearns the leases from the
holders' next renewals, within ``RENEW_S``, during which it may grant more
than the limit. Ledger-side changes are deltas (grant, return, recall), so
messages crossing each other never make the count drift.
"""

from __future__ import annotations

import asyncio
import logging
import os

from broker.runtime import telemetry
from services.awslambda.model import invalid, throttled

log = logging.getLogger("broker.lambda")

K_ACCT = "lambda.acct"
LEASE_BATCH = 8
RENEW_S = 1.0
LEASE_MS = 5_000
RECALL_TIMEOUT_S = 2.0


def acct_key(account: str, region: str) -> str:
    return f"lambda-acct/{account}/{region}"


def remote_error(exc: Exception) -> Exception:
    """An error reply from another shard, as the ServiceError it was there."""
    from services.errors import ServiceError
    code = getattr(exc, "code", None)
    if code is None or isinstance(exc, ServiceError):
        return exc
    return ServiceError(getattr(exc, "message", str(exc)), code=code, status=getattr(exc, "status", 500),
                        sender_fault=getattr(exc, "sender_fault", False), **(getattr(exc, "fields", None) or {}))


# -- the ledger (shard half, in the account's partition) ------------------------------------

class Ledger:
    def __init__(self, shard, key: str, account: str, region: str):
        self.shard, self.key, self.account, self.region = shard, key, account, region
        rec = shard.store.get(K_ACCT, key) or {}
        self.reserved: dict[str, int] = dict(rec.get("rc") or {})    # function key -> reservation
        self.leases: dict[str, list] = {}    # holder -> [units, lease end ms, recall partition, peak used]

    @property
    def pool(self) -> int:
        """The unreserved pool: the account's limit less every reservation."""
        return self.shard.account_limit - sum(self.reserved.values())

    def handle(self, a: dict):
        return getattr(self, "_" + a["op"])(a)

    def _Reserve(self, a):
        fn, n = a["fn"], a.get("n")
        if n is None:
            if self.reserved.pop(fn, None) is None:
                return {}
        else:
            others = sum(v for k, v in self.reserved.items() if k != fn)
            floor = self.shard.min_unreserved
            if self.shard.account_limit - others - n < floor:
                raise invalid(f"Specified ReservedConcurrentExecutions for function decreases account's "
                              f"UnreservedConcurrentExecution below its minimum value of [{floor}].")
            self.reserved[fn] = n
        self.shard.store.put(K_ACCT, self.key, {"rc": self.reserved})
        return {}

    def _Settings(self, _a):
        return {"limit": self.shard.account_limit, "unreserved": self.pool}

    def _lease(self, a: dict, now: int) -> list:
        lease = self.leases.get(a["h"])
        if lease is None:                     # new, lapsed, or this ledger restarted: take its word
            lease = self.leases[a["h"]] = [a.get("units", 0), 0, a["hp"], 0]
        lease[1] = now + LEASE_MS
        lease[3] = a.get("peak", lease[3])
        return lease

    def _free(self, now: int) -> int:
        for h in [h for h, lease in self.leases.items() if lease[1] < now]:
            del self.leases[h]
        return self.pool - sum(lease[0] for lease in self.leases.values())

    def _Acquire(self, a):
        now = self.shard.part.now_ms()
        lease = self._lease(a, now)
        free = self._free(now)
        if free >= 1:
            return self._grant(lease, a["want"], free)
        return self._acquire_after_recall(a)

    def _grant(self, lease: list, want: int, free: int) -> dict:
        g = max(0, min(want, free))
        lease[0] += g
        self._report()
        return {"g": g}

    async def _acquire_after_recall(self, a):
        others = [(h, lease) for h, lease in self.leases.items() if h != a["h"] and lease[0] > 0]
        if others:
            calls = [self.shard.part.call_partition(lease[2], "lambda.AcctRecall", {"k": self.key, "h": h})
                     for h, lease in others]
            done = await asyncio.gather(*(asyncio.wait_for(c, RECALL_TIMEOUT_S) for c in calls),
                                        return_exceptions=True)
            for (h, _lease), out in zip(others, done):
                lease = self.leases.get(h)
                if lease is None or isinstance(out, BaseException):
                    continue
                if out.get("dead"):
                    del self.leases[h]
                else:
                    lease[0] = max(0, lease[0] - out["n"])
        now = self.shard.part.now_ms()
        lease = self._lease(a, now)
        return self._grant(lease, a["want"], self._free(now))

    def _Return(self, a):
        lease = self.leases.get(a["h"])
        if lease is not None:
            lease[0] = max(0, lease[0] - a["n"])
            lease[3] = a.get("peak", lease[3])
            if lease[0] == 0:
                del self.leases[a["h"]]
        self._report()
        return {}

    def _Renew(self, a):
        self._lease(a, self.shard.part.now_ms())
        self._report()
        return {}

    def _report(self) -> None:
        """The account's ConcurrentExecutions: what every holder last reported (peaks per second)."""
        telemetry.metric("AWS/Lambda", "ConcurrentExecutions", None, sum(x[3] for x in self.leases.values()),
                         "Count", account=self.account, region=self.region)


# -- the holder (one per shard process) ------------------------------------------------------

class _Pool:
    """One process's share of one account's unreserved pool."""
    __slots__ = ("key", "account", "region", "units", "used", "reserved", "peak", "acquiring", "idle")

    def __init__(self, account: str, region: str):
        self.key, self.account, self.region = acct_key(account, region), account, region
        self.units = 0          # leased from the ledger
        self.used = 0           # in flight here, drawing on the pool
        self.reserved = 0       # in flight here, of functions with reserved concurrency (reported only)
        self.peak = 0           # most in flight (both kinds) since the last report
        self.acquiring: asyncio.Future | None = None
        self.idle = False       # nothing ran since the last renewal (None: lease given back since)

    @property
    def running(self) -> int:
        return self.used + self.reserved


class Holder:
    def __init__(self, host):
        self.host = host
        self.id = f"{getattr(host, 'index', 0)}-{os.getpid()}-{os.urandom(4).hex()}"
        self.pools: dict[tuple[str, str], _Pool] = {}
        self._renewing = False

    def _partition(self) -> int:
        """A partition this process owns: the ledger reaches this holder through it."""
        return min(self.host.partitions)

    def _call(self, pool: _Pool, op: str, **args):
        args.update(op=op, k=pool.key, a=pool.account, r=pool.region, h=self.id, hp=self._partition())
        return self.host.cluster.call(pool.key, "lambda.Acct", args)

    def _pool(self, account: str, region: str) -> _Pool:
        pool = self.pools.get((account, region))
        if pool is None:
            pool = self.pools[(account, region)] = _Pool(account, region)
        return pool

    def _ran(self, pool: _Pool) -> None:
        pool.idle = False
        if pool.running > pool.peak:
            pool.peak = pool.running
        self._arm()

    def note_reserved(self, account: str, region: str, delta: int) -> None:
        """An invocation of a function with reserved concurrency (counted where the function
        lives) started (+1) or ended (-1): for the account's ConcurrentExecutions only."""
        pool = self._pool(account, region)
        pool.reserved += delta
        self._ran(pool)

    async def take(self, account: str, region: str) -> None:
        """One unit of the account's unreserved pool, or TooManyRequestsException."""
        pool = self._pool(account, region)
        while pool.used >= pool.units:
            if pool.acquiring is not None:
                if await asyncio.shield(pool.acquiring) == 0 and pool.used >= pool.units:
                    raise throttled("ConcurrentInvocationLimitExceeded")
                continue
            fut = pool.acquiring = asyncio.get_running_loop().create_future()
            got = 0
            try:
                out = await self._call(pool, "Acquire", want=LEASE_BATCH, units=pool.units,
                                       peak=max(pool.peak, pool.running))
                got = out["g"]
                pool.units += got
            except Exception as exc:
                raise remote_error(exc) from None
            finally:
                pool.acquiring = None
                fut.set_result(got)
            if got == 0 and pool.used >= pool.units:
                raise throttled("ConcurrentInvocationLimitExceeded")
        pool.used += 1
        self._ran(pool)

    def give(self, account: str, region: str) -> None:
        pool = self.pools[(account, region)]
        pool.used -= 1
        spare = pool.units - pool.used
        if spare > 2 * LEASE_BATCH:           # a burst is over: keep one batch spare
            self._give_back(pool, spare - LEASE_BATCH)

    def _give_back(self, pool: _Pool, n: int) -> None:
        pool.units -= n
        task = asyncio.get_running_loop().create_task(self._call(pool, "Return", n=n,
                                                                 peak=max(pool.peak, pool.running)))
        task.add_done_callback(_quiet)

    def recall(self, a: dict) -> dict:
        """The ledger ran dry: give back every spare unit of that account."""
        if a["h"] != self.id:
            return {"dead": True}             # a holder of an earlier run of this process
        _, account, region = a["k"].split("/")
        pool = self.pools.get((account, region))
        if pool is None:
            return {"n": 0}
        n = max(0, pool.units - pool.used)
        pool.units -= n
        return {"n": n}

    # -- renewals ---------------------------------------------------------------------------
    def _arm(self) -> None:
        if not self._renewing:
            self._renewing = True
            asyncio.get_running_loop().call_later(RENEW_S, self._renew)

    def _renew(self) -> None:
        self._renewing = False
        busy = False
        for pool in self.pools.values():
            if pool.acquiring is not None:
                busy = True
                continue
            if pool.idle is None:                     # given back, unused since
                continue
            if pool.running == 0 and pool.idle:      # idle for a whole period: give everything back
                pool.peak, pool.idle = 0, None
                self._give_back(pool, pool.units)
                continue
            task = asyncio.get_running_loop().create_task(
                self._call(pool, "Renew", units=pool.units, peak=max(pool.peak, pool.running)))
            task.add_done_callback(_quiet)
            pool.peak = pool.running
            pool.idle = pool.running == 0
            busy = True
        if busy:
            self._arm()


def _quiet(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("event=lambda_lease_call_failed error=%s", task.exception())


def holder(host) -> Holder:
    """The process's one holder (built on first use)."""
    h = getattr(host, "_lambda_leases", None)
    if h is None:
        h = host._lambda_leases = Holder(host)
    return h
