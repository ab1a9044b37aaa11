"""A real Apache Airflow environment behind the MWAA API: created with boto3, a DAG dropped
into its folder and triggered through a CLI token, its run observed through InvokeRestApi, a
task sending to this broker's SQS, the web login, logs in CloudWatch Logs, an update that
restarts Airflow with new configuration and requirements, and a clean delete.

The tests of this module run in order against one environment (the `airflow_env` fixture):
Airflow takes about a minute to start, so it starts once.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import zipfile
from urllib.parse import urlsplit

import pytest

from tests.helpers.brokerproc import wait_for
from tests.services.mwaa._helpers import https, needs_airflow, wait_status

pytestmark = needs_airflow

HELLO_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

def hello():
    print("hello from {dag_id}")

with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    PythonOperator(task_id="say_hello", python_callable=hello)
"""


def cli(mwaa, server, name: str, command: str) -> tuple[int, str, str]:
    tok = mwaa.create_cli_token(Name=name)
    status, _h, body = https(server, tok["WebServerHostname"], "POST", "/aws_mwaa/cli", command.encode(),
                             {"Authorization": f"Bearer {tok['CliToken']}", "Content-Type": "text/plain"})
    doc = json.loads(body)
    return status, base64.b64decode(doc["stdout"]).decode(), base64.b64decode(doc["stderr"]).decode()


def rest(mwaa, name: str, method: str, path: str, **kw) -> dict:
    return mwaa.invoke_rest_api(Name=name, Method=method, Path=path, **kw)


def wait_dag(mwaa, name: str, dag_id: str, timeout: float = 180.0) -> dict:
    def parsed():
        try:
            return rest(mwaa, name, "GET", f"/dags/{dag_id}")["RestApiResponse"]
        except mwaa.exceptions.RestApiClientException:
            return None
    return wait_for(parsed, timeout=timeout, interval=1.0, what=f"DAG {dag_id} parsed")


def wait_run(mwaa, name: str, dag_id: str, timeout: float = 240.0) -> dict:
    def done():
        runs = rest(mwaa, name, "GET", f"/dags/{dag_id}/dagRuns")["RestApiResponse"]["dag_runs"]
        if runs and runs[0]["state"] in ("success", "failed"):
            return runs[0]
        return None
    return wait_for(done, timeout=timeout, interval=1.0, what=f"a finished run of {dag_id}")


def test_environment_created_with_boto3_is_available(airflow_env, mwaa, server):
    name, _root, env = airflow_env
    assert env["Status"] == "AVAILABLE"
    assert env["Arn"] == f"arn:aws:airflow:us-east-1:000000000000:environment/{name}"
    assert env["EnvironmentClass"] == "mw1.micro" and env["Schedulers"] == 1 and env["MaxWorkers"] == 1
    assert env["LoggingConfiguration"]["TaskLogs"] == {
        "Enabled": True, "LogLevel": "INFO",
        "CloudWatchLogGroupArn": f"arn:aws:logs:us-east-1:000000000000:log-group:airflow-{name}-Task"}
    assert env["LoggingConfiguration"]["WebserverLogs"] == {"Enabled": False, "LogLevel": "INFO"}
    assert env["Tags"] == {"team": "data"}
    assert name in mwaa.list_environments()["Environments"]
    # the web server URL is a real HTTPS listener in front of Airflow's API server
    status, _h, body = https(server, env["WebserverUrl"], "GET", "/api/v2/monitor/health")
    assert status == 200 and json.loads(body)["scheduler"]["status"] == "healthy"


def test_dag_dropped_in_folder_triggered_by_cli_token_succeeds(airflow_env, mwaa, server):
    name, root, _env = airflow_env
    dag_id = "hello_mwaa"
    (root / "dags" / "hello_mwaa.py").write_text(HELLO_DAG.format(dag_id=dag_id))
    dag = wait_dag(mwaa, name, dag_id)
    assert dag["dag_id"] == dag_id and dag["is_paused"] is True      # Airflow's default for new DAGs
    status, out, err = cli(mwaa, server, name, f"dags unpause {dag_id}")
    assert status == 200, err
    status, out, err = cli(mwaa, server, name, f"dags trigger {dag_id}")
    assert status == 200 and dag_id in out, (out, err)
    run = wait_run(mwaa, name, dag_id)
    assert run["state"] == "success", run
    tis = rest(mwaa, name, "GET", f"/dags/{dag_id}/dagRuns/~/taskInstances")      # AWS: Path <= 64 chars
    assert tis["RestApiStatusCode"] == 200
    assert [(t["task_id"], t["state"]) for t in tis["RestApiResponse"]["task_instances"]] == [("say_hello", "success")]


