"""fdatasync of several files at once, off the event loop, without a thread.

Linux AIO's IOCB_CMD_FDSYNC (io_submit(2), Linux 4.18+) runs ``fdatasync``
in the kernel's workers: one io_submit starts the syncs of every dirty log
side by side, and their completion is signalled on an eventfd the event loop
watches. The loop goes on meanwhile (the next group commit's writes) and no
Python thread has to take the interpreter lock back to report it. Each file
is made durable exactly as by fdatasync(2); no other program's dirty pages
are waited for (as syncfs(2) would).

`FdSync.open()` returns None where this is not available (another OS or
architecture, or io_setup refused): the caller syncs as before.
"""

from __future__ import annotations

import ctypes
import os
import platform

# syscall numbers of io_setup, io_destroy, io_getevents, io_submit
_NR = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2)}
IOCB_CMD_FDSYNC = 3
IOCB_FLAG_RESFD = 1


class _Iocb(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("key", ctypes.c_uint32), ("rw_flags", ctypes.c_int32),
                ("opcode", ctypes.c_uint16), ("reqprio", ctypes.c_int16), ("fildes", ctypes.c_uint32),
                ("buf", ctypes.c_uint64), ("nbytes", ctypes.c_uint64), ("offset", ctypes.c_int64),
                ("reserved2", ctypes.c_uint64), ("flags", ctypes.c_uint32), ("resfd", ctypes.c_uint32)]


class _Event(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64), ("res", ctypes.c_int64),
                ("res2", ctypes.c_int64)]


class FdSync:
    """Batches of fdatasyncs in flight on one AIO context; completions wake the loop."""

    def __init__(self, libc, nr, depth: int):
        self._syscall, self._nr = libc.syscall, [ctypes.c_long(n) for n in nr]
        ctx = ctypes.c_ulong(0)
        if self._syscall(self._nr[0], ctypes.c_long(depth), ctypes.byref(ctx)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self._ctx = ctx
        self.depth = depth
        self.efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._iocbs = (_Iocb * depth)()
        self._ptrs = (ctypes.POINTER(_Iocb) * depth)(*[ctypes.pointer(cb) for cb in self._iocbs])
        self._events = (_Event * depth)()
        self.pending = 0            # syncs submitted and not yet reaped
        self.error = 0              # first errno a sync of this batch reported

    @classmethod
    def open(cls, depth: int) -> "FdSync | None":
        nr = _NR.get(platform.machine())
        if nr is None or not hasattr(os, "eventfd"):
            return None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            return cls(libc, nr, depth)
        except (OSError, AttributeError):
            return None

    def submit(self, fds) -> None:
        """Start an fdatasync of each of `fds` (at most `depth`, none in flight)."""
        n = len(fds)
        if self.pending or n > self.depth:
            raise ValueError("FdSync: a batch is in flight or too large")
        for cb, fd in zip(self._iocbs, fds):
            ctypes.memset(ctypes.addressof(cb), 0, ctypes.sizeof(cb))
            cb.opcode, cb.fildes = IOCB_CMD_FDSYNC, fd
            cb.flags, cb.resfd = IOCB_FLAG_RESFD, self.efd
        self.error = 0
        done = self._syscall(self._nr[3], self._ctx, ctypes.c_long(n), self._ptrs)
        if done != n:        # nothing or part submitted: the caller must not count on these
            err = ctypes.get_errno() if done < 0 else 0
            if done > 0:
                self.pending = done
                self._wait_all()
            raise OSError(err or 5, "io_submit: " + os.strerror(err or 5))
        self.pending = n

    def reap(self) -> bool:
        """Collect finished syncs (call when `efd` is readable); True once the batch is done.
        A failed sync leaves its errno in `error`."""
        try:
            os.eventfd_read(self.efd)
        except BlockingIOError:
            pass
        self._collect(0)
        return self.pending == 0

    def _collect(self, min_nr: int) -> None:
        timeout = None if min_nr else ctypes.byref(_Timespec(0, 0))
        while self.pending:
            got = self._syscall(self._nr[2], self._ctx, ctypes.c_long(min_nr), ctypes.c_long(self.pending),
                                self._events, timeout)
            if got < 0:
                err = ctypes.get_errno()
                if err == 4:       # EINTR
                    continue
                raise OSError(err, os.strerror(err))
            for ev in self._events[:got]:
                if ev.res < 0 and not self.error:
                    self.error = -ev.res
            self.pending -= got
            if got == 0 or not min_nr:
                break

    def _wait_all(self) -> None:
        """Block until the batch in flight is done (shutdown, or a partial submit)."""
        while self.pending:
            self._collect(1)

    def close(self) -> None:
        self._wait_all()
        self._syscall(self._nr[1], self._ctx)
        os.close(self.efd)


class _Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
