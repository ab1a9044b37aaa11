"""Shared plumbing of gateway and shard processes: logging, control link, signals."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from broker.runtime import ipc
from broker.runtime.runinfo import RunInfo


_handler: logging.Handler | None = None     # the one this process (or the one it was forked from) set up


def setup_logging(level: str, name: str) -> None:
    global _handler
    fmt = f"%(asctime)s level=%(levelname)s proc={name} pid={os.getpid()} logger=%(name)s %(message)s"
    root = logging.getLogger()
    if _handler is not None and root.handlers == [_handler]:
        # A worker forked from the supervisor relabels the supervisor's handler:
        # a new one writes to more of the pages it shares (about 0.5 MB, measured).
        _handler.setFormatter(logging.Formatter(fmt))
        root.setLevel(getattr(logging, level.upper(), logging.INFO))
        return
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr, format=fmt,
                        force=True)
    _handler = root.handlers[0]


def malloc_trim() -> None:
    """Hand the heap's free pages back to the system (glibc; elsewhere nothing): what
    start-up freed (imports compiling sources, closed connections) stays resident otherwise."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):       # not glibc
        pass


def install_uvloop() -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a declared dependency
        pass


class ControlLink(ipc.Handler):
    """This worker's link to the supervisor (hello, ready, process table)."""

    def __init__(self, run: RunInfo, role: str, index: int):
        self.run, self.role, self.index = run, role, index
        self.conn: ipc.Connection | None = None
        # op -> async handler(args): requests the supervisor makes of this worker
        self.handlers: dict = {}

    def on_request(self, conn, rid, op, args):
        handler = self.handlers.get(op)
        if handler is None:
            conn.reply_error(rid, "InternalFailure", f"no handler for {op}", 500, False)
            return

        async def run():
            try:
                conn.reply(rid, await handler(args))
            except Exception as exc:
                logging.getLogger("broker.worker").exception("event=control_request_failed op=%s", op)
                conn.reply_error(rid, "InternalFailure", str(exc), 500, False)
        asyncio.get_running_loop().create_task(run())

    async def connect(self) -> None:
        for _ in range(200):
            try:
                self.conn = await ipc.connect(self.run.control_socket, self)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("cannot reach the supervisor's control socket")
        self.conn.peer = "supervisor"
        await self.conn.call("hello", {"role": self.role, "index": self.index, "pid": os.getpid()})
        # secrets (master key, credentials) never touch run.json: ask for them
        self.run.config.update(await self.conn.call("secrets", {}))

    async def ready(self, **info) -> None:
        await self.conn.call("ready", {"role": self.role, "index": self.index, **info})

    async def call(self, op, args=None):
        return await self.conn.call(op, args or {})

    def on_lost(self, conn, exc):
        # The supervisor is gone: a worker never outlives it.
        logging.getLogger("broker.worker").warning("event=supervisor_lost action=exit")
        os._exit(0)


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM: the supervisor's drain request, gateways first, then shards.
    Workers ignore SIGINT (broker.cli._run_worker): Ctrl-C in a terminal reaches every
    process of the group at once, and a shard stopping then would leave the gateways'
    drain nothing to finish against; the supervisor gets it too and drains in order."""
    loop = asyncio.get_running_loop()
    ev = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, ev.set)
    return ev