def test_cli_refuses_bad_tokens_and_unsupported_commands(airflow_env, mwaa, server):
    name, _root, env = airflow_env
    status, _h, body = https(server, env["WebserverUrl"], "POST", "/aws_mwaa/cli", b"dags list",
                             {"Authorization": "Bearer not-a-token"})
    assert status == 403
    status, _out, err = cli(mwaa, server, name, "db reset --yes")
    assert status == 400 and "not supported" in err
    status, out, _err = cli(mwaa, server, name, "version")
    assert status == 200 and out.strip().split(".")[0] in ("2", "3")


def test_invoke_rest_api_post_and_client_error(airflow_env, mwaa):
    name, _root, _env = airflow_env
    out = rest(mwaa, name, "POST", "/variables", Body={"key": "color", "value": "blue"})
    assert out["RestApiStatusCode"] == 201 and out["RestApiResponse"]["key"] == "color"
    got = rest(mwaa, name, "GET", "/variables/color")["RestApiResponse"]
    assert got["value"] == "blue"
    listed = rest(mwaa, name, "GET", "/variables", QueryParameters={"limit": 1})["RestApiResponse"]
    assert listed["total_entries"] >= 1 and len(listed["variables"]) == 1
    with pytest.raises(mwaa.exceptions.RestApiClientException) as ei:
        rest(mwaa, name, "GET", "/dags/no_such_dag_here")
    assert ei.value.response["RestApiStatusCode"] == 404
    assert ei.value.response["Error"]["Code"] == "RestApiClientException"


SQS_DAG = """
from datetime import datetime
import boto3
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.amazon.aws.operators.sqs import SqsPublishOperator

def send_with_boto3(**context):
    import {probe}
    url = boto3.client("sqs").get_queue_url(QueueName="{queue}")["QueueUrl"]
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody="from boto3: " + {probe}.VALUE)

with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    plain = PythonOperator(task_id="plain_boto3", python_callable=send_with_boto3)
    operator = SqsPublishOperator(task_id="sqs_operator", sqs_queue="{queue_url}", message_content="from the operator")
    plain >> operator
"""


