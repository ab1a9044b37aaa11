"""Task `Resource` ARNs: activities, Lambda functions, optimized service
integrations (`arn:aws:states:::sqs:sendMessage[.waitForTaskToken]`) and AWS
SDK integrations (`arn:aws:states:::aws-sdk:sqs:sendMessage`).

The tables say which optimized integrations exist (and with which
patterns), which botocore service and operation each one calls, and how
Step Functions names that service in error names and causes.
"""

from __future__ import annotations

import re

_STATES_ARN = re.compile(r"^arn:(aws[a-z-]*):states:([a-z0-9-]*):(\d{12}|):(.+)$")
_ACTIVITY = re.compile(r"^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):activity:([^:]+)$")
_LAMBDA = re.compile(r"^arn:(aws[a-z-]*):lambda:([a-z0-9-]+):(\d{12}):function:([^:]+)(:[^:]+)?$")

RR, WAIT, SYNC, SYNC2 = None, "waitForTaskToken", "sync", "sync:2"

# service -> action -> patterns it supports (None = request-response)
OPTIMIZED: dict[str, dict[str, tuple]] = {
    "lambda": {"invoke": (RR, WAIT)},
    "sqs": {"sendMessage": (RR, WAIT)},
    "sns": {"publish": (RR, WAIT)},
    "events": {"putEvents": (RR, WAIT)},
    "states": {"startExecution": (RR, SYNC, SYNC2, WAIT)},
    "dynamodb": {"getItem": (RR,), "putItem": (RR,), "updateItem": (RR,), "deleteItem": (RR,)},
    "apigateway": {"invoke": (RR, WAIT)},
    "ecs": {"runTask": (RR, SYNC, WAIT)},
    "batch": {"submitJob": (RR, SYNC)},
    "glue": {"startJobRun": (RR, SYNC)},
    "athena": {"startQueryExecution": (RR, SYNC), "getQueryResults": (RR,), "getQueryExecution": (RR,),
               "stopQueryExecution": (RR,)},
    "codebuild": {"startBuild": (RR, SYNC), "stopBuild": (RR,), "batchDeleteBuilds": (RR,),
                  "batchGetReports": (RR,), "startBuildBatch": (RR, SYNC)},
    "eks": {"createCluster": (RR, SYNC), "deleteCluster": (RR, SYNC), "runJob": (RR, SYNC), "call": (RR,)},
    "bedrock": {"invokeModel": (RR,)},
    "http": {"invoke": (RR,)},
    "mediaconvert": {"createJob": (RR, SYNC)},
    "glue:databrew": {"startJobRun": (RR, SYNC)},
}

# optimized service -> (botocore service, service name in SDK v1 causes, error prefix)
OPTIMIZED_SERVICE = {
    "lambda": ("lambda", "AWSLambda", "Lambda"),
    "sqs": ("sqs", "AmazonSQS", "SQS"),
    "sns": ("sns", "AmazonSNS", "SNS"),
    "events": ("events", "AmazonEventBridge", "EventBridge"),
    "states": ("stepfunctions", "AWSStepFunctions", "StepFunctions"),
    "dynamodb": ("dynamodb", "AmazonDynamoDBv2", "DynamoDB"),
    "apigateway": ("apigateway", "AmazonApiGateway", "ApiGateway"),
    "ecs": ("ecs", "AmazonECS", "ECS"),
    "batch": ("batch", "AWSBatch", "Batch"),
    "glue": ("glue", "AWSGlue", "Glue"),
    "athena": ("athena", "AmazonAthena", "Athena"),
    "codebuild": ("codebuild", "AWSCodeBuild", "CodeBuild"),
    "eks": ("eks", "AmazonEKS", "EKS"),
    "bedrock": ("bedrock-runtime", "AmazonBedrockRuntime", "Bedrock"),
    "mediaconvert": ("mediaconvert", "AWSMediaConvert", "MediaConvert"),
}

