"""X-Ray: segments sent by clients, segments the broker records for traced calls, and a
traced SNS -> SQS -> receive chain read back as one trace."""

from __future__ import annotations

import json
import os
import time

import botocore.exceptions
import pytest

from tests.helpers.brokerproc import wait_for


def trace_id() -> str:
    return f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def seg_id() -> str:
    return os.urandom(8).hex()


@pytest.fixture(scope="module")
def xray(server):
    return server.client("xray")


def traced(client, header: str):
    """`client` sending X-Amzn-Trace-Id on every request (as the X-Ray SDK does)."""
    def add(request, **kw):
        request.headers["X-Amzn-Trace-Id"] = header
    client.meta.events.register("before-sign.*.*", add)
    return client


def _segments(xray, tid, n):
    traces = xray.batch_get_traces(TraceIds=[tid])["Traces"]
    if traces and len(traces[0]["Segments"]) >= n:
        return [json.loads(s["Document"]) for s in traces[0]["Segments"]]


def test_put_trace_segments_and_read_them_back(xray):
    tid, root, child = trace_id(), seg_id(), seg_id()
    now = time.time()
    docs = [
        {"name": "web", "id": root, "trace_id": tid, "start_time": now - 1, "end_time": now, "origin": "AWS::EC2::Instance",
         "http": {"request": {"method": "GET", "url": "https://example.com/x"}, "response": {"status": 500}},
         "fault": True, "annotations": {"customer": "acme"},
         "subsegments": [{"id": seg_id(), "name": "DynamoDB", "namespace": "aws", "start_time": now - 0.5,
                          "end_time": now - 0.4}]},
        {"name": "worker", "id": child, "trace_id": tid, "parent_id": root, "start_time": now - 0.8,
         "end_time": now - 0.2},
    ]
    bad = [json.dumps({"name": "x", "id": "nothex", "trace_id": tid, "start_time": now, "end_time": now}),
           json.dumps({"name": "x", "id": seg_id(), "trace_id": "1-bad", "start_time": now, "end_time": now}),
           json.dumps({"id": seg_id(), "trace_id": tid, "start_time": now, "end_time": now}),
           json.dumps({"name": "x", "id": seg_id(), "trace_id": tid, "start_time": now}), "{not json"]
    out = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in docs] + bad)
    assert [u["ErrorCode"] for u in out["UnprocessedTraceSegments"]] == [
        "InvalidId", "InvalidTraceId", "MissingName", "MissingEndTime", "ParseError"]
    segs = wait_for(lambda: _segments(xray, tid, 2), 10, what="both segments")
    assert {s["name"] for s in segs} == {"web", "worker"}
    [t] = xray.batch_get_traces(TraceIds=[tid, trace_id()])["Traces"]
    assert t["Id"] == tid and abs(t["Duration"] - 1.0) < 0.01
    summaries = xray.get_trace_summaries(StartTime=now - 60, EndTime=now + 60,
                                         FilterExpression='service("web") AND fault')["TraceSummaries"]
    s = next(x for x in summaries if x["Id"] == tid)
    assert s["HasFault"] is True and s["Http"]["HttpStatus"] == 500 and s["Http"]["HttpMethod"] == "GET"
    assert s["Annotations"]["customer"][0]["AnnotationValue"] == {"StringValue": "acme"}
    assert {x["Name"] for x in s["ServiceIds"]} == {"web", "worker"}
    assert not [x for x in xray.get_trace_summaries(StartTime=now - 60, EndTime=now + 60,
                                                    FilterExpression="annotation.customer = \"other\"")
                ["TraceSummaries"] if x["Id"] == tid]
    graph = xray.get_trace_graph(TraceIds=[tid])["Services"]
    by_name = {n["Name"]: n for n in graph}
    web, worker, ddb = by_name["web"], by_name["worker"], by_name["DynamoDB"]
    assert {e["ReferenceId"] for e in web["Edges"]} == {worker["ReferenceId"], ddb["ReferenceId"]}
    assert web["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        xray.get_trace_summaries(StartTime=now, EndTime=now - 10)
    assert ei.value.response["Error"]["Code"] == "InvalidRequestException"


def test_traced_sqs_call_is_recorded_and_header_stored(server, xray):
    tid, parent = trace_id(), seg_id()
    header = f"Root={tid};Parent={parent};Sampled=1"
    sqs = traced(server.client("sqs"), header)
    url = sqs.create_queue(QueueName=f"traced-{seg_id()}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    segs = wait_for(lambda: _segments(xray, tid, 2), 10, what="segments of the traced calls")
    send = next(s for s in segs if s["aws"]["operation"] == "SendMessage")
    assert send["parent_id"] == parent and send["origin"] == "AWS::SQS::Queue" and send["name"] == url.rsplit("/", 1)[1]
    assert send["aws"]["queue_url"] == url and send["http"]["response"]["status"] == 200
    msg = server.client("sqs").receive_message(QueueUrl=url, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert msg["Messages"][0]["Attributes"]["AWSTraceHeader"] == header
    unsampled = trace_id()
    traced(server.client("sqs"), f"Root={unsampled};Parent={parent};Sampled=0").send_message(QueueUrl=url,
                                                                                            MessageBody="no")
    graph = xray.get_service_graph(StartTime=time.time() - 60, EndTime=time.time() + 5)["Services"]
    assert any(n["Type"] == "AWS::SQS::Queue" for n in graph)
    time.sleep(0)
    assert xray.batch_get_traces(TraceIds=[unsampled])["Traces"] == []


def test_trace_survives_sns_to_sqs(server, xray):
    sns, sqs = server.client("sns"), server.client("sqs")
    try:
        topic = sns.create_topic(Name=f"traced-{seg_id()}")["TopicArn"]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NotImplemented":
            pytest.skip("SNS is not implemented in this build")
        raise
    url = sqs.create_queue(QueueName=f"traced-sub-{seg_id()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    tid, parent = trace_id(), seg_id()
    traced(server.client("sns"), f"Root={tid};Parent={parent};Sampled=1").publish(TopicArn=topic, Message="m")

    def received():
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                   MessageSystemAttributeNames=["AWSTraceHeader"]).get("Messages", [])
        return msgs and msgs[0]
    m = wait_for(received, 15, what="the fanned-out message")
    assert m["Attributes"]["AWSTraceHeader"].startswith(f"Root={tid}")
    segs = wait_for(lambda: _segments(xray, tid, 2), 10, what="the SNS and SQS segments of one trace")
    origins = {s["origin"] for s in segs}
    assert {"AWS::SNS::Topic", "AWS::SQS::Queue"} <= origins
    assert {s["trace_id"] for s in segs} == {tid}
    summary = [x for x in xray.get_trace_summaries(StartTime=time.time() - 60, EndTime=time.time() + 5)
               ["TraceSummaries"] if x["Id"] == tid]
    assert summary and {"AWS::SNS::Topic", "AWS::SQS::Queue"} <= {x["Type"] for x in summary[0]["ServiceIds"]}
