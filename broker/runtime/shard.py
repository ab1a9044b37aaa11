"""A core shard process: owns partitions, runs service state machines, group-commits.

Every request names its partition (``args["p"]``; -1 means every partition
this shard owns, for scatter-gather). Handlers run synchronously against
in-memory state and stage writes in the partition's store; replies are held
on the connection and released only after the tick's commit (`_flush`), so a
client is never answered before its write is durable at the configured level.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time

from broker.core.errors import OpError
from broker.core.store import open_store
from broker.core.timers import LoopTimer, now_ms
from broker.runtime import ipc, telemetry
from broker.runtime.cluster import Cluster
from broker.runtime.datadir import open_data_dir
from broker.runtime.plugins import Plugins
from broker.runtime.runinfo import RunInfo
from broker.runtime.worker import ControlLink, malloc_trim, stop_event

log = logging.getLogger("broker.shard")

# At "fsync", a commit of at most this many requests is synced on the event loop
# (nothing to overlap it with: a hand-off costs two wake-ups, measured 0.6x for a
# lone confirming publisher); a bigger one by the kernel (a Linux AIO fdatasync,
# broker.core.aiosync; a thread where it is missing) while the loop goes on.
INLINE_SYNC_REQUESTS = 8
# Loop turns a commit waits after deliveries were pushed over an in-process link
# (server.single_worker) so the gateway writes them to the consumers first.
LOCAL_PUSH_TURNS = 2


class _Halves(dict):
    """A partition's service halves by name; indexing builds a missing one."""
    __slots__ = ("part",)

    def __init__(self, part: "Partition"):
        super().__init__()
        self.part = part

    def __missing__(self, name: str):
        return self.part.shard.build_half(self.part, name)


class Partition:
    """PartitionContext for the services running in one partition."""

    def __init__(self, shard: "Shard", pid: int, store):
        self.shard = shard
        self.id = pid
        self.store = store
        self.services = _Halves(self)

    @property
    def master(self):
        return self.shard.master

    def now_ms(self) -> int:
        return now_ms()

    def schedule(self, due_ms: int, callback):
        return self.shard.timer.schedule(due_ms, callback)

    def unschedule(self, entry) -> None:
        self.shard.timer.unschedule(entry)

    def flush_soon(self) -> None:
        self.shard.flush_soon()

    def after_commit(self, callback) -> None:
        """Run `callback()` once this tick's writes are committed (e.g. send what they record)."""
        self.shard.after_commit(callback)

    def ensure_kind(self, kind: str) -> bool:
        """Build the half owning a timer/delivery `kind` (so its handler is registered)."""
        name = self.shard.service_for_kind(kind)
        if name is None:
            return False
        self.services[name]
        return True

    def call(self, key: str, op: str, args: dict):
        return self.shard.cluster.call(key, op, args)

    def call_partition(self, partition: int, op: str, args: dict):
        return self.shard.cluster.call_partition(partition, op, args)

    def call_all(self, op: str, args: dict):
        return self.shard.cluster.call_all(op, args)

    @property
    def partitions(self) -> int:
        return self.shard.run.partitions


class _Conn(ipc.Handler):
    def __init__(self, shard: "Shard"):
        self.shard = shard

    def on_request(self, conn, rid, op, args):
        self.shard.handle(conn, rid, op, args)

    def on_lost(self, conn, exc):
        self.shard.conns.discard(conn)
        self.shard.on_conn_lost(conn)

    def on_cancel(self, conn, rid):
        task = self.shard.tasks.pop((conn, rid), None)
        if task is not None:
            task.cancel()

    def on_pause(self, conn, paused):
        for hook in self.shard.pause_hooks:
            try:
                hook(conn, paused)
            except Exception:
                log.exception("event=pause_hook_failed")


