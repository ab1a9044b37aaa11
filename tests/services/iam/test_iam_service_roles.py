"""Services that act through an IAM role, with IAM enforced: a Step Functions
execution calls as its state machine's role, a Scheduler schedule as its
target's role, an EventBridge rule target as its RoleArn. The role's trust
policy must let the service assume it; its identity policies (and the target's
resource policy, across accounts) decide each call."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from tests.helpers.brokerproc import wait_for
from tests.services.iam.conftest import A, allow

REGION = "us-east-1"


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _role(iam, service: str, policy: dict | None = None) -> str:
    name = _uid("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def _queue(sqs, name=None) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name or _uid("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _receive(sqs, url, timeout=20.0) -> dict:
    def got():
        ms = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages")
        return ms[0] if ms else None
    return wait_for(got, timeout, what=f"a message in {url}")


def _finished(sfn, arn) -> dict:
    return wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(
        sfn.describe_execution(executionArn=arn)), 20, what="execution finished")


def _failure(sfn, arn) -> tuple[str, str]:
    events = sfn.get_execution_history(executionArn=arn)["events"]
    [f] = [e.get("taskFailedEventDetails") or e["lambdaFunctionFailedEventDetails"] for e in events
           if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    return f["error"], f["cause"]


SEND = {"StartAt": "Send", "States": {"Send": {
    "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
    "Parameters": {"QueueUrl.$": "$.q", "MessageBody": "from the machine"}, "End": True}}}


def _machine(sfn, role: str) -> str:
    return sfn.create_state_machine(name=_uid("sm"), definition=json.dumps(SEND), roleArn=role)["stateMachineArn"]


def _run(sfn, sm: str, queue_url: str) -> tuple[str, dict]:
    arn = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"q": queue_url}))["executionArn"]
    return arn, _finished(sfn, arn)


def test_state_machine_calls_as_its_role(clients):
    iam, sqs, sfn = clients.a("iam"), clients.a("sqs"), clients.a("stepfunctions")
    url_a, arn_a = _queue(sqs)
    url_b, arn_b = _queue(sqs)
    role = _role(iam, "states.amazonaws.com", allow("sqs:SendMessage", arn_a))
    sm = _machine(sfn, role)

    _, d = _run(sfn, sm, url_a)
    assert d["status"] == "SUCCEEDED"
    assert _receive(sqs, url_a)["Body"] == "from the machine"

    ex, d = _run(sfn, sm, url_b)
    assert d["status"] == "FAILED"
    error, cause = _failure(sfn, ex)
    role_name = role.rsplit("/", 1)[1]
    assert error == "SQS.AmazonSQSException"
    assert cause.startswith(f"User: arn:aws:sts::{A}:assumed-role/{role_name}/")
    assert (f"is not authorized to perform: sqs:sendmessage on resource: {arn_b} because no identity-based "
            "policy allows the sqs:sendmessage action (Service: AmazonSQS; Status Code: 403; Error Code: "
            "AccessDenied;") in cause
    assert sqs.receive_message(QueueUrl=url_b).get("Messages") is None

    # a Deny in the role's boundary caps it too
    bnd = iam.create_policy(PolicyName=_uid("bnd"), PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "sqs:*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=role_name, PermissionsBoundary=bnd)
    ex, d = _run(sfn, sm, url_a)
    assert d["status"] == "FAILED" and "with an explicit deny in a permissions boundary" in _failure(sfn, ex)[1]


def test_role_the_service_may_not_assume_fails_the_task(clients):
    iam, sqs, sfn = clients.a("iam"), clients.a("sqs"), clients.a("stepfunctions")
    url, arn = _queue(sqs)
    role = _role(iam, "states.amazonaws.com", allow("sqs:SendMessage", arn))
    sm = _machine(sfn, role)
    # the role stops trusting Step Functions after the machine was created (checked then)
    iam.update_assume_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyDocument=_trust("lambda.amazonaws.com"))
    ex, d = _run(sfn, sm, url)
    assert d["status"] == "FAILED"
    assert _failure(sfn, ex) == ("States.TaskFailed", "Neither the global service principal states.amazonaws.com, "
                                 "nor the regional one is authorized to assume the provided role.")
    assert d["error"] == "States.TaskFailed"

    # trusting Step Functions (here by its regional name) fixes it at once
    iam.update_assume_role_policy(RoleName=role.rsplit("/", 1)[1],
                                  PolicyDocument=_trust(f"states.{REGION}.amazonaws.com"))
    _, d = _run(sfn, sm, url)
    assert d["status"] == "SUCCEEDED"
    assert _receive(sqs, url)["Body"] == "from the machine"


def test_role_across_accounts_needs_the_queue_policy(clients):
    iam, sfn = clients.a("iam"), clients.a("stepfunctions")
    sqs_b = clients.b("sqs")
    url, arn = _queue(sqs_b)
    role = _role(iam, "states.amazonaws.com", allow("sqs:SendMessage", "*"))
    sm = _machine(sfn, role)
    ex, d = _run(sfn, sm, url)
    assert d["status"] == "FAILED"
    assert "because no resource-based policy allows the sqs:sendmessage action" in _failure(sfn, ex)[1]

    sqs_b.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": role},
                                                "Action": "sqs:SendMessage", "Resource": arn}]})})
    _, d = _run(sfn, sm, url)
    assert d["status"] == "SUCCEEDED"
    assert _receive(sqs_b, url)["Body"] == "from the machine"


def dlq_for_rule(sqs, url: str, arn: str, rule_arn: str) -> None:
    """A rule's dead-letter queue must let EventBridge in for that rule (as at AWS)."""
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})


