"""PutEvents end to end: limits, per-entry errors, rule -> target -> SQS, inputs, FIFO,
bus to bus, retries into the dead-letter queue."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from tests.services.events._helpers import error, quiet, receive, rule_to_queue, uid

ACCOUNT = "000000000000"


def entry(source: str, detail: dict | None = None, bus: str | None = None, **kw) -> dict:
    e = {"Source": source, "DetailType": "Order Placed", "Detail": json.dumps(detail or {"n": 1}), **kw}
    if bus:
        e["EventBusName"] = bus
    return e


def test_event_reaches_queue_in_aws_shape(events, sqs, queue):
    url, arn = queue()
    src = uid("app")
    rule_to_queue(events, arn, {"source": [src]})
    t = datetime(2024, 5, 1, 12, 30, 5, tzinfo=timezone.utc)
    out = events.put_events(Entries=[entry(src, {"order": 7}, Resources=["arn:aws:x:1"], Time=t)])
    assert out["FailedEntryCount"] == 0
    eid = out["Entries"][0]["EventId"]
    [m] = receive(sqs, url, 1)
    body = json.loads(m["Body"])
    assert body == {"version": "0", "id": eid, "detail-type": "Order Placed", "source": src, "account": ACCOUNT,
                    "time": "2024-05-01T12:30:05Z", "region": "us-east-1", "resources": ["arn:aws:x:1"],
                    "detail": {"order": 7}}
    assert list(body) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                          "detail"]


def test_per_entry_errors_and_order(events, sqs, queue):
    url, arn = queue()
    src = uid("app")
    rule_to_queue(events, arn, {"source": [src]})
    out = events.put_events(Entries=[
        entry(src, {"i": 0}),
        {"DetailType": "x", "Detail": "{}"},
        {"Source": src, "Detail": "{}"},
        {"Source": src, "DetailType": "x"},
        {"Source": src, "DetailType": "x", "Detail": "[1, 2]"},
        {"Source": src, "DetailType": "x", "Detail": "not json"},
        {"Source": "aws.ec2", "DetailType": "x", "Detail": "{}"},
        entry(src, {"i": 7}),
    ])
    assert out["FailedEntryCount"] == 6
    e = out["Entries"]
    assert "EventId" in e[0] and "EventId" in e[7]
    assert e[1] == {"ErrorCode": "InvalidArgument",
                    "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument."}
    assert e[2] == {"ErrorCode": "InvalidArgument",
                    "ErrorMessage": "Parameter DetailType is not valid. Reason: DetailType is a required argument."}
    assert e[3] == {"ErrorCode": "InvalidArgument",
                    "ErrorMessage": "Parameter Detail is not valid. Reason: Detail is a required argument."}
    assert e[4] == e[5] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert e[6] == {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."}
    got = sorted(json.loads(m["Body"])["detail"]["i"] for m in receive(sqs, url, 2))
    assert got == [0, 7]


def test_request_limits(events):
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[entry("app")] * 11)
    code, message = error(e)
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value ") and message.endswith(
        "at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10")
    big = {"pad": "x" * (256 * 1024)}
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[entry("app", big)])
    assert error(e) == ("ValidationException", "Total size of the entries in the request is over the limit.")
    # 5 x 200 KB is over the 1 MB request limit, though each entry is under 256 KB
    part = {"pad": "x" * (200 * 1024)}
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[entry("app", part)] * 6)
    assert error(e) == ("ValidationException", "Total size of the entries in the request is over the limit.")
    assert events.put_events(Entries=[entry("app", part)] * 4)["FailedEntryCount"] == 0


def test_nonexistent_bus_is_accepted_and_dropped(events, sqs, queue):
    url, arn = queue()
    src = uid("app")
    rule_to_queue(events, arn, {"source": [src]})
    out = events.put_events(Entries=[entry(src, {"where": "default"}), entry(src, bus=uid("nobus"))])
    assert out["FailedEntryCount"] == 0 and all("EventId" in e for e in out["Entries"])
    msgs = receive(sqs, url, 1) + quiet(sqs, url, 1.0)
    assert [json.loads(m["Body"])["detail"] for m in msgs] == [{"where": "default"}]


def test_disabled_rule_and_several_matching_rules(events, sqs, queue, bus):
    b = bus()
    url, arn = queue()
    src = uid("app")
    r1 = rule_to_queue(events, arn, {"source": [src]}, bus=b)
    r2 = rule_to_queue(events, arn, {"detail": {"n": [{"numeric": [">", 0]}]}, "source": [src]}, bus=b,
                       Input='{"from": "r2"}')
    events.put_events(Entries=[entry(src, {"n": 5}, bus=b)])
    bodies = sorted(m["Body"] for m in receive(sqs, url, 2))
    assert len(bodies) == 2 and '{"from": "r2"}' in bodies
    events.disable_rule(Name=r1, EventBusName=b)
    events.put_events(Entries=[entry(src, {"n": 5}, bus=b)])
    assert [m["Body"] for m in receive(sqs, url, 1)] == ['{"from": "r2"}']
    assert quiet(sqs, url, 1.0) == []
    del r2


def test_input_path_and_transformer(events, sqs, queue):
    url, arn = queue()
    src = uid("app")
    rule = uid("rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [src]}))
    events.put_targets(Rule=rule, Targets=[
        {"Id": "path", "Arn": arn, "InputPath": "$.detail.payload"},
        {"Id": "str", "Arn": arn, "InputTransformer": {
            "InputPathsMap": {"user": "$.detail.payload.user", "tags": "$.detail.tags", "ok": "$.detail.ok",
                              "none": "$.detail.missing"},
            "InputTemplate": '"user <user> tags <tags> ok <ok> none [<none>] rule <aws.events.rule-name>"'}},
        {"Id": "json", "Arn": arn, "InputTransformer": {
            "InputPathsMap": {"user": "$.detail.payload.user", "payload": "$.detail.payload", "tags": "$.detail.tags"},
            "InputTemplate": '{"user": <user>, "path": "users/<user>", "payload": <payload>, "tags": <tags>, '
                             '"arn": "<aws.events.rule-arn>", "event": <aws.events.event>}'}},
    ])
    detail = {"payload": {"user": "u-1", "n": 2}, "tags": ["a", "b"], "ok": True}
    eid = events.put_events(Entries=[entry(src, detail)])["Entries"][0]["EventId"]
    bodies = [m["Body"] for m in receive(sqs, url, 3)]
    assert '{"user": "u-1", "n": 2}' in bodies
    assert f'"user u-1 tags [a,b] ok true none [] rule {rule}"' in bodies
    [doc] = [json.loads(b) for b in bodies if b.startswith("{") and "path" in b]
    assert doc["user"] == "u-1" and doc["path"] == "users/u-1" and doc["payload"] == detail["payload"]
    assert doc["tags"] == ["a", "b"] and doc["arn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{rule}"
    assert doc["event"]["id"] == eid and doc["event"]["detailType"] == "Order Placed" and "detail" not in doc["event"]
    events.remove_targets(Rule=rule, Ids=["path", "str", "json"])
    events.delete_rule(Name=rule)


def test_fifo_queue_target_keeps_order_per_group(events, sqs, queue):
    url, arn = queue(fifo=True)
    src = uid("app")
    rule_to_queue(events, arn, {"source": [src]}, SqsParameters={"MessageGroupId": "g1"})
    for i in range(5):
        events.put_events(Entries=[entry(src, {"i": i})])
    msgs = receive(sqs, url, 5, AttributeNames=["All"])
    assert [json.loads(m["Body"])["detail"]["i"] for m in msgs] == [0, 1, 2, 3, 4]
    assert {m["Attributes"]["MessageGroupId"] for m in msgs} == {"g1"}


def test_bus_to_bus(events, sqs, queue, bus):
    src_bus, dst_bus = bus(), bus()
    url, arn = queue()
    source = uid("app")
    rule_to_queue(events, arn, {"source": [source]}, bus=dst_bus)
    fwd = uid("fwd")
    events.put_rule(Name=fwd, EventBusName=src_bus, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=fwd, EventBusName=src_bus, Targets=[
        {"Id": "bus", "Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{dst_bus}"}])
    eid = events.put_events(Entries=[entry(source, {"hop": 1}, bus=src_bus)])["Entries"][0]["EventId"]
    [m] = receive(sqs, url, 1)
    body = json.loads(m["Body"])
    assert body["id"] == eid and body["detail"] == {"hop": 1}


def test_cross_account_forwarding_allows_one_hop(server, events, sqs, queue):
    """account A -> account B -> account C: B's forward is a third-account hop and is dead-lettered."""
    acct_b, acct_c = "111111111111", "222222222222"
    ev_b = server.client("events", aws_access_key_id=acct_b)
    ev_c = server.client("events", aws_access_key_id=acct_c)
    sqs_b = server.client("sqs", aws_access_key_id=acct_b)
    name_b, name_c = uid("busb"), uid("busc")
    ev_b.create_event_bus(Name=name_b)
    ev_c.create_event_bus(Name=name_c)
    url_b = sqs_b.create_queue(QueueName=uid("qb"))["QueueUrl"]
    arn_b = sqs_b.get_queue_attributes(QueueUrl=url_b, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dlq_url, dlq_arn = queue()
    source = uid("app")
    rule_to_queue(ev_b, arn_b, {"source": [source]}, bus=name_b)
    to_c = uid("toc")
    ev_b.put_rule(Name=to_c, EventBusName=name_b, EventPattern=json.dumps({"source": [source]}))
    ev_b.put_targets(Rule=to_c, EventBusName=name_b, Targets=[{
        "Id": "c", "Arn": f"arn:aws:events:us-east-1:{acct_c}:event-bus/{name_c}",
        "DeadLetterConfig": {"Arn": dlq_arn}}])
    to_b = uid("tob")
    events.put_rule(Name=to_b, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=to_b, Targets=[{"Id": "b", "Arn": f"arn:aws:events:us-east-1:{acct_b}:event-bus/{name_b}"}])
    events.put_events(Entries=[entry(source, {"x": 1})])
    [m] = receive(sqs_b, url_b, 1)
    assert json.loads(m["Body"])["account"] == ACCOUNT
    [dead] = receive(sqs, dlq_url, 1, MessageAttributeNames=["All"])
    attrs = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "THIRD_ACCOUNT_HOP_DETECTED"
    assert attrs["RULE_ARN"] == f"arn:aws:events:us-east-1:{acct_b}:rule/{name_b}/{to_c}"
    events.remove_targets(Rule=to_b, Ids=["b"])
    events.delete_rule(Name=to_b)


def test_failing_target_goes_to_dead_letter_queue(events, sqs, queue):
    dlq_url, dlq_arn = queue()
    src = uid("app")
    gone = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{uid('deleted')}"
    rule = rule_to_queue(events, gone, {"source": [src]}, DeadLetterConfig={"Arn": dlq_arn},
                         RetryPolicy={"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60})
    eid = events.put_events(Entries=[entry(src, {"lost": True})])["Entries"][0]["EventId"]
    [m] = receive(sqs, dlq_url, 1, MessageAttributeNames=["All"])
    body = json.loads(m["Body"])
    assert body["id"] == eid and body["detail"] == {"lost": True}
    attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
    assert attrs["RULE_ARN"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{rule}"
    assert attrs["TARGET_ARN"] == gone
    assert attrs["ERROR_CODE"] == "NO_RESOURCE"
    assert "AWS.SimpleQueueService.NonExistentQueue" in attrs["ERROR_MESSAGE"] or \
        "QueueDoesNotExist" in attrs["ERROR_MESSAGE"]
    assert attrs["RETRY_ATTEMPTS"] == "0" and "EXHAUSTED_RETRY_CONDITION" not in attrs


def test_retryable_failures_exhaust_the_retry_policy(server, events, sqs, queue):
    """An API destination answering 503 is retried under the RetryPolicy, then dead-lettered
    with EXHAUSTED_RETRY_CONDITION."""
    import http.server
    import threading

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(503)
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        conn = events.create_connection(Name=uid("c"), AuthorizationType="API_KEY", AuthParameters={
            "ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "v"}})
        dest = events.create_api_destination(Name=uid("d"), ConnectionArn=conn["ConnectionArn"],
                                             InvocationEndpoint=f"http://127.0.0.1:{httpd.server_port}/hook",
                                             HttpMethod="POST")
        dlq_url, dlq_arn = queue()
        src = uid("app")
        rule_to_queue(events, dest["ApiDestinationArn"], {"source": [src]}, DeadLetterConfig={"Arn": dlq_arn},
                      RetryPolicy={"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60})
        events.put_events(Entries=[entry(src)])
        [m] = receive(sqs, dlq_url, 1, timeout=30, MessageAttributeNames=["All"])
        attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
        assert attrs["ERROR_CODE"] == "ERROR_FROM_TARGET"
        assert attrs["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
        assert attrs["RETRY_ATTEMPTS"] == "2"
        assert len(hits) == 3
    finally:
        httpd.shutdown()
