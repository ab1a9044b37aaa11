"""Suite-wide fixtures: one real server for the session, unique resource names.

Tests isolate themselves by unique names (`unique_name`), not by restarting
the server; tests that kill or restart processes start their own
`BrokerProcess` (tests/helpers/brokerproc.py).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib, which puts nothing on sys.path:
# make `tests.helpers` importable from every test module.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.helpers.brokerproc import BrokerProcess  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> BrokerProcess:
    """The shared server: supervisor + 1 gateway + 2 shards, durability=process."""
    data_dir = tmp_path_factory.mktemp("server")
    proc = BrokerProcess(data_dir, "--workers", "1", "--shards", "2", "--durability", "process")
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture
def unique_name(request):
    """A name unique to this test: `t-<test name>-<uuid8>`, call it again for more.

    `unique_name` is a factory-backed string: use it directly as one name, or
    call `unique_name.new(prefix)` for further names in the same test.
    """
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name)[:40]
    return UniqueName(f"t-{base}-{uuid.uuid4().hex[:8]}")


class UniqueName(str):
    def new(self, prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"
