"""Where an idle server's memory is, process by process, and its time to ready.

    python bench/footprint_split.py [--runs 3] [--moto] [-- serve flags, e.g. --workers 1 --shards 1]

For each run: starts the server on a fresh data directory, stops it, starts it
again on that (now existing) directory and times endpoints.json; makes one SQS
call (as bench/footprint_bench.py does), waits 2 s, then reads every process's
/proc/<pid>/smaps_rollup. Prints JSON: per process its role, PSS, private
(pages no other process maps) and anonymous PSS; per run the totals. PSS of
file pages also counts other processes on the machine mapping the same files
(other Python servers), so it varies with what else runs; unique_mb (distinct
physical pages of the server's processes, as root) is what PSS would sum to
with the server alone, and steady from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PY, ROOT, boto_client, emit, group_pids  # noqa: E402


def rollup(pid: int) -> dict:
    out = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        p = line.split()
        if len(p) >= 3 and p[0].endswith(":"):
            out[p[0][:-1]] = int(p[1]) / 1024
    return out


def unique_mb(pids: list[int]) -> float | None:
    """Distinct physical pages mapped by these processes (MB): their PSS summed as
    if no other process on the machine mapped the same files. Needs root (PFNs
    are hidden otherwise): None without it."""
    import array
    frames: set[int] = set()
    for pid in pids:
        ranges = []
        with open(f"/proc/{pid}/smaps") as f:
            cur = None
            for line in f:
                head = line.split(None, 1)[0]
                if "-" in head and not head.endswith(":"):
                    lo, hi = (int(x, 16) for x in head.split("-"))
                    cur = (lo, hi)
                elif head == "Rss:" and int(line.split()[1]) > 0:
                    ranges.append(cur)
        with open(f"/proc/{pid}/pagemap", "rb") as pm:
            for lo, hi in ranges:
                pm.seek(lo // 4096 * 8)
                entries = array.array("Q")
                entries.frombytes(pm.read((hi - lo) // 4096 * 8))
                for e in entries:
                    if e >> 63:
                        pfn = e & ((1 << 55) - 1)
                        if pfn == 0:
                            return None
                        frames.add(pfn)
    return round(len(frames) * 4096 / 2**20, 1)


def start(data: Path, args: list[str]) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    log = open(data.parent / "server.log", "ab")
    proc = subprocess.Popen([PY, "-m", "broker", "serve", "--data-dir", str(data), "--free-ports", *args],
                            stdout=log, stderr=log, start_new_session=True, cwd=ROOT)
    ep = data / "endpoints.json"
    while not ep.exists():
        if proc.poll() is not None:
            raise RuntimeError("broker exited: " + (data.parent / "server.log").read_text()[-2000:])
        time.sleep(0.005)
    return proc, time.perf_counter() - t0


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)


def one_run(args: list[str]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="fpsplit-"))
    try:
        data = tmp / "data"
        proc, _ = start(data, args)
        stop(proc)
        proc, ready = start(data, args)
        try:
            url = json.loads((data / "endpoints.json").read_text())["http"]
            boto_client("sqs", url).list_queues()
            time.sleep(2)
            procs = []
            for pid in sorted(group_pids(proc.pid)):
                r = rollup(pid)
                procs.append({"comm": open(f"/proc/{pid}/comm").read().strip(), "pss": round(r["Pss"], 1),
                              "private": round(r["Private_Dirty"] + r["Private_Clean"], 1),
                              "anon_pss": round(r.get("Pss_Anon", 0), 1)})
            unique = unique_mb(sorted(group_pids(proc.pid)))
        finally:
            stop(proc)
        return {"ready_s": round(ready, 3), "pss_mb": round(sum(p["pss"] for p in procs), 1), "unique_mb": unique,
                "anon_pss_mb": round(sum(p["anon_pss"] for p in procs), 1),
                "private_mb": round(sum(p["private"] for p in procs), 1), "processes": procs}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def moto_run() -> dict:
    """moto server, the baseline, measured the same way (one SQS call, 2 s idle)."""
    from _common import Moto
    m = Moto()
    try:
        boto_client("sqs", m.url).list_queues()
        time.sleep(2)
        pids = sorted(group_pids(m.proc.pid))
        return {"pss_mb": round(sum(rollup(p)["Pss"] for p in pids), 1),
                "anon_pss_mb": round(sum(rollup(p).get("Pss_Anon", 0) for p in pids), 1),
                "unique_mb": unique_mb(pids), "processes": len(pids)}
    finally:
        m.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--moto", action="store_true", help="also measure moto server (same run)")
    ap.add_argument("serve_args", nargs="*")
    a = ap.parse_args()
    doc = {"bench": "footprint_split", "args": a.serve_args, "runs": [one_run(a.serve_args) for _ in range(a.runs)]}
    if a.moto:
        doc["moto"] = moto_run()
    emit(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
