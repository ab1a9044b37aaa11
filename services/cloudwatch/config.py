"""Config keys of the monitoring services (telemetry, CloudWatch)."""

from broker.runtime.config import Key

KEYS = (
    Key("telemetry", "enabled", bool, True,
        "Record CloudWatch metrics, CloudTrail events, X-Ray segments and Prometheus process metrics "
        "(false: every recording call is a no-op)."),
    Key("cloudwatch", "gauge_interval", float, 60.0,
        "Seconds between samples of queue gauges (AWS/SQS ApproximateNumberOfMessages*, queue depths)."),
)
