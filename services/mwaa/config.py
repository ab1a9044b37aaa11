"""MWAA configuration keys (README table and deploy/broker.toml list them)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("mwaa", "database_url", str, "",
        "SQLAlchemy URL of a PostgreSQL server for the environments' metadata databases (one schema per "
        "environment, mwaa_<name>; schedulers run as many as Schedulers asks). Empty: one SQLite file per "
        "environment under <data_dir>/mwaa/ (one scheduler).", secret=True),
    Key("mwaa", "start_timeout", float, 600.0,
        "Seconds an environment may take from CreateEnvironment (or an update) until Airflow reports every "
        "component healthy; beyond it the environment is CREATE_FAILED (or rolled back)."),
    Key("mwaa", "install_versions", bool, True,
        "Whether an AirflowVersion other than the one the mwaa extra installed may be installed with pip "
        "into a shared base virtualenv under <data_dir>/mwaa/airflow/<version> on first use."),
)
