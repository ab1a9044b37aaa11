"""Step Functions fixtures: boto3 clients against the shared session server.

botocore prefixes StartSyncExecution/TestState hosts with ``sync-``; the
clients here turn that off (``inject_host_prefix=False``) as users of a
local endpoint do. One test sends the prefixed host on purpose
(test_sfn_api.py) to prove the gateway routes it.
"""

from __future__ import annotations

import pytest
from botocore.config import Config


def sfn_config(**kw) -> Config:
    return Config(inject_host_prefix=False, retries={"total_max_attempts": 1}, connect_timeout=5,
                  read_timeout=75, **kw)


@pytest.fixture(scope="session")
def sfn(server):
    return server.client("stepfunctions", config=sfn_config())


@pytest.fixture(scope="session")
def local_server(tmp_path_factory):
    """A server of its own configured with a MockConfigFile path and a directory standing in for S3:
    (BrokerProcess, mock config file to write, buckets directory)."""
    from tests.helpers.brokerproc import BrokerProcess
    d = tmp_path_factory.mktemp("sfn-local")
    mock_file, buckets = d / "MockConfigFile.json", d / "buckets"
    buckets.mkdir()
    mock_file.write_text("{}")
    with BrokerProcess(d / "data", "--workers", "1", "--shards", "1",
                       env={"BROKER_STEPFUNCTIONS_MOCK_CONFIG_FILE": str(mock_file),
                            "BROKER_STEPFUNCTIONS_BUCKET_DIRECTORY": str(buckets)}) as b:
        yield b, mock_file, buckets


@pytest.fixture(scope="session")
def sqs(server):
    return server.client("sqs", config=Config(retries={"total_max_attempts": 1}, read_timeout=30))
