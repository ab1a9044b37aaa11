"""What an environment's Airflow processes are given: paths, ports, variables, commands.

Everything MWAA sets for an environment becomes ``AIRFLOW__SECTION__KEY``
variables of its processes (the customer's ``AirflowConfigurationOptions``
last, so they win over our defaults but never over the reserved keys the
API refuses). The processes also get the AWS variables of a client of this
broker (endpoint, region, credentials) and an ``aws_default`` connection
pointing at it, so the Amazon provider and plain boto3 reach our services.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from services.mwaa.model import LOG_MODULES, bucket_of, class_limits, major

# Inherited variables that must not reach Airflow (our own config and secrets, a
# caller's AWS or Airflow settings, systemd's sockets).
_SCRUB_PREFIXES = ("BROKER_", "AWS_", "AIRFLOW", "VIRTUAL_ENV", "PYTHON")
_SCRUB = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "LISTEN_FDS", "LISTEN_PID"}

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Paths:
    """Where an environment keeps its files under the data directory."""
    __slots__ = ("home", "venv", "plugins", "logs", "console", "db", "passwords", "pids", "dags")

    def __init__(self, data_dir: str, account: str, region: str, name: str, rec: dict):
        self.home = Path(data_dir) / "mwaa" / "environments" / account / region / name
        self.venv = self.home / "venv"
        self.plugins = self.home / "plugins"
        self.logs = self.home / "logs"                 # Airflow's base_log_folder (task logs)
        self.console = self.home / "console"           # each process's stdout/stderr
        self.db = self.home / "airflow.db"
        self.passwords = self.home / "passwords.json"
        self.pids = self.home / "pids.json"
        self.dags = s3_path(data_dir, rec["SourceBucketArn"], rec["DagS3Path"])


def s3_path(data_dir: str, bucket_arn: str, rel: str) -> Path:
    """``s3://<bucket>/<rel>`` as the local directory standing in for it."""
    root = Path(data_dir) / "s3" / bucket_of(bucket_arn)
    p = (root / rel.lstrip("/")).resolve()
    if p != root.resolve() and root.resolve() not in p.parents:
        raise ValueError(f"{rel!r} leaves the bucket")
    return p


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB}


def log_level(rec: dict) -> str:
    levels = [m.get("LogLevel") or "INFO" for m in (rec.get("LoggingConfiguration") or {}).values()
              if isinstance(m, dict) and m.get("Enabled")]
    return min(levels, key=_LEVELS.index) if levels else "INFO"


def process_env(rec: dict, paths: Paths, ports: dict, endpoint: str, credentials: tuple[str, str],
                database_url: str) -> dict[str, str]:
    """The variables of every Airflow process of this environment."""
    account, region, name = rec["_a"], rec["_r"], rec["Name"]
    tasks = class_limits(rec.get("EnvironmentClass") or "")[0]
    env = base_env()
    venv_bin = str(paths.venv / "bin")
    env.update({
        "PATH": f"{venv_bin}:{env.get('PATH', '/usr/bin:/bin')}", "VIRTUAL_ENV": str(paths.venv),
        "PYTHONUNBUFFERED": "1", "AIRFLOW_HOME": str(paths.home), "AIRFLOW_ENV_NAME": name,
        "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": credentials[0], "AWS_SECRET_ACCESS_KEY": credentials[1],
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "extra": {
            "endpoint_url": endpoint, "region_name": region}}),
    })
    cfg = {
        "core.dags_folder": str(paths.dags), "core.plugins_folder": str(paths.plugins),
        "core.load_examples": "False", "core.executor": "LocalExecutor", "core.parallelism": str(tasks),
        "core.fernet_key": rec["_fernet"], "database.sql_alchemy_conn": database_url,
        "logging.base_log_folder": str(paths.logs), "logging.logging_level": log_level(rec),
        "logging.worker_log_server_port": str(ports["worker_logs"]),
        "logging.trigger_log_server_port": str(ports["trigger_logs"]),
        "webserver.secret_key": rec["_sec"], "api.secret_key": rec["_sec"],
    }
    if major(rec["AirflowVersion"]) >= 3:
        cfg.update({
            "core.execution_api_server_url": f"http://127.0.0.1:{ports['web']}/execution/",
            "api_auth.jwt_secret": rec["_sec"],
            "core.simple_auth_manager_users": "admin:admin",
            "core.simple_auth_manager_passwords_file": str(paths.passwords),
        })
    else:
        if database_url.startswith("sqlite"):   # Airflow 2 refuses LocalExecutor and a standalone DAG processor
            cfg["core.executor"] = "SequentialExecutor"
        cfg.update({"scheduler.standalone_dag_processor": str(standalone_dag_processor(rec, database_url)),
                    "api.auth_backends": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
                    "webserver.web_server_port": str(ports["web"])})
    task_logs = (rec.get("LoggingConfiguration") or {}).get("TaskLogs") or {}
    if task_logs.get("Enabled"):
        group = f"airflow-{name}-{LOG_MODULES['TaskLogs']}"
        cfg.update({"logging.remote_logging": "True", "logging.remote_log_conn_id": "aws_default",
                    "logging.remote_base_log_folder": f"cloudwatch://arn:aws:logs:{region}:{account}:log-group:{group}"})
    cfg.update(rec.get("AirflowConfigurationOptions") or {})
    for dotted, value in cfg.items():
        section, _, key = dotted.partition(".")
        env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    return env


