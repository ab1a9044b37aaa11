"""MWAA shard half: environment records, their lifecycle, and their Airflow processes.

Built once per partition. A state change is committed before it is
answered (CREATING, UPDATING, DELETING); the slow part (virtualenv,
requirements, database migration, starting Airflow and waiting until it is
healthy) runs afterwards as a task of this shard, whose end is committed in
turn (AVAILABLE, CREATE_FAILED, ...). A shard that restarts picks every
environment up where its record says: it starts the processes of an
AVAILABLE environment again and re-runs an unfinished create, update or
delete.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shlex
import shutil
import time

from services.mwaa import provision
from services.mwaa.model import (
    KIND, MWAA_VERSIONS, NO_RESTART, class_limits, env_arn, installed_airflow, invalid, major, make_token,
    not_found,
)
from services.mwaa.provision import EXTRA_HINT, ProvisionError
from services.mwaa.runner import AirflowProcesses, free_port, kill_recorded
from services.mwaa.settings import (
    Paths, commands, database_name, env_database_url, health_components, process_env,
)

log = logging.getLogger("broker.mwaa")

HEALTH_POLL_S = 1.0
# MWAA's CLI: the commands it runs (first words), per Airflow major version
CLI_ALLOWED = {
    "cheat-sheet", "connections add", "connections delete", "connections get", "connections list",
    "connections export", "connections import", "dags backfill", "dags delete", "dags list", "dags list-jobs",
    "dags list-runs", "dags list-import-errors", "dags next-execution", "dags pause", "dags report",
    "dags reserialize", "dags show", "dags state", "dags test", "dags trigger", "dags unpause", "dags details",
    "db check", "info", "plugins", "pools get", "pools list", "pools set", "pools delete", "roles list",
    "roles create", "tasks clear", "tasks failed-deps", "tasks list", "tasks render", "tasks state",
    "tasks states-for-dag-run", "tasks test", "variables delete", "variables get", "variables list",
    "variables set", "variables export", "variables import", "version", "assets list", "assets details",
    "assets materialize", "backfill create", "config get-value", "config list",
}
CLI_TIMEOUT_S = 60.0


class MwaaShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.host = part.shard
        run = part.shard.run
        self.run = run
        self.data_dir = run.data_dir
        self.config = run.config
        self.envs: dict[str, dict] = dict(self.store.scan(KIND))
        self.procs: dict[str, AirflowProcesses] = {}
        self.shippers: dict = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.envvars: dict[str, dict] = {}
        self.closed = False
        self.batcher = None
        for key in list(self.envs):
            part.after_commit(lambda k=key: self._resume(k))

    def close(self) -> None:
        self.closed = True
        for t in self.tasks.values():
            t.cancel()
        for s in self.shippers.values():
            s.close()
        if self.batcher is not None:
            self.batcher.close()
        for p in self.procs.values():
            p.kill_now()
        self.procs.clear()

    # -- helpers ------------------------------------------------------------------------------------
    def _get(self, key: str, name: str) -> dict:
        rec = self.envs.get(key)
        if rec is None:
            raise not_found(name)
        return rec

    def _save(self, key: str, rec: dict) -> None:
        self.envs[key] = rec
        self.store.put(KIND, key, rec)
        self.part.flush_soon()

    def _paths(self, rec: dict) -> Paths:
        return Paths(self.data_dir, rec["_a"], rec["_r"], rec["Name"], rec)

    def _database_url(self, rec: dict, paths: Paths) -> str:
        url = str(self.config.get("mwaa.database_url", "") or "")
        return env_database_url(url, rec) if url else f"sqlite:///{paths.db}"

    def _credentials(self, account: str) -> tuple[str, str]:
        """Keys the environment's AWS clients sign with: a configured key of the account, else (dev
        mode) the account id as access key, which this broker maps to that account."""
        for c in self.config.get("aws.credentials", []) or []:
            if str(c.get("account_id", "")) == account and c.get("access_key"):
                return c["access_key"], c.get("secret_key", "")
        return account, "test"

    def _endpoint(self) -> str:
        port = self.run.ports.get("http") or 4566
        return f"http://127.0.0.1:{port}"

    # -- dispatch -----------------------------------------------------------------------------------
    def op_Env(self, a):
        return getattr(self, "_" + a["op"])(a["k"], a)

    def op_List(self, a):
        return [(r["CreatedAt"], r["Name"]) for r in self.envs.values() if r["_a"] == a["a"] and r["_r"] == a["r"]]

    def op_Health(self, a):
        out = []
        for key, rec in self.envs.items():
            p = self.procs.get(key)
            out.append({"name": rec["Name"], "account": rec["_a"], "region": rec["_r"], "status": rec["Status"],
                        "airflow_version": rec["AirflowVersion"], "webserver_url": rec.get("WebserverUrl"),
                        "processes": p.info() if p else [], "healthy": bool(p and p.running()),
                        "memory_bytes": p.memory_bytes() if p and a.get("memory") else None})
        return out

    # -- operations ---------------------------------------------------------------------------------
    def _Create(self, key, a):
        p = a["q"]
        name = p["Name"]
        if key in self.envs:
            if self.envs[key]["Status"] == "DELETING":     # its listener is closed: the caller closes the new one
                raise invalid(f"Environment {name} is being deleted; create it again once it is gone.")
            raise invalid(f"Environment {name} already exists.")
        if installed_airflow() is None:
            raise invalid(f"Apache Airflow is not installed on this broker: {EXTRA_HINT}.")
        account, region = a["a"], a["r"]
        env_class = p.get("EnvironmentClass") or "mw1.small"
        tasks, schedulers, max_workers, webservers = class_limits(env_class)
        rec = {
            "Name": name, "Arn": env_arn(account, region, name), "Status": "CREATING", "CreatedAt": time.time(),
            "WebserverUrl": a["host"], "ExecutionRoleArn": p["ExecutionRoleArn"],
            "ServiceRoleArn": f"arn:aws:iam::{account}:role/aws-service-role/airflow.amazonaws.com/"
                              f"AWSServiceRoleForAmazonMWAA",
            "AirflowVersion": p.get("AirflowVersion") or installed_airflow(),
            "SourceBucketArn": p["SourceBucketArn"], "DagS3Path": p["DagS3Path"],
            "EnvironmentClass": env_class, "MaxWorkers": p.get("MaxWorkers") or max_workers,
            "MinWorkers": p.get("MinWorkers") or 1, "Schedulers": p.get("Schedulers") or schedulers,
            "MinWebservers": p.get("MinWebservers") or webservers, "MaxWebservers": p.get("MaxWebservers") or webservers,
            "NetworkConfiguration": p["NetworkConfiguration"], "LoggingConfiguration": a["logging"],
            "WebserverAccessMode": p.get("WebserverAccessMode") or "PRIVATE_ONLY",
            "EndpointManagement": p.get("EndpointManagement") or "SERVICE",
            "AirflowConfigurationOptions": p.get("AirflowConfigurationOptions") or {},
            "Tags": p.get("Tags") or {},
            "_a": account, "_r": region, "_listener": a["listener"], "_sec": secrets.token_hex(32),
            "_pw": secrets.token_urlsafe(24), "_fernet": _fernet_key(),
        }
        for f in ("KmsKey", "PluginsS3Path", "PluginsS3ObjectVersion", "RequirementsS3Path",
                  "RequirementsS3ObjectVersion", "StartupScriptS3Path", "StartupScriptS3ObjectVersion",
                  "WeeklyMaintenanceWindowStart"):
            if p.get(f) is not None:
                rec[f] = p[f]
        self._save(key, rec)
        self.part.after_commit(lambda: self._launch(key, self._create(key)))
        return {"Arn": rec["Arn"]}

    def _Get(self, key, a):
        return self._get(key, a["n"])

    def _Update(self, key, a):
        rec = self._get(key, a["n"])
        if rec["Status"] not in ("AVAILABLE", "UPDATE_FAILED"):
            raise invalid(f"Unable to update environment {rec['Name']} in its current state {rec['Status']}.")
        changes = a["changes"]
        new = {**rec, **changes}
        restart = any(k not in NO_RESTART and rec.get(k) != v for k, v in changes.items()) \
            or rec["Status"] == "UPDATE_FAILED"
        now = time.time()
        new["_prev"] = {k: rec.get(k) for k in changes}
        new["Status"] = "UPDATING" if restart else "AVAILABLE"
        new["LastUpdate"] = {"Status": "PENDING" if restart else "SUCCESS", "CreatedAt": now, "Source": "API"}
        if a.get("strategy"):
            new["LastUpdate"]["WorkerReplacementStrategy"] = a["strategy"]
        self._save(key, new)
        if restart:
            self.part.after_commit(lambda: self._launch(key, self._update(key)))
        else:
            shipper = self.shippers.get(key)
            if shipper is not None:
                shipper.rec = new
        return {"Arn": rec["Arn"]}

    def _Delete(self, key, a):
        rec = self._get(key, a["n"])
        if rec["Status"] in ("CREATING", "UPDATING", "ROLLING_BACK", "DELETING"):
            raise invalid(f"Unable to delete environment {rec['Name']} in its current state {rec['Status']}.")
        self._save(key, {**rec, "Status": "DELETING"})
        self.part.after_commit(lambda: self._launch(key, self._delete(key)))
        return {"_listener": rec.get("_listener")}

    def _Tag(self, key, a):
        rec = self._get(key, a["n"])
        tags = dict(rec.get("Tags") or {})
        tags.update(a.get("tags") or {})
        for k in a.get("untag") or ():
            tags.pop(k, None)
        if len(tags) > 50:
            raise invalid("Too many tags: an environment may have at most 50 tags.")
        self._save(key, {**rec, "Tags": tags})
        return {}

    def _Access(self, key, a):
        """What a gateway needs to reach the environment's Airflow (never leaves the broker)."""
        rec = self._get(key, a["n"])
        p = self.procs.get(key)
        port = next((int(c.argv[c.argv.index("--port") + 1]) for c in p.components.values() if "--port" in c.argv),
                    None) if p else None
        return {"status": rec["Status"], "port": port, "pw": rec["_pw"], "sec": rec["_sec"],
                "version": rec["AirflowVersion"], "name": rec["Name"], "host": rec["WebserverUrl"]}

    def _Cli(self, key, a):
        rec = self._get(key, a["n"])
        env = self.envvars.get(key)
        if rec["Status"] not in ("AVAILABLE", "UPDATING") or env is None:
            raise invalid(f"Environment {rec['Name']} is not available (status {rec['Status']}).")
        try:
            argv = shlex.split(a["cmd"])
        except ValueError as exc:
            return {"code": 400, "stdout": b"", "stderr": f"Unable to parse the command: {exc}\n".encode()}
        words = [w for w in argv if not w.startswith("-")]
        head = " ".join(words[:2])
        if not argv or (head not in CLI_ALLOWED and (words[:1] and words[0]) not in CLI_ALLOWED):
            return {"code": 400, "stdout": b"",
                    "stderr": f"Command {' '.join(words[:2]) or a['cmd']!r} is not supported by the MWAA CLI.\n".encode()}
        return self._run_cli(rec, env, argv)

    async def _run_cli(self, rec, env, argv):
        paths = self._paths(rec)
        proc = await asyncio.create_subprocess_exec(
            provision.python_of(paths), "-m", "airflow", *argv, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=str(paths.home),
            start_new_session=True)
        try:
            out, errout = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT_S)
        except asyncio.TimeoutError:
            os.killpg(proc.pid, 9)
            out, errout = await proc.communicate()
            errout += b"\nThe command timed out.\n"
        return {"code": 200, "stdout": out, "stderr": errout, "rc": proc.returncode}

    def _Token(self, key, a):
        rec = self._get(key, a["n"])
        if rec["Status"] not in ("AVAILABLE", "UPDATING"):
            raise invalid(f"Environment {rec['Name']} is not available (status {rec['Status']}).")
        return {"token": make_token(rec["_sec"], a["kind"], key, a.get("identity", "")), "host": rec["WebserverUrl"]}

    # -- lifecycle tasks ------------------------------------------------------------------------------
    def _launch(self, key: str, coro) -> None:
        old = self.tasks.get(key)
        if old is not None and not old.done():
            old.cancel()
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks[key] = task
        task.add_done_callback(lambda t, k=key: self.tasks.pop(k, None) if self.tasks.get(k) is t else None)

    def _resume(self, key: str) -> None:
        rec = self.envs.get(key)
        if rec is None or self.closed:
            return
        st = rec["Status"]
        if st == "CREATING":
            self._launch(key, self._create(key))
        elif st in ("UPDATING", "ROLLING_BACK"):
            self._launch(key, self._update(key))
        elif st == "DELETING":
            self._launch(key, self._delete(key))
        elif st in ("AVAILABLE", "UPDATE_FAILED", "UNAVAILABLE"):
            self._launch(key, self._restart(key))
        else:                                   # CREATE_FAILED: nothing runs, leftovers go
            kill_recorded(self._paths(rec).pids)

    async def _bring_up(self, key: str, rec: dict) -> None:
        """Everything from a fresh virtualenv to a healthy Airflow; raises ProvisionError."""
        paths = self._paths(rec)
        await self._stop(key)
        kill_recorded(paths.pids)
        for d in (paths.home, paths.console, paths.logs, paths.dags):
            d.mkdir(parents=True, exist_ok=True)
        paths.passwords.write_text(json.dumps({"admin": rec["_pw"]}))
        os.chmod(paths.passwords, 0o600)
        allow = bool(self.config.get("mwaa.install_versions", True))
        site = await provision.airflow_base(self.data_dir, rec["AirflowVersion"], allow,
                                            paths.console / "airflow_install.log")
        await asyncio.to_thread(provision.make_venv, paths, site)
        ports = {"web": free_port(), "worker_logs": free_port(), "trigger_logs": free_port()}
        db_url = self._database_url(rec, paths)
        env = process_env(rec, paths, ports, self._endpoint(), self._credentials(rec["_a"]), db_url)
        await asyncio.to_thread(provision.unpack_plugins, self.data_dir, rec, paths)
        env.update(await provision.startup_script(self.data_dir, rec, paths, env))
        rc = await provision.install_requirements(self.data_dir, rec, paths, env)
        if rc:
            log.warning("event=mwaa_requirements_failed environment=%s rc=%s", rec["Name"], rc)
        if db_url.startswith("postgresql"):
            await self._database(paths, env, rec, "create")
        await provision.migrate_db(paths, env, db_url.startswith("sqlite"))
        if major(rec["AirflowVersion"]) < 3:
            await provision.ensure_admin_v2(paths, env, rec["_pw"])
        procs = AirflowProcesses(rec["Name"], provision.python_of(paths), paths.console, paths.pids, env,
                                 commands(rec, ports, db_url), str(paths.home))
        self.procs[key] = procs
        self.envvars[key] = env
        from services.mwaa.logship import ConsoleShipper
        shipper = self.shippers.pop(key, None)
        if shipper is not None:
            shipper.close()
        if self.batcher is None:
            from services.logs.batching import LogBatcher
            self.batcher = LogBatcher(self.host, name="mwaa", delay=0.2, create_group=True)
        shipper = self.shippers[key] = ConsoleShipper(self.batcher, paths.console, rec)
        shipper.start()
        await procs.start()
        await self._wait_healthy(rec, ports["web"], health_components(rec, db_url))

    async def _database(self, paths, env, rec, what: str) -> None:
        """Create (if missing) or drop the environment's database on the mwaa.database_url server."""
        code = ("import sys, sqlalchemy as sa\n"
                "e = sa.create_engine(sys.argv[1], isolation_level='AUTOCOMMIT')\n"
                "with e.connect() as c:\n"
                "    there = c.execute(sa.text('select 1 from pg_database where datname = :n'), {'n': sys.argv[2]}).first()\n"
                "    if sys.argv[3] == 'create' and not there:\n"
                "        c.execute(sa.text('CREATE DATABASE ' + sys.argv[2]))\n"
                "    elif sys.argv[3] == 'drop' and there:\n"
                "        c.execute(sa.text('DROP DATABASE ' + sys.argv[2] + ' WITH (FORCE)'))\n")
        # the broker's interpreter: the mwaa extra gives it SQLAlchemy and psycopg whatever the environment's base
        rc = await provision.run([provision.broker_python(), "-c", code, str(self.config.get("mwaa.database_url")),
                                  database_name(rec), what], env, paths.console / "db_migrate.log", 120)
        if rc != 0:
            raise ProvisionError("INCORRECT_CONFIGURATION",
                                 f"Unable to {what} database {database_name(rec)} on mwaa.database_url "
                                 f"(exit code {rc}).")

    async def _wait_healthy(self, rec: dict, port: int, want: tuple) -> None:
        from broker.runtime.sinks import http_request
        timeout = float(self.config.get("mwaa.start_timeout", 600.0))
        deadline = time.monotonic() + timeout
        path = "/api/v2/monitor/health" if major(rec["AirflowVersion"]) >= 3 else "/health"
        last = ""
        while time.monotonic() < deadline:
            await asyncio.sleep(HEALTH_POLL_S)
            try:
                status, _h, body = await http_request("GET", f"http://127.0.0.1:{port}{path}", None, None, timeout=5)
                doc = json.loads(body) if status == 200 else {}
                states = {k: (doc.get(k) or {}).get("status") for k in want}
                if all(v == "healthy" for v in states.values()):
                    return
                last = ", ".join(f"{k}={v}" for k, v in states.items())
            except Exception as exc:
                last = f"web server not answering ({type(exc).__name__})"
        raise ProvisionError("INCORRECT_CONFIGURATION",
                             f"Apache Airflow did not become healthy within {timeout:.0f} seconds ({last}).")

    async def _stop(self, key: str) -> None:
        procs = self.procs.pop(key, None)
        self.envvars.pop(key, None)
        if procs is not None:
            await procs.stop()

    def _finish(self, key: str, **changes) -> dict | None:
        rec = self.envs.get(key)
        if rec is None:
            return None
        rec = {**rec, **changes}
        self._save(key, rec)
        shipper = self.shippers.get(key)
        if shipper is not None:
            shipper.rec = rec
        return rec

    async def _attempt(self, key: str, rec: dict, what: str) -> tuple[str, str] | None:
        """Bring the environment up as `rec` says: None, or (ErrorCode, ErrorMessage) after logging."""
        t0 = time.monotonic()
        try:
            await self._bring_up(key, rec)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code, msg = _error_of(exc)
            log.warning("event=mwaa_%s_failed environment=%s error=%s", what, rec["Name"], msg)
            return code, msg
        log.info("event=mwaa_available environment=%s after=%s seconds=%.1f", rec["Name"], what,
                 time.monotonic() - t0)
        return None

    async def _create(self, key: str) -> None:
        failed = await self._attempt(key, self.envs[key], "create")
        if failed is None:
            self._finish(key, Status="AVAILABLE")
            return
        await self._stop(key)
        self._finish(key, Status="CREATE_FAILED", LastUpdate={
            "Status": "FAILED", "CreatedAt": time.time(), "Source": "API",
            "Error": {"ErrorCode": failed[0], "ErrorMessage": failed[1]}})

    async def _update(self, key: str) -> None:
        rec = self.envs[key]
        failed = await self._attempt(key, rec, "update")
        if failed is None:
            self._finish(key, Status="AVAILABLE", LastUpdate={**(rec.get("LastUpdate") or {}), "Status": "SUCCESS"})
            return
        last = {**(rec.get("LastUpdate") or {}), "Status": "FAILED",
                "Error": {"ErrorCode": failed[0], "ErrorMessage": failed[1]}}
        back = self._finish(key, Status="ROLLING_BACK", LastUpdate=last, **(rec.get("_prev") or {}))
        if await self._attempt(key, back, "rollback") is None:     # MWAA rolls back to the previous configuration
            self._finish(key, Status="AVAILABLE")
            return
        await self._stop(key)
        self._finish(key, Status="UPDATE_FAILED")

    async def _restart(self, key: str) -> None:
        rec = self.envs[key]
        if await self._attempt(key, rec, "restart") is not None:
            self._finish(key, Status="UNAVAILABLE")
        elif rec["Status"] != "AVAILABLE":
            self._finish(key, Status="AVAILABLE")

    async def _delete(self, key: str) -> None:
        rec = self.envs[key]
        await self._stop(key)
        shipper = self.shippers.pop(key, None)
        if shipper is not None:
            shipper.close()
        paths = self._paths(rec)
        kill_recorded(paths.pids)
        if self.config.get("mwaa.database_url"):
            try:
                await self._database(paths, None, rec, "drop")
            except ProvisionError as exc:       # the environment goes anyway; the database stays behind
                log.warning("event=mwaa_database_not_dropped environment=%s error=%s", rec["Name"], exc.message)
        await asyncio.to_thread(shutil.rmtree, paths.home, True)
        self.envs.pop(key, None)
        self.store.delete(KIND, key)
        self.part.flush_soon()
        log.info("event=mwaa_deleted environment=%s", rec["Name"])


def _error_of(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ProvisionError):
        return exc.code, exc.message
    return "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"


def _fernet_key() -> str:
    import base64
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


__all__ = ["MwaaShard", "MWAA_VERSIONS"]