def _probe_wheel(directory, package: str, value: str) -> str:
    """A minimal wheel of a one-module package (what a requirements.txt may pin)."""
    dist = f"{package}-1.0.dist-info"
    path = directory / f"{package}-1.0-py3-none-any.whl"
    files = {f"{package}.py": f"VALUE = {value!r}\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return str(path)


def test_update_restarts_airflow_with_new_config_and_requirements(airflow_env, mwaa, server):
    name, root, _env = airflow_env
    before = {p["name"]: p["pid"] for p in _processes(server, name)}
    probe = f"mwaa_probe_{os.getpid()}"
    wheels = root / "wheels"
    wheels.mkdir()
    _probe_wheel(wheels, probe, "installed")
    (root / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\n{probe}==1.0\n")
    mwaa.update_environment(Name=name, RequirementsS3Path="requirements.txt",
                            AirflowConfigurationOptions={"dag_processor.refresh_interval": "3",
                                                         "dag_processor.min_file_process_interval": "3",
                                                         "scheduler.scheduler_heartbeat_sec": "2",
                                                         "core.default_task_retries": "2"})
    assert mwaa.get_environment(Name=name)["Environment"]["Status"] == "UPDATING"
    env = wait_status(mwaa, name, "AVAILABLE")
    assert env["LastUpdate"]["Status"] == "SUCCESS" and env["RequirementsS3Path"] == "requirements.txt"
    after = {p["name"]: p["pid"] for p in _processes(server, name)}
    assert set(after) == set(before) and all(after[k] != before[k] for k in after)
    status, out, _err = cli(mwaa, server, name, "config get-value core default_task_retries")
    assert status == 200 and out.strip() == "2"
    with pytest.raises(ImportError):       # installed into the environment's virtualenv, not the broker's
        __import__(probe)


def test_dag_task_sends_to_this_brokers_sqs(airflow_env, mwaa, server):
    name, root, _env = airflow_env
    sqs = server.client("sqs")
    queue = f"mwaa-q-{os.getpid()}-{int(time.time())}"
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    probe = f"mwaa_probe_{os.getpid()}"
    dag_id = "to_sqs"
    (root / "dags" / "to_sqs.py").write_text(SQS_DAG.format(dag_id=dag_id, queue=queue, queue_url=url, probe=probe))
    wait_dag(mwaa, name, dag_id)
    rest(mwaa, name, "PATCH", f"/dags/{dag_id}", Body={"is_paused": False})
    started = rest(mwaa, name, "POST", f"/dags/{dag_id}/dagRuns", Body={"logical_date": None})
    assert started["RestApiStatusCode"] == 200, started
    bodies = set()

    def received():
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", []):
            bodies.add(m["Body"])
        return len(bodies) >= 2
    wait_for(received, timeout=240, interval=0.5, what="two messages from the DAG's tasks")
    assert bodies == {"from boto3: installed", "from the operator"}
    assert wait_run(mwaa, name, dag_id)["state"] == "success"


def test_task_and_scheduler_logs_in_cloudwatch(airflow_env, server):
    name, _root, _env = airflow_env
    logs = server.client("logs")

    def task_lines():
        streams = logs.describe_log_streams(logGroupName=f"airflow-{name}-Task")["logStreams"]
        for s in streams:
            if "dag_id=hello_mwaa" in s["logStreamName"]:
                ev = logs.get_log_events(logGroupName=f"airflow-{name}-Task", logStreamName=s["logStreamName"])
                text = " ".join(e["message"] for e in ev["events"])
                if "hello from hello_mwaa" in text:
                    return s["logStreamName"]
        return None
    stream = wait_for(task_lines, timeout=120, interval=1.0, what="the hello task's log in CloudWatch Logs")
    assert "task_id=say_hello" in stream

    def scheduler_lines():
        streams = logs.describe_log_streams(logGroupName=f"airflow-{name}-Scheduler")["logStreams"]
        return [s["logStreamName"] for s in streams if s["logStreamName"].startswith("scheduler_console")]
    assert wait_for(scheduler_lines, timeout=60, interval=1.0, what="scheduler console in CloudWatch Logs")
    groups = {g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=f"airflow-{name}-")["logGroups"]}
    assert f"airflow-{name}-WebServer" not in groups            # not enabled


def test_web_login_token_logs_a_browser_in(airflow_env, mwaa, server):
    name, _root, _env = airflow_env
    tok = mwaa.create_web_login_token(Name=name)
    host = tok["WebServerHostname"]
    assert tok["AirflowIdentity"] == "admin" and tok["IamIdentity"]
    status, _h, page = https(server, host, "GET", "/aws_mwaa/aws-console-sso?login=true")
    assert status == 200 and b"location.hash" in page            # the page posts the #fragment back
    status, _h, _b = https(server, host, "POST", "/aws_mwaa/aws-console-sso", b"token=forged",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403
    status, headers, _b = https(server, host, "POST", "/aws_mwaa/aws-console-sso",
                                f"token={tok['WebToken']}".encode(),
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    assert cookie.startswith("_token=")
    status, _h, body = https(server, host, "GET", "/api/v2/dags?limit=5", headers={"Cookie": cookie})
    assert status == 200 and json.loads(body)["total_entries"] >= 1
    status, _h, _b = https(server, host, "GET", "/api/v2/dags?limit=5")
    assert status == 401                                        # no cookie: Airflow's own auth answers
    status, _h, ui = https(server, host, "GET", "/", headers={"Cookie": cookie})
    assert status == 200 and b"<html" in ui.lower()


def test_health_shows_the_environment(airflow_env, server):
    name, _root, _env = airflow_env
    doc = server.health()
    env = next(e for e in doc["mwaa"]["environments"] if e["name"] == name)
    assert env["status"] == "AVAILABLE" and env["healthy"] is True
    assert {p["name"] for p in env["processes"]} == {"webserver", "scheduler", "dag-processor", "triggerer"}


def test_aws_cli_drives_the_environment(airflow_env, server, tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET
    exe = Path(sys.executable).with_name("aws")
    if not exe.exists() and not shutil.which("aws"):
        pytest.skip("aws CLI not installed")
    name, _root, _env = airflow_env
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=DUMMY_KEY, AWS_SECRET_ACCESS_KEY=DUMMY_SECRET, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "creds"),
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="", AWS_DISABLE_HOST_PREFIX_INJECTION="true")

    def aws(*args):
        p = subprocess.run([str(exe) if exe.exists() else "aws", "mwaa", *args, "--endpoint-url", server.url,
                            "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    assert aws("get-environment", "--name", name)["Environment"]["Status"] == "AVAILABLE"
    out = aws("invoke-rest-api", "--name", name, "--path", "/dags", "--method", "GET",
              "--query-parameters", '{"dag_id_pattern": "hello"}')
    assert out["RestApiStatusCode"] == 200
    assert [d["dag_id"] for d in out["RestApiResponse"]["dags"]] == ["hello_mwaa"]
    tok = aws("create-cli-token", "--name", name)
    status, _h, body = https(server, tok["WebServerHostname"], "POST", "/aws_mwaa/cli", b"dags list -o json",
                             {"Authorization": f"Bearer {tok['CliToken']}", "Content-Type": "text/plain"})
    assert status == 200
    out = base64.b64decode(json.loads(body)["stdout"]).decode()     # Airflow may log lines before the JSON
    listed = json.loads(next(ln for ln in out.splitlines() if ln.startswith("[")))
    assert "hello_mwaa" in {d["dag_id"] for d in listed}


def test_publish_metrics_reach_cloudwatch(airflow_env, mwaa, server):
    from datetime import datetime, timezone
    name, _root, _env = airflow_env
    mwaa.publish_metrics(EnvironmentName=name, MetricData=[
        {"MetricName": "TaskInstanceSuccesses", "Timestamp": datetime.now(timezone.utc), "Value": 3.0,
         "Unit": "Count", "Dimensions": [{"Name": "Function", "Value": "Scheduler"}]}])
    cw = server.client("cloudwatch")

    def listed():
        return cw.list_metrics(Namespace="AmazonMWAA", MetricName="TaskInstanceSuccesses",
                               Dimensions=[{"Name": "Environment", "Value": name}])["Metrics"]
    metrics = wait_for(listed, timeout=30, interval=0.5, what="the metric in CloudWatch")
    assert {d["Name"]: d["Value"] for d in metrics[0]["Dimensions"]} == {"Environment": name, "Function": "Scheduler"}


def test_failed_update_rolls_back_to_the_previous_configuration(airflow_env, mwaa, server):
    name, root, _env = airflow_env
    (root / "startup.sh").write_text("echo preparing\nexit 3\n")
    mwaa.update_environment(Name=name, StartupScriptS3Path="startup.sh")
    seen = set()

    def settled():
        env = mwaa.get_environment(Name=name)["Environment"]
        seen.add(env["Status"])
        return env if env["Status"] == "AVAILABLE" and "ROLLING_BACK" in seen else None
    env = wait_for(settled, timeout=600, interval=0.5, what="the update rolled back")
    assert env["LastUpdate"]["Status"] == "FAILED"
    assert env["LastUpdate"]["Error"] == {"ErrorCode": "INCORRECT_CONFIGURATION",
                                          "ErrorMessage": "The startup script exited with code 3."}
    assert "StartupScriptS3Path" not in env                   # the previous configuration again
    assert rest(mwaa, name, "GET", "/monitor/health")["RestApiStatusCode"] == 200


def test_a_crashed_component_is_restarted(airflow_env, mwaa, server):
    name, _root, _env = airflow_env
    sched = next(p for p in _processes(server, name) if p["name"] == "scheduler")
    os.kill(sched["pid"], 9)

    def restarted():
        p = next(p for p in _processes(server, name) if p["name"] == "scheduler")
        return p if p["restarts"] == sched["restarts"] + 1 and p["state"] == "running" else None
    again = wait_for(restarted, timeout=60, interval=0.5, what="the scheduler restarted")
    assert again["pid"] != sched["pid"] and again["last_exit_code"] == -9
    from services.mwaa.runner import group_pids
    assert not group_pids([sched["pgid"]])           # what the killed scheduler had forked went with it
    # and it schedules again: a new run of the hello DAG succeeds
    status, _out, err = cli(mwaa, server, name, "dags trigger hello_mwaa")
    assert status == 200, err

    def two_successes():
        runs = rest(mwaa, name, "GET", "/dags/hello_mwaa/dagRuns")["RestApiResponse"]["dag_runs"]
        return len([r for r in runs if r["state"] == "success"]) >= 2
    wait_for(two_successes, timeout=240, interval=1.0, what="a second successful run after the restart")


def _processes(server, name: str) -> list[dict]:
    status, doc = server.get("/_broker/mwaa/environments")
    assert status == 200
    return next(e for e in doc["environments"] if e["name"] == name)["processes"]


def test_delete_stops_airflow_and_frees_the_port(airflow_env, mwaa, server):
    from services.mwaa.runner import group_pids
    name, _root, env = airflow_env
    groups = [p["pgid"] for p in _processes(server, name)]
    assert len(group_pids(groups)) >= 4
    port = urlsplit(f"https://{env['WebserverUrl']}").port
    mwaa.delete_environment(Name=name)

    def gone():
        try:
            mwaa.get_environment(Name=name)
            return False
        except mwaa.exceptions.ResourceNotFoundException:
            return True
    wait_for(gone, timeout=120, interval=0.5, what="the environment deleted")
    assert name not in mwaa.list_environments()["Environments"]
    wait_for(lambda: not group_pids(groups), timeout=30, what="Airflow's processes gone")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    home = server.data_dir / "mwaa" / "environments" / "000000000000" / "us-east-1" / name
    assert not home.exists()
