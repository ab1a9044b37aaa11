"""A pre-imported process that forks the workers, so they share interpreter pages.

Every worker needs the same large set of modules (the runtime, the codec,
botocore, cryptography, the services' shard halves ...). Started as separate
interpreters, each process holds its own copy (about 20 MB each). The
supervisor instead forks a *zygote* before it starts its event loop; the
zygote imports everything once, freezes the garbage collector's view of
those objects (``gc.freeze``: a later collection does not write to their
pages) and then forks a worker per request. Workers share the zygote's
pages copy-on-write, and a restart costs a fork, not an interpreter start.

Protocol on a socketpair, one line each way:

    supervisor -> zygote:  spawn <role> <index> <run_path>
    zygote -> supervisor:  pid <pid>          (the new worker)
                           exit <pid> <rc>    (a worker ended; rc < 0: killed by -rc)

The supervisor also watches each worker with a pidfd, so it notices an exit
even if the zygote itself is gone; it then falls back to starting workers as
fresh interpreters (`spawn_exec`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import selectors
import signal
import socket
import sys
import traceback
from typing import Callable

log = logging.getLogger("broker.zygote")

# In a forked worker: how many modules it had when forked. An import after the
# fork costs the worker its own copy and unshares interpreter tables, so what
# every worker needs at start belongs in the zygote (late_imports()).
FORKED_WITH: int | None = None


def late_imports() -> int:
    """Modules this worker imported since it was forked (0 if not forked)."""
    return 0 if FORKED_WITH is None else len(sys.modules) - FORKED_WITH


def start(preload: Callable[[], None], entry: Callable[[str, int, str], int]) -> "ZygoteClient | None":
    """Fork the zygote (call before any event loop runs in this process)."""
    if not hasattr(os, "pidfd_open") or not hasattr(os, "fork"):
        return None
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:                      # the zygote
        parent.close()
        code = 0
        try:
            _serve(child, preload, entry)
        except BaseException:
            traceback.print_exc()
            code = 70
        os._exit(code)
    child.close()
    return ZygoteClient(pid, parent)


# -- the zygote process --------------------------------------------------------

def _serve(sock: socket.socket, preload, entry) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)     # the supervisor decides; it stops us by closing the socket
    set_process_name("broker-zygote")
    preload()
    gc.freeze()
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "cmd")
    sel.register(rfd, selectors.EVENT_READ, "chld")
    buf = b""
    while True:
        for key, _ in sel.select():
            if key.data == "chld":
                try:
                    while os.read(rfd, 512):
                        pass
                except BlockingIOError:
                    pass
                _reap(sock)
                continue
            data = sock.recv(65536)
            if not data:
                return                 # the supervisor is gone
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                parts = line.decode().split(" ", 3)
                if parts[0] == "spawn":
                    pid = os.fork()
                    if pid == 0:
                        _child(sock, sel, rfd, wfd, entry, parts[1], int(parts[2]), parts[3])
                    sock.sendall(b"pid %d\n" % pid)
        _reap(sock)


def set_process_name(name: str) -> None:
    """What ps/top show for this process (Linux comm, 15 bytes)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)     # PR_SET_NAME
    except Exception:
        pass


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        rc = os.waitstatus_to_exitcode(status)
        try:
            sock.sendall(b"exit %d %d\n" % (pid, rc))
        except OSError:
            pass


def _child(sock, sel, rfd, wfd, entry, role: str, index: int, run_path: str) -> None:
    code = 70
    try:
        sel.close()
        sock.close()
        signal.set_wakeup_fd(-1)
        os.close(rfd)
        os.close(wfd)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        set_process_name(f"broker-{role}-{index}")
        global FORKED_WITH
        FORKED_WITH = len(sys.modules)
        code = entry(role, index, run_path)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code or 0)


# -- the supervisor's side -------------------------------------------------------

class Worker:
    """What the supervisor holds of a forked worker (asyncio.subprocess-like)."""

    def __init__(self, pid: int, loop: asyncio.AbstractEventLoop):
        self.pid = pid
        self.returncode: int | None = None
        self._done = loop.create_future()
        self._loop = loop
        try:
            self._pidfd = os.pidfd_open(pid)
            loop.add_reader(self._pidfd, self._on_pidfd)
        except OSError:                 # gone already
            self._pidfd = None
            self._finish(None)

    def _on_pidfd(self) -> None:
        # Exited. The zygote reports the exit code; give it a moment, then settle.
        self._loop.remove_reader(self._pidfd)
        self._loop.call_later(0.2, self._finish, None)

    def _finish(self, rc: int | None) -> None:
        if self._done.done():
            return
        self.returncode = rc if rc is not None else -1
        if self._pidfd is not None:
            try:
                self._loop.remove_reader(self._pidfd)
            except Exception:
                pass
            os.close(self._pidfd)
            self._pidfd = None
        self._done.set_result(self.returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        try:
            self.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass


class ZygoteClient:
    def __init__(self, pid: int, sock: socket.socket):
        self.pid = pid
        self.sock = sock
        self.workers: dict[int, Worker] = {}
        self.alive = True
        self._pending: list[asyncio.Future] = []
        self._buf = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = asyncio.Lock()
        self.sock.setblocking(False)
        loop.add_reader(self.sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            parts = line.decode().split()
            if parts[0] == "pid" and self._pending:
                self._pending.pop(0).set_result(int(parts[1]))
            elif parts[0] == "exit":
                w = self.workers.pop(int(parts[1]), None)
                if w is not None:
                    w._finish(int(parts[2]))

    def _lost(self) -> None:
        if not self.alive:
            return
        self.alive = False
        log.warning("event=zygote_lost action=spawn_by_exec")
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
        for f in self._pending:
            if not f.done():
                f.set_exception(ConnectionError("zygote gone"))
        self._pending.clear()

    async def spawn(self, role: str, index: int, run_path: str) -> Worker:
        async with self._lock:
            if not self.alive:
                raise ConnectionError("zygote gone")
            fut = self._loop.create_future()
            self._pending.append(fut)
            self.sock.sendall(f"spawn {role} {index} {run_path}\n".encode())
            pid = await asyncio.wait_for(fut, 30)
        w = Worker(pid, self._loop)
        if w.returncode is None:
            self.workers[pid] = w
        return w

    def close(self) -> None:
        if self.alive:
            self.alive = False
            try:
                self._loop.remove_reader(self.sock.fileno())
            except Exception:
                pass
            self.sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
