"""Process-to-process messaging over Unix sockets: msgpack frames, pipelined.

Frame: 4-byte big-endian length, then one msgpack array:

    [REQUEST, id, op, args]      expects a REPLY or ERROR with the same id
    [REPLY,   id, result]
    [ERROR,   id, [code, message, status, sender_fault, fields]]
    [PUSH,    topic, payload]    one-way (deliveries, notifications)
    [CANCEL,  id]                the caller gave up on request id (its client went away)

Outgoing frames are buffered and written with one `transport.write` per loop
tick (`call_soon` flush), so many concurrent calls cost one syscall. A
connection in *hold* mode keeps its output until its owner releases it: the
shard holds replies until the tick's group commit is durable. A push sent with
``now`` skips the hold (still one write per tick): deliveries to consumers,
which acknowledge nothing, as a broker hands messages to consumers before its
disk write (RabbitMQ does); they may overtake held frames sent before them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import struct

import msgspec

log = logging.getLogger("broker.ipc")

REQUEST, REPLY, ERROR, PUSH, CANCEL = 0, 1, 2, 3, 4
_LEN = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class RemoteError(Exception):
    """An error reply: carries the service error fields across processes."""

    def __init__(self, code: str, message: str, status: int = 400,
                 sender_fault: bool = True, fields: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.sender_fault, self.fields = sender_fault, fields or {}


class ConnectionLost(Exception):
    """The peer went away with this call outstanding."""


class Handler:
    """What a connection calls for inbound traffic; override as needed."""

    def on_request(self, conn: "Connection", rid: int, op: str, args) -> None:
        conn.reply_error(rid, "InternalFailure", f"no handler for {op}", 500, False)

    def on_push(self, conn: "Connection", topic: str, payload) -> None:
        pass

    def on_lost(self, conn: "Connection", exc: Exception | None) -> None:
        pass

    def on_cancel(self, conn: "Connection", rid: int) -> None:
        pass

    def on_pause(self, conn: "Connection", paused: bool) -> None:
        """The peer is not reading fast enough (True) / caught up again (False)."""


class _Answer:
    """A pending call answered by a plain callback ``cb(result, exc)``, run as the reply
    is read: no future, no loop turn per callback (the edge's batched traffic)."""
    __slots__ = ("cb",)

    def __init__(self, cb):
        self.cb = cb

    def done(self) -> bool:
        return False

    def set_result(self, result) -> None:
        self._run(result, None)

    def set_exception(self, exc) -> None:
        self._run(None, exc)

    def _run(self, result, exc) -> None:
        try:
            self.cb(result, exc)
        except Exception:       # never into the frame loop: it would close the link
            log.exception("event=ipc_callback_failed")


class Connection(asyncio.Protocol):
    __slots__ = ("handler", "transport", "_buf", "_out", "_flush_scheduled", "_ids",
                 "_pending", "hold", "closed", "peer", "_loop", "_paused", "_drain", "lost_future", "last_rid",
                 "_now", "_now_scheduled")

    def __init__(self, handler: Handler, *, hold: bool = False):
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future | _Answer] = {}
        self.hold = hold
        self.closed = False
        self.peer = None          # set by the owner: who is on the other side
        self._loop = asyncio.get_event_loop()
        self._paused = False
        self._drain: asyncio.Future | None = None
        self.lost_future: asyncio.Future | None = None
        self.last_rid = 0          # id of the latest call_nowait (to cancel it)
        self._now: list[bytes] = []      # frames that skip the hold (push(now=True))
        self._now_scheduled = False

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        handler = self.handler
        try:
            while n - pos >= 4:
                (size,) = _LEN.unpack_from(buf, pos)
                if size > MAX_FRAME:
                    raise ValueError(f"IPC frame of {size} bytes exceeds limit")
                end = pos + 4 + size
                if end > n:
                    break
                frame = _decode(memoryview(buf)[pos + 4:end])
                pos = end
                kind = frame[0]
                if kind == REQUEST:
                    handler.on_request(self, frame[1], frame[2], frame[3])
                elif kind == REPLY:
                    fut = self._pending.pop(frame[1], None)
                    if fut is not None and not fut.done():
                        fut.set_result(frame[2])
                elif kind == ERROR:
                    fut = self._pending.pop(frame[1], None)
                    if fut is not None and not fut.done():
                        fut.set_exception(RemoteError(*frame[2]))
                elif kind == PUSH:
                    handler.on_push(self, frame[1], frame[2])
                elif kind == CANCEL:
                    handler.on_cancel(self, frame[1])
        except Exception:
            log.exception("event=ipc_bad_frame peer=%s", self.peer)
            self.transport.close()
            return
        finally:
            if pos:
                del buf[:pos]

    def connection_lost(self, exc):
        self.closed = True
        err = ConnectionLost(f"IPC peer {self.peer} lost")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(err)
        try:
            self.handler.on_lost(self, exc)
        except Exception:
            log.exception("event=ipc_on_lost_failed")

    def pause_writing(self):
        self._paused = True
        try:
            self.handler.on_pause(self, True)
        except Exception:
            log.exception("event=ipc_on_pause_failed")

    def resume_writing(self):
        self._paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None
        try:
            self.handler.on_pause(self, False)
        except Exception:
            log.exception("event=ipc_on_pause_failed")

    @property
    def paused(self) -> bool:
        return self._paused

    # -- sending ----------------------------------------------------------
    def _append(self, out: list, frame) -> bool:
        if self.closed:
            return False
        body = _encode(frame)
        out.append(_LEN.pack(len(body)))
        out.append(body)
        return True

    def _send(self, frame) -> None:
        if self._append(self._out, frame) and not self.hold and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def _send_now(self, frame) -> None:
        if self._append(self._now, frame) and not self._now_scheduled:
            self._now_scheduled = True
            self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._now_scheduled = False
        if self._now and not self.closed:
            out = self._now
            self._now = []
            transport = self.transport
            if type(transport) is _LocalTransport:
                LOCAL_PUSHES[0] += 1
            transport.write(b"".join(out))

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._out and not self.closed:
            out = self._out
            self._out = []
            self.transport.write(b"".join(out))

    def take_held(self) -> list:
        """The output held so far, for a later `release` (nothing stays held)."""
        out, self._out = self._out, []
        return out

    def release(self, out: list) -> None:
        if out and not self.closed:
            self.transport.write(b"".join(out))

    def call_nowait(self, op: str, args) -> asyncio.Future:
        if self.closed:
            raise ConnectionLost(f"IPC peer {self.peer} lost")
        rid = self.last_rid = next(self._ids)
        fut = self._loop.create_future()
        self._pending[rid] = fut
        self._send((REQUEST, rid, op, args))
        return fut

    def call_cb(self, op: str, args, cb) -> None:
        """Like call_nowait, but the reply (or error, or ConnectionLost) goes to
        ``cb(result, exc)`` as soon as it is read."""
        if self.closed:
            raise ConnectionLost(f"IPC peer {self.peer} lost")
        rid = self.last_rid = next(self._ids)
        self._pending[rid] = _Answer(cb)
        self._send((REQUEST, rid, op, args))

    def cancel(self, rid: int) -> None:
        """Tell the peer we no longer wait for `rid` (it may stop the work)."""
        if self._pending.pop(rid, None) is not None:
            self._send((CANCEL, rid))

    async def call(self, op: str, args=None):
        return await self.call_nowait(op, args)

    def reply(self, rid: int, result) -> None:
        self._send((REPLY, rid, result))

    def reply_error(self, rid: int, code: str, message: str, status: int = 400,
                    sender_fault: bool = True, fields: dict | None = None) -> None:
        self._send((ERROR, rid, (code, message, status, sender_fault, fields or {})))

    def push(self, topic: str, payload, now: bool = False) -> None:
        """One-way; ``now``: not held (see module doc)."""
        if now and self.hold:
            self._send_now((PUSH, topic, payload))
        else:
            self._send((PUSH, topic, payload))

    async def drain(self) -> None:
        if self._paused:
            if self._drain is None:
                self._drain = self._loop.create_future()
            await self._drain

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self._flush_now()
            self.flush()
            self.transport.close()


