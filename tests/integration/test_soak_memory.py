"""Memory stays flat under a soak of mixed SQS traffic (slow: deselected in CI).

Runs bench/soak_bench.py (the same script that prints the curve for README) against
a server at its defaults and checks that PSS summed over the server's processes does
not grow over the 10 minutes after an 8-minute warm-up: SQS's 5-minute FIFO
deduplication window fills, and then the partitions' SQLite page caches (2 MB each)
and the mapped pages of their files, which reach their level at about 8 minutes
under this traffic (measured: +10 MB a shard between 4.5 and 8 minutes, +1-3 MB
between 8 and 16). Caches and buffers have bounds; deleted queues and consumed
messages leave nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_pss_flat_for_ten_minutes_after_warmup():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "soak_bench.py"), "--minutes", "18",
                          "--warmup", "8", "--interval", "20", "--skip-moto"], capture_output=True, text=True,
                         timeout=1400, check=True)
    doc = json.loads(out.stdout)["broker"]
    # flat: the end is within noise of the level reached after warm-up (allocator slack, SQLite page cache)
    assert doc["end_mb"] <= doc["after_warmup_mb"] * 1.08 + 4, doc
    # and no steady climb in the second half either
    curve = [mb for _t, mb in doc["curve_s_mb"]]
    half = curve[len(curve) // 2:]
    assert max(half) <= doc["after_warmup_mb"] * 1.12 + 6, doc
