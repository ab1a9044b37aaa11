"""The services this build offers: shard halves and gateway halves."""

from __future__ import annotations

from broker.runtime.plugins import ShardService


def shard_services() -> list[ShardService]:
    from services.kms.shard import KmsShard
    out = [ShardService("kms", KmsShard)]
    try:
        from services.sqs.shard import SqsShard
    except ImportError:
        pass
    else:
        out.append(ShardService("sqs", SqsShard))
    return out


def gateway_apis(gateway) -> dict[str, object]:
    """botocore service name -> object with `async handle(ctx, operation, params) -> dict`."""
    from services.kms.api import KmsApi
    from services.sts.api import StsApi
    out = {"sts": StsApi(gateway), "kms": KmsApi(gateway)}
    try:
        from services.sqs.api import SqsApi
    except ImportError:
        pass
    else:
        out["sqs"] = SqsApi(gateway)
    return out


# Services whose requests the gateway recognises (model-driven routing), whether
# or not they are implemented yet: an unimplemented one answers with the
# protocol's error shape instead of a generic 404.
KNOWN_SERVICES = ["sqs", "sns", "kms", "sts", "events", "scheduler", "ses", "sesv2", "mq",
                  "stepfunctions", "swf", "mwaa", "cloudwatch", "logs", "iam", "cloudtrail"]
