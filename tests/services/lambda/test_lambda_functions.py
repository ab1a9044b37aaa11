"""Lambda API with boto3: functions, invoke modes, versions and weighted aliases,
environment variables under KMS, concurrency, policy, tags, layers, function URLs."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError



def _payload(r) -> dict:
    return json.loads(r["Payload"].read())


def test_create_get_invoke_and_context(lam, make_fn, unique_name, py_echo):
    out = make_fn(unique_name, py_echo, Environment={"Variables": {"FOO": "bar"}}, MemorySize=256, Timeout=7)
    assert out["FunctionArn"].endswith(f":function:{unique_name}")
    assert out["Environment"] == {"Variables": {"FOO": "bar"}}
    assert out["State"] == "Active" and out["Version"] == "$LATEST" and out["MemorySize"] == 256
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"x": 1}', LogType="Tail")
    assert r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST" and "FunctionError" not in r
    doc = _payload(r)
    assert doc["event"] == {"x": 1}
    assert doc["name"] == unique_name and doc["version"] == "$LATEST" and doc["memory"] == "256"
    assert doc["arn"] == out["FunctionArn"]
    assert doc["group"] == f"/aws/lambda/{unique_name}" and "[$LATEST]" in doc["stream"]
    assert 0 < doc["remaining"] <= 7000
    env = doc["env"]
    assert env["FOO"] == "bar" and env["AWS_REGION"] == "us-east-1" and env["AWS_LAMBDA_FUNCTION_NAME"] == unique_name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "handler.handler"
    tail = base64.b64decode(r["LogResult"]).decode()
    assert f"START RequestId: {doc['request_id']} Version: $LATEST" in tail
    assert 'got {"x": 1}' in tail and f"END RequestId: {doc['request_id']}" in tail
    assert "REPORT RequestId:" in tail and "Init Duration:" in tail
    # warm: the same environment serves the next call
    again = _payload(lam.invoke(FunctionName=unique_name, Payload=b"{}"))
    assert again["pid"] == doc["pid"]
    got = lam.get_function(FunctionName=unique_name)
    assert got["Configuration"]["Environment"] == {"Variables": {"FOO": "bar"}}
    assert got["Code"]["Location"].startswith("http")
    with urllib.request.urlopen(got["Code"]["Location"]) as resp:
        assert resp.read()[:2] == b"PK"


def test_invocation_types_and_errors(lam, make_fn, unique_name):
    make_fn(unique_name, "def handler(e, c):\n    raise ValueError('boom ' + str(e['n']))\n")
    r = lam.invoke(FunctionName=unique_name, InvocationType="DryRun")
    assert r["StatusCode"] == 204
    r = lam.invoke(FunctionName=unique_name, InvocationType="Event", Payload=b'{"n": 0}')
    assert r["StatusCode"] == 202
    r = lam.invoke(FunctionName=unique_name, Payload=b'{"n": 5}')
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    err = _payload(r)
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "boom 5" and err["stackTrace"]
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=unique_name + "-nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == \
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{unique_name}-nope"
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=unique_name, Payload=b"not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as e:
        make_fn(unique_name, "x = 1\n")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert e.value.response["Error"]["Message"] == f"Function already exist: {unique_name}"


def test_init_error_is_reported(lam, make_fn, unique_name):
    make_fn(unique_name, "import no_such_module_here\ndef handler(e, c):\n    return 1\n")
    r = lam.invoke(FunctionName=unique_name, Payload=b"{}")
    assert r["FunctionError"] == "Unhandled"
    doc = _payload(r)
    assert doc["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_here" in doc["errorMessage"]


def test_versions_and_weighted_alias(lam, make_fn, unique_name, zip_of):
    make_fn(unique_name, "def handler(e, c):\n    return 'one'\n")
    v1 = lam.publish_version(FunctionName=unique_name)["Version"]
    lam.update_function_code(FunctionName=unique_name, ZipFile=zip_of({"handler.py": "def handler(e, c):\n    return 'two'\n"}))
    v2 = lam.publish_version(FunctionName=unique_name, Description="second")["Version"]
    assert (v1, v2) == ("1", "2")
    assert lam.publish_version(FunctionName=unique_name)["Version"] == "2"      # nothing changed: same version
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=unique_name)["Versions"]] == \
        ["$LATEST", "1", "2"]
    assert _payload(lam.invoke(FunctionName=unique_name, Qualifier="1")) == "one"
    assert _payload(lam.invoke(FunctionName=f"{unique_name}:2")) == "two"
    alias = lam.create_alias(FunctionName=unique_name, Name="live", FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    assert alias["AliasArn"].endswith(f":function:{unique_name}:live")
    seen = {lam.invoke(FunctionName=unique_name, Qualifier="live")["ExecutedVersion"] for _ in range(40)}
    assert seen == {"1", "2"}
    lam.update_alias(FunctionName=unique_name, Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
    assert {lam.invoke(FunctionName=unique_name, Qualifier="live")["ExecutedVersion"] for _ in range(5)} == {"2"}
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName=unique_name, Qualifier="2")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(ClientError) as e:
        lam.get_alias(FunctionName=unique_name, Name="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=unique_name, Qualifier="9")
    assert e.value.response["Error"]["Message"].endswith(f":function:{unique_name}:9")


def test_environment_sealed_with_kms_key(server, lam, make_fn, unique_name, py_echo):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    make_fn(unique_name, py_echo, Environment={"Variables": {"FOO": "secret-value-" + unique_name}}, KMSKeyArn=key)
    assert _payload(lam.invoke(FunctionName=unique_name))["env"]["FOO"] == "secret-value-" + unique_name
    assert lam.get_function_configuration(FunctionName=unique_name)["KMSKeyArn"] == key
    kms.disable_key(KeyId=key)
    lam.update_function_configuration(FunctionName=unique_name, Timeout=5)   # a new environment must decrypt
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=unique_name)
    assert e.value.response["Error"]["Code"] == "KMSDisabledException"
    kms.enable_key(KeyId=key)
    assert _payload(lam.invoke(FunctionName=unique_name))["env"]["FOO"] == "secret-value-" + unique_name


def test_reserved_concurrency_zero_throttles(lam, make_fn, unique_name):
    make_fn(unique_name, "def handler(e, c):\n    return 1\n")
    lam.put_function_concurrency(FunctionName=unique_name, ReservedConcurrentExecutions=0)
    assert lam.get_function_concurrency(FunctionName=unique_name)["ReservedConcurrentExecutions"] == 0
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=unique_name)
    assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert e.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=unique_name)
    assert _payload(lam.invoke(FunctionName=unique_name)) == 1


def test_policy_and_tags(lam, make_fn, unique_name):
    arn = make_fn(unique_name, "def handler(e, c):\n    return 1\n", Tags={"team": "a"})["FunctionArn"]
    st = json.loads(lam.add_permission(FunctionName=unique_name, StatementId="sns", Action="lambda:InvokeFunction",
                                       Principal="sns.amazonaws.com",
                                       SourceArn="arn:aws:sns:us-east-1:000000000000:t")["Statement"])
    assert st["Principal"] == {"Service": "sns.amazonaws.com"} and st["Resource"] == arn
    assert st["Condition"] == {"ArnLike": {"AWS:SourceArn": "arn:aws:sns:us-east-1:000000000000:t"}}
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName=unique_name, StatementId="sns", Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert json.loads(lam.get_policy(FunctionName=unique_name)["Policy"])["Statement"][0]["Sid"] == "sns"
    lam.remove_permission(FunctionName=unique_name, StatementId="sns")
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName=unique_name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.tag_resource(Resource=arn, Tags={"env": "test"})
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "test"}
    names = [f["FunctionName"] for f in lam.get_paginator("list_functions").paginate().build_full_result()["Functions"]]
    assert unique_name in names


def test_layers_unpacked_into_opt(lam, make_fn, unique_name, zip_of):
    layer = lam.publish_layer_version(LayerName=unique_name, CompatibleRuntimes=["python3.11"],
                                      Content={"ZipFile": zip_of({"python/greeting.py": "WORD = 'from-layer'\n",
                                                                  "bin/tool": "#!/bin/sh\necho hi\n"})})
    assert layer["Version"] == 1 and layer["LayerVersionArn"].endswith(f":layer:{unique_name}:1")
    make_fn(unique_name, "import greeting, os\ndef handler(e, c):\n    return greeting.WORD\n",
            Layers=[layer["LayerVersionArn"]])
    assert _payload(lam.invoke(FunctionName=unique_name)) == "from-layer"
    cfg = lam.get_function_configuration(FunctionName=unique_name)
    assert cfg["Layers"] == [{"Arn": layer["LayerVersionArn"], "CodeSize": layer["Content"]["CodeSize"]}]
    assert lam.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])["Version"] == 1
    assert unique_name in [x["LayerName"] for x in lam.list_layers()["Layers"]]


def test_function_url_serves_http(lam, make_fn, unique_name):
    make_fn(unique_name, "import json\ndef handler(e, c):\n    return {'statusCode': 201, 'headers': {'x-got': e['rawPath']},"
                         " 'body': json.dumps({'q': e.get('queryStringParameters'), 'm': e['requestContext']['http']['method'],"
                         " 'b': e.get('body')})}\n")
    cfg = lam.create_function_url_config(FunctionName=unique_name, AuthType="NONE")
    url = cfg["FunctionUrl"]
    assert url.startswith("http://") and cfg["AuthType"] == "NONE"
    req = urllib.request.Request(url + "some/path?a=1&a=2", data=b"hello", method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 201 and resp.headers["x-got"] == "/some/path"
        assert json.loads(resp.read()) == {"q": {"a": "1,2"}, "m": "POST", "b": "hello"}
    assert lam.get_function_url_config(FunctionName=unique_name)["FunctionUrl"] == url
    lam.delete_function_url_config(FunctionName=unique_name)
    with pytest.raises(ClientError):
        lam.get_function_url_config(FunctionName=unique_name)


PROVISIONED = """
import os
with open(os.path.join(os.environ["MARKS"], "init-%d" % os.getpid()), "w") as f:
    f.write(os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"])
def handler(event, context):
    return {"pid": os.getpid(), "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


def test_provisioned_concurrency_warms_environments_ahead(lam, make_fn, unique_name, tmp_path):
    import os
    from tests.helpers.brokerproc import wait_for
    arn = make_fn(unique_name, PROVISIONED, Environment={"Variables": {"MARKS": str(tmp_path)}})["FunctionArn"]
    version = lam.publish_version(FunctionName=unique_name)["Version"]
    lam.create_alias(FunctionName=unique_name, Name="live", FunctionVersion=version)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=unique_name, Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=unique_name, Qualifier="live")
    assert e.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    put = lam.put_provisioned_concurrency_config(FunctionName=unique_name, Qualifier="live",
                                                 ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2 and put["Status"] in ("IN_PROGRESS", "READY")
    cfg = wait_for(lambda: (c := lam.get_provisioned_concurrency_config(FunctionName=unique_name, Qualifier="live"))
                   ["Status"] == "READY" and c, 30, what="provisioned concurrency READY")
    assert cfg["AvailableProvisionedConcurrentExecutions"] == 2 and cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    marks = {int(p.name[5:]): p.read_text() for p in tmp_path.glob("init-*")}
    assert len(marks) == 2 and set(marks.values()) == {"provisioned-concurrency"}     # initialised before any invoke
    r = lam.invoke(FunctionName=unique_name, Qualifier="live", LogType="Tail")
    doc = _payload(r)
    assert doc["pid"] in marks and doc["init"] == "provisioned-concurrency"
    assert "Init Duration" not in base64.b64decode(r["LogResult"]).decode()       # no cold start
    listed = lam.list_provisioned_concurrency_configs(FunctionName=unique_name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn + ":live"]
    lam.delete_provisioned_concurrency_config(FunctionName=unique_name, Qualifier="live")
    with pytest.raises(ClientError):
        lam.get_provisioned_concurrency_config(FunctionName=unique_name, Qualifier="live")

    def stopped():
        for pid in marks:
            try:
                os.kill(pid, 0)
                return False
            except ProcessLookupError:
                pass
        return True
    wait_for(stopped, 20, what="the provisioned environments stopped")
