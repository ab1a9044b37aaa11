"""Alarm actions: an SNS notification per topic in the new state's action list,
sent as a durable delivery (broker/runtime/sinks.py) in AWS's message format,
with the outcome recorded in the alarm's history."""

from __future__ import annotations

import json
import logging

from broker.runtime import sinks
from services.cloudwatch.alarmeval import iso

log = logging.getLogger("broker.cloudwatch")

KIND_SNS = "cloudwatch.sns"
KIND_FAILED = "cloudwatch.action-failed"
RETRY = sinks.policy(immediate=2, backoff=(5, 1.0, 20.0, "exponential"), max_age_s=3600)

REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)", "af-south-1": "Africa (Cape Town)", "ap-east-1": "Asia Pacific (Hong Kong)",
    "ap-south-1": "Asia Pacific (Mumbai)", "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)", "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-southeast-1": "Asia Pacific (Singapore)", "ap-southeast-2": "Asia Pacific (Sydney)",
    "ca-central-1": "Canada (Central)", "eu-central-1": "EU (Frankfurt)", "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)", "eu-west-3": "EU (Paris)", "eu-north-1": "EU (Stockholm)",
    "eu-south-1": "EU (Milan)", "me-south-1": "Middle East (Bahrain)", "sa-east-1": "South America (Sao Paulo)",
}

_LISTS = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}


def region_name(region: str) -> str:
    return REGION_NAMES.get(region, region)


def message(rec: dict, old_state: str) -> dict:
    cfg, st = rec["cfg"], rec["state"]
    msg = {"AlarmName": rec["name"], "AlarmDescription": cfg.get("AlarmDescription"),
           "AWSAccountId": rec["account"], "AlarmConfigurationUpdatedTimestamp": iso(rec["config_updated"]),
           "NewStateValue": st["value"], "NewStateReason": st["reason"], "StateChangeTime": iso(st["updated"]),
           "Region": region_name(rec["region"]), "AlarmArn": rec["arn"], "OldStateValue": old_state,
           "OKActions": cfg.get("OKActions", []), "AlarmActions": cfg.get("AlarmActions", []),
           "InsufficientDataActions": cfg.get("InsufficientDataActions", [])}
    if rec["type"] == "CompositeAlarm":
        msg["AlarmRule"] = cfg.get("AlarmRule")
        return msg
    trigger: dict = {}
    if cfg.get("Metrics"):
        trigger["Metrics"] = cfg["Metrics"]
    else:
        trigger.update({"MetricName": cfg.get("MetricName"), "Namespace": cfg.get("Namespace"),
                        "StatisticType": "ExtendedStatistic" if cfg.get("ExtendedStatistic") else "Statistic",
                        "Statistic": (cfg.get("ExtendedStatistic") or cfg.get("Statistic") or "").upper()
                        if not cfg.get("ExtendedStatistic") else cfg["ExtendedStatistic"],
                        "Unit": cfg.get("Unit"),
                        "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in cfg.get("Dimensions", [])],
                        "Period": cfg.get("Period")})
    trigger.update({"EvaluationPeriods": cfg.get("EvaluationPeriods"),
                    "DatapointsToAlarm": cfg.get("DatapointsToAlarm", cfg.get("EvaluationPeriods")),
                    "ComparisonOperator": cfg.get("ComparisonOperator"), "Threshold": cfg.get("Threshold"),
                    "TreatMissingData": cfg.get("TreatMissingData", "missing"),
                    "EvaluateLowSampleCountPercentile": cfg.get("EvaluateLowSampleCountPercentile", "")})
    msg["Trigger"] = trigger
    return msg


def fire(alarms, rec: dict, old_state: str, now: float) -> None:
    """Submit the actions configured for the alarm's new state."""
    arns = rec["cfg"].get(_LISTS[rec["state"]["value"]]) or []
    if not arns:
        return
    body = {"subject": f'{rec["state"]["value"]}: "{rec["name"]}" in {region_name(rec["region"])}',
            "message": json.dumps(message(rec, old_state), separators=(",", ":"))}
    d = sinks.deliveries(alarms.part)
    for arn in arns:
        parts = arn.split(":")
        where = {"account": rec["account"], "region": rec["region"], "alarm": rec["name"], "arn": arn}
        if len(parts) >= 6 and parts[2] == "sns":
            d.submit(KIND_SNS, {**where, "topic": arn}, body, policy=RETRY,
                     dlq={"kind": KIND_FAILED, "target": where}, meta={"source": rec["arn"]})
        else:
            alarms.history(rec, "Action", f"Failed to execute action {arn}. Received error: "
                           "\"This broker runs only SNS actions\"",
                           {"actionState": "Failed", "notificationResource": arn,
                            "error": "This broker runs only SNS actions"}, now)


def _alarms_of(delivery):
    svc = delivery.partition.services.get("cloudwatch")
    return getattr(svc, "alarms", None)


def _record(delivery, target: dict, ok: bool, detail: str) -> None:
    import time
    alarms = _alarms_of(delivery)
    if alarms is None:
        return
    rec = alarms.get(target["account"], target["region"], target["alarm"])
    if rec is None:
        return
    arn = target["arn"]
    if ok:
        summary = f"Successfully executed action {arn}"
        data = {"actionState": "Succeeded", "notificationResource": arn, "stateUpdateTimestamp":
                int(rec["state"]["updated"] * 1000), "publishedMessage": detail}
    else:
        summary = f"Failed to execute action {arn}. Received error: \"{detail}\""
        data = {"actionState": "Failed", "notificationResource": arn, "error": detail}
    alarms.history(rec, "Action", summary, data, time.time())


async def _sns(delivery) -> None:
    from services.errors import ServiceError
    from services.internal import caller
    t = delivery.target
    topic_region = t["topic"].split(":")[3] or t["region"]
    topic_account = t["topic"].split(":")[4] or t["account"]
    try:
        out = await caller(delivery.partition.shard).call(
            "sns", "Publish", {"TopicArn": t["topic"], "Subject": delivery.body["subject"],
                               "Message": delivery.body["message"]},
            account=topic_account, region=topic_region,
            source_arn=f"arn:aws:cloudwatch:{t['region']}:{t['account']}:alarm:{t['alarm']}")
    except ServiceError as exc:
        retry = exc.status >= 500 and exc.code != "NotImplemented"
        raise sinks.Failed(exc.message, retry, exc.code, exc.status) from None
    except Exception as exc:
        raise sinks.Failed(str(exc), True, type(exc).__name__) from None
    _record(delivery, t, True, (out or {}).get("MessageId", ""))


async def _failed(delivery) -> None:
    error = (delivery.meta or {}).get("error") or {}
    _record(delivery, delivery.target, False, error.get("reason") or "delivery failed")


sinks.register_kind(KIND_SNS, _sns)
sinks.register_kind(KIND_FAILED, _failed)
