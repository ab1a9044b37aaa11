"""Roles handed to services, with IAM enforced: checked when the state machine,
schedule or rule target is created (iam:PassRole for the caller, the service's
trust), Step Functions task Credentials (the execution's role assumes the
task's role), .sync and Distributed Map permissions of the execution role,
TestState's roleArn; EventBridge bus targets without a role and service
deliveries to resources without a policy."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from botocore.config import Config

from tests.helpers.brokerproc import wait_for

from tests.services.iam.conftest import A, ADMIN_A, B, allow, error, new_user
from tests.services.iam.test_iam_service_roles import SEND, _failure, _finished, _queue, _receive, _role, _trust, \
    _uid, dlq_for_rule

NOT_ASSUMABLE = ("Neither the global service principal states.amazonaws.com, nor the regional one is authorized "
                 "to assume the provided role.")
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def _denied(call, **kw) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        call(**kw)
    return error(ei)


def _history(sfn, arn) -> list:
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


# -- checked when given -------------------------------------------------------------------------
def test_state_machine_role_checked_at_create_and_update(clients):
    iam, sfn = clients.a("iam"), clients.a("stepfunctions")
    untrusted = _role(iam, "lambda.amazonaws.com")
    trusted = _role(iam, "states.amazonaws.com")
    missing = f"arn:aws:iam::{A}:role/{_uid('nobody')}"
    for role in (untrusted, missing):
        code, msg, status = _denied(sfn.create_state_machine, name=_uid("sm"), definition=PASS, roleArn=role)
        assert (code, msg, status) == ("AccessDeniedException", NOT_ASSUMABLE, 400)
    name = _uid("sm")
    sm = sfn.create_state_machine(name=name, definition=PASS, roleArn=trusted)["stateMachineArn"]
    code, msg, _ = _denied(sfn.update_state_machine, stateMachineArn=sm, roleArn=untrusted)
    assert (code, msg) == ("AccessDeniedException", NOT_ASSUMABLE)
    assert sfn.describe_state_machine(stateMachineArn=sm)["roleArn"] == trusted
    # trust conditioned on the machine's ARN (aws:SourceArn) admits exactly that machine
    scoped = _role(iam, "states.amazonaws.com")
    iam.update_assume_role_policy(RoleName=scoped.rsplit("/", 1)[1], PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                                                "Action": "sts:AssumeRole",
                                                "Condition": {"ArnLike": {"aws:SourceArn": sm}}}]}))
    sfn.update_state_machine(stateMachineArn=sm, roleArn=scoped)
    assert _denied(sfn.create_state_machine, name=_uid("sm"), definition=PASS, roleArn=scoped)[1] == NOT_ASSUMABLE


def test_state_machine_role_needs_pass_role(clients):
    iam = clients.a("iam")
    role = _role(iam, "states.amazonaws.com")
    key = new_user(iam, policy=allow("states:*"))
    user = iam.get_user(UserName=key["UserName"])["User"]["Arn"]
    user_sfn = clients.of(key, "stepfunctions")

    def create():
        return user_sfn.create_state_machine(name=_uid("sm"), definition=PASS, roleArn=role)
    code, msg, _ = _denied(create)
    assert code == "AccessDeniedException"
    assert msg == (f"User: {user} is not authorized to perform: iam:PassRole on resource: {role} because no "
                   "identity-based policy allows the iam:PassRole action")

    def grant(service: str) -> None:
        iam.put_user_policy(UserName=key["UserName"], PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                allow("states:*")["Statement"][0],
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
                 "Condition": {"StringEquals": {"iam:PassedToService": service}}}]}))
    grant("lambda.amazonaws.com")            # passing it to another service does not count
    assert "iam:PassRole" in _denied(create)[1]
    grant("states.amazonaws.com")
    assert create()["stateMachineArn"]


def test_sync_start_needs_the_managed_rule_at_create(clients):
    iam, sfn = clients.a("iam"), clients.a("stepfunctions")
    child = sfn.create_state_machine(name=_uid("child"), definition=PASS,
                                     roleArn=_role(iam, "states.amazonaws.com"))["stateMachineArn"]
    definition = json.dumps({"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child}, "End": True}}})
    role = _role(iam, "states.amazonaws.com", allow("states:StartExecution", child))
    code, msg, _ = _denied(sfn.create_state_machine, name=_uid("sm"), definition=definition, roleArn=role)
    assert (code, msg) == ("AccessDeniedException", f"'{role}' is not authorized to create managed-rule.")
    # a new definition alone is checked against the machine's current role
    plain = sfn.create_state_machine(name=_uid("sm"), definition=PASS, roleArn=role)["stateMachineArn"]
    code, msg, _ = _denied(sfn.update_state_machine, stateMachineArn=plain, definition=definition)
    assert (code, msg) == ("AccessDeniedException", f"'{role}' is not authorized to create managed-rule.")
    rule = f"arn:aws:events:us-east-1:{A}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
    iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "states:StartExecution", "Resource": child},
            {"Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
             "Resource": rule}]}))
    sm = sfn.create_state_machine(name=_uid("sm"), definition=definition, roleArn=role)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=plain, definition=definition)

    # running it: watching the child needs states:DescribeExecution on its executions
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "FAILED"
    error_name, cause = _failure(sfn, ex)
    assert "states:DescribeExecution on resource: arn:aws:states:us-east-1:" in cause
    assert error_name.startswith("StepFunctions.")
    iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="watch", PolicyDocument=json.dumps(
        allow(["states:DescribeExecution", "states:StopExecution"],
              f"arn:aws:states:us-east-1:{A}:execution:{child.rsplit(':', 1)[1]}:*")))
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "SUCCEEDED", _history(sfn, ex)[-1]


def test_schedule_role_checked_at_create_and_update(clients):
    iam, sqs, scheduler = clients.a("iam"), clients.a("sqs"), clients.a("scheduler")
    _, arn = _queue(sqs)
    untrusted = _role(iam, "states.amazonaws.com")
    trusted = _role(iam, "scheduler.amazonaws.com")
    name = _uid("s")
    kw = {"ScheduleExpression": "rate(1 day)", "FlexibleTimeWindow": {"Mode": "OFF"}}
    code, msg, status = _denied(scheduler.create_schedule, Name=name, Target={"Arn": arn, "RoleArn": untrusted},
                                **kw)
    assert (code, msg, status) == ("ValidationException", "The execution role you provide must allow AWS "
                                   "EventBridge Scheduler to assume the role.", 400)
    scheduler.create_schedule(Name=name, Target={"Arn": arn, "RoleArn": trusted}, **kw)
    code, _, _ = _denied(scheduler.update_schedule, Name=name, Target={"Arn": arn, "RoleArn": untrusted}, **kw)
    assert code == "ValidationException"
    assert scheduler.get_schedule(Name=name)["Target"]["RoleArn"] == trusted

    key = new_user(iam, policy=allow("scheduler:*"))
    code, msg, status = _denied(clients.of(key, "scheduler").create_schedule, Name=_uid("s"),
                                Target={"Arn": arn, "RoleArn": trusted}, **kw)
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"is not authorized to perform: iam:PassRole on resource: {trusted}" in msg


def test_put_targets_passes_the_role_and_step_functions_needs_one(clients):
    iam, events, sfn = clients.a("iam"), clients.a("events"), clients.a("stepfunctions")
    sm = sfn.create_state_machine(name=_uid("sm"), definition=PASS,
                                  roleArn=_role(iam, "states.amazonaws.com"))["stateMachineArn"]
    rule = _uid("r")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["x"]}))
    code, msg, _ = _denied(events.put_targets, Rule=rule, Targets=[{"Id": "sfn", "Arn": sm}])
    assert (code, msg) == ("ValidationException", f"RoleArn is required for target {sm}.")
    role = _role(iam, "events.amazonaws.com", allow("states:StartExecution", sm))
    key = new_user(iam, policy=allow("events:*"))
    code, msg, _ = _denied(clients.of(key, "events").put_targets, Rule=rule,
                           Targets=[{"Id": "sfn", "Arn": sm, "RoleArn": role}])
    assert code == "AccessDeniedException"
    assert f"is not authorized to perform: iam:PassRole on resource: {role}" in msg
    assert events.put_targets(Rule=rule, Targets=[{"Id": "sfn", "Arn": sm, "RoleArn": role}])[
        "FailedEntryCount"] == 0


# -- task Credentials ---------------------------------------------------------------------------
def _cross_account_role(iam_b, trusted_principal: str, policy: dict) -> str:
    name = _uid("task")
    arn = iam_b.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": trusted_principal},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam_b.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def test_task_credentials_call_as_the_task_role(clients):
    iam, sfn = clients.a("iam"), clients.a("stepfunctions")
    iam_b, sqs_b = clients.b("iam"), clients.b("sqs")
    url, arn = _queue(sqs_b)
    exec_role = _role(iam, "states.amazonaws.com", allow("sts:AssumeRole", f"arn:aws:iam::{B}:role/*"))
    task_role = _cross_account_role(iam_b, exec_role, allow("sqs:SendMessage", arn))
    stranger = _cross_account_role(iam_b, B, allow("sqs:SendMessage", arn))     # trusts only its own account
    definition = json.dumps({"StartAt": "Send", "States": {"Send": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "Credentials": {"RoleArn.$": "$.role"},
        "Parameters": {"QueueUrl": url, "MessageBody": "as the task role"}, "End": True}}})
    sm = sfn.create_state_machine(name=_uid("sm"), definition=definition, roleArn=exec_role)["stateMachineArn"]

    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"role": task_role}))["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "SUCCEEDED", _history(sfn, ex)
    assert _receive(sqs_b, url)["Body"] == "as the task role"
    [sched] = [e for e in _history(sfn, ex) if e["type"] == "TaskScheduled"]
    assert sched["taskScheduledEventDetails"]["taskCredentials"] == {"roleArn": task_role}

    # a role whose trust does not name the execution's role
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"role": stranger}))["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "FAILED"
    assert _failure(sfn, ex) == ("States.TaskFailed", f"The role {exec_role} is not authorized to assume the task "
                                                      f"state's role, {stranger}.")
    # the task role's own policies decide the call: another queue of B is refused
    url2, arn2 = _queue(sqs_b)
    definition2 = json.dumps({"StartAt": "Send", "States": {"Send": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Credentials": {"RoleArn": task_role},
        "Parameters": {"QueueUrl": url2, "MessageBody": "x"}, "End": True}}})
    sm2 = sfn.create_state_machine(name=_uid("sm"), definition=definition2, roleArn=exec_role)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=sm2)["executionArn"]
    assert _finished(sfn, ex)["status"] == "FAILED"
    error_name, cause = _failure(sfn, ex)
    assert error_name == "SQS.AmazonSQSException"
    assert f"User: arn:aws:sts::{B}:assumed-role/{task_role.rsplit('/', 1)[1]}/" in cause
    assert f"sqs:sendmessage on resource: {arn2}" in cause


# -- Distributed Map ----------------------------------------------------------------------------
def test_distributed_map_needs_start_execution_on_itself(clients):
    iam, sfn = clients.a("iam"), clients.a("stepfunctions")
    role = _role(iam, "states.amazonaws.com")
    name = _uid("dmap")
    definition = json.dumps({"StartAt": "Map", "States": {"Map": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}})
    sm = sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "FAILED" and d["error"] == "States.Runtime"
    assert f"is not authorized to perform: states:StartExecution on resource: {sm}" in d["cause"]
    [run] = sfn.list_map_runs(executionArn=ex)["mapRuns"]
    assert sfn.list_executions(mapRunArn=run["mapRunArn"])["executions"] == []
    assert "MapRunFailed" in [e["type"] for e in _history(sfn, ex)]

    iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "states:StartExecution", "Resource": sm},
            {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"],
             "Resource": f"arn:aws:states:us-east-1:{A}:execution:{name}/*"}]}))
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == [1, 2, 3]


# -- TestState ----------------------------------------------------------------------------------
def test_test_state_calls_as_its_role(clients):
    iam, sqs = clients.a("iam"), clients.a("sqs")
    # TestState's host prefix (sync-) does not resolve for a local endpoint
    sfn = clients.server.client("stepfunctions", aws_access_key_id=ADMIN_A[0], aws_secret_access_key=ADMIN_A[1],
                                region_name="us-east-1", config=Config(inject_host_prefix=False,
                                                                       retries={"max_attempts": 1}))
    url_a, arn_a = _queue(sqs)
    url_b, arn_b = _queue(sqs)
    role = _role(iam, "states.amazonaws.com", allow("sqs:SendMessage", arn_a))
    state = json.dumps(SEND["States"]["Send"])
    ok = sfn.test_state(definition=state, roleArn=role, input=json.dumps({"q": url_a}))
    assert ok["status"] == "SUCCEEDED", ok
    assert _receive(sqs, url_a)["Body"] == "from the machine"
    out = sfn.test_state(definition=state, roleArn=role, input=json.dumps({"q": url_b}))
    assert out["status"] == "FAILED" and out["error"] == "SQS.AmazonSQSException"
    assert f"sqs:sendmessage on resource: {arn_b}" in out["cause"]
    untrusted = _role(iam, "lambda.amazonaws.com", allow("sqs:SendMessage", "*"))
    out = sfn.test_state(definition=state, roleArn=untrusted, input=json.dumps({"q": url_a}))
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "States.TaskFailed", NOT_ASSUMABLE)


# -- EventBridge and service principals ---------------------------------------------------------
def test_cross_account_bus_target_without_role_needs_the_bus_policy(clients):
    events_a, sqs_a = clients.a("events"), clients.a("sqs")
    events_b, sqs_b = clients.b("events"), clients.b("sqs")
    bus_b = events_b.create_event_bus(Name=_uid("bus"))["EventBusArn"]
    source = _uid("app")
    # in B: a rule on the bus feeding a queue that lets that rule in
    url_b, arn_b = _queue(sqs_b)
    rule_b = events_b.put_rule(Name=_uid("r"), EventBusName=bus_b,
                               EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    dlq_for_rule(sqs_b, url_b, arn_b, rule_b)
    events_b.put_targets(Rule=rule_b.rsplit("/", 1)[1], EventBusName=bus_b, Targets=[{"Id": "q", "Arn": arn_b}])
    # in A: a rule forwarding to B's bus without a role, dead letters to a queue of A
    dlq_url, dlq_arn = _queue(sqs_a)
    rule_a = events_a.put_rule(Name=_uid("r"), EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    dlq_for_rule(sqs_a, dlq_url, dlq_arn, rule_a)
    events_a.put_targets(Rule=rule_a.rsplit("/", 1)[1], Targets=[{
        "Id": "bus", "Arn": bus_b, "DeadLetterConfig": {"Arn": dlq_arn}, "RetryPolicy": {"MaximumRetryAttempts": 0}}])
    entry = {"Source": source, "DetailType": "t", "Detail": json.dumps({"n": 1})}
    events_a.put_events(Entries=[entry])
    attrs = {k: v["StringValue"] for k, v in _receive(sqs_a, dlq_url)["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "NO_PERMISSIONS"
    assert (f"User: arn:aws:iam::{A}:root is not authorized to perform: events:PutEvents on resource: {bus_b} "
            "because no resource-based policy allows the events:PutEvents action") in attrs["ERROR_MESSAGE"]

    events_b.put_permission(EventBusName=bus_b.rsplit("/", 1)[1], Action="events:PutEvents", Principal=A,
                            StatementId="from-a")
    events_a.put_events(Entries=[{**entry, "Detail": json.dumps({"n": 2})}])
    got = json.loads(_receive(sqs_b, url_b)["Body"])
    assert got["detail"] == {"n": 2}


def test_service_principal_needs_the_queue_policy_in_its_own_account(clients):
    sns, sqs = clients.a("sns"), clients.a("sqs")
    topic = sns.create_topic(Name=_uid("t"))["TopicArn"]
    url, arn = _queue(sqs)                   # no policy
    dlq_url, dlq_arn = _queue(sqs)
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": dlq_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={
        "RawMessageDelivery": "true", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    sns.publish(TopicArn=topic, Message="refused")
    assert _receive(sqs, dlq_url)["Body"] == "refused"
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages") is None

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.publish(TopicArn=topic, Message="admitted")
    assert _receive(sqs, url)["Body"] == "admitted"


def test_task_credentials_in_dev_mode(server):
    """Dev mode (no credentials): nothing is evaluated, but the call is made in the
    task role's account and the history names the role, as at AWS."""
    sqs, sfn = server.client("sqs"), server.client("stepfunctions", config=Config(retries={"max_attempts": 1}))
    other = "210987654321"
    url = server.client("sqs", aws_access_key_id=other).create_queue(QueueName=_uid("q"))["QueueUrl"]
    role = f"arn:aws:iam::{other}:role/{_uid('task')}"
    definition = json.dumps({"StartAt": "Send", "States": {"Send": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Credentials": {"RoleArn": role},
        # a queue named by its name alone: resolved in the role's account
        "Parameters": {"QueueUrl": url.rsplit("/", 1)[1], "MessageBody": "in the role's account"}, "End": True}}})
    sm = sfn.create_state_machine(name=_uid("sm"), definition=definition,
                                  roleArn="arn:aws:iam::000000000000:role/any")["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "SUCCEEDED", _history(sfn, ex)
    [sched] = [e for e in _history(sfn, ex) if e["type"] == "TaskScheduled"]
    assert sched["taskScheduledEventDetails"]["taskCredentials"] == {"roleArn": role}
    other_sqs = server.client("sqs", aws_access_key_id=other)
    got = other_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert got[0]["Body"] == "in the role's account"
    # the same name in the execution's own account is another queue, left empty
    assert f"/{other}/" in url
    own = sqs.create_queue(QueueName=url.rsplit("/", 1)[1])["QueueUrl"]
    assert own != url and sqs.receive_message(QueueUrl=own).get("Messages") is None


def test_task_credentials_start_a_machine_of_another_account_sync(clients):
    """A parent in A runs a child machine of B with .sync:2 through a role of B that
    trusts the parent's role (AWS's cross-account nested workflow)."""
    iam, sfn = clients.a("iam"), clients.a("stepfunctions")
    iam_b, sfn_b = clients.b("iam"), clients.b("stepfunctions")
    child = sfn_b.create_state_machine(name=_uid("child"), roleArn=_role(iam_b, "states.amazonaws.com"),
                                       definition=json.dumps({"StartAt": "P", "States": {"P": {
                                           "Type": "Pass", "Result": {"from": "B"}, "End": True}}}))[
        "stateMachineArn"]
    rule = f"arn:aws:events:us-east-1:{A}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
    exec_role = _role(iam, "states.amazonaws.com", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{B}:role/*"},
        {"Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
         "Resource": rule}]})
    task_role = _cross_account_role(iam_b, exec_role, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": child},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"],
         "Resource": f"arn:aws:states:us-east-1:{B}:execution:{child.rsplit(':', 1)[1]}:*"}]})
    sm = sfn.create_state_machine(name=_uid("sm"), roleArn=exec_role, definition=json.dumps({
        "StartAt": "Run", "States": {"Run": {
            "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Credentials": {"RoleArn": task_role}, "Parameters": {"StateMachineArn": child}, "End": True}}}))[
        "stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    d = _finished(sfn, ex)
    assert d["status"] == "SUCCEEDED", _history(sfn, ex)
    out = json.loads(d["output"])
    assert out["Output"] == {"from": "B"} and out["StateMachineArn"] == child
    assert sfn_b.describe_execution(executionArn=out["ExecutionArn"])["status"] == "SUCCEEDED"


def test_redriven_map_run_needs_redrive_execution(clients):
    iam, sfn = clients.a("iam"), clients.a("stepfunctions")
    role = _role(iam, "states.amazonaws.com")
    name = _uid("dmap")
    sm = sfn.create_state_machine(name=name, roleArn=role, definition=json.dumps({"StartAt": "Map", "States": {
        "Map": {"Type": "Map", "ItemsPath": "$.items", "End": True,
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                  "StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom"}}}}}}))[
        "stateMachineArn"]
    children = f"arn:aws:states:us-east-1:{A}:execution:{name}/*"

    def grant(*extra):
        iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "states:StartExecution", "Resource": sm},
                {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution", *extra],
                 "Resource": children}]}))
    grant()
    ex = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": [1, 2]}))["executionArn"]
    assert _finished(sfn, ex)["error"] == "States.ExceedToleratedFailureThreshold"
    [run] = sfn.list_map_runs(executionArn=ex)["mapRuns"]

    def redriven(count):
        sfn.redrive_execution(executionArn=ex)
        return wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" and d.get("redriveCount") == count
                                 else None)(sfn.describe_execution(executionArn=ex)), 20, what="redriven run")
    d = redriven(1)
    assert d["error"] == "States.Runtime"
    assert "is not authorized to perform: states:RedriveExecution on resource:" in d["cause"]
    kids = sfn.list_executions(mapRunArn=run["mapRunArn"])["executions"]
    assert all(sfn.describe_execution(executionArn=k["executionArn"]).get("redriveCount", 0) == 0 for k in kids)

    grant("states:RedriveExecution")
    d = redriven(2)
    assert d["error"] == "States.ExceedToleratedFailureThreshold"
    assert all(sfn.describe_execution(executionArn=k["executionArn"])["redriveCount"] == 1 for k in kids)
