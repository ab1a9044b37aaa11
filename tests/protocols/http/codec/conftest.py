import pytest

from tests.helpers import oldbotocore


@pytest.fixture(scope="session")
def old_sqs_data_path():
    """Directory holding botocore's *old* query-protocol SQS model (tests/helpers/oldbotocore.py)."""
    try:
        return oldbotocore.old_sqs_model_dir()
    except oldbotocore.Unavailable as e:  # pragma: no cover - offline
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def old_sqs_session(old_sqs_data_path):
    """A botocore session whose SQS model is the old query one (an 'old SDK')."""
    import botocore.session
    s = botocore.session.get_session()
    s.get_component("data_loader").search_paths.insert(0, old_sqs_data_path)
    assert s.get_service_model("sqs").protocol == "query"
    return s
