"""Memory stays flat under a 10-minute soak of mixed SQS traffic (slow: deselected in CI).

Runs bench/soak_bench.py (the same script that prints the curve for README) against
a server at its defaults and checks that PSS summed over the server's processes does
not grow after warm-up (the first quarter of the run): caches and buffers have
bounds, deleted queues and consumed messages leave nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_pss_flat_after_warmup_over_ten_minutes():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "soak_bench.py"), "--minutes", "10",
                          "--interval", "20", "--skip-moto"], capture_output=True, text=True, timeout=1100, check=True)
    doc = json.loads(out.stdout)["broker"]
    # flat: the end is within noise of the level reached after warm-up (allocator slack, SQLite page cache)
    assert doc["end_mb"] <= doc["after_warmup_mb"] * 1.08 + 4, doc
    # and no steady climb in the second half either
    curve = [mb for _t, mb in doc["curve_s_mb"]]
    half = curve[len(curve) // 2:]
    assert max(half) <= doc["after_warmup_mb"] * 1.12 + 6, doc
