"""KMS shard half: one KmsBackend per partition, over the partition's store.

CPU-heavy calls (RSA and ECC key generation, RSA operations: `KmsBackend.is_heavy`) run
in a worker thread so one CreateKey never stalls the other partitions on this shard's
event loop (`cryptography` releases the GIL for this work). The backend is not
thread-safe, so calls to one backend are serialized while a heavy one runs: light calls
take the fast synchronous path only when nothing is in flight, else they queue behind.
A call in a thread stages its writes; they are applied to the store on the loop when it
returns, so the reply still leaves only after the commit that records its result.

Multi-Region key changes for other regions leave through a durable outbox
(`kms.Replica` on the namespace owning the other region).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from broker.runtime.outbox import Outbox
from services.kms.api import kms_key
from services.kms.backend import KmsBackend

KIND_OUTBOX = "kms.outbox"
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kms-crypto")
    return _POOL


class _Staged:
    """The store as a call in a worker thread sees it: reads pass through, writes wait."""

    def __init__(self, store):
        self.store = store
        self.writes: list[tuple] = []

    def put(self, kind, key, value):
        self.writes.append(("put", kind, key, value))

    def delete(self, kind, key):
        self.writes.append(("delete", kind, key, None))

    def get(self, kind, key):
        return self.store.get(kind, key)

    def scan(self, kind, prefix=""):
        return self.store.scan(kind, prefix)

    def apply(self) -> None:
        for what, kind, key, value in self.writes:
            if what == "put":
                self.store.put(kind, key, value)
            else:
                self.store.delete(kind, key)


class KmsShard:
    def __init__(self, part):
        self.part = part
        self.backend = KmsBackend(part.store, part.master)
        self.outbox = Outbox(part, KIND_OUTBOX)
        self._busy = 0                       # calls in flight or queued (heavy ones and those behind)
        self._lock = asyncio.Lock()

    def op_Handle(self, args):
        a, r, op, params = args["a"], args["r"], args["op"], args["params"]
        principal = args.get("principal")
        heavy = self.backend.is_heavy(a, r, op, params)
        return self._run(lambda: self.backend.handle(a, r, op, params, principal_arn=principal), heavy)

    def op_ResolveUsableKey(self, args):
        return self._run(lambda: self.backend.resolve_usable_key(args["a"], args["r"], args["key"]), False)

    def op_Replica(self, args):
        """A multi-Region key change from another region's namespace (outbox delivery)."""
        return self._run(lambda: self.backend.apply_replica(args["a"], args["r"], args["data"]), False)

    def _run(self, call, heavy: bool):
        if heavy or self._busy:
            return self._queued(call, heavy)
        try:
            return call()
        finally:
            self._send_outgoing()

    def _queued(self, call, heavy: bool):
        self._busy += 1      # counted on arrival: later light calls queue behind this one, in order
        return self._queued_run(call, heavy)

    async def _queued_run(self, call, heavy: bool):
        try:
            async with self._lock:
                if not heavy:
                    try:
                        return call()
                    finally:
                        self._send_outgoing()
                staged = _Staged(self.backend._store)
                self.backend._store = staged
                try:
                    return await asyncio.get_running_loop().run_in_executor(_pool(), call)
                finally:
                    self.backend._store = staged.store
                    staged.apply()     # committed with this tick's group commit, before the reply
                    self._send_outgoing()
                    self.part.flush_soon()
        finally:
            self._busy -= 1

    def _send_outgoing(self) -> None:
        for account, region, data in self.backend.take_outgoing():
            target = kms_key(account, region)
            self.outbox.send(target, "kms.Replica", {"a": account, "r": region, "data": data})

    def close(self):
        self.outbox.close()
