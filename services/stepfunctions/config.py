"""Step Functions configuration keys (README table and deploy/broker.toml list them)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("stepfunctions", "mock_config_file", str, "",
        "Step Functions Local MockConfigFile (JSON): test cases run with StartExecution on "
        "'stateMachineArn#TestCase'. Empty: no mocking."),
    Key("stepfunctions", "bucket_directory", str, "",
        "Directory standing in for S3 for distributed Map ItemReader/ResultWriter (s3://bucket/key is "
        "<dir>/bucket/key). Empty: those fail with States.ItemReaderFailed/ResultWriterFailed."),
    Key("stepfunctions", "history_retention", float, 7776000.0,
        "Seconds a closed Standard execution (its history, Map Runs and their child executions) is kept "
        "after it stopped (AWS: 90 days); a periodic sweep deletes older ones."),
)