# aws-sdk service names (AWS SDK for Java v2 modules) that differ from botocore's
SDK_TO_BOTOCORE = {"sfn": "stepfunctions", "eventbridge": "events", "cloudwatchlogs": "logs",
                   "cloudwatchevents": "events", "elasticloadbalancingv2": "elbv2", "sesv2": "sesv2"}
# aws-sdk error prefixes (Java v2 client names) where capitalisation is not the rule
SDK_PREFIX = {"sfn": "Sfn", "sqs": "Sqs", "sns": "Sns", "s3": "S3", "dynamodb": "DynamoDb", "eventbridge":
              "EventBridge", "secretsmanager": "SecretsManager", "cloudwatch": "CloudWatch", "cloudwatchlogs":
              "CloudWatchLogs", "kms": "Kms", "ses": "Ses", "sesv2": "SesV2", "mq": "Mq", "swf": "Swf",
              "mwaa": "Mwaa", "sts": "Sts", "iam": "Iam", "cloudtrail": "CloudTrail", "scheduler": "Scheduler",
              "xray": "XRay", "lambda": "Lambda"}


class ResourceError(ValueError):
    pass


class Resource:
    __slots__ = ("arn", "kind", "service", "action", "pattern", "region", "account", "name")

    def __init__(self, arn, kind, service=None, action=None, pattern=None, region=None, account=None, name=None):
        self.arn, self.kind, self.service, self.action, self.pattern = arn, kind, service, action, pattern
        self.region, self.account, self.name = region, account, name

    # names used in history events
    @property
    def resource_type(self) -> str:
        return f"aws-sdk:{self.service}" if self.kind == "sdk" else self.service

    @property
    def resource(self) -> str:
        return self.action + (f".{self.pattern}" if self.pattern else "")

    @property
    def botocore_service(self) -> str:
        if self.kind == "sdk":
            return SDK_TO_BOTOCORE.get(self.service, self.service)
        return OPTIMIZED_SERVICE.get(self.service, (self.service,))[0]

    @property
    def operation(self) -> str:
        return self.action[:1].upper() + self.action[1:]


def _not_recognized(arn: str) -> ResourceError:
    return ResourceError(f"The resource provided {arn} is not recognized. The value is not a valid resource ARN, or "
                         "the resource is not available in this region.")


def parse_resource(arn) -> Resource:
    if not isinstance(arn, str):
        raise ResourceError("The value for the field 'Resource' must be a STRING")
    m = _ACTIVITY.match(arn)
    if m:
        return Resource(arn, "activity", region=m.group(2), account=m.group(3), name=m.group(4))
    m = _LAMBDA.match(arn)
    if m:
        return Resource(arn, "lambda", service="lambda", region=m.group(2), account=m.group(3), name=m.group(4))
    m = _STATES_ARN.match(arn)
    if not m or m.group(2) or m.group(3):
        raise _not_recognized(arn)
    rest = m.group(4)
    if rest.startswith("aws-sdk:"):
        parts = rest.split(":")
        if len(parts) < 3 or not parts[1] or not parts[2]:
            raise _not_recognized(arn)
        service, action = parts[1], ":".join(parts[2:])
        pattern = None
        if action.endswith(".waitForTaskToken"):
            action, pattern = action[:-len(".waitForTaskToken")], WAIT
        if not re.fullmatch(r"[a-z][A-Za-z0-9]*", action) or not re.fullmatch(r"[a-z0-9]+", service):
            raise _not_recognized(arn)
        return Resource(arn, "sdk", service=service, action=action, pattern=pattern)
    service, _, action = rest.rpartition(":")
    pattern = None
    for p in (".sync:2", ".sync", ".waitForTaskToken"):
        if rest.endswith(p):
            service, _, action = rest[:-len(p)].rpartition(":")
            pattern = p[1:]
            break
    actions = OPTIMIZED.get(service)
    if actions is None or action not in actions or pattern not in actions[action]:
        raise _not_recognized(arn)
    return Resource(arn, "service", service=service, action=action, pattern=pattern)