def _at(seconds: float) -> str:
    t = (datetime.now(timezone.utc) + timedelta(seconds=seconds)).replace(microsecond=0)
    return f"at({t.strftime('%Y-%m-%dT%H:%M:%S')})"


def test_schedule_invokes_as_its_role(clients):
    iam, sqs, scheduler = clients.a("iam"), clients.a("sqs"), clients.a("scheduler")
    url, arn = _queue(sqs)
    dlq_url, dlq_arn = _queue(sqs)
    # the role may write to the dead-letter queue only
    role = _role(iam, "scheduler.amazonaws.com", allow("sqs:SendMessage", dlq_arn))
    target = {"Arn": arn, "RoleArn": role, "Input": "scheduled", "DeadLetterConfig": {"Arn": dlq_arn},
              "RetryPolicy": {"MaximumRetryAttempts": 0}}
    sched = scheduler.create_schedule(Name=_uid("s"), ScheduleExpression=_at(2), FlexibleTimeWindow={"Mode": "OFF"},
                                      Target=target)["ScheduleArn"]
    m = _receive(sqs, dlq_url)
    attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "NO_PERMISSIONS" and attrs["SCHEDULE_ARN"] == sched
    assert f"assumed-role/{role.rsplit('/', 1)[1]}/" in attrs["ERROR_MESSAGE"]
    assert f"sqs:sendmessage on resource: {arn}" in attrs["ERROR_MESSAGE"]
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None

    iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="p",
                        PolicyDocument=json.dumps(allow("sqs:SendMessage", [arn, dlq_arn])))
    scheduler.create_schedule(Name=_uid("s"), ScheduleExpression=_at(2), FlexibleTimeWindow={"Mode": "OFF"},
                              Target=target)
    assert _receive(sqs, url)["Body"] == "scheduled"


def test_schedule_role_must_trust_the_scheduler(clients):
    iam, sqs, scheduler = clients.a("iam"), clients.a("sqs"), clients.a("scheduler")
    url, arn = _queue(sqs)
    untrusted = _role(iam, "scheduler.amazonaws.com", allow("sqs:SendMessage", "*"))
    trusted = _role(iam, "scheduler.amazonaws.com", allow("sqs:SendMessage", "*"))
    when = _at(3)
    for role, text in ((untrusted, "untrusted"), (trusted, "trusted")):
        scheduler.create_schedule(Name=_uid("s"), ScheduleExpression=when, FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": arn, "RoleArn": role, "Input": text,
                                          "RetryPolicy": {"MaximumRetryAttempts": 0}})
    # trusted when the schedule was created (checked then), no longer when it fires
    iam.update_assume_role_policy(RoleName=untrusted.rsplit("/", 1)[1], PolicyDocument=_trust("states.amazonaws.com"))
    assert _receive(sqs, url)["Body"] == "trusted"
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages") is None