# unheld pushes written over in-process links so far: a shard on the same loop lets
# its peer write them out to clients before it spends the loop on a commit
LOCAL_PUSHES = [0]


class _LocalTransport(asyncio.Transport):
    """One end of an IPC link inside one process (server.single_worker: the gateway and
    the shard on one loop). What is written reaches the peer's ``data_received`` on the
    next loop turn, in order, as a socket's bytes would, without its syscalls and
    wake-ups. Closing either end delivers what was written, then ends both."""

    def __init__(self, loop, protocol):
        super().__init__()
        self._loop, self._protocol = loop, protocol
        self.peer: _LocalTransport | None = None
        self._inbox: list[bytes] = []
        self._scheduled = False
        self._closing = False
        self._lost = False

    def write(self, data) -> None:
        peer = self.peer
        if self._closing or peer is None or peer._lost:
            return
        peer._inbox.append(data if type(data) is bytes else bytes(data))
        if not peer._scheduled:
            peer._scheduled = True
            self._loop.call_soon(peer._deliver)

    def writelines(self, chunks) -> None:
        self.write(b"".join(chunks))

    def _deliver(self) -> None:
        self._scheduled = False
        inbox = self._inbox
        if self._lost or not inbox:
            return
        self._inbox = []
        self._protocol.data_received(inbox[0] if len(inbox) == 1 else b"".join(inbox))

    def close(self) -> None:
        for end in (self, self.peer):
            if end is not None and not end._closing:
                end._closing = True
                self._loop.call_soon(end._shutdown)     # after the deliveries already due

    abort = close

    def _shutdown(self) -> None:
        if not self._lost:
            self._deliver()
            self._lost = True
            self._protocol.connection_lost(None)

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name, default=None):
        return default

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False


_LOCAL: dict[str, tuple] = {}     # path -> (pid, loop, protocol factory) of a server in this process


class _Served:
    """ipc.serve's server: closing it also stops in-process connects to its path."""

    def __init__(self, server, path: str, entry: tuple):
        self._server, self._path, self._entry = server, path, entry

    def close(self) -> None:
        if _LOCAL.get(self._path) is self._entry:
            del _LOCAL[self._path]
        self._server.close()

    def __getattr__(self, name):
        return getattr(self._server, name)


async def connect(path: str, handler: Handler, **kw) -> Connection:
    loop = asyncio.get_running_loop()
    local = _LOCAL.get(path)
    if local is not None and local[0] == os.getpid() and local[1] is loop:
        server_side, conn = local[2](), Connection(handler, **kw)
        a, b = _LocalTransport(loop, server_side), _LocalTransport(loop, conn)
        a.peer, b.peer = b, a
        server_side.connection_made(a)
        conn.connection_made(b)
        return conn
    _, conn = await loop.create_unix_connection(lambda: Connection(handler, **kw), path)
    return conn


async def serve(path: str, handler_factory, **kw):
    loop = asyncio.get_running_loop()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

    def factory():
        return Connection(handler_factory(), **kw)
    server = await loop.create_unix_server(factory, path)
    os.chmod(path, 0o600)
    entry = _LOCAL[path] = (os.getpid(), loop, factory)
    return _Served(server, path, entry)
