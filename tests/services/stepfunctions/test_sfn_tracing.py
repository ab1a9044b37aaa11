"""X-Ray tracing of executions: a traced machine records its execution segment and one
subsegment per state, joins the caller's trace, and passes the trace on to the services its
tasks call (their segments hang under the task's subsegment; SQS keeps it as AWSTraceHeader)."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.services.stepfunctions._helpers import ROLE, name, wait_done, wait_until


@pytest.fixture(scope="module")
def xray(server):
    return server.client("xray")


def _traced_machine(sfn, queue_url: str) -> tuple[str, str]:
    sm_name = name("traced")
    arn = sfn.create_state_machine(name=sm_name, roleArn=ROLE, tracingConfiguration={"enabled": True},
                                   definition=json.dumps({"StartAt": "Prep", "States": {
                                       "Prep": {"Type": "Pass", "Result": "hello", "Next": "Send"},
                                       "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                                                "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "$"},
                                                "End": True}}}))["stateMachineArn"]
    return sm_name, arn


def _documents(xray, root: str, done):
    traces = xray.batch_get_traces(TraceIds=[root])["Traces"]
    docs = [json.loads(s["Document"]) for s in traces[0]["Segments"]] if traces else []
    return docs if done(docs) else None


def _complete(docs) -> bool:
    machine = [d for d in docs if d.get("origin") == "AWS::StepFunctions::StateMachine"]
    return bool(machine) and "end_time" in machine[0] and any(d.get("aws", {}).get("operation") == "SendMessage"
                                                              for d in docs)


def test_execution_segments_and_propagation(sfn, sqs, xray):
    q = sqs.create_queue(QueueName=name("traced"))["QueueUrl"]
    sm_name, sm = _traced_machine(sfn, q)
    ex = sfn.start_execution(stateMachineArn=sm)["executionArn"]
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
    header = sfn.describe_execution(executionArn=ex)["traceHeader"]
    root = dict(p.split("=", 1) for p in header.split(";"))["Root"]
    docs = wait_until(lambda: _documents(xray, root, _complete), 15, what="the execution's segments")
    [machine] = [d for d in docs if d.get("origin") == "AWS::StepFunctions::StateMachine"]
    assert machine["name"] == sm_name and machine["aws"]["execution_arn"] == ex and "in_progress" not in machine
    assert machine["trace_id"] == root and "parent_id" not in machine and not machine.get("error")
    states = {d["name"]: d for d in docs if d.get("type") == "subsegment"}
    assert set(states) == {"Prep", "Send"} and {d["parent_id"] for d in states.values()} == {machine["id"]}
    assert states["Prep"]["start_time"] <= states["Prep"]["end_time"] <= states["Send"]["end_time"]
    [call] = [d for d in docs if d.get("aws", {}).get("operation") == "SendMessage"]
    assert call["parent_id"] == states["Send"]["id"] and call["origin"] == "AWS::SQS::Queue"
    msg = sqs.receive_message(QueueUrl=q, MessageSystemAttributeNames=["AWSTraceHeader"])["Messages"][0]
    assert msg["Attributes"]["AWSTraceHeader"] == f"Root={root};Parent={states['Send']['id']};Sampled=1"


def test_execution_joins_the_callers_trace(sfn, sqs, xray):
    q = sqs.create_queue(QueueName=name("traced"))["QueueUrl"]
    _sm_name, sm = _traced_machine(sfn, q)
    root, parent = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}", os.urandom(8).hex()
    ex = sfn.start_execution(stateMachineArn=sm, traceHeader=f"Root={root};Parent={parent};Sampled=1")["executionArn"]
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
    docs = wait_until(lambda: _documents(xray, root, _complete), 15, what="the execution's segments")
    [machine] = [d for d in docs if d.get("origin") == "AWS::StepFunctions::StateMachine"]
    assert machine["parent_id"] == parent and machine["aws"]["execution_arn"] == ex


def test_untraced_machine_passes_the_header_on_unchanged(sfn, sqs):
    q = sqs.create_queue(QueueName=name("untraced"))["QueueUrl"]
    sm = sfn.create_state_machine(name=name("untraced"), roleArn=ROLE, definition=json.dumps({
        "StartAt": "Send", "States": {"Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                                               "Parameters": {"QueueUrl": q, "MessageBody": "x"}, "End": True}}}))[
        "stateMachineArn"]
    header = f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=1"
    ex = sfn.start_execution(stateMachineArn=sm, traceHeader=header)["executionArn"]
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
    assert sfn.describe_execution(executionArn=ex)["traceHeader"] == header
    msg = sqs.receive_message(QueueUrl=q, MessageSystemAttributeNames=["AWSTraceHeader"])["Messages"][0]
    assert msg["Attributes"]["AWSTraceHeader"] == header
