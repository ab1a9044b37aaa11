"""Segments the broker records for traced requests (X-Amzn-Trace-Id), as AWS's
own services do: one segment per call to a service, in the caller's trace,
child of the caller's segment (``Parent``). Queued through telemetry.segment
and shipped once a second to the account's X-Ray partition.

Also recorded: service-to-service calls that carry a trace header (SNS
delivering to SQS, EventBridge to its targets, Step Functions tasks), so a
traced chain such as SNS Publish -> SQS -> receive reads as one trace.
"""

from __future__ import annotations

import os
import re
import time
from urllib.parse import urlparse

from broker.runtime import telemetry

_ROOT = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
ORIGINS = {"sqs": "AWS::SQS::Queue", "sns": "AWS::SNS::Topic", "events": "AWS::Events",
           "stepfunctions": "AWS::StepFunctions::StateMachine", "states": "AWS::StepFunctions::StateMachine",
           "lambda": "AWS::Lambda", "kms": "AWS::KMS", "ses": "AWS::SES", "sesv2": "AWS::SES",
           "swf": "AWS::SWF", "scheduler": "AWS::Scheduler"}
NAMES = {"sqs": "SQS", "sns": "SNS", "events": "EventBridge", "stepfunctions": "STEPFUNCTIONS", "kms": "KMS",
         "ses": "SES", "sesv2": "SES", "swf": "SWF", "scheduler": "Scheduler", "cloudwatch": "CloudWatch",
         "logs": "CloudWatchLogs", "cloudtrail": "CloudTrail", "sts": "STS", "mq": "AmazonMQ"}


def parse_header(value: str | None) -> dict:
    """Root, Parent, Sampled of an X-Amzn-Trace-Id header ({} when absent or malformed)."""
    if not value:
        return {}
    out = {}
    for part in value.split(";"):
        k, _, v = part.strip().partition("=")
        if k:
            out[k] = v
    if not _ROOT.match(out.get("Root", "")):
        return {}
    return out


def new_id() -> str:
    return os.urandom(8).hex()


def _resource(service: str, params: dict | None) -> tuple[str | None, dict]:
    p = params or {}
    if service == "sqs" and p.get("QueueUrl"):
        return urlparse(p["QueueUrl"]).path.rstrip("/").rsplit("/", 1)[-1], {"queue_url": p["QueueUrl"]}
    if service == "sns" and (p.get("TopicArn") or p.get("TargetArn")):
        arn = p.get("TopicArn") or p.get("TargetArn")
        return arn.rsplit(":", 1)[-1], {"topic_arn": arn}
    if service in ("stepfunctions", "states") and p.get("stateMachineArn"):
        return p["stateMachineArn"].rsplit(":", 1)[-1], {"state_machine_arn": p["stateMachineArn"]}
    if service == "events" and p.get("Entries"):
        bus = p["Entries"][0].get("EventBusName") or "default"
        return bus, {"event_bus_name": bus}
    return None, {}


def segment(service: str, operation: str, header: dict, start: float, end: float, *, region: str,
            account: str, request_id: str, params: dict | None, status: int | None, error_code: str | None,
            internal: bool = False) -> dict:
    name, aws_extra = _resource(service, params)
    doc = {"name": name or NAMES.get(service, service), "id": new_id(), "trace_id": header["Root"],
           "start_time": start, "end_time": end, "origin": ORIGINS.get(service, f"AWS::{NAMES.get(service, service)}"),
           "aws": {"operation": operation, "region": region, "request_id": request_id, "account_id": account,
                   **aws_extra}}
    if header.get("Parent"):
        doc["parent_id"] = header["Parent"]
    if status is not None:
        doc["http"] = {"response": {"status": status}}
        if status == 429:
            doc["throttle"] = True
            doc["error"] = True
        elif 400 <= status < 500:
            doc["error"] = True
        elif status >= 500:
            doc["fault"] = True
    elif error_code:
        doc["error"] = True
    if error_code:
        doc["cause"] = {"exceptions": [{"id": new_id(), "type": error_code}]}
    if internal:
        doc["inferred"] = False
        doc["aws"]["invoked_by"] = "broker"
    return doc


class Recorder:
    def __init__(self, gateway):
        self.gateway = gateway

    def observe(self, rec, req, conn, resp) -> None:
        ctx = rec.ctx
        header = parse_header(ctx.trace_header)
        if not header or header.get("Sampled") == "0":
            return
        end = time.time()
        start = end - (rec.elapsed or time.perf_counter() - rec.started)
        doc = segment(rec.service, rec.match.operation, header, start, end, region=ctx.region,
                      account=ctx.account_id, request_id=ctx.request_id, params=rec.params, status=resp.status,
                      error_code=rec.error.code if rec.error is not None else None)
        telemetry.segment(doc, account=ctx.account_id, region=ctx.region)


def observe_internal(ctx, params: dict, started: float, error) -> None:
    """services/internal.py hook: a service-to-service call that carries a trace header."""
    header = parse_header(ctx.trace_header)
    if not header or header.get("Sampled") == "0":
        return
    code = getattr(error, "code", None) if error is not None else None
    status = getattr(error, "status", 500) if error is not None else 200
    doc = segment(ctx.service, ctx.operation, header, started, time.time(), region=ctx.region,
                  account=ctx.account_id, request_id=ctx.request_id, params=params, status=status,
                  error_code=code, internal=True)
    telemetry.segment(doc, account=ctx.account_id, region=ctx.region)
