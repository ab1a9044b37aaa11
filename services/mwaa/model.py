"""MWAA vocabulary: errors, ARNs, versions, environment classes, defaults, log groups.

An environment's entity key is ``mwaa/<account>/<region>/<name>``: its record
(the ``Environment`` shape plus private ``_`` fields) lives in one partition,
and its Airflow processes run in the shard that owns that partition.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import base64
import re
import time

from services.errors import ServiceError

KIND = "mwaa.env"

# AirflowVersion values MWAA accepts (botocore's model documentation); the one
# the `mwaa` extra installed is accepted too and is the default.
MWAA_VERSIONS = ("2.7.2", "2.8.1", "2.9.2", "2.10.1", "2.10.3", "2.11.0", "3.0.6")

# Environment class -> (tasks one worker runs at a time, default schedulers, default max workers,
# default web servers), as MWAA sizes them.
CLASSES = {
    "mw1.micro": (3, 1, 1, 1),
    "mw1.small": (5, 2, 10, 2),
    "mw1.medium": (10, 2, 10, 2),
    "mw1.large": (20, 2, 10, 2),
    "mw1.xlarge": (40, 2, 10, 2),
    "mw1.2xlarge": (80, 2, 10, 2),
}
DEFAULT_CLASS = "mw1.small"

# LoggingConfiguration member -> suffix of MWAA's log group airflow-<env>-<suffix>
LOG_MODULES = {"DagProcessingLogs": "DAGProcessing", "SchedulerLogs": "Scheduler", "TaskLogs": "Task",
               "WebserverLogs": "WebServer", "WorkerLogs": "Worker"}

# Fields UpdateEnvironment may change (the rest are fixed at creation).
UPDATABLE = ("ExecutionRoleArn", "AirflowConfigurationOptions", "AirflowVersion", "DagS3Path", "EnvironmentClass",
             "LoggingConfiguration", "MaxWorkers", "MinWorkers", "MaxWebservers", "MinWebservers",
             "NetworkConfiguration", "PluginsS3Path", "PluginsS3ObjectVersion", "RequirementsS3Path",
             "RequirementsS3ObjectVersion", "Schedulers", "SourceBucketArn", "StartupScriptS3Path",
             "StartupScriptS3ObjectVersion", "WebserverAccessMode", "WeeklyMaintenanceWindowStart")
# Changes that need no restart of the Airflow processes.
NO_RESTART = ("ExecutionRoleArn", "NetworkConfiguration", "WeeklyMaintenanceWindowStart", "WebserverAccessMode",
              "MinWorkers", "MaxWebservers", "MinWebservers")

# Options MWAA keeps for itself (AirflowConfigurationOptions may not set them).
RESERVED_OPTIONS = ("core.executor", "core.dags_folder", "core.plugins_folder", "database.sql_alchemy_conn",
                    "core.sql_alchemy_conn", "logging.remote_logging", "logging.remote_base_log_folder",
                    "api.base_url", "core.execution_api_server_url", "api_auth.jwt_secret",
                    "core.auth_manager", "core.fernet_key")

TOKEN_TTL_S = 60          # CLI and web login tokens (AWS: valid for 60 seconds)


def err(code: str, message: str, status: int = 400, **fields) -> ServiceError:
    return ServiceError(message, code=code, status=status, sender_fault=status < 500, **fields)


def invalid(message: str) -> ServiceError:
    return err("ValidationException", message)


def not_found(name: str) -> ServiceError:
    return err("ResourceNotFoundException", f"Environment {name} not found.", 404)


def env_key(account: str, region: str, name: str) -> str:
    return f"mwaa/{account}/{region}/{name}"


def env_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:airflow:{region}:{account}:environment/{name}"


_ARN = re.compile(r"^arn:aws(?:-[a-z]+)?:airflow:([a-z0-9-]+):(\d{12}):environment/([a-zA-Z][0-9a-zA-Z-_]*)$")


def parse_arn(arn: str) -> tuple[str, str, str]:
    """(account, region, name) of an environment ARN, else ValidationException."""
    m = _ARN.match(arn or "")
    if m is None:
        raise invalid(f"Invalid environment ARN: {arn}")
    return m.group(2), m.group(1), m.group(3)


def bucket_of(arn: str) -> str:
    return arn.split(":::", 1)[1].split("/", 1)[0]


def log_group(name: str, module: str) -> str:
    return f"airflow-{name}-{LOG_MODULES[module]}"


def class_limits(env_class: str) -> tuple[int, int, int, int]:
    return CLASSES.get(env_class, CLASSES[DEFAULT_CLASS])


def installed_airflow() -> str | None:
    """The Airflow version the `mwaa` extra installed next to the broker, or None."""
    from importlib import metadata
    try:
        return metadata.version("apache-airflow-core")
    except metadata.PackageNotFoundError:
        pass
    try:
        return metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return None


def supported_versions() -> tuple[str, ...]:
    local = installed_airflow()
    return MWAA_VERSIONS + ((local,) if local and local not in MWAA_VERSIONS else ())


def major(version: str) -> int:
    try:
        return int(version.split(".", 1)[0])
    except ValueError:
        return 0


# -- CLI and web login tokens: stateless, HMAC-signed with the environment's own secret -----------------

def make_token(secret: str, kind: str, key: str, identity: str = "", now: float | None = None) -> str:
    body = json.dumps({"k": key, "t": kind, "e": int((now or time.time()) + TOKEN_TTL_S), "i": identity},
                      separators=(",", ":")).encode()
    sig = hmac.new(bytes.fromhex(secret), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + \
        base64.urlsafe_b64encode(sig).decode().rstrip("=")


def token_claims(token: str) -> dict | None:
    """The unverified claims of a token (to find its environment), or None."""
    try:
        body = token.split(".", 1)[0]
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, IndexError):
        return None


def check_token(secret: str, token: str, kind: str, now: float | None = None) -> dict | None:
    """The claims of a valid, unexpired token of `kind` signed with `secret`, else None."""
    claims = token_claims(token)
    if claims is None or claims.get("t") != kind or claims.get("e", 0) < (now or time.time()):
        return None
    body, _, sig = token.partition(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    want = base64.urlsafe_b64encode(hmac.new(bytes.fromhex(secret), raw, hashlib.sha256).digest()).decode().rstrip("=")
    return claims if hmac.compare_digest(want, sig) else None
