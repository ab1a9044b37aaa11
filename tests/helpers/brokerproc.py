"""Run the real server (`python -m broker serve`) as a subprocess for tests.

    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2") as b:
        kms = b.client("kms")
        ...
        rc, seconds = b.stop()

The server runs in its own process group (so a test can kill -9 the whole
tree, and cleanup never leaks workers); its stderr goes to
``<data-dir>/broker.log`` (see `.log_text()`), which failures quote.
Every wait polls with a deadline; nothing sleeps as synchronisation.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from broker.testing.client import poll

DUMMY_KEY = "AKIDTESTTESTTESTTEST"
DUMMY_SECRET = "test-secret-key-not-checked-in-dev-mode"
REGION = "us-east-1"

# Environment that would change how the server is configured; stripped from the
# inherited environment unless a test passes it explicitly.
_SCRUB_PREFIXES = ("BROKER_",)
_SCRUB = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY",
          "LISTEN_FDS", "LISTEN_PID"}


class BrokerError(AssertionError):
    pass


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition") -> Any:
    """Poll `predicate` until it returns a truthy value (returned), or raise TimeoutError
    once the deadline passes; exceptions raised by `predicate` count as "not yet"."""
    return poll(predicate, timeout, interval, what, error=TimeoutError)


def server_env(env: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB}
    base.setdefault("PYTHONUNBUFFERED", "1")
    if env:
        base.update(env)
    return base


def broker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "broker", *args]


class BrokerProcess:
    """One server run: supervisor + workers, own process group, temp data dir."""

    def __init__(self, data_dir: str | os.PathLike, *extra_args: str, env: dict[str, str] | None = None,
                 free_ports: bool = True, wait: bool = True, startup_timeout: float = 30.0):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.extra_args = [str(a) for a in extra_args]
        self.env = server_env(env)
        self.log_path = self.data_dir / "broker.log"
        self.endpoints: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.free_ports = free_ports
        self._start()
        if wait:
            try:
                self.wait_ready(startup_timeout)
            except BaseException:
                self.close()
                raise

    # -- process control --------------------------------------------------
    @property
    def cmd(self) -> list[str]:
        args = ["serve", "--data-dir", str(self.data_dir)]
        if self.free_ports:
            args.append("--free-ports")
        return broker_cmd(*args, *self.extra_args)

    def _start(self) -> None:
        # A stale endpoints.json (from a kill -9 run) must not look like "ready".
        try:
            (self.data_dir / "endpoints.json").unlink()
        except FileNotFoundError:
            pass
        self._log = open(self.log_path, "ab")
        self._log.write(f"---- start {' '.join(self.cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                     env=self.env, start_new_session=True)
        self.pgid = self.proc.pid

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = 30.0) -> dict[str, str]:
        path = self.data_dir / "endpoints.json"

        def ready():
            if self.proc.poll() is not None:
                raise BrokerError(f"server exited with {self.proc.returncode} before it was ready:\n"
                                  f"{self.log_text()}")
            if path.exists():
                return json.loads(path.read_text())
            return None

        deadline = time.monotonic() + timeout
        while True:
            try:
                eps = ready()
            except ValueError:  # partially visible file cannot happen (atomic replace), but be safe
                eps = None
            if eps:
                self.endpoints = eps
                return eps
            if time.monotonic() >= deadline:
                raise BrokerError(f"endpoints.json not written within {timeout}s:\n{self.log_text()}")
            time.sleep(0.02)

    def wait_exit(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BrokerError(f"server still running after {timeout}s:\n{self.log_text()}") from None
        self.returncode = rc
        return rc

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send `sig` to the supervisor; return (exit code, seconds until exit).

        If it does not exit within `timeout` the group is killed and
        BrokerError raised.
        """
        if not self.alive():
            return self.proc.returncode, 0.0
        t0 = time.monotonic()
        os.kill(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise BrokerError(f"server did not exit within {timeout}s of signal {sig}:\n{self.log_text()}") \
                from None
        elapsed = time.monotonic() - t0
        self.returncode = rc
        self._wait_group_gone(5.0)
        self._close_log()
        return rc, elapsed

    def kill_all(self) -> None:
        """kill -9 the whole process group (supervisor and every worker)."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc is not None:
            try:
                self.returncode = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._wait_group_gone(5.0)
        self._close_log()

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def _wait_group_gone(self, timeout: float) -> None:
        try:
            wait_for(lambda: not self._group_alive(), timeout, what="process group to exit")
        except TimeoutError:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()

    def close(self) -> None:
        """Always safe: kill whatever is left of the process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None or self._group_alive():
            self.kill_all()
        self._close_log()

    def restart(self, *extra_args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        """Stop (if running) and start again on the same data dir, optionally with other args."""
        if self.alive():
            self.stop()
        if extra_args:
            self.extra_args = [str(a) for a in extra_args]
        if env is not None:
            self.env = server_env(env)
        self._start()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "BrokerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # last resort; tests use close()/context managers
        try:
            self.close()
        except Exception:
            pass

    # -- endpoints and clients ---------------------------------------------
    @property
    def url(self) -> str:
        return self.endpoints["http"]

    @property
    def https_url(self) -> str:
        return self.endpoints["https"]

    @property
    def ca_cert(self) -> str:
        return str(self.data_dir / "tls" / "ca.pem")

    def client(self, service: str, https: bool = False, **kw):
        import boto3
        from botocore.config import Config
        kw.setdefault("region_name", REGION)
        kw.setdefault("aws_access_key_id", DUMMY_KEY)
        kw.setdefault("aws_secret_access_key", DUMMY_SECRET)
        kw.setdefault("endpoint_url", self.https_url if https else self.url)
        if https:
            kw.setdefault("verify", self.ca_cert)
        kw.setdefault("config", Config(retries={"max_attempts": 2, "mode": "standard"},
                                       connect_timeout=5, read_timeout=30))
        return boto3.session.Session().client(service, **kw)

    def get(self, path: str, https: bool = False, timeout: float = 5.0) -> tuple[int, Any]:
        """GET an admin path; returns (status, parsed JSON or raw bytes)."""
        url = (self.https_url if https else self.url) + path
        ctx = ssl.create_default_context(cafile=self.ca_cert) if https else None
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def control_call(self, op: str, args: dict | None = None, timeout: float = 20.0):
        """One request on the supervisor's control socket, as a worker makes it."""
        import asyncio

        from broker.runtime import ipc

        async def call():
            conn = await ipc.connect(str(self.data_dir / "run" / "control.sock"), ipc.Handler())
            try:
                return await asyncio.wait_for(conn.call(op, args or {}), timeout)
            finally:
                conn.close()
        return asyncio.run(call())

    def read_endpoints(self) -> dict:
        return json.loads((self.data_dir / "endpoints.json").read_text())

    def health(self, timeout: float = 5.0) -> dict:
        return self.get("/_broker/health", timeout=timeout)[1]

    def info(self) -> dict:
        status, doc = self.get("/_broker/info")
        assert status == 200, doc
        return doc

    def processes(self) -> list[dict]:
        return self.health()["processes"]

    def pids(self, role: str) -> list[int]:
        """Pids of `role` (supervisor, gateway, shard) ordered by index, from /_broker/health."""
        procs = sorted((p for p in self.processes() if p["role"] == role), key=lambda p: p["index"])
        return [p["pid"] for p in procs]

    def wait_healthy(self, timeout: float = 20.0) -> dict:
        def ok():
            doc = self.health(timeout=2.0)
            return doc if doc.get("status") == "ok" else None
        return wait_for(ok, timeout, what=f"healthy server\n{self.log_text(2000)}")

    def kill_worker(self, role: str, index: int = 0, timeout: float = 20.0) -> tuple[int, int]:
        """kill -9 one worker; wait until health shows a new pid running. Returns (old, new)."""
        old = self.pids(role)[index]
        os.kill(old, signal.SIGKILL)

        def replaced():
            doc = self.health(timeout=2.0)
            for p in doc["processes"]:
                if p["role"] == role and p["index"] == index and p["pid"] != old and p["state"] == "running":
                    return doc if doc["status"] == "ok" else None
            return None
        doc = wait_for(replaced, timeout, what=f"{role}-{index} to be restarted\n{self.log_text(2000)}")
        new = next(p["pid"] for p in doc["processes"] if p["role"] == role and p["index"] == index)
        return old, new
