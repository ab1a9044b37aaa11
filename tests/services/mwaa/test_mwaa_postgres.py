"""`mwaa.database_url`: an environment's Airflow metadata in PostgreSQL (a database of its own),
with as many schedulers as `Schedulers` asks. Runs against a PostgreSQL server this test
starts from the machine's PostgreSQL binaries; skipped (with the reason) where there are none."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from botocore.config import Config

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.mwaa._helpers import needs_airflow, subnet_config, wait_status

pytestmark = needs_airflow

PG_BIN = next((Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) \
    if Path("/usr/lib/postgresql").is_dir() else None
DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

with DAG("pg_dag", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    PythonOperator(task_id="noop", python_callable=lambda: print("ran on postgres"))
"""


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg missing: pip install -e '.[mwaa]'")
    data = Path(tempfile.mkdtemp(prefix="mwaa-pg-"))     # not under pytest's 0700 tmp: postgres must reach it
    as_user = []
    if os.geteuid() == 0:                      # PostgreSQL refuses to run as root
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([*as_user, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
                             "-c", "listen_addresses=127.0.0.1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                        capture_output=True).returncode == 0, timeout=30, what="postgres up")
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "airflow"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/airflow", port
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        shutil.rmtree(data, ignore_errors=True)


def test_environment_on_postgresql_with_two_schedulers(tmp_path, postgres):
    url, port = postgres
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1",
                       env={"BROKER_MWAA_DATABASE_URL": url}) as b:
        mwaa = b.client("mwaa", config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1},
                                              read_timeout=120))
        name, bucket = f"pg-{uuid.uuid4().hex[:6]}", f"pg-{uuid.uuid4().hex[:8]}"
        dags = b.data_dir / "s3" / bucket / "dags"
        dags.mkdir(parents=True)
        (dags / "pg_dag.py").write_text(DAG)
        mwaa.create_environment(Name=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                                SourceBucketArn=f"arn:aws:s3:::{bucket}", DagS3Path="dags",
                                NetworkConfiguration=subnet_config(), EnvironmentClass="mw1.small", Schedulers=2,
                                AirflowConfigurationOptions={"dag_processor.refresh_interval": "3"})
        env = wait_status(mwaa, name, "AVAILABLE")
        assert env["Schedulers"] == 2
        status, doc = b.get("/_broker/mwaa/environments")
        procs = {p["name"] for p in doc["environments"][0]["processes"]}
        assert {"scheduler", "scheduler-2"} <= procs
        home = b.data_dir / "mwaa" / "environments" / "000000000000" / "us-east-1" / name
        assert not (home / "airflow.db").exists()
        database = "mwaa_" + name.replace("-", "_")

        def psql(sql: str, db: str = database) -> str:
            return subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                                   db, "-tAc", sql], capture_output=True, text=True, check=True).stdout.strip()
        tables = psql("select count(*) from information_schema.tables where table_schema = 'public'")
        assert int(tables) > 20, tables

        def rest(method, path, **kw):
            return mwaa.invoke_rest_api(Name=name, Method=method, Path=path, **kw)
        wait_for(lambda: rest("GET", "/dags/pg_dag")["RestApiStatusCode"] == 200, timeout=120, interval=1,
                 what="DAG parsed")
        rest("PATCH", "/dags/pg_dag", Body={"is_paused": False})
        rest("POST", "/dags/pg_dag/dagRuns", Body={"logical_date": None})

        def succeeded():
            runs = rest("GET", "/dags/pg_dag/dagRuns")["RestApiResponse"]["dag_runs"]
            return runs and runs[0]["state"] == "success"
        wait_for(succeeded, timeout=240, interval=1, what="a run on PostgreSQL")
        mwaa.delete_environment(Name=name)
        t0 = time.monotonic()
        wait_for(lambda: not b.get("/_broker/mwaa/environments")[1]["environments"], timeout=120, what="deleted")
        assert time.monotonic() - t0 < 120
        assert psql(f"select count(*) from pg_database where datname = '{database}'", "airflow") == "0"
