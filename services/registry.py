"""The services this build offers: the one list the composition point reads.

Each entry names a service's gateway half (``api``: a class built with the
gateway, with ``async handle(ctx, operation, params) -> dict``) and its shard
half (``shard``: built once per partition, ``op_<Name>`` methods), as
``"module:Class"`` strings. Gateway halves are imported and built on a
service's first request, so an idle server holds no machinery of services
nobody called. Add a service by adding one entry; an import error is an
error, never a silently missing service.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from broker.runtime.plugins import ShardService


@dataclass(frozen=True)
class Service:
    name: str                       # botocore service name (SigV4 signing name as routed)
    api: str | None = None          # "module:Class" gateway half
    shard: str | None = None        # "module:Class" shard half
    shard_name: str | None = None   # IPC op prefix of the shard half (default: name)
    config: str | None = None       # "module:ATTR" tuple of broker.runtime.config.Key
    # Admin/introspection paths this service answers on the HTTP listener (path
    # prefixes, e.g. "/_broker/sns/", "/_aws/sns/"), and "module:function":
    # `async handle(gateway, method, path, query: dict, headers: dict, body: bytes)`
    # -> None (not mine) or (status, content_type, body_bytes[, extra headers]).
    admin_paths: tuple[str, ...] = ()
    admin: str | None = None
    # "module:function" run once in every worker (gateway and shard) at start:
    # `hook(host)`, host being the Gateway or the Shard (process-wide wiring)
    process_hook: str | None = None
    # Prefixes of the entity, durable-timer and delivery kinds the shard half
    # writes (default "<shard name>."): a partition holding such records builds
    # the half at start; otherwise it is built on its first op.
    kinds: tuple[str, ...] = ()
    # Module declaring what each operation touches for IAM authorization (see
    # services/iam/declare/__init__.py); None: services/iam/declare's own table/default
    authorization: str | None = None


SERVICES: list[Service] = [
    Service("sts", api="services.sts.api:StsApi", config="services.sts.config:KEYS"),
    Service("iam", api="services.iam.api:IamApi", shard="services.iam.shard:IamShard",
            config="services.iam.config:KEYS", process_hook="services.iam.wiring:install"),
    Service("kms", api="services.kms.api:KmsApi", shard="services.kms.shard:KmsShard"),
    Service("sqs", api="services.sqs.api:SqsApi", shard="services.sqs.shard:SqsShard",
            admin_paths=("/_aws/sqs/",), admin="services.sqs.admin:handle"),
    Service("cloudwatch", api="services.cloudwatch.api:CloudWatchApi", shard="services.cloudwatch.shard:CloudWatchShard",
            config="services.cloudwatch.config:KEYS", admin_paths=("/_broker/metrics",),
            admin="services.cloudwatch.prometheus:handle", process_hook="services.cloudwatch.wiring:install",
            kinds=("cw.", "cloudwatch.")),
    Service("logs", api="services.logs.api:LogsApi", shard="services.logs.shard:LogsShard"),
    Service("cloudtrail", api="services.cloudtrail.api:CloudTrailApi", shard="services.cloudtrail.shard:CloudTrailShard",
            config="services.cloudtrail.config:KEYS", process_hook="services.cloudtrail.wiring:install",
            kinds=("ct.",)),
    Service("xray", api="services.xray.api:XRayApi", shard="services.xray.shard:XRayShard",
            process_hook="services.xray.wiring:install"),
    Service("sns", api="services.sns.api:SnsApi", shard="services.sns.shard:SnsShard",
            admin_paths=("/_broker/sns/", "/_aws/sns/"), admin="services.sns.admin:handle"),
    Service("mq", api="services.mq.api:MqApi", shard="services.mq.shard:MqShard", config="services.mq.config:KEYS",
            admin_paths=("/_broker/mq/",), admin="services.mq.admin:handle", process_hook="services.mq.wiring:install"),
    Service("stepfunctions", api="services.stepfunctions.api:StepFunctionsApi",
            shard="services.stepfunctions.shard:SfnShard", shard_name="sfn",
            config="services.stepfunctions.config:KEYS",
            admin_paths=("/_broker/stepfunctions/",), admin="services.stepfunctions.admin:handle"),
    Service("swf", api="services.swf.api:SwfApi", shard="services.swf.shard:SwfShard"),
    Service("ses", api="services.ses.api:SesApi", shard="services.ses.shard:SesShard", config="services.ses.config:KEYS",
            admin_paths=("/_broker/ses/", "/_aws/ses", "/_ses/"), admin="services.ses.admin:handle"),
    Service("sesv2", api="services.ses.apiv2:SesV2Api"),
    Service("events", api="services.events.api:EventsApi", shard="services.events.shard:EventsShard",
            config="services.events.config:KEYS", admin_paths=("/_broker/events/",),
            admin="services.events.admin:handle", process_hook="services.events.wiring:install"),
    Service("scheduler", api="services.scheduler.api:SchedulerApi", shard="services.scheduler.shard:SchedulerShard"),
    Service("testkit", shard="services.testkit.capture:TestkitShard",
            admin_paths=("/_broker/wait", "/_capture/", "/_broker/capture/", "/_localstack/info", "/_localstack/init"),
            admin="services.testkit.admin:handle"),
    Service("lambda", api="services.awslambda.api:LambdaApi", shard="services.awslambda.shard:LambdaShard",
            config="services.awslambda.config:KEYS", admin_paths=("/_broker/lambda/",),
            admin="services.awslambda.admin:handle"),
    Service("mwaa", api="services.mwaa.api:MwaaApi", shard="services.mwaa.shard:MwaaShard",
            config="services.mwaa.config:KEYS", admin_paths=("/_broker/mwaa/",), admin="services.mwaa.admin:handle",
            process_hook="services.mwaa.wiring:install"),
]

# Services whose requests the gateway recognises (model-driven routing), whether
# or not they are implemented yet: an unimplemented one answers with the
# protocol's error shape instead of a generic 404.
KNOWN_SERVICES = ["sqs", "sns", "kms", "sts", "events", "scheduler", "ses", "sesv2", "mq",
                  "stepfunctions", "swf", "mwaa", "cloudwatch", "logs", "iam", "cloudtrail",
                  "xray", "lambda"]


def load_ref(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def shard_services() -> list[ShardService]:
    """Shard halves, by reference: each is imported on its first use in a shard."""
    return [ShardService(s.shard_name or s.name, ref=s.shard, kinds=s.kinds) for s in SERVICES if s.shard]


def process_hooks() -> list:
    return [load_ref(s.process_hook) for s in SERVICES if s.process_hook]


def config_keys() -> tuple:
    out: tuple = ()
    for s in SERVICES:
        if s.config:
            out += tuple(load_ref(s.config))
    return out


class GatewayApis:
    """botocore service name -> gateway half, built on first use."""

    def __init__(self, gateway):
        self.gateway = gateway
        self._refs = {s.name: s.api for s in SERVICES if s.api}
        self._built: dict[str, Any] = {}

    def get(self, name: str):
        api = self._built.get(name)
        if api is None:
            ref = self._refs.get(name)
            if ref is None:
                return None
            api = self._built[name] = load_ref(ref)(self.gateway)
        return api

    def __contains__(self, name: str) -> bool:
        return name in self._refs

    def names(self) -> list[str]:
        return sorted(self._refs)

    def loaded(self) -> list[str]:
        return sorted(self._built)


def admin_routes() -> list[tuple[str, str]]:
    """[(path prefix, "module:function")] of the services' admin handlers, longest first."""
    out = [(prefix, s.admin) for s in SERVICES if s.admin for prefix in s.admin_paths]
    return sorted(out, key=lambda r: -len(r[0]))


def gateway_apis(gateway) -> GatewayApis:
    return GatewayApis(gateway)
