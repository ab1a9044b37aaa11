"""One execution environment: a runtime process and the Runtime API it talks to.

Life: ``start()`` opens the environment's Runtime API (hooks.RUNTIME_API, a
free loopback port), then spawns the runtime in its own process group (killed
with its shard: PR_SET_PDEATHSIG) with AWS's variables and a memory limit (RLIMIT_DATA, the function's MemorySize;
address-space limits would stop V8 from reserving its heap). The runtime
initialises and asks ``/invocation/next``; each invocation is handed over
there and ends with ``/response`` or ``/error``. A deadline per invocation
kills the whole process group ("Task timed out after N seconds"); a runtime
that exits or crashes fails its invocation and the environment is
discarded, never the worker hosting it.

Output (stdout and stderr, one pipe as at AWS) is read without a task per
line and split into log lines; the lines of an invocation are drained from
the pipe before its END line, so LogType=Tail and CloudWatch Logs see them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import signal
import subprocess
import time

from services.awslambda import hooks
from services.awslambda.model import MAX_SYNC_PAYLOAD

log = logging.getLogger("broker.lambda")

INIT_LIMIT_S = 10.0          # AWS's init phase limit (on-demand)
_OK = (202, {"status": "OK"})


class Result:
    """What an invocation ended with: payload bytes, function error ("Unhandled") or None."""
    __slots__ = ("payload", "error", "error_type")

    def __init__(self, payload: bytes, error: str | None = None, error_type: str | None = None):
        self.payload, self.error, self.error_type = payload, error, error_type


class Invocation:
    __slots__ = ("id", "payload", "arn", "trace", "client_context", "identity", "timeout_s", "future",
                 "deadline_ms", "lines", "handed", "started")

    def __init__(self, rid: str, payload: bytes, arn: str, timeout_s: int, trace: str | None = None,
                 client_context: str | None = None, identity: str | None = None):
        self.id, self.payload, self.arn, self.timeout_s = rid, payload, arn, timeout_s
        self.trace, self.client_context, self.identity = trace, client_context, identity
        self.future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.deadline_ms = 0
        self.lines: list[tuple[int, str]] = []
        self.handed = False
        self.started = 0.0


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the shard that spawned it dies (a kill -9 of the
    shard must not leave runtimes running a half-done invocation in their own session)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _prctl():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):      # not Linux
        return None


_PR_SET_PDEATHSIG = 1
_PRCTL = _prctl()


def _error_payload(rid: str, etype: str, text: str) -> bytes:
    return json.dumps({"errorType": etype, "errorMessage": f"RequestId: {rid} Error: {text}"}).encode()


class Environment:
    def __init__(self, spec, stream: str, init_type: str = "on-demand"):
        self.spec = spec                  # pool.Spec: what runs, how
        self.stream = stream              # CloudWatch Logs stream
        self.init_type = init_type
        self.proc: asyncio.subprocess.Process | None = None
        self.server = None
        self.port = 0
        self.dead = False
        self.ready = False                # the runtime asked for its first invocation
        self.spawned = 0.0
        self.init_ms = 0.0
        self.current: Invocation | None = None
        self._waiter: asyncio.Future | None = None
        self._fd = -1
        self._buf = b""
        self.last_used = time.monotonic()
        self.init_lines: list[tuple[int, str]] = []
        self.on_exit = None               # callback(env) once the process is gone
        self.max_rss_mb = 0

    # -- process ----------------------------------------------------------------------
    async def start(self, cmd: list[str], env: dict[str, str], cwd: str) -> None:
        self.server, self.port = await hooks.RUNTIME_API(self)
        env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.port}"}
        r, w = os.pipe()
        os.set_blocking(r, False)
        self.spawned = time.monotonic()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=subprocess.DEVNULL, stdout=w, stderr=w, env=env, cwd=cwd, start_new_session=True,
                preexec_fn=_die_with_parent)
        except OSError as exc:
            os.close(r)
            os.close(w)
            self.server.close()
            raise RuntimeError(f"{type(exc).__name__}: {exc.strerror or exc}") from None
        os.close(w)
        self._fd = r
        limit = int(self.spec.memory_mb) * 1024 * 1024
        try:
            resource.prlimit(self.proc.pid, resource.RLIMIT_DATA, (limit, limit))
        except (OSError, ValueError):
            pass
        loop = asyncio.get_running_loop()
        loop.add_reader(r, self._on_output)
        loop.create_task(self._watch())

    async def _watch(self) -> None:
        rc = await self.proc.wait()
        try:
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.max_rss_mb = max(self.max_rss_mb, ru.ru_maxrss // 1024)
        except OSError:
            pass
        self._drain()
        self._close_pipe()
        was_dead = self.dead
        self.dead = True
        inv = self.current
        if inv is not None and not inv.future.done():
            why = f"signal: {signal.Signals(-rc).name.lower()[3:]}" if rc < 0 else f"exit status {rc}"
            if not self.ready:
                text = f"Runtime exited with error: {why}"
            else:
                text = f"Runtime exited with error: {why}"
            self._line(f"RequestId: {inv.id} Error: {text}")
            inv.future.set_result(Result(_error_payload(inv.id, "Runtime.ExitError", text), "Unhandled",
                                         "Runtime.ExitError"))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("environment gone"))
        if self.server is not None:
            self.server.close()
        if not was_dead:
            log.info("event=lambda_env_exit function=%s rc=%s", self.spec.name, rc)
        if self.on_exit is not None:
            self.on_exit(self)

    def kill(self) -> None:
        """Stop the runtime and everything it started (its process group)."""
        self.dead = True
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        elif self.proc is None and self.server is not None:
            self.server.close()

    # -- output -------------------------------------------------------------------------
    def _on_output(self) -> None:
        self._drain()

    def _drain(self) -> None:
        fd = self._fd
        if fd < 0:
            return
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close_pipe()
                return
            data = self._buf + chunk
            *lines, self._buf = data.split(b"\n")
            if len(self._buf) > 262144:            # a line with no end: cut it
                lines.append(self._buf)
                self._buf = b""
            for ln in lines:
                self._line(ln.decode("utf-8", "replace").rstrip("\r"))

    def _line(self, text: str) -> None:
        entry = (int(time.time() * 1000), text)
        if self.current is not None:
            self.current.lines.append(entry)
        else:
            self.init_lines.append(entry)

    def _close_pipe(self) -> None:
        if self._fd >= 0:
            try:
                asyncio.get_running_loop().remove_reader(self._fd)
            except Exception:
                pass
            os.close(self._fd)
            self._fd = -1
            if self._buf:
                self._line(self._buf.decode("utf-8", "replace"))
                self._buf = b""

    # -- invocations ------------------------------------------------------------------------
    async def invoke(self, inv: Invocation) -> Result:
        """Run one invocation; never raises for what the function did."""
        self.current = inv
        loop = asyncio.get_running_loop()
        if self.ready:
            self._hand(inv)
        limit = inv.timeout_s + (0 if self.ready else INIT_LIMIT_S)
        handle = loop.call_later(limit, self._timed_out, inv)
        try:
            result = await inv.future
        finally:
            handle.cancel()
            self._drain()
            self.current = None
            self.last_used = time.monotonic()
        return result

    def _hand(self, inv: Invocation) -> None:
        w = self._waiter
        if w is not None and not w.done():
            self._waiter = None
            inv.handed = True
            w.set_result(inv)

    def _timed_out(self, inv: Invocation) -> None:
        if inv.future.done():
            return
        text = f"Task timed out after {inv.timeout_s:.2f} seconds"
        self._drain()
        self._line(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}.{int(time.time() * 1000) % 1000:03d}Z "
                   f"{inv.id} {text}")
        inv.future.set_result(Result(_error_payload(inv.id, "Sandbox.Timedout", text), "Unhandled",
                                     "Sandbox.Timedout"))
        self.kill()

    # -- the Runtime API (called by protocols/lambda_runtime) ---------------------------------
    async def api_next(self):
        if not self.ready:
            self.ready = True
            self.init_ms = (time.monotonic() - self.spawned) * 1000
        inv = self.current
        if inv is None or inv.handed or inv.future.done():
            self._waiter = asyncio.get_running_loop().create_future()
            inv = await self._waiter
        inv.handed = True
        inv.started = time.monotonic()
        inv.deadline_ms = int(time.time() * 1000) + inv.timeout_s * 1000
        headers = [("Lambda-Runtime-Aws-Request-Id", inv.id), ("Lambda-Runtime-Deadline-Ms", str(inv.deadline_ms)),
                   ("Lambda-Runtime-Invoked-Function-Arn", inv.arn)]
        if inv.trace:
            headers.append(("Lambda-Runtime-Trace-Id", inv.trace))
        if inv.client_context:
            headers.append(("Lambda-Runtime-Client-Context", inv.client_context))
        if inv.identity:
            headers.append(("Lambda-Runtime-Cognito-Identity", inv.identity))
        return headers, inv.payload

    def _mine(self, rid: str) -> Invocation | None:
        inv = self.current
        return inv if inv is not None and inv.id == rid and inv.handed and not inv.future.done() else None

    def api_response(self, rid: str, body: bytes):
        inv = self._mine(rid)
        if inv is None:
            return 400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
        if len(body) > MAX_SYNC_PAYLOAD:
            text = (f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                    f"({MAX_SYNC_PAYLOAD} bytes).")
            inv.future.set_result(Result(json.dumps({"errorType": "Function.ResponseSizeTooLarge",
                                                     "errorMessage": text}).encode(), "Unhandled",
                                         "Function.ResponseSizeTooLarge"))
            return 413, {"errorMessage": text, "errorType": "RequestEntityTooLarge"}
        inv.future.set_result(Result(body))
        return _OK

    def api_error(self, rid: str, body: bytes, error_type: str | None):
        inv = self._mine(rid)
        if inv is None:
            return 400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
        inv.future.set_result(Result(_clean_error(body), "Unhandled", error_type))
        return _OK

    def api_init_error(self, body: bytes, error_type: str | None):
        inv = self.current
        if inv is not None and not inv.future.done():
            inv.future.set_result(Result(_clean_error(body), "Unhandled", error_type or "Runtime.Unknown"))
        self.dead = True
        return _OK


def _clean_error(body: bytes) -> bytes:
    """An error document as AWS returns it (the Node runtime's ``trace`` is ``trace``,
    Python's ``stackTrace``: both kept); anything unparsable is wrapped."""
    try:
        doc = json.loads(body or b"{}")
        if isinstance(doc, dict):
            return json.dumps(doc).encode()
    except ValueError:
        pass
    return json.dumps({"errorType": "Runtime.Unknown", "errorMessage": body.decode("utf-8", "replace")}).encode()
