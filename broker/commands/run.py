"""`broker run [serve flags] -- CMD ARGS...`: a server for the length of one command.

Starts `broker serve` on free ports (unless a port flag is given) in a
temporary data directory (or --data-dir), waits until ``endpoints.json``
says it is ready, runs CMD with the `broker env` environment (plus
``BROKER_SERVER_DATA_DIR``, so `broker env` and `broker aws` inside CMD find
this server), stops the server when CMD exits and exits with CMD's code.
If the server does not come up, it says which listener or worker failed,
from the server's log and health, and exits 1 (CMD is not run).

The server runs in its own session, so Ctrl-C reaches CMD (which decides
what to do with it) and never kills the server behind CMD's back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from broker.commands import env as envcmd

STARTUP_TIMEOUT = 90.0
# one gateway and one shard, in one worker process: the smallest server (README, footprint)
SMALL_PROFILE = {"server.workers": 1, "server.shards": 1}   # one worker process (server.single_worker)
PORT_FLAGS = ("listeners.http_port", "listeners.https_port")


def _say(msg: str) -> None:
    print(f"broker run: {msg}", file=sys.stderr, flush=True)


class Server:
    """One `broker serve` child in its own session, logging to <data-dir>/broker.log."""

    def __init__(self, data_dir: Path, serve_args: list[str]):
        self.data_dir = data_dir
        self.log_path = data_dir / "broker.log"
        self.endpoints_path = data_dir / "endpoints.json"
        try:
            self.endpoints_path.unlink()        # a stale file (kill -9 run) is not "ready"
        except FileNotFoundError:
            pass
        self.cmd = [sys.executable, "-m", "broker", "serve", "--data-dir", str(data_dir), *serve_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True, env=_server_env())

    def wait_ready(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None
            try:
                return json.loads(self.endpoints_path.read_text())
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)
        return None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _say(f"the server did not stop within {timeout:g} s of SIGTERM; killing it")
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # whatever is left of its session
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


def _server_env() -> dict[str, str]:
    # The server must not mistake our own NOTIFY_SOCKET (under systemd) for its supervisor's.
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}


# -- diagnosis ---------------------------------------------------------------------------

_BIND = re.compile(r"cannot bind (\S+):(\d+)")
_LISTEN_ERR = re.compile(r"listener[ =](\S+)")


def diagnose(log: str, config, health: dict | None = None) -> list[str]:
    """What failed, in a few lines: the listener that could not bind, the worker that
    died or never got ready, the errors it logged."""
    out: list[str] = []
    ports = {str(v): k.split(".", 1)[1][:-len("_port")] for k, v in config.to_dict().items()
             if k.startswith("listeners.") and k.endswith("_port") and v}
    for m in _BIND.finditer(log):
        name = ports.get(m.group(2))
        what = f"listener {name} (listeners.{name}_port)" if name else "a listener"
        out.append(f"{what} could not bind {m.group(1)}:{m.group(2)}: address already in use or not allowed")
    for line in log.splitlines():
        text = line.strip()
        if not text:
            continue
        if "level=ERROR" in text or "level=CRITICAL" in text or "event=worker_died" in text \
                or text.startswith("broker:") or re.match(r"^\w+(Error|Exception)\b", text):
            if not _BIND.search(text):
                out.append(_short(text))
    if health:
        for p in health.get("processes", []):
            if p.get("state") != "running":
                out.append(f"{p.get('role')}-{p.get('index')} is {p.get('state')}")
    seen, unique = set(), []
    for line in out:
        if line not in seen:
            seen.add(line)
            unique.append(line)
    return unique[-12:]


def _short(line: str) -> str:
    # drop the timestamp and pid: keep what failed and why
    line = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", "", line)
    line = re.sub(r" pid=\d+", "", line)
    return line[:400]


def health_of(endpoints: dict) -> dict | None:
    url = endpoints.get("http")
    if not url:
        return None
    try:
        with urllib.request.urlopen(url + "/_broker/health", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


# -- the command -------------------------------------------------------------------------

def serve_args(args, serve_flags) -> tuple[list[str], dict]:
    """`broker serve` arguments and the config overrides they stand for."""
    overrides = {key: getattr(args, key) for _, key, _, _ in serve_flags}
    for key, value in SMALL_PROFILE.items():
        if overrides.get(key) is None:
            overrides[key] = value
    fixed = any(overrides.get(k) is not None for k in PORT_FLAGS)
    out = [] if args.config is None else ["--config", args.config]
    for flag, key, _typ, _help in serve_flags:
        if key != "server.data_dir" and overrides.get(key) is not None:
            out += [flag, str(overrides[key])]
    if not fixed:
        out.append("--free-ports")
        overrides["listeners.free_ports"] = True
    return out, overrides


def main(args, serve_flags) -> int:
    from broker.cli import schema
    from broker.runtime.config import ConfigError, load
    cmd = list(args.cmd or [])
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        _say("no command given: broker run [serve flags] -- CMD ARGS...")
        return 2
    flags, overrides = serve_args(args, serve_flags)
    temp = getattr(args, "server.data_dir") is None
    data_dir = Path(tempfile.mkdtemp(prefix="broker-run-") if temp else getattr(args, "server.data_dir"))
    data_dir = data_dir.expanduser().resolve()
    overrides["server.data_dir"] = str(data_dir)
    try:
        config = load(args.config, overrides=overrides, schema=schema())
    except ConfigError as exc:
        print(f"broker: config error: {exc}", file=sys.stderr)
        return 2
    data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(data_dir, flags)
    keep = False
    try:
        endpoints = server.wait_ready(args.startup_timeout)
        if endpoints is None:
            keep = True
            return _failed_start(server, config)
        health = health_of(endpoints)
        if health is not None and health.get("status") != "ok":
            keep = True
            return _failed_start(server, config, health)
        child_env = {**os.environ, **envcmd.client_env(endpoints, config, data_dir, tls=args.tls),
                     "BROKER_SERVER_DATA_DIR": str(data_dir)}
        code = run_command(cmd, child_env)
        keep = args.keep and code != 0
        return code
    finally:
        server.stop(float(config.get("server.drain_timeout", 8.0)) + 10)
        if keep or not temp:
            if temp:
                _say(f"data directory kept: {data_dir} (server log: {server.log_path})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _failed_start(server: Server, config, health: dict | None = None) -> int:
    rc = server.proc.poll()
    state = f"exited with code {rc}" if rc is not None else "was not ready in time"
    _say(f"the server {state}; the command was not run")
    for line in diagnose(server.log_text(), config, health) or ["(nothing in the log says why)"]:
        _say(f"  {line}")
    return 1


def run_command(cmd: list[str], env: dict[str, str]) -> int:
    """Run CMD in the foreground; SIGTERM/SIGHUP sent to us are passed on to it."""
    try:
        child = subprocess.Popen(cmd, env=env)
    except FileNotFoundError:
        _say(f"command not found: {cmd[0]}")
        return 127
    except PermissionError:
        _say(f"command not executable: {cmd[0]}")
        return 126

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass
    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C goes to the whole foreground group: CMD gets it itself; we wait for it to exit.
    old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rc = child.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 128 - rc if rc < 0 else rc


def add_parser(sub, serve_flags) -> None:
    import argparse
    p = sub.add_parser(
        "run", help="run a command against a fresh server: broker run [serve flags] -- CMD ARGS...",
        description="Start a server on free ports in a temporary data directory (or --data-dir), wait until it "
                    "is ready, run CMD with the `broker env` environment, stop the server when CMD exits and "
                    "exit with CMD's code. Defaults to 1 gateway and 1 shard in one worker process; a "
                    "port flag turns free ports off.",
        usage="broker run [serve flags] [--keep] [--tls] -- CMD ARGS...")
    p.add_argument("--config", metavar="FILE", help="TOML configuration file")
    for flag, key, typ, help_ in serve_flags:
        p.add_argument(flag, dest=key, type=typ, metavar=flag[2:].upper().replace("-", "_"), help=help_)
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory if CMD fails")
    p.add_argument("--tls", action="store_true", help="point AWS clients at HTTPS (AWS_CA_BUNDLE set)")
    p.add_argument("--startup-timeout", type=float, default=STARTUP_TIMEOUT, metavar="SECONDS",
                   help=f"how long to wait for the server to be ready (default {STARTUP_TIMEOUT:g})")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="the command (after --)")
