"""An environment's Airflow processes, supervised by the shard that owns the environment.

Why the shard: the environment's record lives there, so the process table,
its restarts and its state changes are decided where they are committed;
gateways only proxy (a gateway restart never touches Airflow). Each
component (API server or webserver, scheduler, DAG processor, triggerer)
runs as ``<venv>/bin/python -m airflow ...`` in its own process group, with
its output appended to ``console/<component>.log`` (files, not pipes: a
process never blocks on, or dies with, a reader). A component that exits
is restarted after a backoff (1 s doubling to 30 s) while the environment
should run.

The processes must not outlive the shard: each component's group leader (a
few lines of Python, see _LEADER) asks the kernel for SIGTERM when the shard
dies (PR_SET_PDEATHSIG), passes it on to Airflow and kills the group if
Airflow's graceful shutdown takes longer than GRACE_S; and a restarted shard
first kills whatever is left in the process groups the previous run
recorded in ``pids.json`` before it starts new ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import time
from pathlib import Path

log = logging.getLogger("broker.mwaa")

# The leader of each component's process group: asks for SIGTERM when the shard dies
# (PR_SET_PDEATHSIG), runs Airflow as its child and exits with its status. On SIGTERM (the
# shard died, or stop()) it passes the signal on and, if Airflow has not finished its
# graceful shutdown within the grace period, kills the whole group: Airflow's own
# shutdown can wait for ever (a database gone, a stuck executor worker).
_LEADER = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)
if os.getppid() == 1:
    sys.exit(1)
grace = int(sys.argv[1])
child = os.fork()
if child == 0:
    os.execv(sys.argv[2], sys.argv[2:])
def stop(signum, frame):
    try:
        os.kill(child, signal.SIGTERM)
    except ProcessLookupError:
        pass
    signal.signal(signal.SIGALRM, lambda *a: os.killpg(0, signal.SIGKILL))
    signal.alarm(grace)
signal.signal(signal.SIGTERM, stop)
while True:
    try:
        _pid, status = os.waitpid(child, 0)
        break
    except InterruptedError:
        continue
if os.WIFSIGNALED(status):
    sig = os.WTERMSIG(status)
    try:
        signal.signal(sig, signal.SIG_DFL)
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), sig)
sys.exit(os.waitstatus_to_exitcode(status))
"""
GRACE_S = 10
BACKOFF_MAX_S = 30.0
CONSOLE_MAX_BYTES = 32 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Component:
    __slots__ = ("name", "argv", "proc", "state", "restarts", "started", "exit_code", "task")

    def __init__(self, name: str, argv: list[str]):
        self.name, self.argv = name, argv
        self.proc: asyncio.subprocess.Process | None = None
        self.state = "starting"
        self.restarts = 0
        self.started = 0.0
        self.exit_code: int | None = None
        self.task: asyncio.Task | None = None

    def info(self) -> dict:
        leader = self.proc.pid if self.proc else None
        return {"name": self.name, "state": self.state, "pid": _child_of(leader) if leader else None, "pgid": leader,
                "restarts": self.restarts, "uptime": round(time.monotonic() - self.started, 1) if self.started else 0,
                "last_exit_code": self.exit_code}


