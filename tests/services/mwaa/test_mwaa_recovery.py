"""kill -9 of the shard that supervises an environment: the environment (answered 200 and
AVAILABLE before) comes back by itself: the restarted shard clears what is left of the old
processes, starts Airflow again and serves the same web server URL and REST API."""

from __future__ import annotations

import uuid

from botocore.config import Config

from services.mwaa.runner import group_pids
from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.mwaa._helpers import https, needs_airflow, subnet_config, wait_status

pytestmark = needs_airflow


def _components(b: BrokerProcess, name: str) -> list[dict]:
    status, doc = b.get("/_broker/mwaa/environments")
    assert status == 200, doc
    env = next((e for e in doc["environments"] if e["name"] == name), None)
    return env["processes"] if env else []


def test_environment_survives_kill_9_of_its_shard(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "1", "--single-worker", "false") as b:
        mwaa = b.client("mwaa", config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1},
                                              read_timeout=120))
        name, bucket = f"k9-{uuid.uuid4().hex[:8]}", f"k9-{uuid.uuid4().hex[:8]}"
        (b.data_dir / "s3" / bucket / "dags").mkdir(parents=True)
        mwaa.create_environment(Name=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                                SourceBucketArn=f"arn:aws:s3:::{bucket}", DagS3Path="dags",
                                NetworkConfiguration=subnet_config(), EnvironmentClass="mw1.micro")
        env = wait_status(mwaa, name, "AVAILABLE")
        before = [p["pgid"] for p in _components(b, name)]
        assert len(before) == 4
        old, _new = b.kill_worker("shard", 0, timeout=60)
        assert old not in before

        def back():
            procs = _components(b, name)
            return procs if len(procs) == 4 and all(p["state"] == "running" and p["pgid"] not in before
                                                    for p in procs) else None
        wait_for(back, timeout=600, interval=1.0, what="Airflow started again by the new shard")
        assert not group_pids(before)                        # nothing of the old processes is left
        again = wait_status(mwaa, name, "AVAILABLE")
        assert again["WebserverUrl"] == env["WebserverUrl"]

        def api_answers():
            try:
                return mwaa.invoke_rest_api(Name=name, Method="GET", Path="/monitor/health")["RestApiStatusCode"] == 200
            except mwaa.exceptions.ValidationException:
                return False
        wait_for(api_answers, timeout=300, interval=1.0, what="the REST API after recovery")
        status, _h, _b = https(b, env["WebserverUrl"], "GET", "/api/v2/monitor/health")
        assert status == 200
        mwaa.delete_environment(Name=name)
        groups = [p["pgid"] for p in _components(b, name)]
        wait_for(lambda: not _components(b, name) and not group_pids(groups), timeout=120, what="deleted")
    assert not group_pids(groups)
