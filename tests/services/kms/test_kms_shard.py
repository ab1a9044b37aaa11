"""The KMS shard half: CPU-heavy work off the event loop, writes staged until it returns,
replica messages handed to the outbox. The partition here is a real store in memory; the
wire and the processes are covered by test_kms_wire.py."""

from __future__ import annotations

import asyncio
import inspect

from broker.core.crypto import AesGcmKey
from broker.core.store import MemoryPartitionStore
from services.kms.model import KIND_KEY
from services.kms.shard import KmsShard

ACCOUNT, REGION = "000000000000", "us-east-1"


class Part:
    """What KmsShard uses of its partition: the store, the master key, flush and after-commit."""

    def __init__(self):
        self.store = MemoryPartitionStore(0)
        self.master = AesGcmKey.generate()[0]
        self.flushes = 0

    def flush_soon(self):
        self.flushes += 1

    def after_commit(self, callback):
        pass

    def now_ms(self):
        return 0


class Sent:
    def __init__(self):
        self.calls: list = []

    def send(self, key, op, args):
        self.calls.append((key, op, args))

    def close(self):
        pass


def handle(shard, op, **params):
    return shard.op_Handle({"a": ACCOUNT, "r": REGION, "op": op, "params": params})


def test_rsa_key_generation_leaves_the_loop_free():
    async def scenario():
        shard = KmsShard(Part())
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)
        t = asyncio.get_running_loop().create_task(ticker())
        pending = handle(shard, "CreateKey", KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")
        assert inspect.isawaitable(pending)              # heavy: answered later, from a thread
        # while it runs, a light call on the same backend waits its turn (never runs concurrently)
        light = handle(shard, "ListKeys")
        assert inspect.isawaitable(light)
        created = await pending
        listed = await light
        done.set()
        await t
        return shard, created, listed, ticks
    shard, created, listed, ticks = asyncio.run(scenario())
    assert ticks > 0, "the event loop was blocked during RSA key generation"
    kid = created["KeyMetadata"]["KeyId"]
    assert [k["KeyId"] for k in listed["Keys"]] == [kid]
    # the thread's writes reached the store (so the group commit before the reply records them)
    assert shard.part.store.get(KIND_KEY, f"{ACCOUNT}:{REGION}:{kid}") is not None
    # idle again: light calls take the synchronous fast path
    assert not inspect.isawaitable(handle(shard, "ListKeys"))


def test_heavy_errors_still_apply_staged_writes():
    async def scenario():
        shard = KmsShard(Part())
        kid = handle(shard, "CreateKey", KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
        kid = (await kid)["KeyMetadata"]["KeyId"]
        try:
            await handle(shard, "Sign", KeyId=kid, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
        except Exception as exc:     # wrong key usage: a ServiceError from the thread
            return shard, exc
        return shard, None
    shard, exc = asyncio.run(scenario())
    assert exc is not None and getattr(exc, "code", "") == "InvalidKeyUsageException"
    assert shard._busy == 0


def test_replica_messages_go_to_the_outbox():
    async def scenario():
        shard = KmsShard(Part())
        shard.outbox = sent = Sent()
        kid = handle(shard, "CreateKey", MultiRegion=True)["KeyMetadata"]["KeyId"]
        handle(shard, "ReplicateKey", KeyId=kid, ReplicaRegion="eu-west-1")
        return sent, kid
    sent, kid = asyncio.run(scenario())
    (key, op, args), = sent.calls
    assert (key, op, args["r"]) == (f"kms/{ACCOUNT}/eu-west-1", "kms.Replica", "eu-west-1")
    assert args["data"]["key_id"] == kid
