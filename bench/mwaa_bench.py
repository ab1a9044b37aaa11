"""MWAA bench: CreateEnvironment to AVAILABLE, memory of one idle environment, DAG trigger to
task start. Prints JSON.

Baseline measured in the same run: the same Apache Airflow (the `mwaa` extra's) started by
hand, as `airflow db migrate` then the same four components (api-server, scheduler,
dag-processor, triggerer) with the same executor, database kind and parallelism. Peers run
MWAA in Docker (not on this machine) or not at all, so bare Airflow is the floor: the
ratios are what the broker adds (virtualenv, supervision, proxy, bookkeeping).

    python bench/mwaa_bench.py [--runs 3] [--idle 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import PY, Broker, emit, free_port  # noqa: E402

DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

with DAG("bench_dag", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    PythonOperator(task_id="noop", python_callable=lambda: None)
"""
OPTIONS = {"dag_processor.refresh_interval": "3", "dag_processor.min_file_process_interval": "3"}


def _ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def _wait(fn, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def trigger_to_start(rest, runs: int) -> list[float]:
    """Seconds from a run's queued_at to its task's start_date (Airflow's own clocks), per run."""
    _wait(lambda: rest("GET", "/dags/bench_dag")[0] == 200, 300, "the DAG parsed")
    rest("PATCH", "/dags/bench_dag", {"is_paused": False})
    out = []
    for _ in range(runs):
        status, run = rest("POST", "/dags/bench_dag/dagRuns", {"logical_date": None})
        assert status == 200, run

        def started():
            st, doc = rest("GET", "/dags/bench_dag/dagRuns/~/taskInstances")
            tis = [t for t in doc.get("task_instances", []) if t["dag_run_id"] == run["dag_run_id"]]
            return tis[0] if tis and tis[0].get("start_date") and tis[0]["state"] in ("success", "failed") else None
        ti = _wait(started, 300, "the task to run")
        out.append(_ts(ti["start_date"]) - _ts(run["queued_at"]))
    return out


def _pss(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def bench_broker(runs: int, idle: float) -> dict:
    from botocore.config import Config
    b = Broker("--workers", "1", "--shards", "1")
    try:
        import boto3
        mwaa = boto3.client("mwaa", endpoint_url=b.url, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                            aws_secret_access_key="x", config=Config(inject_host_prefix=False,
                                                                     retries={"max_attempts": 0}, read_timeout=120))
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        dags = b.dir / "data" / "s3" / bucket / "dags"
        dags.mkdir(parents=True)
        (dags / "bench_dag.py").write_text(DAG)
        t0 = time.monotonic()
        mwaa.create_environment(Name="bench", ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                                SourceBucketArn=f"arn:aws:s3:::{bucket}", DagS3Path="dags",
                                NetworkConfiguration={"SubnetIds": ["subnet-1", "subnet-2"],
                                                      "SecurityGroupIds": ["sg-1"]},
                                AirflowConfigurationOptions=OPTIONS)
        _wait(lambda: mwaa.get_environment(Name="bench")["Environment"]["Status"] == "AVAILABLE", 900,
              "AVAILABLE")
        create_s = time.monotonic() - t0

        def rest(method, path, body=None):
            kw = {"Body": body} if body is not None else {}
            try:
                out = mwaa.invoke_rest_api(Name="bench", Method=method, Path=path, **kw)
                return out["RestApiStatusCode"], out["RestApiResponse"]
            except (mwaa.exceptions.RestApiClientException, mwaa.exceptions.RestApiServerException) as exc:
                return exc.response["RestApiStatusCode"], exc.response["RestApiResponse"]
        latencies = trigger_to_start(rest, runs)
        time.sleep(idle)
        with urllib.request.urlopen(b.url + "/_broker/mwaa/environments") as r:
            env = json.load(r)["environments"][0]
        mwaa.delete_environment(Name="bench")
        return {"create_to_available_s": round(create_s, 1), "idle_memory_mb": round(env["memory_bytes"] / 2**20),
                "trigger_to_task_start_s": [round(x, 2) for x in latencies],
                "trigger_to_task_start_median_s": round(statistics.median(latencies), 2)}
    finally:
        b.close()


def bench_bare_airflow(runs: int, idle: float) -> dict:
    home = Path(tempfile.mkdtemp(prefix="bench-airflow-"))
    (home / "dags").mkdir()
    (home / "dags" / "bench_dag.py").write_text(DAG)
    (home / "pw.json").write_text(json.dumps({"admin": "bench"}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "BROKER_"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "5",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex, "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "pw.json")})
    for k, v in OPTIONS.items():
        s, _, n = k.partition(".")
        env[f"AIRFLOW__{s.upper()}__{n.upper()}"] = v
    procs = []
    try:
        t0 = time.monotonic()
        subprocess.run([PY, "-m", "airflow", "db", "migrate"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        for cmd in (["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], ["scheduler"],
                    ["dag-processor"], ["triggerer"]):
            procs.append(subprocess.Popen([PY, "-m", "airflow", *cmd], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))

        def healthy():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as r:
                doc = json.load(r)
            return all((doc.get(k) or {}).get("status") == "healthy"
                       for k in ("metadatabase", "scheduler", "triggerer", "dag_processor"))
        _wait(healthy, 900, "bare Airflow healthy")
        start_s = time.monotonic() - t0
        req = urllib.request.Request(f"http://127.0.0.1:{port}/auth/token", method="POST",
                                     data=json.dumps({"username": "admin", "password": "bench"}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            token = json.load(r)["access_token"]

        def rest(method, path, body=None):
            rq = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2{path}", method=method,
                                        data=json.dumps(body).encode() if body is not None else None,
                                        headers={"Authorization": f"Bearer {token}",
                                                 "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(rq) as r:
                    return r.status, json.load(r)
            except urllib.error.HTTPError as exc:
                return exc.code, {}
        latencies = trigger_to_start(rest, runs)
        time.sleep(idle)
        pids = _group_members([p.pid for p in procs])
        return {"start_to_healthy_s": round(start_s, 1), "idle_memory_mb": round(_pss(pids) / 2**20),
                "trigger_to_task_start_s": [round(x, 2) for x in latencies],
                "trigger_to_task_start_median_s": round(statistics.median(latencies), 2)}
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(home, ignore_errors=True)


def _group_members(pgids) -> list[int]:
    want, out = set(pgids), []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_bytes()
                if int(stat[stat.rindex(b")") + 2:].split()[2]) in want:
                    out.append(int(d))
            except (OSError, ValueError):
                pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds idle before memory is read")
    a = ap.parse_args()
    from services.mwaa.model import installed_airflow
    version = installed_airflow()
    if version is None:
        raise SystemExit("Apache Airflow is not installed: pip install -e '.[mwaa]'")
    broker = bench_broker(a.runs, a.idle)
    bare = bench_bare_airflow(a.runs, a.idle)
    emit({"airflow_version": version, "cpus": os.cpu_count(), "broker": broker, "bare_airflow": bare,
          "ratios": {"create_vs_bare_start": round(broker["create_to_available_s"] / bare["start_to_healthy_s"], 2),
                     "memory_vs_bare": round(broker["idle_memory_mb"] / max(1, bare["idle_memory_mb"]), 2),
                     "trigger_to_start_vs_bare": round(broker["trigger_to_task_start_median_s"]
                                                       / max(0.01, bare["trigger_to_task_start_median_s"]), 2)}})


if __name__ == "__main__":
    main()
