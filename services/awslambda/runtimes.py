"""How each runtime's process is started: command line and environment.

- python3.x: AWS's runtime interface client from PyPI (``python -m
  awslambdaric <handler>``) on this server's interpreter.
- nodejs*.x: node_bootstrap.mjs, our loop over the same Runtime API.
- provided*: the function's own ``bootstrap`` (task root first, then /opt).

/opt is the function's merged layer directory (code.opt_dir); the search
paths AWS derives from /opt are derived from it the same way.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from services.awslambda.model import RUNTIMES_NODE, RUNTIMES_PROVIDED, RUNTIMES_PY

NODE_BOOTSTRAP = str(Path(__file__).with_name("node_bootstrap.mjs"))


class RuntimeUnavailable(Exception):
    """The runtime cannot start here (no node, no bootstrap...): an init error."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def _join(*parts) -> str:
    return ":".join(str(p) for p in parts if p)


def command(runtime: str, handler: str, task: Path, opt: Path | None) -> list[str]:
    if runtime in RUNTIMES_PY:
        return [sys.executable, "-m", "awslambdaric", handler]
    if runtime in RUNTIMES_NODE:
        node = shutil.which("node")
        if node is None:
            raise RuntimeUnavailable("Runtime.InvalidEntrypoint", "node is not installed on this server")
        return [node, NODE_BOOTSTRAP]
    if runtime in RUNTIMES_PROVIDED:
        for d in (task, opt):
            if d is not None and (d / "bootstrap").is_file():
                return [str(d / "bootstrap")]
        raise RuntimeUnavailable("Runtime.InvalidEntrypoint",
                                 "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]")
    raise RuntimeUnavailable("Runtime.InvalidEntrypoint", f"Runtime {runtime} is not supported")


def environment(runtime: str, task: Path, opt: Path | None) -> dict[str, str]:
    """The runtime-specific variables (search paths); AWS's common ones come from the pool."""
    o = opt or None
    base_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env = {"LAMBDA_TASK_ROOT": str(task), "LAMBDA_RUNTIME_DIR": str(Path(NODE_BOOTSTRAP).parent),
           "PATH": _join(o and o / "bin", base_path),
           "LD_LIBRARY_PATH": _join(task / "lib", o and o / "lib", os.environ.get("LD_LIBRARY_PATH"))}
    if runtime in RUNTIMES_PY:
        ver = runtime[len("python"):]
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        env["PYTHONPATH"] = _join(task, o and o / "python", o and o / "python" / "lib" / f"python{ver}" / "site-packages",
                                  o and ver != here and o / "python" / "lib" / f"python{here}" / "site-packages")
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    elif runtime in RUNTIMES_NODE:
        major = runtime[len("nodejs"):].split(".")[0]
        env["NODE_PATH"] = _join(o and o / "nodejs" / f"node{major}" / "node_modules",
                                 o and o / "nodejs" / "node_modules", task / "node_modules", task)
    return env


def execution_env(runtime: str) -> str:
    return f"AWS_Lambda_{runtime}"