def database_name(rec: dict) -> str:
    """The environment's own database on the configured PostgreSQL server."""
    return "mwaa_" + "".join(c if c.isalnum() else "_" for c in rec["Name"].lower())


def env_database_url(server_url: str, rec: dict) -> str:
    """`server_url` with its database replaced by the environment's (query options kept)."""
    from urllib.parse import urlsplit, urlunsplit
    u = urlsplit(server_url)
    return urlunsplit((u.scheme, u.netloc, "/" + database_name(rec), u.query, u.fragment))


def commands(rec: dict, ports: dict, database_url: str) -> dict[str, list[str]]:
    """Component name -> argv after ``python -m airflow`` (one scheduler on SQLite: it has no row locks)."""
    out: dict[str, list[str]] = {}
    if major(rec["AirflowVersion"]) >= 3:
        out["webserver"] = ["api-server", "--host", "127.0.0.1", "--port", str(ports["web"]), "--workers", "1",
                            "--proxy-headers"]
    else:
        out["webserver"] = ["webserver", "--hostname", "127.0.0.1", "--port", str(ports["web"]), "--workers", "1"]
    n = 1 if not database_url.startswith("postgresql") else int(rec.get("Schedulers") or 1)
    for i in range(max(1, n)):
        out["scheduler" if i == 0 else f"scheduler-{i + 1}"] = ["scheduler"]
    if standalone_dag_processor(rec, database_url):
        out["dag-processor"] = ["dag-processor"]
    out["triggerer"] = ["triggerer"]
    return out


def standalone_dag_processor(rec: dict, database_url: str) -> bool:
    """Airflow 3 always parses DAGs in its own process; Airflow 2 can, except on SQLite (there the
    scheduler parses them)."""
    return major(rec["AirflowVersion"]) >= 3 or not database_url.startswith("sqlite")


def health_components(rec: dict, database_url: str) -> tuple[str, ...]:
    """What Airflow's health endpoint must report healthy before the environment is AVAILABLE."""
    return ("metadatabase", "scheduler", "triggerer") + (
        ("dag_processor",) if standalone_dag_processor(rec, database_url) else ())


# Component -> the LoggingConfiguration member its console output goes to
COMPONENT_LOGS = {"webserver": "WebserverLogs", "scheduler": "SchedulerLogs", "dag-processor": "DagProcessingLogs",
                  "triggerer": "SchedulerLogs", "worker": "WorkerLogs"}


def module_of(component: str) -> str:
    return COMPONENT_LOGS.get(component.split("-")[0] if component.startswith("scheduler") else component,
                              "SchedulerLogs")