class AirflowProcesses:
    def __init__(self, label: str, python: str, console: Path, pids: Path, env: dict, cmds: dict, cwd: str):
        self.label, self.python, self.console, self.pids, self.env, self.cwd = label, python, console, pids, env, cwd
        self.components = {name: Component(name, argv) for name, argv in cmds.items()}
        self.stopping = False

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self.console.mkdir(parents=True, exist_ok=True)
        for c in self.components.values():
            await self._spawn(c)
            c.task = asyncio.get_running_loop().create_task(self._watch(c))
        self._save_pids()

    async def _spawn(self, c: Component) -> None:
        path = self.console / f"{c.name}.log"
        if path.exists() and path.stat().st_size > CONSOLE_MAX_BYTES:
            os.truncate(path, 0)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            c.proc = await asyncio.create_subprocess_exec(
                self.python, "-I", "-S", "-c", _LEADER, str(GRACE_S), self.python, "-m", "airflow", *c.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd, stderr=fd, env=self.env, cwd=self.cwd, start_new_session=True)
        finally:
            os.close(fd)
        c.state, c.started = "running", time.monotonic()
        log.info("event=mwaa_component_started environment=%s component=%s pid=%d", self.label, c.name, c.proc.pid)

    async def _watch(self, c: Component) -> None:
        delay = 1.0
        while True:
            rc = await c.proc.wait()
            self._killpg(c.proc.pid, signal.SIGKILL)          # what it forked goes with it
            c.exit_code = rc
            if self.stopping:
                c.state = "stopped"
                return
            ran = time.monotonic() - c.started
            delay = 1.0 if ran > 60 else min(delay * 2, BACKOFF_MAX_S)
            c.state = "restarting"
            log.warning("event=mwaa_component_exited environment=%s component=%s rc=%s restart_in=%.0fs",
                        self.label, c.name, rc, delay)
            await asyncio.sleep(delay)
            if self.stopping:
                c.state = "stopped"
                return
            c.restarts += 1
            await self._spawn(c)
            self._save_pids()

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every component (Airflow drains), SIGKILL what is left after `grace` seconds."""
        self.stopping = True
        live = [c for c in self.components.values() if c.proc is not None and c.proc.returncode is None]
        for c in live:
            self._killpg(c.proc.pid, signal.SIGTERM)
        if live:
            try:
                await asyncio.wait_for(asyncio.gather(*(c.proc.wait() for c in live)), grace)
            except asyncio.TimeoutError:
                pass
        for c in self.components.values():
            if c.proc is not None:
                self._killpg(c.proc.pid, signal.SIGKILL)
            if c.task is not None:
                c.task.cancel()
            c.state = "stopped"
        kill_recorded(self.pids)                   # members that outlived their leader
        self.pids.unlink(missing_ok=True)

    def kill_now(self) -> None:
        """Synchronous stop (shard shutting down or reset): SIGTERM, a short wait, SIGKILL."""
        self.stopping = True
        live = [c.proc.pid for c in self.components.values() if c.proc is not None and c.proc.returncode is None]
        for pid in live:
            self._killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3.0
        while live and time.monotonic() < deadline:
            live = [p for p in live if _group_alive(p)]
            time.sleep(0.05)
        for c in self.components.values():
            if c.proc is not None:
                self._killpg(c.proc.pid, signal.SIGKILL)
            if c.task is not None:
                c.task.cancel()
        kill_recorded(self.pids)
        self.pids.unlink(missing_ok=True)

    @staticmethod
    def _killpg(pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _save_pids(self) -> None:
        data = {c.name: c.proc.pid for c in self.components.values() if c.proc is not None}
        tmp = self.pids.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.pids)

    # -- state ---------------------------------------------------------------------------------------
    def info(self) -> list[dict]:
        return [c.info() for c in self.components.values()]

    def running(self) -> bool:
        return all(c.state == "running" for c in self.components.values())

    def memory_bytes(self) -> int:
        """Proportional set size of every process of the environment (shared pages split fairly)."""
        total = 0
        for pid in group_pids(c.proc.pid for c in self.components.values() if c.proc is not None):
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1]) * 1024
                            break
            except OSError:
                continue
        return total


def _child_of(pid: int) -> int | None:
    """The Airflow process a group leader runs (its first child), if it is running."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except (OSError, ValueError):
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_pids(pgids) -> list[int]:
    """Live processes in these process groups that are Airflow's (/proc scan: start, stop and
    the admin view only, never a hot path). Airflow rewrites its processes' titles, and with
    them /proc/<pid>/environ, so the process group is what identifies them."""
    want = set(pgids)
    out = []
    if not want:
        return out
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
            pgrp = int(stat[stat.rindex(b")") + 2:].split()[2])
            if pgrp not in want:
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if b"airflow" in f.read():
                    out.append(int(d))
        except (OSError, ValueError, IndexError):
            continue
    return out


def recorded_groups(pids_file: Path) -> list[int]:
    try:
        return [int(v) for v in json.loads(pids_file.read_text()).values()]
    except (OSError, ValueError):
        return []


def kill_recorded(pids_file: Path) -> int:
    """Kill what is left of the process groups an earlier run recorded (a shard that died)."""
    n = 0
    for pid in group_pids(recorded_groups(pids_file)):
        try:
            os.kill(pid, signal.SIGKILL)
            n += 1
        except (ProcessLookupError, PermissionError):
            pass
    return n