def test_rule_target_with_a_role(clients):
    iam, sqs, sfn, events = clients.a("iam"), clients.a("sqs"), clients.a("stepfunctions"), clients.a("events")
    dlq_url, dlq_arn = _queue(sqs)
    pass_machine = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    sm_role = _role(iam, "states.amazonaws.com")
    sm = sfn.create_state_machine(name=_uid("sm"), definition=pass_machine, roleArn=sm_role)["stateMachineArn"]
    role = _role(iam, "events.amazonaws.com", allow("states:StartExecution", sm + "-other"))
    rule = _uid("r")
    source = _uid("app")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    dlq_for_rule(sqs, dlq_url, dlq_arn, rule_arn)
    events.put_targets(Rule=rule, Targets=[{"Id": "sfn", "Arn": sm, "RoleArn": role,
                                            "DeadLetterConfig": {"Arn": dlq_arn},
                                            "RetryPolicy": {"MaximumRetryAttempts": 0}}])
    entry = {"Source": source, "DetailType": "t", "Detail": "{}"}
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    m = _receive(sqs, dlq_url)
    attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "NO_PERMISSIONS"
    assert f"is not authorized to perform: states:StartExecution on resource: {sm}" in attrs["ERROR_MESSAGE"]
    assert sfn.list_executions(stateMachineArn=sm)["executions"] == []

    iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="p",
                        PolicyDocument=json.dumps(allow("states:StartExecution", sm)))
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    wait_for(lambda: sfn.list_executions(stateMachineArn=sm)["executions"], 20, what="execution started by the rule")


def test_rule_target_role_not_trusting_events(clients):
    iam, sqs, sfn, events = clients.a("iam"), clients.a("sqs"), clients.a("stepfunctions"), clients.a("events")
    dlq_url, dlq_arn = _queue(sqs)
    sm_role = _role(iam, "states.amazonaws.com")
    sm = sfn.create_state_machine(name=_uid("sm"), roleArn=sm_role, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    rule, source = _uid("r"), _uid("app")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    dlq_for_rule(sqs, dlq_url, dlq_arn, rule_arn)
    # PutTargets does not check the role's trust (AWS finds out when it invokes the target)
    events.put_targets(Rule=rule, Targets=[{"Id": "sfn", "Arn": sm, "RoleArn": sm_role,
                                            "DeadLetterConfig": {"Arn": dlq_arn}}])
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])
    attrs = {k: v["StringValue"] for k, v in _receive(sqs, dlq_url)["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "NO_PERMISSIONS"
    assert f"User: events.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: {sm_role}" \
        in attrs["ERROR_MESSAGE"]
    assert sfn.list_executions(stateMachineArn=sm)["executions"] == []


def test_state_machine_invokes_a_function_as_its_role(clients):
    import io
    import zipfile
    iam, lam, sfn = clients.a("iam"), clients.a("lambda"), clients.a("stepfunctions")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return {'doubled': event['n'] * 2}\n")
    name = _uid("fn")
    fn = lam.create_function(FunctionName=name, Runtime="python3.11", Handler="handler.handler",
                             Role=_role(iam, "lambda.amazonaws.com"), Code={"ZipFile": buf.getvalue()})["FunctionArn"]
    definition = json.dumps({"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": fn, "End": True}}})
    allowed = _role(iam, "states.amazonaws.com", allow("lambda:InvokeFunction", fn))
    other = _role(iam, "states.amazonaws.com", allow("lambda:InvokeFunction", fn + "-other"))
    try:
        ok = sfn.create_state_machine(name=_uid("sm"), definition=definition, roleArn=allowed)["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=ok, input=json.dumps({"n": 21}))["executionArn"]
        d = wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(
            sfn.describe_execution(executionArn=ex)), 60, what="execution finished")
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"doubled": 42}

        denied = sfn.create_state_machine(name=_uid("sm"), definition=definition, roleArn=other)["stateMachineArn"]
        ex, d = _run(sfn, denied, "unused")
        assert d["status"] == "FAILED"
        error, cause = _failure(sfn, ex)
        assert error == "Lambda.AWSLambdaException", cause
        assert (f"is not authorized to perform: lambda:InvokeFunction on resource: {fn} because no identity-based "
                "policy allows the lambda:InvokeFunction action") in cause
    finally:
        lam.delete_function(FunctionName=name)