class Shard:
    def __init__(self, run: RunInfo, index: int, plugins: Plugins):
        self.run = run
        self.index = index
        self.plugins = plugins
        self.partitions: dict[int, Partition] = {}
        self.conns: set[ipc.Connection] = set()
        self._flush_scheduled = False
        self.ops: dict[str, tuple[str, str]] = {}
        self.started = time.time()
        self.requests = 0
        self.commits = 0
        self.conn_lost_hooks: list = []
        self.pause_hooks: list = []        # hook(conn, paused): a gateway's socket filled / drained
        self.tasks: dict = {}              # (conn, rid) -> task of an op answered later (cancellable)
        self.current_conn: ipc.Connection | None = None   # the caller, for ops that push to it
        self.replicas: set[ipc.Connection] = set()        # gateways holding binding read copies
        self._after_commit: list = []
        self._committed_requests = 0        # requests handled up to the last commit (batch sizes)
        self._sync_thread = None            # runs a commit's sync step ("fsync")
        self._syncing = None                # its future while in flight
        self._next = None                   # _Commit written while it runs, synced next
        self._idle = None                   # set when nothing is in flight
        self._aio = None                    # FdSync: a commit's fdatasyncs run by the kernel, off the loop
        self._redo = None                   # broker.core.redo.RedoLog at "fsync"
        self._pushes_seen = 0               # ipc.LOCAL_PUSHES at the last commit
        self._deferred = 0                  # loop turns this commit waited for them
        self.stopped = False
        self.serving = asyncio.Event()     # set once gateways can connect (server.single_worker)

    # -- lifecycle --------------------------------------------------------
    async def main(self, stop: asyncio.Event | None = None) -> int:
        """Recover, serve until `stop` (default: SIGTERM) is set, drain."""
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.timer = LoopTimer(loop, on_fired=self.flush_soon)
        control = self.control = ControlLink(self.run, "shard", self.index)   # services' runtime listeners
        await control.connect()
        dd = open_data_dir(self.run.data_dir, self.run.partitions,
                           self.run.config.get("security.master_key", ""),
                           self.run.config.get("security.master_key_file", ""))
        self.master = dd.master
        from broker.runtime.plugins import ShardService
        from broker.runtime.routing import CoreShard
        self.services = {svc.name: svc for svc in
                         [ShardService("core", CoreShard, kinds=("core.", "timer")), *self.plugins.services]}
        self._factories: dict = {}
        self._factory("core")
        self.cluster = Cluster(self.run)
        self.cluster.start()
        t0 = time.monotonic()
        window = max(1024, int(self.run.config.get("store.queue_memory_window", 16384)))   # >= a chunk
        redo = None
        if self.run.durability == "fsync":
            from broker.core.redo import RedoLog, log_path
            redo = RedoLog(log_path(dd.partitions_dir, self.index, self.run.shards))
        for p in range(self.run.partitions):
            if p % self.run.shards != self.index:
                continue
            store = open_store(dd.partition_path(p), p, dd.master, self.run.durability,
                               replay=redo.entries.get(p, ()) if redo is not None else ())
            store.queue_window = window
            self.partitions[p] = Partition(self, p, store)
        if redo is not None:
            self._open_redo(redo)
        for part in self.partitions.values():
            self._build_services(part)
        self._commit_all()
        if self.run.durability == "fsync":
            self._open_aio()
        for hook in self.plugins.process_hooks:
            res = hook(self)
            if inspect.isawaitable(res):
                await res
        # a partition that holds nothing closes its store until its first use
        parked = sum(1 for part in self.partitions.values() if getattr(part.store, "park", bool)())
        if parked:
            malloc_trim()       # what their connections held goes back to the system
        from broker.runtime.zygote import late_imports
        log.info("event=shard_recovered index=%d partitions=%d parked=%d seconds=%.3f late_imports=%d",
                 self.index, len(self.partitions), parked, time.monotonic() - t0, late_imports())
        server = await ipc.serve(self.run.shard_socket(self.index), lambda: _Conn(self), hold=True)
        # Track connections for flush: wrap the server's protocol factory.
        await control.ready()
        self.serving.set()
        stop = stop or stop_event()
        await stop.wait()
        log.info("event=shard_draining index=%d", self.index)
        server.close()
        self.timer.cancel()
        await self._settle()
        self._flush(blocking=True)
        for part in self.partitions.values():
            for obj in part.services.values():
                close = getattr(obj, "close", None)
                if close is not None:
                    close()
        self._flush(blocking=True)      # what the halves wrote while closing
        self.stopped = True     # tasks cancelled on the way out must not commit into closed stores
        self._close_aio()
        if self._redo is not None:
            self._redo.reset()     # the partitions' own logs synced: the next start replays nothing
        for part in self.partitions.values():
            part.store.close()
        if self._redo is not None:
            self._redo.close()
        self.cluster.close()
        log.info("event=shard_stopped index=%d", self.index)
        return 0

    # -- requests ---------------------------------------------------------
    def handle(self, conn: ipc.Connection, rid: int, op: str, args) -> None:
        if conn not in self.conns:
            self.conns.add(conn)
        self.requests += 1
        self.current_conn = conn
        try:
            if op.startswith("shard."):
                result = self._shard_op(op, args)
            else:
                entry = self.ops.get(op)
                if entry is None:
                    name = op.partition(".")[0]
                    if name in self.services and name not in self._factories:
                        self._factory(name)
                        entry = self.ops.get(op)
                if entry is None:
                    raise OpError(f"unknown operation {op}", code="InternalFailure", status=500,
                                  sender_fault=False)
                p = args.get("p")
                if p == -1:
                    result = self._broadcast(entry, args)
                else:
                    part = self.partitions.get(p)
                    if part is None:
                        raise OpError(f"partition {p} is not owned by shard {self.index}",
                                      code="WrongShard", status=503, sender_fault=False)
                    result = getattr(part.services[entry[0]], entry[1])(args)
            if inspect.isawaitable(result):
                self.tasks[(conn, rid)] = self.loop.create_task(self._reply_later(conn, rid, result))
            else:
                conn.reply(rid, result)
        except OpError as exc:
            conn.reply_error(rid, exc.code, exc.message, exc.status, exc.sender_fault, exc.fields)
        except Exception as exc:
            log.exception("event=op_failed op=%s", op)
            conn.reply_error(rid, "InternalFailure", f"internal error: {type(exc).__name__}", 500, False)
        self.flush_soon()

    def _broadcast(self, entry, args):
        results = []
        waits = []
        for p, part in self.partitions.items():
            a = dict(args)
            a["p"] = p
            r = getattr(part.services[entry[0]], entry[1])(a)
            if inspect.isawaitable(r):
                waits.append((p, r))
            else:
                results.append([p, r])
        if not waits:
            return results

        async def gather():
            for p, w in waits:
                results.append([p, await w])
            return results
        return gather()

    async def _reply_later(self, conn, rid, awaitable) -> None:
        try:
            result = await awaitable
            conn.reply(rid, result)
        except OpError as exc:
            conn.reply_error(rid, exc.code, exc.message, exc.status, exc.sender_fault, exc.fields)
        except asyncio.CancelledError:
            if (conn, rid) in self.tasks:      # not the caller's cancel: the shard is stopping
                conn.reply_error(rid, "ServiceUnavailable", "shard is stopping", 503, False)
            raise
        except Exception as exc:
            log.exception("event=op_failed_async")
            conn.reply_error(rid, "InternalFailure", f"internal error: {type(exc).__name__}", 500, False)
        finally:
            self.tasks.pop((conn, rid), None)
            self.flush_soon()

    def _shard_op(self, op: str, args):
        if op == "shard.ping":
            return {"index": self.index, "pid": os.getpid(), "partitions": sorted(self.partitions),
                    "requests": self.requests, "commits": self.commits,
                    "uptime": time.time() - self.started}
        if op == "shard.reset":
            return self._reset()
        raise OpError(f"unknown operation {op}", code="InternalFailure", status=500, sender_fault=False)

    def _reset(self) -> list:
        """Wipe every entity and message of every service (admin reset)."""
        out = []
        for p, part in self.partitions.items():
            for obj in part.services.values():
                close = getattr(obj, "close", None)
                if close is not None:
                    close()
            d = getattr(part, "_deliveries", None)
            if d is not None:
                d.close()
                del part._deliveries
            part.store.wipe()
            part.services = _Halves(part)
            self._build_services(part)
            out.append([p, True])
        # gateways drop their read copies of this shard's exchanges before we answer
        replicas = [c for c in self.replicas if not c.closed]
        if not replicas:
            return out

        async def wait_replicas():
            futs = [c.call_nowait("edge.apply", {"op": "reset", "shard": self.index}) for c in replicas]
            self.flush_soon()
            await asyncio.wait(futs, timeout=5.0)
            return out
        return wait_replicas()

    # -- service halves (lazy) ------------------------------------------------
    def _factory(self, name: str):
        """The half's class, imported on first use; registers its ops."""
        f = self._factories.get(name)
        if f is None:
            svc = self.services[name]
            if svc.factory is not None:
                f = svc.factory
            else:
                from broker.runtime.plugins import import_ref
                f = import_ref(svc.ref)
            for attr in dir(f):
                if attr.startswith("op_"):
                    self.ops[f"{name}.{attr[3:]}"] = (name, attr)
            self._factories[name] = f
        return f

    def build_half(self, part: Partition, name: str):
        if name not in self.services:
            raise KeyError(name)
        half = self._factory(name)(part)
        dict.__setitem__(part.services, name, half)
        return half

    def service_for_kind(self, kind: str) -> str | None:
        best, best_len = None, 0
        for svc in self.services.values():
            for prefix in svc.prefixes:
                if kind.startswith(prefix) and len(prefix) > best_len:
                    best, best_len = svc.name, len(prefix)
        return best

    def _build_services(self, part: Partition) -> None:
        """At start: the core, and every half whose records this partition holds."""
        part.services["core"]
        kinds = part.store.kinds()
        for svc in self.services.values():
            if svc.name != "core" and any(k.startswith(svc.prefixes) for k in kinds):
                part.services[svc.name]
        # deliveries recorded before a restart are re-sent even if no service asks
        from broker.runtime.sinks import KIND, deliveries
        if next(iter(part.store.scan(KIND)), None) is not None:
            deliveries(part)

    def on_conn_lost(self, conn) -> None:
        self.replicas.discard(conn)
        for key in [k for k in self.tasks if k[0] is conn]:     # the caller is gone
            self.tasks.pop(key).cancel()
        for hook in self.conn_lost_hooks:
            try:
                hook(conn)
            except Exception:
                log.exception("event=conn_lost_hook_failed")

    # -- group commit -----------------------------------------------------
    def after_commit(self, callback) -> None:
        self._after_commit.append(callback)
        self.flush_soon()

    def flush_soon(self) -> None:
        if not self._flush_scheduled and not self.stopped:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _commit_all(self, defer: bool = False):
        """Commit every dirty partition. At "fsync" their changes go to the redo log as one
        record, whose sync makes them durable: here, or with `defer` by the caller (the
        returned list then holds the redo log)."""
        dirty = [part.store for part in self.partitions.values() if part.store.dirty]
        self.commits += len(dirty)
        redo = self._redo
        if redo is None:             # "process" or "memory" (at "fsync" a store syncs its own log)
            for store in dirty:
                store.commit()
            return []
        strict = False
        parts = []
        for store in dirty:
            strict = strict or store.needs_fsync
            parts.append((store, *store.commit(fsync=False, log=True)))
        if parts:
            redo.append(parts)
        if not strict:
            return []
        if defer:
            return [redo]
        redo.sync_log()
        return []

    def _write(self) -> _Commit:
        """Write what is dirty (at "fsync" not yet durable) and take what it holds."""
        c = _Commit(self.commits, time.perf_counter(), self.requests)
        try:
            c.stores = self._commit_all(defer=True)
        except Exception:
            _commit_failed()
        c.committed = self.commits != c.commits
        c.held = [(conn, conn.take_held()) for conn in self.conns]
        c.callbacks, self._after_commit = self._after_commit, []
        return c

    def _flush(self, blocking: bool = False) -> None:
        """Group commit, then release what the tick's replies and callbacks held.
        At "fsync" a small commit of one log is synced here; others by the kernel
        (AIO; a worker thread where it is missing) while the loop goes on: the next
        requests' writes are made meanwhile (one commit's worth; what comes after
        them is written when the sync ends) and synced as soon as it is done. What
        a commit holds is released only once it is durable, in commit order."""
        self._flush_scheduled = False
        if self.stopped:
            return
        if ipc.LOCAL_PUSHES[0] != self._pushes_seen and self._deferred < LOCAL_PUSH_TURNS and not blocking:
            # deliveries just pushed to a gateway on this loop: let it write them to its
            # clients first (its read, then its socket write: two loop turns); the commit
            # releases only replies, and consumers are kept waiting for nothing
            self._deferred += 1
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)
            return
        self._deferred, self._pushes_seen = 0, ipc.LOCAL_PUSHES[0]
        if self._syncing is not None:
            if self._next is None:
                self._next = self._write()     # its sync follows the one in flight
            return                       # _synced writes the rest
        c = self._write()
        if self._next is not None:
            c, self._next = self._next.merge(c), None
        if not c.stores:
            self._released(c)
            return
        # a small commit of one log has little to overlap its sync with: sync inline,
        # saving the hand-off (two wake-ups, each a scheduling delay on a busy machine)
        small = c.requests - self._committed_requests <= INLINE_SYNC_REQUESTS
        if blocking or small:
            self._sync_inline(c)
            return
        if self._aio is not None:
            try:
                self._aio.submit([store.wal_fd() for store in c.stores])
            except (OSError, ValueError):      # refused, or more than the context's depth
                log.warning("event=aio_sync_failed action=sync_inline", exc_info=True)
                self._close_aio()
                self._sync_inline(c)
                return
            self._syncing = c
            self._idle.clear()
            return
        if self._sync_thread is None:
            from concurrent.futures import ThreadPoolExecutor
            self._sync_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync")
            self._idle = asyncio.Event()
        self._idle.clear()
        fut = self._syncing = self._sync_thread.submit(_sync_all, c.stores)
        fut.add_done_callback(lambda f: self.loop.call_soon_threadsafe(self._synced, f, c))

    def _sync_inline(self, c: _Commit) -> None:
        try:
            _sync_all(c.stores)
        except Exception:
            _commit_failed()
        self._released(c)

    def _open_redo(self, redo) -> None:
        """After the stores replayed what they lacked: make every partition's log durable
        (a transaction whose record a crash left unwritten would leave a gap before the
        next logged commits), then start the redo log over."""
        for part in self.partitions.values():
            try:
                part.store.sync_log()
            except FileNotFoundError:       # no log: all of it is in the database file
                pass
        if redo.records:
            log.info("event=redo_read index=%d records=%d replayed=%d", self.index, redo.records,
                     sum(getattr(part.store, "replayed", 0) for part in self.partitions.values()))
        redo.reset()
        self._redo = redo

    def _open_aio(self) -> None:
        from broker.core.aiosync import FdSync
        aio = FdSync.open(1)            # a commit has one log to sync: the redo log
        if aio is None:
            log.info("event=aio_sync_unavailable sync=thread")
            return
        self._aio = aio
        self._idle = asyncio.Event()
        self._idle.set()
        self.loop.add_reader(aio.efd, self._aio_done)

    def _close_aio(self) -> None:
        aio, self._aio = self._aio, None
        if aio is not None:
            self.loop.remove_reader(aio.efd)
            aio.close()

    def _aio_done(self) -> None:
        """The AIO eventfd is readable: once every fdatasync of the commit is done, release it."""
        aio = self._aio
        if aio is None or not aio.reap() or self._syncing is None:
            return
        if aio.error:
            _commit_failed(OSError(aio.error, os.strerror(aio.error)))
        c, self._syncing = self._syncing, None
        self._released(c)
        self._flush()                    # what came in meanwhile
        if self._syncing is None:
            self._idle.set()

    def _synced(self, fut, c: _Commit) -> None:
        self._syncing = None
        if fut.exception() is not None:
            _commit_failed(fut.exception())
        self._released(c)
        self._flush()                    # what came in meanwhile
        if self._syncing is None:
            self._idle.set()

    def _released(self, c: _Commit) -> None:
        if c.committed:
            telemetry.observe("broker_group_commit_duration_seconds", None, time.perf_counter() - c.t0)
            telemetry.observe("broker_group_commit_requests", None, c.requests - self._committed_requests)
            self._committed_requests = c.requests
        for conn, out in c.held:
            conn.release(out)
        for cb in c.callbacks:
            try:
                cb()
            except Exception:
                log.exception("event=after_commit_failed")

    async def _settle(self) -> None:
        """Wait for a commit's sync in flight (before a blocking flush)."""
        while self._syncing is not None:
            await self._idle.wait()


def _sync_all(stores) -> None:
    for store in stores:
        store.sync_log()


def _commit_failed(exc: BaseException | bool = True):
    """Nothing held may be acknowledged now: die, the supervisor restarts us from
    the last commit and the clients retry."""
    log.critical("event=commit_failed action=exit", exc_info=exc)
    os._exit(70)


class _Commit:
    """One group commit: the stores its sync must cover and what it holds until then."""
    __slots__ = ("commits", "t0", "requests", "stores", "committed", "held", "callbacks")

    def __init__(self, commits: int, t0: float, requests: int):
        self.commits, self.t0, self.requests = commits, t0, requests

    def merge(self, later: "_Commit") -> "_Commit":
        """`later`'s writes join this commit (one sync for both; its holds after ours)."""
        self.stores = list(dict.fromkeys(self.stores + later.stores))
        self.committed = self.committed or later.committed
        self.requests = later.requests
        self.held += later.held
        self.callbacks += later.callbacks
        return self


def run(run: RunInfo, index: int, plugins: Plugins) -> int:
    return asyncio.run(Shard(run, index, plugins).main())
