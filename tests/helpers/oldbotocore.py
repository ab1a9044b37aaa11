"""botocore 1.31.60's SQS model: the last one that spoke the query protocol.

An "old SDK" for tests is today's botocore with this model first on its
loader path. Downloaded once from PyPI (``pip download``) into a cache dir;
callers skip when it cannot be had (offline machines).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OLD_BOTOCORE = "1.31.60"
_CACHE = Path(os.environ.get("BROKER_TEST_CACHE", Path(tempfile.gettempdir()) / "broker-test-cache"))


class Unavailable(Exception):
    pass


def old_sqs_model_dir() -> str:
    """A botocore data dir holding the query-protocol SQS model; raises Unavailable."""
    cached = _CACHE / f"botocore-{OLD_BOTOCORE}"
    for cand in (os.environ.get("BROKER_OLD_BOTOCORE_DATA"), str(cached / "data")):
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
        cached.parent.mkdir(parents=True, exist_ok=True)
        if not cached.exists():
            os.replace(tmp / "ex" / "botocore", cached)
    except Exception as e:  # pragma: no cover - offline
        raise Unavailable(f"botocore {OLD_BOTOCORE} (query-protocol SQS model) not downloadable: {e}") from e
    return str(cached / "data")
