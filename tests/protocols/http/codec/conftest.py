import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

OLD_BOTOCORE = "1.31.60"  # last botocore whose SQS model speaks the query protocol


@pytest.fixture(scope="session")
def old_sqs_data_path():
    """Directory holding botocore's *old* query-protocol SQS model.

    Uses $BROKER_OLD_BOTOCORE_DATA or /tmp/oldbc2/ex/botocore/data if present;
    otherwise tries ``pip download botocore==1.31.60`` (NETWORK: PyPI) into a
    temp dir and extracts only data/sqs.  Skips when unavailable.
    """
    for cand in (os.environ.get("BROKER_OLD_BOTOCORE_DATA"), "/tmp/oldbc2/ex/botocore/data"):
        if cand and (Path(cand) / "sqs/2012-11-05/service-2.json").exists():
            return cand
    tmp = Path(tempfile.mkdtemp(prefix="oldbc-"))
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        f"botocore=={OLD_BOTOCORE}", "-d", str(tmp)], check=True, timeout=120,
                       capture_output=True)
        whl = next(tmp.glob("botocore-*.whl"))
        with zipfile.ZipFile(whl) as zf:
            for n in zf.namelist():
                if n.startswith("botocore/data/sqs/"):
                    zf.extract(n, tmp / "ex")
    except Exception as e:  # pragma: no cover - offline
        pytest.skip(f"old botocore {OLD_BOTOCORE} unavailable: {e}")
    return str(tmp / "ex/botocore/data")


@pytest.fixture(scope="session")
def old_sqs_session(old_sqs_data_path):
    """A botocore session whose SQS model is the old query one (an 'old SDK')."""
    import botocore.session
    s = botocore.session.get_session()
    s.get_component("data_loader").search_paths.insert(0, old_sqs_data_path)
    assert s.get_service_model("sqs").protocol == "query"
    return s
