"""An Airflow 2 environment (AirflowVersion 2.10.3): its base is pip-installed once under
<data_dir>/mwaa/airflow/2.10.3 (network to PyPI, about a minute), then it runs like an
Airflow 3 one, with Airflow 2's own webserver, /api/v1 and FAB users. Slow (not in CI):
`pytest -m slow tests/services/mwaa/test_mwaa_airflow2.py`."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from botocore.config import Config

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.mwaa._helpers import https, needs_airflow, subnet_config, wait_status

pytestmark = [needs_airflow, pytest.mark.slow]

DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

with DAG("v2dag", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    PythonOperator(task_id="t", python_callable=lambda: print("hi from airflow 2"))
"""


def test_airflow_2_10_environment(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1") as b:
        mwaa = b.client("mwaa", config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1},
                                              read_timeout=120))
        bucket = f"v2-{uuid.uuid4().hex[:8]}"
        (b.data_dir / "s3" / bucket / "dags").mkdir(parents=True)
        (b.data_dir / "s3" / bucket / "dags" / "v2dag.py").write_text(DAG)
        mwaa.create_environment(Name="v2", ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                                SourceBucketArn=f"arn:aws:s3:::{bucket}", DagS3Path="dags",
                                NetworkConfiguration=subnet_config(), AirflowVersion="2.10.3",
                                AirflowConfigurationOptions={"scheduler.dag_dir_list_interval": "5"})
        env = wait_status(mwaa, "v2", "AVAILABLE", timeout=1800)
        assert env["AirflowVersion"] == "2.10.3"
        dag = wait_for(lambda: mwaa.invoke_rest_api(Name="v2", Method="GET", Path="/dags/v2dag")["RestApiResponse"],
                       timeout=180, interval=1, what="the DAG parsed")
        assert dag["dag_id"] == "v2dag"
        mwaa.invoke_rest_api(Name="v2", Method="PATCH", Path="/dags/v2dag", Body={"is_paused": False})
        tok = mwaa.create_cli_token(Name="v2")
        status, _h, body = https(b, tok["WebServerHostname"], "POST", "/aws_mwaa/cli", b"version",
                                 {"Authorization": f"Bearer {tok['CliToken']}"})
        assert status == 200 and "2.10.3" in base64.b64decode(json.loads(body)["stdout"]).decode()
        status, _h, _b = https(b, tok["WebServerHostname"], "POST", "/aws_mwaa/cli", b"dags trigger v2dag",
                               {"Authorization": f"Bearer {mwaa.create_cli_token(Name='v2')['CliToken']}"})
        assert status == 200

        def done():
            runs = mwaa.invoke_rest_api(Name="v2", Method="GET", Path="/dags/v2dag/dagRuns")["RestApiResponse"]
            return runs["dag_runs"] and runs["dag_runs"][0]["state"] in ("success", "failed") and runs["dag_runs"][0]
        assert wait_for(done, timeout=300, interval=1, what="the run")["state"] == "success"
        mwaa.delete_environment(Name="v2")
        wait_for(lambda: "v2" not in mwaa.list_environments()["Environments"], timeout=120, what="deleted")
