"""Workers are forked from one pre-imported zygote (shared pages, fast
restarts); a killed worker comes back from it, and if the zygote itself is
killed the server keeps running and restarts workers as fresh interpreters."""

from __future__ import annotations

import os
import signal

import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for


def _ppid(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


def _comm(pid: int) -> str:
    return open(f"/proc/{pid}/comm").read().strip()


def _cmdline(pid: int) -> str:
    return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()


@pytest.fixture
def broker(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "2", "--shards", "2") as b:
        yield b


def test_workers_are_forked_from_the_zygote_and_restart_from_it(broker):
    sup = broker.pids("supervisor")[0]
    workers = broker.pids("gateway") + broker.pids("shard")
    zygotes = {_ppid(w) for w in workers}
    assert len(zygotes) == 1
    zygote = zygotes.pop()
    assert zygote != sup and _ppid(zygote) == sup
    assert _comm(workers[0]).startswith("broker-")         # forked (and named), not exec'd
    assert _comm(zygote) == "broker-zygote"
    # a worker's pages are mostly shared with its siblings
    rollup = dict(line.split(":", 1) for line in open(f"/proc/{workers[0]}/smaps_rollup").read().splitlines()[1:])
    shared = int(rollup["Shared_Clean"].split()[0]) + int(rollup["Shared_Dirty"].split()[0])
    assert shared > int(rollup["Rss"].split()[0]) * 0.3

    old, new = broker.kill_worker("shard", 1)
    assert _ppid(new) == zygote
    sqs = broker.client("sqs")
    url = sqs.create_queue(QueueName="zygote-a")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="after a restart")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "after a restart"


def test_server_survives_the_zygote_being_killed(broker):
    zygote = _ppid(broker.pids("gateway")[0])
    os.kill(zygote, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{zygote}") or "Z" in open(f"/proc/{zygote}/stat").read().split()[2],
             10, what="zygote gone")
    old, new = broker.kill_worker("gateway", 0)
    assert "_worker gateway 0" in _cmdline(new)             # fell back to a fresh interpreter
    broker.kill_worker("shard", 0)
    sqs = broker.client("sqs")
    url = sqs.create_queue(QueueName="zygote-b")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="still here")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "still here"
    assert broker.wait_healthy()["status"] == "ok"


def test_workers_import_nothing_after_the_fork_to_start(broker):
    """What every worker needs as it starts is imported by the zygote: an import after
    the fork costs each worker its own copy and unshares interpreter-wide tables."""
    import re
    log = broker.log_path.read_text(errors="replace")
    counts = re.findall(r"event=(gateway_ready|shard_recovered) .*late_imports=(\d+)", log)
    assert sorted(role for role, _ in counts) == ["gateway_ready"] * 2 + ["shard_recovered"] * 2
    assert [int(n) for _, n in counts] == [0, 0, 0, 0], log[-3000:]
