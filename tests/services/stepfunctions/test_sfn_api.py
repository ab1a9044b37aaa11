"""The Step Functions API with boto3: state machines, versions, aliases, tags,
executions, history paging, validation diagnostics and AWS's error texts."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import botocore.exceptions
import pytest

from tests.services.stepfunctions._helpers import ROLE, history, make_sm, name, run, wait_done

PASS = {"Comment": "pass", "StartAt": "S", "States": {"S": {"Type": "Pass", "Result": {"Arg1": "argument1"},
                                                             "End": True}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}


def error(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")


# -- state machines ----------------------------------------------------------------

def test_create_describe_update_delete(sfn):
    n = name()
    created = sfn.create_state_machine(name=n, definition=json.dumps(PASS), roleArn=ROLE)
    arn = created["stateMachineArn"]
    assert arn == f"arn:aws:states:us-east-1:000000000000:stateMachine:{n}"
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["name"] == n and d["status"] == "ACTIVE" and d["type"] == "STANDARD"
    assert json.loads(d["definition"]) == PASS and d["roleArn"] == ROLE
    assert d["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert d["tracingConfiguration"] == {"enabled": False}
    assert "revisionId" not in d
    # the same request again is idempotent; a different one is StateMachineAlreadyExists
    again = sfn.create_state_machine(name=n, definition=json.dumps(PASS), roleArn=ROLE)
    assert again["stateMachineArn"] == arn
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.create_state_machine(name=n, definition=json.dumps(WAIT), roleArn=ROLE)
    assert error(ei) == ("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
    up = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(WAIT))
    assert up["revisionId"]
    d2 = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(d2["definition"]) == WAIT and d2["revisionId"] == up["revisionId"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.update_state_machine(stateMachineArn=arn)
    assert error(ei) == ("MissingRequiredParameter", "Either the definition, the role ARN, the LoggingConfiguration, "
                                                     "or the TracingConfiguration must be specified")
    sfn.delete_state_machine(stateMachineArn=arn)
    sfn.delete_state_machine(stateMachineArn=arn)      # deleting twice is fine
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert error(ei) == ("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def test_invalid_definitions_and_names(sfn):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.create_state_machine(name=name(), definition=json.dumps({"StartAt": "A"}), roleArn=ROLE)
    assert error(ei) == ("InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These "
                                              "fields are required: [States] at /'")
    bad_type = {"StartAt": "A", "States": {"A": {"Type": "Nope", "End": True}}}
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.create_state_machine(name=name(), definition=json.dumps(bad_type), roleArn=ROLE)
    assert error(ei)[1] == ("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The field 'Type' should "
                            "have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map] at "
                            "/States/A/Type'")
    wait_ts = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "2016-12-05 21:29:29Z", "End": True}}}
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.create_state_machine(name=name(), definition=json.dumps(wait_ts), roleArn=ROLE)
    assert error(ei)[1].endswith("String does not match RFC3339 timestamp at /States/W/Timestamp'")
    wft = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage."
                                                                          "waitForTaskToken", "End": True}}}
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.create_state_machine(name=name(), definition=json.dumps(wft), roleArn=ROLE, type="EXPRESS")
    assert error(ei)[1] == ("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does "
                            "not support '.waitForTaskToken' service integration  at /States/T/Resource'")
    for bad in ("sm name", "sm<name", "sm:name", "sm\x7fname"):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            sfn.create_state_machine(name=bad, definition=json.dumps(PASS), roleArn=ROLE)
        assert error(ei) == ("InvalidName", f"Invalid Name: '{bad}'")
    with pytest.raises(botocore.exceptions.ClientError) as ei:     # the model's length limit comes first
        sfn.create_state_machine(name="a" * 81, definition=json.dumps(PASS), roleArn=ROLE)
    assert error(ei)[0] == "ValidationException"


def test_validate_state_machine_definition(sfn):
    ok = sfn.validate_state_machine_definition(definition=json.dumps(PASS))
    assert ok["result"] == "OK" and ok["diagnostics"] == [] and ok["truncated"] is False
    r = sfn.validate_state_machine_definition(definition="{}")
    assert r["result"] == "FAIL"
    assert r["diagnostics"] == [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED",
                                 "message": "These fields are required: [States, StartAt]", "location": "/"}]
    r = sfn.validate_state_machine_definition(definition="not a definition")
    d = r["diagnostics"][0]
    assert d["code"] == "INVALID_JSON_DESCRIPTION"
    assert d["message"].startswith("Unrecognized token 'not': was expecting (JSON String, Number, Array, Object or "
                                   "token 'null', 'true' or 'false')")
    downgrade = {"QueryLanguage": "JSONata", "StartAt": "P",
                 "States": {"P": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}}}
    r = sfn.validate_state_machine_definition(definition=json.dumps(downgrade))
    assert r["diagnostics"] == [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "location": "/States/P",
                                 "message": "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole "
                                            "state machine"}]


def test_list_state_machines_pages(sfn):
    prefix = name("lst")
    arns = sorted(make_sm(sfn, PASS, sm_name=f"{prefix}-{i:02d}") for i in range(5))
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = sfn.list_state_machines(maxResults=2, **kw)
        seen += [m["stateMachineArn"] for m in page["stateMachines"] if m["name"].startswith(prefix)]
        assert len(page["stateMachines"]) <= 2
        token = page.get("nextToken")
        if not token:
            break
    assert seen == arns
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.list_state_machines(maxResults=1001)
    assert error(ei) == ("ValidationException", "1 validation error detected: Value '1001' at 'maxResults' failed to "
                                                "satisfy constraint: Member must have value less than or equal to 1000")


def test_invalid_arns(sfn):
    for call, kw in ((sfn.describe_state_machine, {"stateMachineArn": "not_a_valid_arn"}),
                     (sfn.describe_execution, {"executionArn": "not_a_valid_arn"}),
                     (sfn.list_executions, {"stateMachineArn": "not_a_valid_arn"})):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(**kw)
        assert error(ei) == ("InvalidArn", "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'")


# -- versions and aliases ------------------------------------------------------------

def test_versions_and_aliases(sfn):
    n = name()
    created = sfn.create_state_machine(name=n, definition=json.dumps(PASS), roleArn=ROLE, publish=True,
                                       versionDescription="first")
    arn, v1 = created["stateMachineArn"], created["stateMachineVersionArn"]
    assert v1 == arn + ":1"
    assert sfn.describe_state_machine(stateMachineArn=v1)["description"] == "first"
    up = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(WAIT), publish=True)
    v2 = up["stateMachineVersionArn"]
    assert v2 == arn + ":2"
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [v2, v1]
    assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == v2  # unchanged
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.publish_state_machine_version(stateMachineArn=arn, revisionId="not-the-current-one")
    assert error(ei)[0] == "ConflictException"
    alias = sfn.create_state_machine_alias(name="live", routingConfiguration=[
        {"stateMachineVersionArn": v1, "weight": 100}])["stateMachineAliasArn"]
    assert alias == arn + ":live"
    d = sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    assert d["routingConfiguration"] == [{"stateMachineVersionArn": v1, "weight": 100}] and d["name"] == "live"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.create_state_machine_alias(name="bad", routingConfiguration=[
            {"stateMachineVersionArn": v1, "weight": 70}, {"stateMachineVersionArn": v2, "weight": 29}])
    assert error(ei) == ("ValidationException", "Sum of routing configuration weights must equal 100. Received: "
                                                "[70, 29]")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.create_state_machine_alias(name="bad2", routingConfiguration=[
            {"stateMachineVersionArn": arn, "weight": 100}])
    assert error(ei) == ("ValidationException", f"Routing configuration must contain state machine version ARNs. "
                                                f"Received: [{arn}]")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.delete_state_machine_version(stateMachineVersionArn=v1)
    assert error(ei) == ("ConflictException", "Version to be deleted must not be referenced by an alias. Current list "
                                              "of aliases referencing this version: [live]")
    # an execution through the alias runs version 1 and records both ARNs
    ex = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    desc = wait_done(sfn, ex)
    assert desc["status"] == "SUCCEEDED"
    assert desc["stateMachineAliasArn"] == alias and desc["stateMachineVersionArn"] == v1
    sfn.update_state_machine_alias(stateMachineAliasArn=alias, routingConfiguration=[
        {"stateMachineVersionArn": v2, "weight": 100}])
    sfn.delete_state_machine_version(stateMachineVersionArn=v1)
    assert [v["stateMachineVersionArn"] for v in
            sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]] == [v2]
    assert [a["stateMachineAliasArn"] for a in
            sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"]] == [alias]
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    assert sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"] == []


def test_tags(sfn):
    arn = make_sm(sfn, PASS, tags=[{"key": "team", "value": "core"}])
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "k1", "value": "v1"}, {"key": "k2", "value": ""}])
    sfn.untag_resource(resourceArn=arn, tagKeys=["k2", "absent"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "core"},
                                                                    {"key": "k1", "value": "v1"}]
    version = sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.tag_resource(resourceArn=version, tags=[{"key": "a", "value": "b"}])
    assert error(ei) == ("ResourceNotFound", f"Resource not found: '{version}'")


# -- executions ------------------------------------------------------------------------

def test_execution_lifecycle_and_errors(sfn):
    arn = make_sm(sfn, PASS)
    ex_name = name("ex")
    started = sfn.start_execution(stateMachineArn=arn, name=ex_name, input='{"a": 1}')
    ex = started["executionArn"]
    assert ex == arn.replace(":stateMachine:", ":execution:") + ":" + ex_name
    desc = wait_done(sfn, ex)
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == {"Arg1": "argument1"}
    assert desc["redriveStatus"] == "NOT_REDRIVABLE"
    assert desc["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_execution(stateMachineArn=arn, name=ex_name, input='{"a": 1}')
    assert error(ei) == ("ExecutionAlreadyExists", f"Execution Already Exists: '{ex}'")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_execution(stateMachineArn=arn, input="not json")
    assert error(ei) == ("InvalidExecutionInput", "Invalid State Machine Execution Input: 'Unrecognized token 'not': "
                         "was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')'")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_execution(stateMachineArn=arn, input="{'a': 1}")
    assert error(ei) == ("InvalidExecutionInput", "Invalid State Machine Execution Input: 'Unexpected character "
                         "(''' (code 39)): was expecting double-quote to start field name'")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_execution(stateMachineArn=arn, input="")
    assert error(ei) == ("InvalidExecutionInput", "Invalid State Machine Execution Input: 'Invalid execution input.'")
    missing = arn + "-missing"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_execution(stateMachineArn=missing)
    assert error(ei) == ("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{missing}'")
    for value in ("1", '"text"', "null"):
        assert wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input=value)["executionArn"])["status"] == \
            "SUCCEEDED"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.describe_execution(executionArn=ex + "-nope")
    assert error(ei) == ("ExecutionDoesNotExist", f"Execution Does Not Exist: '{ex}-nope'")


def test_start_execution_is_idempotent_while_running(sfn):
    arn = make_sm(sfn, WAIT)
    n = name("ex")
    first = sfn.start_execution(stateMachineArn=arn, name=n, input="{}")
    again = sfn.start_execution(stateMachineArn=arn, name=n, input="{}")
    assert again["executionArn"] == first["executionArn"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_execution(stateMachineArn=arn, name=n, input='{"other": 1}')
    assert error(ei)[0] == "ExecutionAlreadyExists"
    stopped = sfn.stop_execution(executionArn=first["executionArn"], error="Err", cause="because")
    assert stopped["stopDate"]
    desc = sfn.describe_execution(executionArn=first["executionArn"])
    assert desc["status"] == "ABORTED" and desc["error"] == "Err" and desc["cause"] == "because"
    assert desc["redriveStatus"] == "REDRIVABLE"
    events = history(sfn, first["executionArn"])
    assert [(e["type"], e["previousEventId"]) for e in events] == [
        ("ExecutionStarted", 0), ("WaitStateEntered", 0), ("ExecutionAborted", 0)]
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Err", "cause": "because"}


def test_list_executions_filters_and_pages(sfn):
    arn = make_sm(sfn, PASS)
    runs = [sfn.start_execution(stateMachineArn=arn, name=f"e{i:02d}")["executionArn"] for i in range(5)]
    for ex in runs:
        wait_done(sfn, ex)
    waiting = make_sm(sfn, WAIT)
    running = sfn.start_execution(stateMachineArn=waiting)["executionArn"]
    page = sfn.list_executions(stateMachineArn=arn, maxResults=3)
    assert [e["executionArn"] for e in page["executions"]] == runs[::-1][:3]      # newest first
    rest = sfn.list_executions(stateMachineArn=arn, maxResults=3, nextToken=page["nextToken"])
    assert [e["executionArn"] for e in rest["executions"]] == runs[::-1][3:] and "nextToken" not in rest
    e0 = page["executions"][0]
    assert e0["status"] == "SUCCEEDED" and e0["redriveCount"] == 0 and e0["stateMachineArn"] == arn
    assert sfn.list_executions(stateMachineArn=waiting, statusFilter="SUCCEEDED")["executions"] == []
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=waiting,
                                                           statusFilter="RUNNING")["executions"]] == [running]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.list_executions(stateMachineArn=arn, nextToken="garbage")
    assert error(ei) == ("InvalidToken", "Invalid Token: 'Invalid token'")
    sfn.stop_execution(executionArn=running)


def test_history_paging_and_reverse_order(sfn):
    ex, desc = run(sfn, {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "C"}, "C": {"Type": "Pass", "End": True}}})
    assert desc["status"] == "SUCCEEDED"
    full = sfn.get_execution_history(executionArn=ex)["events"]
    assert [e["id"] for e in full] == list(range(1, 9))
    first = sfn.get_execution_history(executionArn=ex, maxResults=3)
    second = sfn.get_execution_history(executionArn=ex, maxResults=3, nextToken=first["nextToken"])
    assert [e["id"] for e in first["events"] + second["events"]] == [1, 2, 3, 4, 5, 6]
    rev = sfn.get_execution_history(executionArn=ex, reverseOrder=True)["events"]
    assert [e["id"] for e in rev] == list(range(8, 0, -1))
    lean = sfn.get_execution_history(executionArn=ex, includeExecutionData=False)["events"]
    assert "input" not in lean[1]["stateEnteredEventDetails"] and lean[1]["stateEnteredEventDetails"]["name"] == "A"
    fed = sfn.describe_state_machine_for_execution(executionArn=ex)
    assert json.loads(fed["definition"])["StartAt"] == "A" and fed["roleArn"] == ROLE


def test_variable_references_in_describe(sfn):
    arn = make_sm(sfn, {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": 1, "y": 2}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"v.$": "$x", "w.$": "States.Format('{}', $y)"}, "End": True}}})
    assert sfn.describe_state_machine(stateMachineArn=arn)["variableReferences"] == {"B": ["x", "y"]}


# -- Express ------------------------------------------------------------------------------

def test_express_sync_and_unsupported_operations(sfn):
    arn = make_sm(sfn, PASS, type="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=arn, input='{"in": 1}')
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"Arg1": "argument1"}
    assert ":express:" in r["executionArn"] and r["inputDetails"] == {"included": True}
    assert r["billingDetails"]["billedMemoryUsedInMB"] == 64
    assert r["billingDetails"]["billedDurationInMilliseconds"] % 100 == 0
    for call in (sfn.describe_execution, sfn.get_execution_history):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(executionArn=r["executionArn"])
        assert error(ei) == ("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.list_executions(stateMachineArn=arn)
    assert error(ei) == ("StateMachineTypeNotSupported", "This operation is not supported by this type of state "
                                                         "machine")
    failing = make_sm(sfn, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "C"}}},
                      type="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=failing)
    assert (r["status"], r["error"], r["cause"]) == ("FAILED", "E", "C") and "output" not in r
    standard = make_sm(sfn, PASS)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sfn.start_sync_execution(stateMachineArn=standard)
    assert error(ei) == ("StateMachineTypeNotSupported", "This operation is not supported by this type of state "
                                                         "machine")


def test_express_async_history_on_admin_api(sfn, server):
    arn = make_sm(sfn, PASS, type="EXPRESS")
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    from tests.helpers.brokerproc import wait_for

    def finished():
        status, doc = server.get(f"/_broker/stepfunctions/express-executions?executionArn={ex}")
        runs = [x for x in doc["executions"] if x["status"] != "RUNNING"] if status == 200 else []
        return runs[0] if runs else None
    got = wait_for(finished, 10, what="express history")
    assert [e["type"] for e in got["events"]] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                                  "ExecutionSucceeded"]
    last = got["events"][-1]
    assert last["execution_arn"] == ex and last["id"] == "4" and last["previous_event_id"] == "3"
    assert json.loads(last["details"]["output"]) == {"Arg1": "argument1"}


def test_sync_host_prefix_reaches_the_service(server, monkeypatch):
    """boto3 sends StartSyncExecution to `sync-<host>`; with that name resolving here the call arrives."""
    real = socket.getaddrinfo

    def fake(host, *a, **kw):
        if isinstance(host, str) and host.endswith("localhost"):
            host = "127.0.0.1"
        return real(host, *a, **kw)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    port = urlsplit(server.url).port
    client = server.client("stepfunctions", endpoint_url=f"http://localhost:{port}")
    hosts = []
    client.meta.events.register("before-send", lambda request, **kw: hosts.append(urlsplit(request.url).hostname))
    arn = make_sm(client, PASS, type="EXPRESS")
    r = client.start_sync_execution(stateMachineArn=arn)
    assert hosts[-1] == "sync-localhost" and r["status"] == "SUCCEEDED"
