"""Preparing an environment before its processes start: Airflow base, virtualenv,
requirements, plugins, startup script, metadata database.

Airflow itself is installed once per version, never per environment: the
version the ``mwaa`` extra installed lives in the broker's own
site-packages; any other version gets a shared base virtualenv under
``<data_dir>/mwaa/airflow/<version>`` (pip, on first use). Each environment
then gets a virtualenv of its own layered on that base with a ``.pth`` file
(what ``--system-site-packages`` does for a system Python), so creating it
costs milliseconds and its ``requirements.txt`` lands in it, never in the
broker's or the base's site-packages.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

from services.mwaa.model import installed_airflow
from services.mwaa.settings import Paths, s3_path

EXTRA_HINT = "install the broker's `mwaa` extra: pip install -e '.[mwaa]'"


class ProvisionError(Exception):
    """A step failed: (ErrorCode, ErrorMessage) for the environment's LastUpdate."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


async def run(argv: list[str], env: dict | None, log_path: Path, timeout: float, cwd: str | None = None) -> int:
    """Run a command with its output appended to `log_path`; its exit code (-9 on timeout)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                                                    stderr=out, env=env, cwd=cwd, start_new_session=True)
    try:
        return await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        await proc.wait()
        return -9
    except asyncio.CancelledError:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        raise


def tail(path: Path, n: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - n))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


# -- the Airflow base of a version ------------------------------------------------------------------

def _site_packages(prefix: Path) -> list[str]:
    paths = sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix)})
    return sorted({paths["purelib"], paths["platlib"]})


async def airflow_base(data_dir: str, version: str, allow_install: bool, log_path: Path) -> list[str]:
    """site-packages directories holding Airflow `version`, installing it once if needed."""
    if installed_airflow() == version:
        return sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    base = Path(data_dir) / "mwaa" / "airflow" / version
    done = base / ".installed"
    if done.exists():
        return _site_packages(base)
    if not allow_install:
        raise ProvisionError("INCORRECT_CONFIGURATION",
                             f"Apache Airflow {version} is not installed on this broker (it runs "
                             f"{installed_airflow() or 'no Airflow'}; mwaa.install_versions is off).")
    base.parent.mkdir(parents=True, exist_ok=True)
    with open(base.parent / f".{version}.lock", "w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)     # one installer across shards
        if done.exists():
            return _site_packages(base)
        await asyncio.to_thread(venv.EnvBuilder(symlinks=True, with_pip=False, clear=True).create, str(base))
        # the broker's own pip installs into the base interpreter's environment only
        rc = await run([sys.executable, "-m", "pip", "--python", str(base / "bin" / "python"), "install",
                        "--disable-pip-version-check", f"apache-airflow=={version}",
                        "apache-airflow-providers-amazon"], None, log_path, 1800)
        if rc != 0:
            raise ProvisionError("INCORRECT_CONFIGURATION",
                                 f"Apache Airflow {version} could not be installed (pip exited {rc}): "
                                 f"{tail(log_path, 600)}")
        done.write_text(version)
    return _site_packages(base)


def _link(prefix: Path, site_dirs: list[str], name: str = "_mwaa_base.pth") -> None:
    own = Path(sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix)})["purelib"])
    own.mkdir(parents=True, exist_ok=True)
    (own / name).write_text("".join(d + "\n" for d in site_dirs))


# -- the environment's own virtualenv ----------------------------------------------------------------

def make_venv(paths: Paths, site_dirs: list[str]) -> None:
    """A fresh virtualenv over the Airflow base (requirements are re-installed on every start,
    as MWAA does, so nothing of an older requirements.txt stays behind)."""
    venv.EnvBuilder(symlinks=True, with_pip=False, clear=True).create(str(paths.venv))
    _link(paths.venv, site_dirs)
    launcher = paths.venv / "bin" / "airflow"          # Airflow 2 runs `airflow tasks run ...`
    launcher.write_text(f"#!{paths.venv / 'bin' / 'python'}\nimport sys\nfrom airflow.__main__ import main\n"
                        f"sys.exit(main())\n")
    launcher.chmod(0o755)


async def install_requirements(data_dir: str, rec: dict, paths: Paths, env: dict) -> int | None:
    """pip install -r the environment's requirements.txt into its virtualenv: pip's exit code, or None."""
    rel = rec.get("RequirementsS3Path")
    if not rel:
        return None
    req = s3_path(data_dir, rec["SourceBucketArn"], rel)
    log_path = paths.console / "requirements_install.log"
    if not req.is_file():
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as f:
            f.write(f"requirements file s3://{rel} not found\n")
        return 1
    return await run([sys.executable, "-m", "pip", "--python", python_of(paths), "install", "--disable-pip-version-check",
                      "--no-warn-script-location", "-r", str(req)], env, log_path, 1800, cwd=str(req.parent))


def unpack_plugins(data_dir: str, rec: dict, paths: Paths) -> None:
    import shutil
    shutil.rmtree(paths.plugins, ignore_errors=True)
    paths.plugins.mkdir(parents=True, exist_ok=True)
    rel = rec.get("PluginsS3Path")
    if not rel:
        return
    src = s3_path(data_dir, rec["SourceBucketArn"], rel)
    if not src.is_file():
        raise ProvisionError("INCORRECT_CONFIGURATION", f"Unable to read plugins file s3://{rel}: not found.")
    try:
        with zipfile.ZipFile(src) as z:
            for member in z.namelist():
                target = (paths.plugins / member).resolve()
                if paths.plugins.resolve() not in target.parents and target != paths.plugins.resolve():
                    raise ProvisionError("INCORRECT_CONFIGURATION", f"plugins.zip member {member!r} leaves the "
                                                                    f"plugins folder.")
            z.extractall(paths.plugins)
    except zipfile.BadZipFile:
        raise ProvisionError("INCORRECT_CONFIGURATION", f"Unable to read plugins file s3://{rel}: not a zip "
                                                        f"file.") from None


async def startup_script(data_dir: str, rec: dict, paths: Paths, env: dict) -> dict:
    """Run the startup script as MWAA does (sourced, before Airflow starts): the variables it exports."""
    rel = rec.get("StartupScriptS3Path")
    if not rel:
        return {}
    script = s3_path(data_dir, rec["SourceBucketArn"], rel)
    if not script.is_file():
        raise ProvisionError("INCORRECT_CONFIGURATION", f"Unable to read startup script s3://{rel}: not found.")
    dump = paths.home / ".startup_env"
    rc = await run(["bash", "-c", 'set -a; source "$0" 1>&2 || exit $?; env -0 > "$1"', str(script), str(dump)],
                   env, paths.console / "startup_script.log", 300, cwd=str(paths.home))
    if rc != 0:
        raise ProvisionError("INCORRECT_CONFIGURATION", f"The startup script exited with code {rc}.")
    out = {}
    for item in dump.read_bytes().split(b"\0"):
        k, sep, v = item.decode("utf-8", "replace").partition("=")
        if sep and env.get(k) != v and not k.startswith(("AIRFLOW__", "AWS_", "BROKER_")) and k not in (
                "PWD", "SHLVL", "_", "OLDPWD"):
            out[k] = v
    dump.unlink(missing_ok=True)
    return out


async def migrate_db(paths: Paths, env: dict, sqlite: bool) -> None:
    rc = await run([str(paths.venv / "bin" / "python"), "-m", "airflow", "db", "migrate"], env,
                   paths.console / "db_migrate.log", 900, cwd=str(paths.home))
    if rc != 0:
        raise ProvisionError("INCORRECT_CONFIGURATION",
                             f"airflow db migrate exited with code {rc}: {tail(paths.console / 'db_migrate.log', 600)}")
    if sqlite and paths.db.exists():
        # WAL lets the CLI and the API server read while the scheduler writes
        con = sqlite3.connect(paths.db)
        try:
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()


async def ensure_admin_v2(paths: Paths, env: dict, password: str) -> None:
    """Airflow 2 (FAB): the admin user the broker logs in as (basic auth for the REST API)."""
    log_path = paths.console / "db_migrate.log"
    rc = await run([python_of(paths), "-m", "airflow", "users", "create", "--username", "admin", "--password",
                    password, "--role", "Admin", "--firstname", "MWAA", "--lastname", "Admin", "--email",
                    "admin@example.com"], env, log_path, 300, cwd=str(paths.home))
    if rc != 0 and "already exist" not in tail(log_path, 2000):
        raise ProvisionError("INCORRECT_CONFIGURATION", f"airflow users create exited with code {rc}.")


def python_of(paths: Paths) -> str:
    return str(paths.venv / "bin" / "python")


def broker_python() -> str:
    return sys.executable
