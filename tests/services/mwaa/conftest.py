"""MWAA fixtures: a boto3 client of the shared server and one real Airflow environment for the
module that needs it.

The Airflow tests need the `mwaa` extra (Apache Airflow next to the broker): without it they
are skipped with that reason; CI installs it (.ci/run).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.config import Config

from tests.services.mwaa._helpers import airflow_installed, subnet_config, wait_status


@pytest.fixture(scope="session")
def mwaa(server):
    # botocore prefixes MWAA hosts with api./env.: a local endpoint turns that off
    return server.client("mwaa", config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1},
                                               connect_timeout=5, read_timeout=180))


@pytest.fixture(scope="module")
def airflow_env(server, mwaa):
    """One real environment: (name, bucket dir with dags/, the created Environment)."""
    if not airflow_installed():
        pytest.skip("Apache Airflow is not installed: pip install -e '.[mwaa]'")
    name = f"t-env-{uuid.uuid4().hex[:8]}"
    bucket = f"mwaa-{uuid.uuid4().hex[:10]}"
    root = server.data_dir / "s3" / bucket
    (root / "dags").mkdir(parents=True)
    t0 = time.monotonic()
    mwaa.create_environment(
        Name=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/mwaa-exec",
        SourceBucketArn=f"arn:aws:s3:::{bucket}", DagS3Path="dags", NetworkConfiguration=subnet_config(),
        EnvironmentClass="mw1.micro",
        AirflowConfigurationOptions={"dag_processor.refresh_interval": "3",
                                     "dag_processor.min_file_process_interval": "3",
                                     "scheduler.scheduler_heartbeat_sec": "2"},
        LoggingConfiguration={"TaskLogs": {"Enabled": True, "LogLevel": "INFO"},
                              "SchedulerLogs": {"Enabled": True, "LogLevel": "INFO"},
                              "DagProcessingLogs": {"Enabled": True, "LogLevel": "WARNING"}},
        Tags={"team": "data"})
    try:
        env = wait_status(mwaa, name, "AVAILABLE")
    except BaseException:
        log = server.data_dir / "mwaa" / "environments" / "000000000000" / "us-east-1" / name / "console"
        detail = {f.name: f.read_text(errors="replace")[-3000:] for f in log.glob("*.log")} if log.is_dir() else {}
        raise AssertionError(f"environment did not become AVAILABLE: {json.dumps(detail, indent=1)}")
    env["_seconds"] = time.monotonic() - t0
    yield name, root, env
    try:
        mwaa.delete_environment(Name=name)
    except Exception:
        pass
