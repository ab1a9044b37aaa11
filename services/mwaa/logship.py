"""Airflow's own logs to CloudWatch Logs, in the groups MWAA uses.

Task logs go there through Airflow itself (remote logging with the Amazon
provider's CloudWatch handler, pointed at this broker: see settings.py).
The components' console output (scheduler, DAG processor, web server,
triggerer, requirements install) is read from their ``console/*.log`` files
every second, from where the last read stopped, and shipped to
``airflow-<env>-Scheduler`` / ``-DAGProcessing`` / ``-WebServer`` /
``-Worker`` when that module is enabled in LoggingConfiguration, through
the shared Logs batcher (services/logs/batching.py: group and stream
created on first use, batched, best effort).
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from services.mwaa.model import log_group
from services.mwaa.settings import module_of

_LEVEL_RANK = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_MAX_READ = 4 * 1024 * 1024


class ConsoleShipper:
    def __init__(self, batcher, console: Path, rec: dict):
        self.batcher = batcher              # the shard half's one LogBatcher (it remembers created streams)
        self.console = console
        self.rec = rec
        self.offsets: dict[str, int] = {}
        self.host = socket.gethostname().split(".")[0]
        self.task: asyncio.Task | None = None
        for f in console.glob("*.log") if console.is_dir() else ():
            self.offsets[f.name] = f.stat().st_size        # what was written before us was shipped (or lost)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.poll()
            except Exception:          # never let shipping stop the environment
                pass

    def poll(self) -> None:
        cfg = self.rec.get("LoggingConfiguration") or {}
        if not self.console.is_dir():
            return
        for f in self.console.glob("*.log"):
            component = f.stem
            module = "WorkerLogs" if component == "requirements_install" else module_of(component)
            mod = cfg.get(module) or {}
            size = f.stat().st_size
            start = self.offsets.get(f.name, 0)
            if size < start:                               # truncated (rotation)
                start = 0
            if size == start:
                continue
            self.offsets[f.name] = size
            if not mod.get("Enabled"):
                continue
            with open(f, "rb") as fh:
                fh.seek(max(start, size - _MAX_READ))
                data = fh.read(size - start)
            now = int(time.time() * 1000)
            floor = _LEVEL_RANK.get(mod.get("LogLevel") or "INFO", 20)
            events = [{"timestamp": now, "message": ln} for ln in data.decode("utf-8", "replace").splitlines()
                      if ln.strip() and _level_of(ln) >= floor]
            stream = f"{component}_console_{self.host}" if component != "requirements_install" \
                else f"requirements_install_{self.host}"
            self.batcher.add((self.rec["_a"], self.rec["_r"], log_group(self.rec["Name"], module), stream), events)


def _level_of(line: str) -> int:
    """A console line's level as Airflow's structured logs print it (``[info     ]``), else INFO."""
    i = line.find("[")
    if 0 <= i < 40:
        word = line[i + 1:line.find("]", i)].strip().upper()
        if word == "WARN":
            word = "WARNING"
        return _LEVEL_RANK.get(word, 20)
    return 20
