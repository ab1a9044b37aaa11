"""The MWAA API without an environment running: validation, missing environments, tokens,
paging shapes. Every call goes through boto3 to the shared server."""

from __future__ import annotations

import pytest

from tests.services.mwaa._helpers import subnet_config


def _create_kwargs(name: str, **kw) -> dict:
    out = {"Name": name, "ExecutionRoleArn": "arn:aws:iam::000000000000:role/mwaa-exec",
           "SourceBucketArn": "arn:aws:s3:::some-bucket", "DagS3Path": "dags",
           "NetworkConfiguration": subnet_config()}
    out.update(kw)
    return out


@pytest.mark.parametrize("op,kwargs", [
    ("get_environment", {"Name": "no-such-env"}),
    ("delete_environment", {"Name": "no-such-env"}),
    ("update_environment", {"Name": "no-such-env", "MaxWorkers": 3}),
    ("create_cli_token", {"Name": "no-such-env"}),
    ("create_web_login_token", {"Name": "no-such-env"}),
    ("invoke_rest_api", {"Name": "no-such-env", "Path": "/dags", "Method": "GET"}),
    ("list_tags_for_resource", {"ResourceArn": "arn:aws:airflow:us-east-1:000000000000:environment/no-such-env"}),
])
def test_missing_environment_is_resource_not_found(mwaa, op, kwargs):
    with pytest.raises(mwaa.exceptions.ResourceNotFoundException) as ei:
        getattr(mwaa, op)(**kwargs)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "no-such-env" in ei.value.response["Error"]["Message"]


@pytest.mark.parametrize("kwargs,text", [
    ({"AirflowVersion": "1.10.12"}, "Invalid AirflowVersion: 1.10.12"),
    ({"EnvironmentClass": "mw1.huge"}, "Invalid EnvironmentClass: mw1.huge"),
    ({"MinWorkers": 5, "MaxWorkers": 2}, "MinWorkers must be less than or equal to MaxWorkers"),
    ({"AirflowConfigurationOptions": {"core.executor": "CeleryExecutor"}}, "core.executor"),
    ({"AirflowConfigurationOptions": {"nodots": "1"}}, "expected <section>.<key>"),
    ({"RequirementsS3ObjectVersion": "abc"}, "RequirementsS3ObjectVersion requires RequirementsS3Path"),
])
def test_create_validation(mwaa, unique_name, kwargs, text):
    with pytest.raises(mwaa.exceptions.ValidationException) as ei:
        mwaa.create_environment(**_create_kwargs(unique_name, **kwargs))
    assert text in ei.value.response["Error"]["Message"]
    with pytest.raises(mwaa.exceptions.ResourceNotFoundException):
        mwaa.get_environment(Name=unique_name)


def test_model_constraints_are_checked(mwaa):
    with pytest.raises(mwaa.exceptions.ValidationException):
        mwaa.create_environment(**_create_kwargs("9starts-with-digit"))
    with pytest.raises(mwaa.exceptions.ValidationException):
        mwaa.create_environment(**_create_kwargs("ok-name", SourceBucketArn="not-an-arn"))
    with pytest.raises(mwaa.exceptions.ValidationException):
        mwaa.invoke_rest_api(Name="x", Path="/" + "a" * 70, Method="GET")


def test_tag_resource_with_a_malformed_arn(mwaa):
    with pytest.raises(mwaa.exceptions.ValidationException):
        mwaa.tag_resource(ResourceArn="arn:aws:airflow:us-east-1:000000000000:cluster/x", Tags={"a": "b"})


def test_list_environments_pages(mwaa):
    out = mwaa.list_environments(MaxResults=1)
    assert isinstance(out["Environments"], list)
    with pytest.raises(mwaa.exceptions.ValidationException):
        mwaa.list_environments(MaxResults=26)


def test_publish_metrics_needs_an_environment(mwaa):
    from datetime import datetime, timezone
    with pytest.raises(mwaa.exceptions.ResourceNotFoundException):
        mwaa.publish_metrics(EnvironmentName="no-such-env", MetricData=[
            {"MetricName": "TaskInstanceFailures", "Timestamp": datetime.now(timezone.utc), "Value": 1.0}])


def test_health_has_an_mwaa_section(server):
    doc = server.health()
    assert doc["status"] == "ok"
    assert doc["mwaa"]["status"] in ("ok", "degraded") and isinstance(doc["mwaa"]["environments"], list)
