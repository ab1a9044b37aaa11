"""Lambda configuration keys (README table and deploy/broker.toml list them)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("lambda", "concurrent_executions", int, 1000,
        "Concurrent executions per account and region (AWS's default quota): functions without reserved "
        "concurrency share what reservations leave; TooManyRequestsException beyond it. Counted server-wide "
        "(shard processes lease units in batches from one ledger per account)."),
    Key("lambda", "idle_timeout", float, 300.0,
        "Seconds an idle execution environment is kept warm before it is stopped."),
    Key("lambda", "async_retry_delay", float, 60.0,
        "Seconds before the first retry of a failed asynchronous invocation (the second waits twice as long)."),
)
