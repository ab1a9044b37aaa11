"""Pure pieces of the MWAA service: tokens, Airflow settings, log levels, the missing extra."""

from __future__ import annotations

import pytest

from services.mwaa import model, settings
from services.mwaa.api import logging_config
from services.mwaa.logship import _level_of


def test_tokens_are_signed_typed_and_expire():
    secret = "ab" * 32
    tok = model.make_token(secret, "cli", "mwaa/1/r/e", "user/me", now=1000.0)
    assert model.check_token(secret, tok, "cli", now=1030.0)["k"] == "mwaa/1/r/e"
    assert model.check_token(secret, tok, "web", now=1030.0) is None          # a CLI token is not a web token
    assert model.check_token(secret, tok, "cli", now=1000.0 + model.TOKEN_TTL_S + 1) is None
    assert model.check_token("cd" * 32, tok, "cli", now=1030.0) is None        # another environment's secret
    body, _, sig = tok.partition(".")
    forged = model.make_token(secret, "cli", "mwaa/1/r/other", now=1000.0).split(".")[0] + "." + sig
    assert model.check_token(secret, forged, "cli", now=1030.0) is None
    assert model.token_claims("garbage") is None


def _rec(**kw):
    rec = {"Name": "env1", "Arn": "arn:aws:airflow:us-east-1:111122223333:environment/env1", "_a": "111122223333",
           "_r": "us-east-1", "_sec": "00" * 32, "_fernet": "k", "_pw": "p", "AirflowVersion": "3.0.6",
           "SourceBucketArn": "arn:aws:s3:::bkt", "DagS3Path": "dags", "EnvironmentClass": "mw1.medium",
           "LoggingConfiguration": logging_config("111122223333", "us-east-1", "env1",
                                                  {"TaskLogs": {"Enabled": True, "LogLevel": "WARNING"}})}
    rec.update(kw)
    return rec


def test_process_env_maps_options_and_points_aws_at_the_broker(tmp_path):
    rec = _rec(AirflowConfigurationOptions={"core.default_task_retries": "3", "core.parallelism": "7"})
    paths = settings.Paths(str(tmp_path), "111122223333", "us-east-1", "env1", rec)
    env = settings.process_env(rec, paths, {"web": 1, "worker_logs": 2, "trigger_logs": 3},
                               "http://127.0.0.1:4566", ("111122223333", "test"), "sqlite:///x.db")
    assert env["AIRFLOW__CORE__DEFAULT_TASK_RETRIES"] == "3"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "7"                  # the customer's option wins over the class
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "s3" / "bkt" / "dags")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:1/execution/"
    assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == \
        "cloudwatch://arn:aws:logs:us-east-1:111122223333:log-group:airflow-env1-Task"
    assert env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "WARNING"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566" and env["AWS_ACCESS_KEY_ID"] == "111122223333"
    assert '"endpoint_url": "http://127.0.0.1:4566"' in env["AIRFLOW_CONN_AWS_DEFAULT"]
    assert not any(k.startswith("BROKER_") for k in env)


def test_class_sets_parallelism_and_dag_path_stays_in_the_bucket(tmp_path):
    rec = _rec(EnvironmentClass="mw1.large")
    paths = settings.Paths(str(tmp_path), "111122223333", "us-east-1", "env1", rec)
    env = settings.process_env(rec, paths, {"web": 1, "worker_logs": 2, "trigger_logs": 3},
                               "http://x", ("a", "b"), "sqlite:///x.db")
    assert env["AIRFLOW__CORE__PARALLELISM"] == "20"
    with pytest.raises(ValueError):
        settings.s3_path(str(tmp_path), "arn:aws:s3:::bkt", "../../etc")


def test_commands_per_version():
    v3 = settings.commands(_rec(), {"web": 8080}, "sqlite:///x")
    assert v3["webserver"][:1] == ["api-server"] and set(v3) == {"webserver", "scheduler", "dag-processor", "triggerer"}
    v2 = settings.commands(_rec(AirflowVersion="2.10.3", Schedulers=2), {"web": 8080}, "postgresql://h/db")
    assert v2["webserver"][:1] == ["webserver"] and "scheduler-2" in v2


def test_logging_config_shape():
    out = logging_config("1", "r", "e", {"SchedulerLogs": {"Enabled": True, "LogLevel": "ERROR"}})
    assert out["SchedulerLogs"] == {"Enabled": True, "LogLevel": "ERROR",
                                    "CloudWatchLogGroupArn": "arn:aws:logs:r:1:log-group:airflow-e-Scheduler"}
    assert out["TaskLogs"] == {"Enabled": False, "LogLevel": "INFO"} and len(out) == 5
    kept = logging_config("1", "r", "e", {"TaskLogs": {"Enabled": True}}, out)
    assert kept["SchedulerLogs"]["Enabled"] is True and kept["TaskLogs"]["Enabled"] is True


def test_console_level_parsing():
    assert _level_of("2026-11-29T21:09:07.876956Z [info     ] Started server") == 20
    assert _level_of("2026-11-29T21:09:07.876956Z [warning  ] careful") == 30
    assert _level_of("plain line") == 20


def test_create_without_airflow_names_the_extra(monkeypatch):
    from services.mwaa import shard as shard_mod
    monkeypatch.setattr(shard_mod, "installed_airflow", lambda: None)
    half = object.__new__(shard_mod.MwaaShard)
    half.envs = {}
    with pytest.raises(Exception) as ei:
        half._Create("mwaa/1/r/e", {"q": {"Name": "e"}, "a": "1", "r": "r"})
    assert ei.value.code == "ValidationException"
    assert "pip install -e '.[mwaa]'" in ei.value.message
