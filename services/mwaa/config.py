"""MWAA configuration keys (README table and deploy/broker.toml list them)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("mwaa", "database_url", str, "",
        "SQLAlchemy URL of a PostgreSQL server for the environments' metadata (each environment gets a "
        "database of its own, mwaa_<name>, created on that server and dropped with the environment; as many "
        "schedulers as Schedulers asks). Empty: one SQLite file per environment under <data_dir>/mwaa/ (one "
        "scheduler).", secret=True),
    Key("mwaa", "start_timeout", float, 600.0,
        "Seconds an environment may take from CreateEnvironment (or an update) until Airflow reports every "
        "component healthy; beyond it the environment is CREATE_FAILED (or rolled back)."),
    Key("mwaa", "install_versions", bool, True,
        "Whether an AirflowVersion other than the one the mwaa extra installed may be installed with pip "
        "into a shared base virtualenv under <data_dir>/mwaa/airflow/<version> on first use."),
)
