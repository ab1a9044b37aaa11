"""Calls from a gateway (or a shard) to the shards that own partitions.

Each shard gets one `ShardLink`: a pipelined IPC connection that reconnects
by itself. A call interrupted by a shard's death is retried once the
supervisor has restarted it, until a deadline; operations are at-least-once
across such a retry, as the protocols allow.
"""

from __future__ import annotations

import asyncio
import logging
import time

from broker.core.partition import partition_of
from broker.runtime import ipc
from broker.runtime.runinfo import RunInfo

log = logging.getLogger("broker.cluster")

RETRYABLE = ("WrongShard", "ShardStarting")


class ShardLink:
    def __init__(self, index: int, path: str, handler: ipc.Handler, *, retry_deadline: float = 15.0,
                 cluster=None):
        self.cluster = cluster
        self.index = index
        self.path = path
        self.handler = handler
        self.conn: ipc.Connection | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.retry_deadline = retry_deadline
        self.closing = False
        self.connects = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = 0.02
        while not self.closing:
            try:
                conn = await ipc.connect(self.path, self.handler)
            except (ConnectionRefusedError, FileNotFoundError, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            delay = 0.02
            conn.peer = f"shard-{self.index}"
            lost = asyncio.get_running_loop().create_future()
            conn.lost_future = lost  # type: ignore[attr-defined]
            self.conn = conn
            self.connects += 1
            if self.cluster is not None and self.cluster.on_connect:
                try:
                    for hook in self.cluster.on_connect:
                        await hook(self)
                except (ipc.ConnectionLost, ipc.RemoteError) as exc:
                    # the shard died (or is restarting) while we re-synced: expected, retried
                    log.info("event=resync_interrupted shard=%d reason=%s", self.index, exc)
                    conn.close()
                    await asyncio.sleep(delay)
                    continue
                except Exception:
                    log.exception("event=on_connect_failed shard=%d", self.index)
                    conn.close()
                    await asyncio.sleep(delay)
                    continue
            self._up.set()
            try:
                await lost
            except Exception:
                pass
            self._up.clear()
            self.conn = None

    async def wait_up(self, timeout: float) -> None:
        await asyncio.wait_for(self._up.wait(), timeout)

    async def call(self, op: str, args):
        conn = self.conn
        if conn is not None and not conn.closed:
            fut = conn.call_nowait(op, args)
            rid = conn.last_rid
            try:
                return await fut
            except ipc.ConnectionLost:
                pass
            except ipc.RemoteError as exc:
                if exc.code not in RETRYABLE:
                    raise
            except asyncio.CancelledError:
                conn.cancel(rid)      # our caller went away: let the shard drop the work
                raise
        return await self._call_retrying(op, args)

    async def _call_retrying(self, op: str, args):
        deadline = time.monotonic() + self.retry_deadline
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ipc.RemoteError("ServiceUnavailable",
                                      f"shard {self.index} is unavailable; retry the request", 503, False)
            try:
                await asyncio.wait_for(self._up.wait(), left)
            except asyncio.TimeoutError:
                continue
            conn = self.conn
            if conn is None or conn.closed:
                await asyncio.sleep(0.01)
                continue
            fut = conn.call_nowait(op, args)
            rid = conn.last_rid
            try:
                return await fut
            except asyncio.CancelledError:
                conn.cancel(rid)
                raise
            except ipc.ConnectionLost:
                await asyncio.sleep(0.01)
            except ipc.RemoteError as exc:
                if exc.code not in RETRYABLE:
                    raise
                await asyncio.sleep(0.05)

    def close(self) -> None:
        self.closing = True
        if self.conn is not None:
            self.conn.close()
        if self._task is not None:
            self._task.cancel()


class _LinkHandler(ipc.Handler):
    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster

    def on_request(self, conn, rid, op, args):
        handler = self.cluster.request_handlers.get(op)
        if handler is None:
            conn.reply_error(rid, "InternalFailure", f"no handler for {op}", 500, False)
            return
        try:
            conn.reply(rid, handler(conn, args))
        except Exception as exc:
            log.exception("event=link_request_failed op=%s", op)
            conn.reply_error(rid, "InternalFailure", str(exc), 500, False)

    def on_push(self, conn, topic, payload):
        handler = self.cluster.push_handlers.get(topic)
        if handler is not None:
            handler(conn, topic, payload)

    def on_lost(self, conn, exc):
        fut = getattr(conn, "lost_future", None)
        if fut is not None and not fut.done():
            fut.set_result(None)


class Cluster:
    """Routes calls by entity key to the owning shard."""

    def __init__(self, run: RunInfo):
        self.partitions = run.partitions
        self.shards = run.shards
        self.request_handlers: dict = {}     # op -> handler(conn, args) for calls shards make to us
        self.push_handlers: dict = {}        # topic -> handler(conn, topic, payload)
        self.on_connect: list = []           # async hooks(link) run before a (re)connected link serves
        handler = _LinkHandler(self)
        self.links = [ShardLink(k, run.shard_socket(k), handler, cluster=self) for k in range(run.shards)]

    def start(self) -> None:
        for link in self.links:
            link.start()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        await asyncio.gather(*(link.wait_up(timeout) for link in self.links))

    def partition(self, key: str) -> int:
        return partition_of(key, self.partitions)

    def call(self, key: str, op: str, args: dict):
        p = partition_of(key, self.partitions)
        args["p"] = p
        return self.links[p % self.shards].call(op, args)

    def call_partition(self, p: int, op: str, args: dict):
        args["p"] = p
        return self.links[p % self.shards].call(op, args)

    async def call_all(self, op: str, args: dict) -> list:
        """Scatter to every shard (every partition it owns); gather [[p, result], ...]."""
        results = await asyncio.gather(*(link.call(op, {**args, "p": -1}) for link in self.links))
        out = []
        for r in results:
            out.extend(r)
        return out

    async def call_shard(self, k: int, op: str, args=None):
        return await self.links[k].call(op, args or {})

    def close(self) -> None:
        for link in self.links:
            link.close()
