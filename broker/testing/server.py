"""The server behind the `broker` fixture: started on first use, on free ports.

Without pytest-xdist the session starts one server and stops it at the end.
Under xdist every worker shares one server: the first worker to need it
starts it under a file lock in the run's shared temp directory and records
it there; the others attach to it; the controller stops it when the whole
run is over (workers finish at different times, and per-test accounts make
sharing safe, so nobody resets anything in between).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import time
from pathlib import Path

from broker.commands.run import STARTUP_TIMEOUT, Server, diagnose, health_of

DEFAULT_ARGS = ("--workers", "1", "--shards", "1")   # the small profile: one worker process
STATE = "server.json"


class StartError(RuntimeError):
    pass


def start(data_dir: Path, extra_args: list[str]) -> tuple[Server, dict]:
    """Start `broker serve --free-ports` in `data_dir`; (server, endpoints) once ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(data_dir, ["--free-ports", *DEFAULT_ARGS, *extra_args])
    endpoints = server.wait_ready(STARTUP_TIMEOUT)
    if endpoints is None:
        server.stop()
        from broker.commands.env import load_config
        why = "\n  ".join(diagnose(server.log_text(), load_config(None, str(data_dir))) or ["(see the log)"])
        raise StartError(f"the broker did not start (log: {server.log_path}):\n  {why}")
    health = health_of(endpoints)
    if health is not None and health.get("status") != "ok":
        server.stop()
        raise StartError(f"the broker started degraded: {health}")
    return server, endpoints


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:   # exited but not yet reaped by its parent (an xdist worker still finishing)
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def stop_pid(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM a server we did not fork (xdist controller), then its session if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Shared:
    """One server for every xdist worker of a run, recorded in `root`/server.json."""

    def __init__(self, root: Path):
        self.root = root
        self.state = root / STATE

    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def read(self) -> dict | None:
        try:
            return json.loads(self.state.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def attach_or_start(self, extra_args: list[str]) -> dict:
        fd = self._locked()
        try:
            rec = self.read()
            if rec and not gone(rec["pid"]) and (Path(rec["data_dir"]) / "endpoints.json").exists():
                return rec
            data_dir = self.root / f"data-{int(time.time() * 1000)}"
            server, endpoints = start(data_dir, extra_args)
            rec = {"pid": server.proc.pid, "data_dir": str(data_dir), "endpoints": endpoints}
            tmp = self.state.with_suffix(".tmp")
            tmp.write_text(json.dumps(rec))
            tmp.replace(self.state)
            return rec
        finally:
            os.close(fd)

    def stop(self, keep: bool) -> str | None:
        """Stop the run's server (controller, at the end); the kept data dir, if any."""
        rec = self.read()
        if rec is None:
            return None
        stop_pid(rec["pid"])
        self.state.unlink(missing_ok=True)
        if keep:
            return rec["data_dir"]
        shutil.rmtree(rec["data_dir"], ignore_errors=True)
        return None
