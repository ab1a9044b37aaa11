"""SQS integration fixtures: real clients against the shared session server.

- `sqs`: boto3 over AWS JSON 1.0 (what current SDKs speak).
- `sqs_query`: botocore over the query protocol, using botocore 1.31.60's
  SQS model (the last one that spoke query), fetched once with
  ``pip download`` into a cache dir (NETWORK: PyPI); skips if unreachable.
- `any_sqs`: parametrized over both, for tests that must hold on each wire.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.config import Config

from tests.helpers import oldbotocore
from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION

ACCOUNT = "000000000000"


def old_sqs_model_dir() -> str:
    try:
        return oldbotocore.old_sqs_model_dir()
    except oldbotocore.Unavailable as e:  # pragma: no cover - offline
        pytest.skip(str(e))


def _config() -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=40)


@pytest.fixture(scope="session")
def sqs(server):
    return server.client("sqs", config=_config())


@pytest.fixture(scope="session")
def sqs_query(server):
    import botocore.session
    s = botocore.session.get_session()
    s.get_component("data_loader").search_paths.insert(0, old_sqs_model_dir())
    assert s.get_service_model("sqs").protocol == "query"
    return s.create_client("sqs", region_name=REGION, endpoint_url=server.url, aws_access_key_id=DUMMY_KEY,
                           aws_secret_access_key=DUMMY_SECRET, config=_config())


@pytest.fixture(params=["json", "query"])
def any_sqs(request):
    return request.getfixturevalue("sqs" if request.param == "json" else "sqs_query")


@pytest.fixture
def qname():
    """Factory of unique queue names: qname() / qname(fifo=True)."""
    def make(prefix: str = "q", fifo: bool = False) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
    return make


@pytest.fixture
def make_queue(sqs, qname):
    """Create a queue (deleted afterwards); returns its URL."""
    made = []

    def make(prefix: str = "q", fifo: bool = False, client=None, name: str | None = None, **attrs) -> str:
        attrs = {k: str(v) for k, v in attrs.items()}
        if fifo:
            attrs.setdefault("FifoQueue", "true")
        url = (client or sqs).create_queue(QueueName=name or qname(prefix, fifo), Attributes=attrs)["QueueUrl"]
        made.append(url)
        return url

    yield make
    for url in made:
        try:
            sqs.delete_queue(QueueUrl=url)
        except Exception:
            pass
