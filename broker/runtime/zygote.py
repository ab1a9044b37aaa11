"""The zygote: the pre-imported process workers are forked from, so they share
its interpreter pages. The supervisor is that process.

Every worker needs the same large set of modules (the runtime, the codec,
botocore, cryptography, the services' shard halves ...). Started as separate
interpreters, each process holds its own copy (about 20 MB each). The
supervisor instead imports all of it before its event loop starts, freezes the
garbage collector's view of those objects (``gc.freeze``: a later collection
does not write to their pages), and forks each worker from its running loop.
Workers share those pages copy-on-write, and a restart costs a fork, not an
interpreter start.

An earlier design forked a separate pre-imported process (a zygote) that forked
the workers. It cost a process whose pages nobody else used: the pages both the
supervisor and every worker had written stayed in the zygote alone (about 4.6
MB measured). Forking from the supervisor needs care, done in `_child`: the
child leaves the supervisor's loop and signal set-up behind, closes the
descriptors it inherited (its siblings' control connections among them: a
worker must see the supervisor go), and never returns into the supervisor's
frames. Where forking is unsafe (another thread is running) or unavailable,
workers start as fresh interpreters (the supervisor's exec fallback).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import threading
import traceback
from typing import Callable

log = logging.getLogger("broker.zygote")

# In a forked worker: how many modules it had when forked. An import after the
# fork costs the worker its own copy and unshares interpreter tables, so what
# every worker needs at start is imported before the fork (late_imports()).
FORKED_WITH: int | None = None

_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP)


def late_imports() -> int:
    """Modules this worker imported since it was forked (0 if not forked)."""
    return 0 if FORKED_WITH is None else len(sys.modules) - FORKED_WITH


def start(entry: Callable[[str, int, str], int]) -> "Forker | None":
    """The supervisor's worker forker (None where fork or pidfds are missing)."""
    if not hasattr(os, "pidfd_open") or not hasattr(os, "fork"):
        return None
    return Forker(entry)


def set_process_name(name: str) -> None:
    """What ps/top show for this process (Linux comm, 15 bytes)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)     # PR_SET_NAME
    except Exception:
        pass


def _open_fds() -> dict[int, tuple[int, int]]:
    """This process's descriptors (>= 3) and what each refers to (device, inode)."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                st = os.fstat(fd)
            except OSError:      # the listing's own descriptor, already closed
                continue
            out[fd] = (st.st_dev, st.st_ino)
    return out


def _child(entry, role: str, index: int, run_path: str, inherited: dict) -> None:
    """In the forked worker: leave the supervisor behind, run the worker, exit."""
    code = 70
    try:
        gc.freeze()       # the supervisor's objects: never traversed nor collected here
        asyncio.events._set_running_loop(None)
        signal.set_wakeup_fd(-1)
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        # Close what the supervisor had open (its sockets, pidfds, loop); a
        # descriptor made in this process since the fork (libuv re-creates its
        # signal pipe in the child, maybe under an inherited number) is kept.
        for fd, ident in inherited.items():
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == ident:
                os.close(fd)
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
    """What the supervisor holds of a forked worker (asyncio.subprocess-like); it is
    reaped when its pidfd turns readable."""

    def __init__(self, pid: int, loop: asyncio.AbstractEventLoop):
        self.pid = pid
        self.returncode: int | None = None
        self._done = loop.create_future()
        self._loop = loop
        self._pidfd = os.pidfd_open(pid)    # our child: valid even once it has exited, until reaped
        loop.add_reader(self._pidfd, self._on_pidfd)

    def _on_pidfd(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, None
        if pid == 0:
            return                      # not yet (spurious wake-up)
        self._finish(os.waitstatus_to_exitcode(status) if status is not None else None)

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


class Forker:
    """Forks workers from the supervisor's running loop (asyncio.subprocess-like handles)."""

    def __init__(self, entry: Callable[[str, int, str], int]):
        self.entry = entry
        self.alive = True
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def spawn(self, role: str, index: int, run_path: str) -> Worker:
        if threading.active_count() > 1 or len(os.listdir("/proc/self/task")) > 1:
            # a fork copies one thread: a lock another one holds stays held forever
            raise OSError("another thread is running: not forking")
        inherited = _open_fds()
        sys.stdout.flush()
        sys.stderr.flush()
        # A signal sent to the new process before it has reset its handlers would
        # run the supervisor's (and wake the supervisor's loop): hold them until then.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _child(self.entry, role, index, run_path, inherited)     # never returns
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        try:
            return Worker(pid, self._loop)
        except OSError:         # cannot watch it (out of descriptors): do not leave it unwatched
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise

    def close(self) -> None:
        self.alive = False
