"""Workers are forked from the pre-imported supervisor (shared pages, fast
restarts); a killed worker comes back forked again, a forked worker keeps none
of the supervisor's descriptors, and every worker goes when the supervisor does."""

from __future__ import annotations

import os
import signal

import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for


def _ppid(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


def _comm(pid: int) -> str:
    return open(f"/proc/{pid}/comm").read().strip()


def _alive(pid: int) -> bool:
    try:
        return "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False


def _fd_targets(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return out


@pytest.fixture
def broker(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "2", "--shards", "2") as b:
        yield b


def test_workers_are_forked_from_the_supervisor_and_restart_from_it(broker):
    sup = broker.pids("supervisor")[0]
    workers = broker.pids("gateway") + broker.pids("shard")
    assert {_ppid(w) for w in workers} == {sup}
    assert all(_comm(w).startswith("broker-") for w in workers)     # forked (and named), not exec'd
    # a worker's pages are mostly shared with its siblings
    rollup = dict(line.split(":", 1) for line in open(f"/proc/{workers[0]}/smaps_rollup").read().splitlines()[1:])
    shared = int(rollup["Shared_Clean"].split()[0]) + int(rollup["Shared_Dirty"].split()[0])
    assert shared > int(rollup["Rss"].split()[0]) * 0.3

    old, new = broker.kill_worker("shard", 1)
    assert _ppid(new) == sup and _comm(new) == "broker-shard-1"
    old, new = broker.kill_worker("gateway", 0)
    assert _ppid(new) == sup and _comm(new).startswith("broker-gateway")
    sqs = broker.client("sqs")
    url = sqs.create_queue(QueueName="zygote-a")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="after a restart")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "after a restart"


def test_a_forked_worker_holds_none_of_the_supervisors_sockets(broker):
    sup = broker.pids("supervisor")[0]
    theirs = {t for t in _fd_targets(sup) if t.startswith(("socket:", "pipe:"))}    # with their inode
    assert theirs
    for w in broker.pids("gateway") + broker.pids("shard"):
        assert not _fd_targets(w) & theirs, _comm(w)


def test_every_worker_goes_when_the_supervisor_is_killed(broker):
    sup = broker.pids("supervisor")[0]
    workers = broker.pids("gateway") + broker.pids("shard")
    os.kill(sup, signal.SIGKILL)
    wait_for(lambda: not any(_alive(w) for w in workers), 15, what="workers to exit after the supervisor")


def test_workers_import_nothing_after_the_fork_to_start(broker):
    """What every worker needs as it starts is imported before the fork: an import
    after it costs each worker its own copy and unshares interpreter-wide tables."""
    import re
    log = broker.log_path.read_text(errors="replace")
    counts = re.findall(r"event=(gateway_ready|shard_recovered) .*late_imports=(\d+)", log)
    assert sorted(role for role, _ in counts) == ["gateway_ready"] * 2 + ["shard_recovered"] * 2
    assert [int(n) for _, n in counts] == [0, 0, 0, 0], log[-3000:]
